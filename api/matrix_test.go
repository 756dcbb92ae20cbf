package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// routeRule classifies one operation for the access matrix: the scope it
// needs, whether a tenant-bound token may call it, whether it acts on one
// tenant's assignment (so another tenant must get 404), its success
// status and how to build a fresh request that would succeed.
type routeRule struct {
	need   auth.Scope
	tenant bool
	owned  bool
	ok     int
	build  func(tb testing.TB, e *env, n int) req // n is unique per call
	// wantFor overrides want for some roles.
	wantFor map[string]int
}

// roles of the matrix: the three scopes, a tenant-bound allocate token
// (acme), another tenant's allocate token (globex) and no token at all.
var matrixRoles = []string{"none", "read", "allocate", "admin", "tenant", "foreign"}

var roleScope = map[string]auth.Scope{"read": auth.ScopeRead, "allocate": auth.ScopeAllocate, "admin": auth.ScopeAdmin, "tenant": auth.ScopeAllocate, "foreign": auth.ScopeAllocate}

// freshAcme allocates a new live assignment of tenant acme.
func freshAcme(tb testing.TB, e *env) registry.Assignment {
	tb.Helper()
	return must[[]registry.Assignment](tb)(e.reg.Allocate(setupCtx, registry.Request{Region: "eu-west", Tenant: "acme", Resource: "vm"}))[0]
}

// matrixRules is the specification of who may call what. Every documented
// operation must appear here: a new route fails TestAccessMatrix until it
// is classified.
func matrixRules() map[string]routeRule {
	get := func(path string) func(testing.TB, *env, int) req {
		return func(testing.TB, *env, int) req { return req{Method: "GET", Path: path} }
	}
	return map[string]routeRule{
		"GET /v1/regions":        {need: auth.ScopeRead, tenant: true, ok: 200, build: get("/v1/regions")},
		"GET /v1/regions/{name}": {need: auth.ScopeRead, tenant: true, ok: 200, build: get("/v1/regions/us-east")},
		"GET /v1/blocks":         {need: auth.ScopeRead, ok: 200, build: get("/v1/blocks")},
		"GET /v1/pools":          {need: auth.ScopeRead, ok: 200, build: get("/v1/pools")},
		"GET /v1/show":           {need: auth.ScopeRead, ok: 200, build: get("/v1/show?q=10.0.0.1")},
		"GET /v1/report":         {need: auth.ScopeRead, ok: 200, build: get("/v1/report")},
		"GET /v1/relocations":    {need: auth.ScopeRead, ok: 200, build: get("/v1/relocations")},
		"GET /v1/events":         {need: auth.ScopeRead, ok: 200, build: get("/v1/events?limit=5")},
		"GET /v1/assignments":    {need: auth.ScopeRead, tenant: true, ok: 200, build: get("/v1/assignments")},
		"GET /v1/tokens":         {need: auth.ScopeAdmin, ok: 200, build: get("/v1/tokens")},
		"GET /v1/geo/{ip}":       {need: auth.ScopeRead, tenant: true, ok: 200, build: get("/v1/geo/10.0.0.1")},
		"POST /v1/geo": {need: auth.ScopeRead, tenant: true, ok: 200, build: func(testing.TB, *env, int) req {
			return req{Method: "POST", Path: "/v1/geo", Body: map[string]any{"addresses": []string{"10.0.0.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fe80::1%eth0"}}}
		}},
		"GET /v1/placements":  {need: auth.ScopeRead, ok: 200, build: get("/v1/placements")},
		"GET /v1/audit":       {need: auth.ScopeRead, ok: 200, build: get("/v1/audit")},
		"GET /v1/geo/sources": {need: auth.ScopeRead, ok: 200, build: get("/v1/geo/sources")},
		"POST /v1/geo/sources": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/geo/sources", Body: map[string]any{"name": fmt.Sprintf("mmdb-%d", n), "mmdb": registerMMDB(tb, e)}}
		}},
		"DELETE /v1/geo/sources/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone-%d", n)
			if _, err := geo.ImportFeed(setupCtx, e.store, name, "test", strings.NewReader("40.64.0.0/24,US,US-VA,Ashburn,\n"), geo.ImportOptions{}, time.Now()); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "DELETE", Path: "/v1/geo/sources/" + name}
		}},
		"PUT /v1/geo/sources/{name}/feed": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PUT", Path: fmt.Sprintf("/v1/geo/sources/feed-%d/feed?origin=partner.csv", n), Body: "40.64.0.0/24,US,US-VA,Ashburn,\n",
				Header: map[string]string{"Content-Type": "text/csv"}}
		}},
		"PUT /v1/geo/sources/{name}/ranges": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PUT", Path: fmt.Sprintf("/v1/geo/sources/ranges-%d/ranges?format=oracle&origin=public_ip_ranges.json", n),
				Body:   `{"last_updated_timestamp": "2026-12-05T00:00:00", "regions": [{"region": "us-ashburn-1", "cidrs": [{"cidr": "40.64.0.0/24", "tags": ["OCI"]}]}]}`,
				Header: map[string]string{"Content-Type": "application/octet-stream"}}
		}},
		"GET /v1/assignments/{id}": {need: auth.ScopeRead, tenant: true, owned: true, ok: 200,
			build: func(tb testing.TB, e *env, n int) req {
				return req{Method: "GET", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID)}
			}},
		"POST /v1/regions": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/regions", Body: map[string]any{"name": fmt.Sprintf("matrix-%d", n), "country": "DE"}}
		}},
		"PATCH /v1/regions/{name}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PATCH", Path: "/v1/regions/eu-west", Body: map[string]any{"city": fmt.Sprintf("Dublin %d", n)}}
		}},
		"POST /v1/blocks": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/blocks", Body: map[string]any{"prefix": fmt.Sprintf("fd03:%x::/32", n), "source": "private"}}
		}},
		"POST /v1/pools": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/pools", Body: map[string]any{"prefix": fmt.Sprintf("fd00:cad:%x::/48", 0x4000+n), "region": "eu-west"}}
		}},
		"GET /v1/reservations": {need: auth.ScopeRead, ok: 200, build: get("/v1/reservations")},
		"POST /v1/reservations": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/reservations", Body: map[string]any{"prefix": fmt.Sprintf("fd00:cad:1:%x::/64", 0x100+n), "reason": "matrix"}}
		}},
		"DELETE /v1/reservations/{addr}/{len}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			p := netip.MustParsePrefix(fmt.Sprintf("fd00:cad:1:%x::/64", 0x200+n))
			must[registry.Reservation](tb)(e.reg.Reserve(setupCtx, registry.ReservationSpec{Prefix: p, Reason: "matrix"}))
			return req{Method: "DELETE", Path: fmt.Sprintf("/v1/reservations/%s/64", p.Addr())}
		}},
		"POST /v1/assignments": {need: auth.ScopeAllocate, tenant: true, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"region": "us-east", "resource": fmt.Sprintf("vm-%d", n)}}}
		}},
		"PATCH /v1/assignments/{id}": {need: auth.ScopeAllocate, tenant: true, owned: true, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Body: map[string]any{"name": fmt.Sprintf("vm%d.example.com", n)}}
		}},
		"POST /v1/assignments/{id}/release": {need: auth.ScopeAllocate, tenant: true, owned: true, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: fmt.Sprintf("/v1/assignments/%d/release", freshAcme(tb, e).ID)}
		}},
		"POST /v1/child-pools": {need: auth.ScopeAllocate, tenant: true, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/child-pools", Body: map[string]any{"as_pool": fmt.Sprintf("m%d", n), "region": "eu-west", "len": 64}}
		}},
		"POST /v1/child-pools/{name}/release": {need: auth.ScopeAllocate, tenant: true, owned: true, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("r%d", n)
			if _, err := e.reg.AllocatePool(setupCtx, registry.ChildPoolSpec{Name: name, Region: "eu-west", Bits: 64, Tenant: "acme"}); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "POST", Path: "/v1/child-pools/" + name + "/release"}
		}},
		"POST /v1/tokens": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/tokens", Body: map[string]any{"scope": "read", "name": fmt.Sprintf("m%d", n)}}
		}},
		"GET /v1/tenants": {need: auth.ScopeAdmin, ok: 200, build: get("/v1/tenants")},
		// A tenant reads its own tenant (quotas and use); another tenant's
		// reads as missing; unbound tokens below admin may not read tenants.
		"GET /v1/tenants/{name}": {need: auth.ScopeRead, tenant: true, owned: true, ok: 200, build: get("/v1/tenants/acme"),
			wantFor: map[string]int{"read": http.StatusForbidden, "allocate": http.StatusForbidden}},
		"POST /v1/tenants": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/tenants", Body: map[string]any{"name": fmt.Sprintf("matrix-%d", n), "names": []string{fmt.Sprintf("m%d.example", n)}, "max_ipv4": 16, "max_ipv6": 1000}}
		}},
		"PATCH /v1/tenants/{name}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PATCH", Path: "/v1/tenants/globex", Body: map[string]any{"note": fmt.Sprintf("n%d", n)}}
		}},
		"DELETE /v1/tenants/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone-%d", n)
			must[registry.Tenant](tb)(e.reg.AddTenant(setupCtx, registry.TenantSpec{Name: name}))
			return req{Method: "DELETE", Path: "/v1/tenants/" + name}
		}},
		"GET /v1/spaces": {need: auth.ScopeRead, ok: 200, build: get("/v1/spaces")},
		"POST /v1/spaces": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/spaces", Body: map[string]any{"name": fmt.Sprintf("vpc-%d", n)}}
		}},
		"DELETE /v1/spaces/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone-%d", n)
			must[registry.Space](tb)(e.reg.AddSpace(setupCtx, registry.Space{Name: name}))
			return req{Method: "DELETE", Path: "/v1/spaces/" + name}
		}},
		"DELETE /v1/regions/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone-%d", n)
			must[registry.Region](tb)(e.reg.AddRegion(setupCtx, registry.RegionSpec{Name: name, Location: location.Location{Country: "DE"}}))
			return req{Method: "DELETE", Path: "/v1/regions/" + name}
		}},
		"GET /v1/blocks/{id}": {need: auth.ScopeRead, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "GET", Path: fmt.Sprintf("/v1/blocks/%d", matrixBlock(tb, e, n).ID)}
		}},
		"PATCH /v1/blocks/{id}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PATCH", Path: fmt.Sprintf("/v1/blocks/%d", matrixBlock(tb, e, n).ID), Body: map[string]any{"note": fmt.Sprintf("n%d", n)}}
		}},
		"DELETE /v1/blocks/{id}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "DELETE", Path: fmt.Sprintf("/v1/blocks/%d", matrixBlock(tb, e, n).ID)}
		}},
		"GET /v1/pools/{id}": {need: auth.ScopeRead, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "GET", Path: fmt.Sprintf("/v1/pools/%d", matrixPool(tb, e, n).ID)}
		}},
		"PATCH /v1/pools/{id}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "PATCH", Path: fmt.Sprintf("/v1/pools/%d", matrixPool(tb, e, n).ID), Body: map[string]any{"tags": map[string]string{"n": fmt.Sprint(n)}}}
		}},
		"DELETE /v1/pools/{id}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "DELETE", Path: fmt.Sprintf("/v1/pools/%d", matrixPool(tb, e, n).ID)}
		}},
		// Zones and TSIG keys are the admin's; static records also a
		// tenant's, under its name suffixes (acme: example.com): another
		// tenant is refused (403), and so is a token bound to none.
		"GET /v1/zones": {need: auth.ScopeRead, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			return req{Method: "GET", Path: "/v1/zones"}
		}},
		"GET /v1/zones/{name}": {need: auth.ScopeRead, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			return req{Method: "GET", Path: "/v1/zones/example.com"}
		}},
		"POST /v1/zones": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"name": fmt.Sprintf("m%d.example", n), "ns": []string{"ns.provider.test"}}}
		}},
		"PATCH /v1/zones/{name}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			return req{Method: "PATCH", Path: "/v1/zones/example.com", Body: map[string]any{"ttl": 300 + n}}
		}},
		"DELETE /v1/zones/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone%d.example", n)
			if _, err := e.dns.AddZone(setupCtx, manage.ZoneSpec{Name: name, Config: zone.Config{NS: []string{"ns.provider.test."}}}); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "DELETE", Path: "/v1/zones/" + name}
		}},
		"POST /v1/zones/{name}/split": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/zones/" + matrixSplittable(tb, e, n) + "/split", Body: map[string]any{"regions": []string{"us-east"}}}
		}},
		"POST /v1/zones/{name}/join": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			name := matrixSplittable(tb, e, n)
			if _, err := e.dns.Split(setupCtx, name, manage.SplitOptions{Regions: []string{"us-east"}}); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "POST", Path: "/v1/zones/" + name + "/join"}
		}},
		"GET /v1/zones/{zone}/records": {need: auth.ScopeRead, tenant: true, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			return req{Method: "GET", Path: "/v1/zones/example.com/records"}
		}},
		"POST /v1/zones/{zone}/records": {need: auth.ScopeAllocate, tenant: true, ok: 201, wantFor: map[string]int{"allocate": 403, "foreign": 403}, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			return req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "_acme-challenge", "type": "TXT", "data": fmt.Sprintf("token-%d", n)}}
		}},
		"DELETE /v1/zones/{zone}/records/{id}": {need: auth.ScopeAllocate, tenant: true, ok: 204, wantFor: map[string]int{"allocate": 403, "foreign": 403}, build: func(tb testing.TB, e *env, n int) req {
			matrixZone(tb, e)
			r := must[zone.Record](tb)(e.dns.AddRecord(setupCtx, "example.com", fmt.Sprintf("r%d", n), "TXT", "x", 0))
			return req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/example.com/records/%d", r.ID)}
		}},
		"GET /v1/tsig-keys": {need: auth.ScopeAdmin, ok: 200, build: get("/v1/tsig-keys")},
		"POST /v1/tsig-keys": {need: auth.ScopeAdmin, ok: 201, build: func(tb testing.TB, e *env, n int) req {
			return req{Method: "POST", Path: "/v1/tsig-keys", Body: map[string]any{"name": fmt.Sprintf("k%d.example", n), "grant_update": []string{"_acme-challenge.example.com"}}}
		}},
		"DELETE /v1/tsig-keys/{name}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("gone%d.example", n)
			if _, _, err := e.dns.AddTSIG(setupCtx, name, "hmac-sha256", nil); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "DELETE", Path: "/v1/tsig-keys/" + name}
		}},
		"PATCH /v1/tsig-keys/{name}": {need: auth.ScopeAdmin, ok: 200, build: func(tb testing.TB, e *env, n int) req {
			name := fmt.Sprintf("upd%d.example", n)
			if _, _, err := e.dns.AddTSIG(setupCtx, name, "hmac-sha256", nil); err != nil {
				tb.Fatal(err)
			}
			return req{Method: "PATCH", Path: "/v1/tsig-keys/" + name, Body: map[string]any{"grant_update": []string{"_acme-challenge.example.com"}}}
		}},
		"DELETE /v1/tokens/{id}": {need: auth.ScopeAdmin, ok: 204, build: func(tb testing.TB, e *env, n int) req {
			tok, secret, err := e.tokens.Create(setupCtx, auth.Spec{Scope: auth.ScopeRead})
			if err != nil {
				tb.Fatal(err)
			}
			e.remember(secret)
			return req{Method: "DELETE", Path: "/v1/tokens/" + tok.ID}
		}},
	}
}

// matrixZone adds the zone example.com (acme's suffix), once per env.
func matrixZone(tb testing.TB, e *env) {
	tb.Helper()
	if _, err := e.dns.Zone(setupCtx, "example.com"); err == nil {
		return
	}
	if _, err := e.dns.AddZone(setupCtx, manage.ZoneSpec{Name: "example.com", Config: zone.Config{NS: []string{"ns.provider.test."}}}); err != nil {
		tb.Fatal(err)
	}
}

// matrixSplittable adds zone sN.example with a name under
// us-east.sN.example, for cell n's split.
func matrixSplittable(tb testing.TB, e *env, n int) string {
	tb.Helper()
	name := fmt.Sprintf("s%d.example", n)
	if _, err := e.dns.AddZone(setupCtx, manage.ZoneSpec{Name: name, Config: zone.Config{NS: []string{"ns.provider.test."}}}); err != nil {
		tb.Fatal(err)
	}
	must[[]registry.Assignment](tb)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Family: 6, Name: "vm.us-east." + name}))
	return name
}

// matrixBlock records a block of its own for cell n.
func matrixBlock(tb testing.TB, e *env, n int) registry.Block {
	tb.Helper()
	return must[registry.Block](tb)(e.reg.AddBlock(setupCtx, registry.Block{Prefix: netip.MustParsePrefix(fmt.Sprintf("fd01:%x::/32", n)), Source: registry.SourcePrivate}))
}

// matrixPool makes an empty pool of its own for cell n.
func matrixPool(tb testing.TB, e *env, n int) registry.Pool {
	tb.Helper()
	return must[registry.Pool](tb)(e.reg.AddPool(setupCtx, registry.PoolSpec{Prefix: netip.MustParsePrefix(fmt.Sprintf("fd00:cad:%x::/48", 0x8000+n)), Region: "eu-west"}))
}

// registerMMDB writes the register as an MMDB file, once per env, for
// the operations that add an MMDB source.
func registerMMDB(tb testing.TB, e *env) string {
	tb.Helper()
	path := filepath.Join(filepath.Dir(e.dbPath), "register.mmdb")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	// The env's blocks are private space: its pools are placed in the
	// space "private", which the global placements leave out.
	places, _, err := e.reg.PlacementsIn(setupCtx, registry.PrivateSpace)
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := geo.ExportMMDB(f, places, time.Now()); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// want is the status the matrix expects for role calling r.
func (r routeRule) want(role string) int {
	if w, ok := r.wantFor[role]; ok {
		return w
	}
	switch {
	case role == "none":
		return http.StatusUnauthorized
	case roleScope[role] < r.need:
		return http.StatusForbidden
	case (role == "tenant" || role == "foreign") && !r.tenant:
		return http.StatusForbidden
	case role == "foreign" && r.owned:
		return http.StatusNotFound
	}
	return r.ok
}

// TestAccessMatrix calls every documented operation as every kind of
// caller and checks the outcome: 401 without a token, 403 for too weak a
// scope or a tenant token on a shared object, 404 for another tenant's
// assignment, success otherwise.
func TestAccessMatrix(t *testing.T) {
	e := newEnv(t)
	rules := matrixRules()
	ops := e.doc.operations()
	for _, k := range ops {
		if _, ok := rules[k]; !ok {
			t.Errorf("%s is documented but not classified in matrixRules: say who may call it", k)
		}
	}
	for k := range rules {
		if _, ok := e.doc.ops[k]; !ok {
			t.Errorf("%s is classified but not in the OpenAPI document", k)
		}
	}
	n := 0
	for _, k := range ops {
		rule, ok := rules[k]
		if !ok {
			continue
		}
		for _, role := range matrixRoles {
			t.Run(k+" as "+role, func(t *testing.T) {
				n++
				r := rule.build(t, e, n)
				r.Token = e.tok[role]
				x := e.do(t, r)
				want := rule.want(role)
				if want >= 400 {
					checkProblem(t, x, want)
					if want == http.StatusNotFound && strings.Contains(string(x.Body), "acme") {
						t.Errorf("%s: 404 hints at the owner", x)
					}
					return
				}
				if x.Status != want {
					t.Fatalf("%s: want %d", x, want)
				}
				if r.Method == "POST" && r.Path == "/v1/tokens" {
					e.remember(decode[struct {
						Secret string `json:"secret"`
					}](t, x).Secret)
				}
				// Tenant tokens see and make only their own tenant's assignments.
				own := map[string]string{"tenant": "acme", "foreign": "globex"}[role]
				if own == "" {
					return
				}
				switch k {
				case "GET /v1/assignments":
					page := decode[struct{ Items []registry.Assignment }](t, x)
					if len(page.Items) == 0 {
						t.Errorf("%s: a tenant sees none of its assignments", x)
					}
					for _, a := range page.Items {
						if a.Tenant != own {
							t.Errorf("%s: tenant %s sees %s of tenant %q", x, own, a.Prefix, a.Tenant)
						}
					}
				case "POST /v1/assignments":
					for _, a := range decode[[]registry.Assignment](t, x) {
						if a.Tenant != own {
							t.Errorf("%s: tenant %s allocated for tenant %q", x, own, a.Tenant)
						}
					}
				}
			})
		}
	}
	if got := len(ops) * len(matrixRoles); n != got {
		t.Errorf("ran %d cells, want %d", n, got)
	}
}
