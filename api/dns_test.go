package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestDNSRoutes: each zone, record and TSIG key route does what its CLI
// verb does, and answers bad input with a problem naming the field,
// leaving the database unchanged.
func TestDNSRoutes(t *testing.T) {
	e := newEnv(t)
	adm := e.tok["admin"]

	x := e.do(t, req{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"name": "Example.COM", "ns": []string{"ns1.example.com"}, "ns_addr": []string{"ns1.example.com=192.0.2.53"}}})
	if x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201", x)
	}
	if zs := decode[[]zone.Zone](t, x); len(zs) != 1 || zs[0].Name != "example.com." {
		t.Fatalf("%s: want zone example.com.", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"kind": "reverse", "prefix": "10.0.0.0/23", "ns": []string{"ns1.example.com"}}})
	if zs := decode[[]zone.Zone](t, x); x.Status != http.StatusCreated || len(zs) != 2 {
		t.Fatalf("%s: want the two /24 zones of 10.0.0.0/23", x)
	}

	get := e.do(t, req{Method: "GET", Path: "/v1/zones/example.com", Token: adm})
	etag := get.Header.Get("ETag")
	if get.Status != http.StatusOK || etag == "" {
		t.Fatalf("%s: want 200 with an ETag", get)
	}
	x = e.do(t, req{Method: "PATCH", Path: "/v1/zones/example.com", Token: adm, Header: map[string]string{"If-Match": etag}, Body: map[string]any{"ttl": 600, "allow_transfer": []string{"key:xfr.example.com"}}})
	if z := decode[zone.Zone](t, x); x.Status != http.StatusOK || z.Config.TTL != 600 || len(z.Config.AllowTransfer) != 1 || x.Header.Get("ETag") == etag {
		t.Fatalf("%s: want the TTL and ACL changed, a new ETag", x)
	}
	t.Run("a stale If-Match is 412 and changes nothing", func(t *testing.T) {
		before := e.snapshot(t)
		x := e.do(t, req{Method: "PATCH", Path: "/v1/zones/example.com", Token: adm, Header: map[string]string{"If-Match": etag}, Body: map[string]any{"ttl": 60}})
		checkProblem(t, x, http.StatusPreconditionFailed)
		if d := before.diff(e.snapshot(t)); d != "" {
			t.Errorf("%s: changed %s", x, d)
		}
	})

	x = e.do(t, req{Method: "POST", Path: "/v1/zones/example.com/records", Token: adm, Body: map[string]any{"name": "@", "type": "txt", "data": `"v=spf1 -all"`}})
	rec := decode[zone.Record](t, x)
	if x.Status != http.StatusCreated || rec.Name != "example.com." || rec.Type != "TXT" || rec.Data != `"v=spf1 -all"` || rec.TTL != 600 {
		t.Fatalf("%s: want the TXT at the apex, one string, the zone's TTL", x)
	}
	x = e.do(t, req{Method: "GET", Path: "/v1/zones/example.com/records", Token: adm})
	if rs := decode[[]zone.Record](t, x); len(rs) != 2 { // the glue and the TXT
		t.Fatalf("%s: want 2 records", x)
	}

	bad := []struct {
		name   string
		r      req
		status int
		field  string
	}{
		{"a zone name that is not one", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"name": "bad..name", "ns": []string{"ns.provider.test"}}}, 422, "body"},
		{"an existing zone", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"name": "example.com", "ns": []string{"ns.provider.test"}}}, 409, ""},
		{"a reverse prefix with host bits", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"kind": "reverse", "prefix": "10.0.9.1/24"}}, 422, ""},
		{"a prefix that is not one", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"kind": "reverse", "prefix": "ten/8"}}, 422, "body.prefix"},
		{"bad glue", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"name": "x.example", "ns_addr": []string{"ns1.x.example"}}}, 422, "body.ns_addr[0]"},
		{"an in-zone name server without an address", req{Method: "POST", Path: "/v1/zones", Body: map[string]any{"name": "y.example"}}, 422, "body"},
		{"an empty NS list", req{Method: "PATCH", Path: "/v1/zones/example.com", Body: map[string]any{"ns": []string{}}}, 422, "body.ns"},
		{"a record type that does not exist", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "www", "type": "AAAAA", "data": "::1"}}, 422, "body.type"},
		{"an A with an IPv6 address", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "www", "type": "A", "data": "2001:db8::1"}}, 422, "body.data"},
		{"a NAPTR with bad data", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "sip", "type": "NAPTR", "data": "100 10 U E2U+sip"}}, 422, "body.data"},
		{"a name outside the zone", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "www.example.org.", "type": "A", "data": "192.0.2.1"}}, 422, "body.name"},
		{"an SOA", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "@", "type": "SOA", "data": "a. b. 1 2 3 4 5"}}, 422, "body.type"},
		{"a CNAME at the apex", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "@", "type": "CNAME", "data": "www.example.org."}}, 422, "body.data"},
		{"a duplicate record", req{Method: "POST", Path: "/v1/zones/example.com/records", Body: map[string]any{"name": "example.com.", "type": "TXT", "data": "v=spf1 -all"}}, 409, ""},
		{"a record in a zone that does not exist", req{Method: "POST", Path: "/v1/zones/nope.example/records", Body: map[string]any{"name": "www", "type": "A", "data": "192.0.2.1"}}, 404, ""},
		{"a record of another zone", req{Method: "DELETE", Path: "/v1/zones/0.0.10.in-addr.arpa/records/" + fmt.Sprint(rec.ID)}, 404, ""},
		{"a TSIG key with a short secret", req{Method: "POST", Path: "/v1/tsig-keys", Body: map[string]any{"name": "k.example", "secret": base64.StdEncoding.EncodeToString([]byte("short"))}}, 422, "body.secret"},
		{"a TSIG key whose secret is not base64", req{Method: "POST", Path: "/v1/tsig-keys", Body: map[string]any{"name": "k.example", "secret": "%%%"}}, 422, "body.secret"},
		{"a TSIG key with an unknown algorithm", req{Method: "POST", Path: "/v1/tsig-keys", Body: map[string]any{"name": "k.example", "algorithm": "hmac-md5"}}, 422, ""},
		{"a TSIG grant that is not a name", req{Method: "POST", Path: "/v1/tsig-keys", Body: map[string]any{"name": "k.example", "grant_update": []string{"a..b"}}}, 422, "body.grant_update"},
		{"a TSIG key that does not exist", req{Method: "DELETE", Path: "/v1/tsig-keys/none.example"}, 404, ""},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			c.r.Token = adm
			before := e.snapshot(t)
			x := e.do(t, c.r)
			p := checkProblem(t, x, c.status)
			if c.field != "" {
				found := false
				for _, d := range p.Errors {
					found = found || d.Location == c.field
				}
				if !found {
					t.Errorf("%s: no error detail at %s", x, c.field)
				}
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}

	// TSIG keys: the secret once, in the creation's answer; never in a
	// listing.
	x = e.do(t, req{Method: "POST", Path: "/v1/tsig-keys", Token: adm, Body: map[string]any{"name": "acme.example.com", "grant_update": []string{"_acme-challenge.example.com", "dyn.example.com."}}})
	created := decode[TSIGCreated](t, x)
	sec, err := base64.StdEncoding.DecodeString(created.Secret)
	if x.Status != http.StatusCreated || len(sec) != 32 || created.Key.Algorithm != "hmac-sha256" || len(created.Key.Grants) != 2 {
		t.Fatalf("%s: want a new 32-byte hmac-sha256 secret and 2 grants (%v)", x, err)
	}
	e.remember(created.Secret)
	x = e.do(t, req{Method: "GET", Path: "/v1/tsig-keys", Token: adm})
	if x.Status != http.StatusOK || strings.Contains(string(x.Body), created.Secret) || !strings.Contains(string(x.Body), "_acme-challenge.example.com.") {
		t.Fatalf("%s: want the key and its grants, never its secret", x)
	}
	if x := e.do(t, req{Method: "POST", Path: "/v1/tsig-keys", Token: adm, Body: map[string]any{"name": "acme.example.com"}}); x.Status != http.StatusConflict {
		t.Fatalf("%s: want 409 for a second key of the name", x)
	}
	// PATCH rotates the secret in place (shown in that answer only) and
	// replaces the grants; a missing key is 404.
	x = e.do(t, req{Method: "PATCH", Path: "/v1/tsig-keys/acme.example.com", Token: adm, Body: map[string]any{"new_secret": true, "grant_update": []string{}}})
	rotated := decode[TSIGCreated](t, x)
	if x.Status != http.StatusOK || rotated.Secret == "" || rotated.Secret == created.Secret || len(rotated.Key.Grants) != 0 {
		t.Fatalf("%s: want a new secret and no grants", x)
	}
	e.remember(rotated.Secret)
	if x := e.do(t, req{Method: "PATCH", Path: "/v1/tsig-keys/acme.example.com", Token: adm, Body: map[string]any{"algorithm": "hmac-sha512"}}); x.Status != http.StatusOK || decode[TSIGCreated](t, x).Secret != "" {
		t.Fatalf("%s: want 200 without a secret (none was generated)", x)
	}
	if x := e.do(t, req{Method: "PATCH", Path: "/v1/tsig-keys/nosuch.example.com", Token: adm, Body: map[string]any{"new_secret": true}}); x.Status != http.StatusNotFound {
		t.Fatalf("%s: want 404", x)
	}
	if x := e.do(t, req{Method: "DELETE", Path: "/v1/tsig-keys/acme.example.com", Token: adm}); x.Status != http.StatusNoContent {
		t.Fatalf("%s: want 204", x)
	}

	if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/example.com/records/%d", rec.ID), Token: adm}); x.Status != http.StatusNoContent {
		t.Fatalf("%s: want 204", x)
	}
	if x := e.do(t, req{Method: "DELETE", Path: "/v1/zones/0.0.10.in-addr.arpa", Token: adm}); x.Status != http.StatusUnprocessableEntity {
		t.Fatalf("%s: want 422: one zone of a set goes with its set", x)
	}
	if x := e.do(t, req{Method: "DELETE", Path: "/v1/zones/10.0.0.0%2F23", Token: adm}); x.Status != http.StatusNoContent {
		t.Fatalf("%s: want 204: the set goes by its prefix", x)
	}
	if x := e.do(t, req{Method: "GET", Path: "/v1/zones", Token: adm}); len(decode[[]zone.Zone](t, x)) != 1 {
		t.Fatalf("%s: want example.com alone", x)
	}
}

// TestTenantRecords: a tenant's token writes static records only under
// its name suffixes (403 elsewhere) and never at a name another holds
// (409 naming the kind of holder, never the tenant), and sees only its
// own records in a listing.
func TestTenantRecords(t *testing.T) {
	e, hosting := hijackEnv(t)
	post := func(name, typ, data string) *exchange {
		return e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": name, "type": typ, "data": data}})
	}
	x := post("_acme-challenge.app", "TXT", "token-1")
	if x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201", x)
	}
	mine := decode[zone.Record](t, x)
	if x := post("_acme-challenge.app", "TXT", "token-2"); x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201: a second TXT beside the first", x)
	}
	cases := []struct {
		name, owner string
		status      int
		kind        string
	}{
		{"the zone apex", "@", http.StatusConflict, "zone apex"},
		{"the zone's name server", "ns1", http.StatusConflict, "name server"},
		{"glue below a delegation", "x.lab", http.StatusConflict, "glue"},
		{"another tenant's live name", "vm1", http.StatusConflict, "assignment of another tenant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := post(c.owner, "TXT", "x")
			p := checkProblem(t, x, c.status)
			if p.Type != problem.NameTaken || !strings.Contains(p.Detail, c.kind) || strings.Contains(string(x.Body), "sibling") {
				t.Errorf("%s: want %s naming %q, never the other tenant", x, problem.NameTaken, c.kind)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: changed %s", x, d)
			}
		})
	}
	t.Run("outside the tenant's suffixes", func(t *testing.T) {
		m := e.dns
		if _, err := m.AddZone(setupCtx, managedZone("other.example")); err != nil {
			t.Fatal(err)
		}
		before := e.snapshot(t)
		x := e.do(t, req{Method: "POST", Path: "/v1/zones/other.example/records", Token: hosting, Body: map[string]any{"name": "www", "type": "A", "data": "192.0.2.1"}})
		checkProblem(t, x, http.StatusForbidden)
		if d := before.diff(e.snapshot(t)); d != "" {
			t.Errorf("%s: changed %s", x, d)
		}
		r, err := m.AddRecord(setupCtx, "other.example", "www", "A", "192.0.2.1", 0)
		if err != nil {
			t.Fatal(err)
		}
		x = e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/other.example/records/%d", r.ID), Token: hosting})
		checkProblem(t, x, http.StatusForbidden)
		x = e.do(t, req{Method: "GET", Path: "/v1/zones/other.example/records", Token: hosting})
		if rs := decode[[]zone.Record](t, x); x.Status != http.StatusOK || len(rs) != 0 {
			t.Errorf("%s: a tenant sees records outside its suffixes", x)
		}
	})
	// The delegation lab is under the tenant's suffix and holds no name
	// server or glue itself: listed; its glue is not.
	x = e.do(t, req{Method: "GET", Path: "/v1/zones/cloud.example/records", Token: hosting})
	for _, r := range decode[[]zone.Record](t, x) {
		if !strings.HasPrefix(r.Name, "_acme-challenge.") && !strings.HasPrefix(r.Name, "www.") && r.Name != "lab.cloud.example." {
			t.Errorf("%s: the tenant sees %s %s, a name others hold", x, r.Name, r.Type)
		}
	}
	if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/cloud.example/records/%d", mine.ID), Token: hosting}); x.Status != http.StatusNoContent {
		t.Fatalf("%s: want 204", x)
	}
	if x := e.do(t, req{Method: "POST", Path: "/v1/zones", Token: hosting, Body: map[string]any{"name": "mine.cloud.example"}}); x.Status != http.StatusForbidden {
		t.Fatalf("%s: want 403: zones are the admin's", x)
	}
}

// managedZone is a forward zone served by a name server outside it.
func managedZone(name string) manage.ZoneSpec {
	return manage.ZoneSpec{Name: name, Config: zone.Config{NS: []string{"ns.provider.test."}}}
}

// TestTenantDelegationsNeedLeave: a tenant's token may not write NS, DS
// or DNAME records under its suffixes (they hand the name and all below
// it to servers, or a tree, the operator does not answer for), nor delete
// the operator's delegation there: 403, nothing changes. Once an admin
// sets the tenant's may_delegate, it may.
func TestTenantDelegationsNeedLeave(t *testing.T) {
	e, hosting := hijackEnv(t)
	adm := e.tok["admin"]
	post := func(name, typ, data string) *exchange {
		return e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": name, "type": typ, "data": data}})
	}
	refused := []struct{ name, owner, typ, data string }{
		{"NS delegating a name away", "sub", "NS", "ns.elsewhere.example."},
		{"ns in lower case", "sub", "ns", "ns.elsewhere.example."},
		{"DS at the operator's delegation", "lab", "DS", "12345 13 2 3F6AAB5C0B5B8E5C1B3F4C1C2B9B7E8B2A5F3C1D9E8F7A6B5C4D3E2F1A0B9C8D"},
		{"DNAME redirecting a subtree", "old", "DNAME", "elsewhere.example."},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := post(c.owner, c.typ, c.data)
			p := checkProblem(t, x, http.StatusForbidden)
			if !strings.Contains(p.Detail, "may not delegate") || !strings.Contains(p.Detail, "--may-delegate") {
				t.Errorf("%s: want a refusal saying the tenant may not delegate and how an admin allows it", x)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: changed %s", x, d)
			}
		})
	}
	var labNS zone.Record
	for _, r := range decode[[]zone.Record](t, e.do(t, req{Method: "GET", Path: "/v1/zones/cloud.example/records", Token: adm})) {
		if r.Name == "lab.cloud.example." && r.Type == "NS" {
			labNS = r
		}
	}
	t.Run("deleting the operator's delegation", func(t *testing.T) {
		before := e.snapshot(t)
		checkProblem(t, e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/cloud.example/records/%d", labNS.ID), Token: hosting}), http.StatusForbidden)
		if d := before.diff(e.snapshot(t)); d != "" {
			t.Errorf("changed %s", d)
		}
	})
	if x := post("_acme-challenge.sub", "TXT", "token"); x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201: other types are the tenant's to write", x)
	}

	x := e.do(t, req{Method: "PATCH", Path: "/v1/tenants/hosting", Token: adm, Body: map[string]any{"may_delegate": true}})
	if x.Status != http.StatusOK || !decode[registry.Tenant](t, x).MayDelegate {
		t.Fatalf("%s: want the tenant allowed to delegate", x)
	}
	if x := post("sub", "NS", "ns.elsewhere.example."); x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201 once the tenant may delegate", x)
	}
	if x := post("old", "DNAME", "elsewhere.example."); x.Status != http.StatusCreated {
		t.Fatalf("%s: want 201 once the tenant may delegate", x)
	}
	if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/cloud.example/records/%d", labNS.ID), Token: hosting}); x.Status != http.StatusNoContent {
		t.Fatalf("%s: want 204 once the tenant may delegate", x)
	}
}
