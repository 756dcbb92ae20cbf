package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// hijackEnv adds to env a zone cloud.example (name servers
// ns1.cloud.example and one outside it, a static www, a delegation lab
// with its name server's glue and an address record below it), two
// tenants, hosting, which may name under cloud.example, and sibling, which
// holds vm1.cloud.example (named by an admin: it has no suffix, as two
// tenants may not share one), and a token bound to hosting.
func hijackEnv(t *testing.T, opts ...envOption) (*env, string) {
	e := newEnv(t, opts...)
	m := manage.NewManager(e.store, nil, nil)
	if _, err := m.AddZone(setupCtx, manage.ZoneSpec{Name: "cloud.example", Config: zone.Config{NS: []string{"ns1.cloud.example.", "ns.provider.example."}},
		Glue: []manage.Glue{{Host: "ns1.cloud.example.", Addr: netip.MustParseAddr("192.0.2.54")}}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][3]string{{"www", "A", "192.0.2.1"}, {"lab", "NS", "ns1.lab.cloud.example."}, {"ns1.lab", "A", "192.0.2.53"}, {"x.lab", "AAAA", "2001:db8::53"}} {
		if _, err := m.AddRecord(setupCtx, "cloud.example", r[0], r[1], r[2], 0); err != nil {
			t.Fatal(err)
		}
	}
	// The sibling has no suffix of its own (two tenants may not share
	// one): an admin names its VM.
	must[registry.Tenant](t)(e.reg.AddTenant(setupCtx, registry.TenantSpec{Name: "hosting", Names: &[]string{"cloud.example", "provider.example"}}))
	must[registry.Tenant](t)(e.reg.AddTenant(setupCtx, registry.TenantSpec{Name: "sibling"}))
	must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Tenant: "sibling", Name: "vm1.cloud.example"}))
	return e, e.issue(t, "", auth.Spec{Name: "hosting", Scope: auth.ScopeAllocate, Tenant: "hosting"})
}

// TestNameHijacksRefused: a tenant's token cannot publish, by allocation
// or by renaming, a name another tenant holds, a zone's apex, its name
// servers, glue or a static record: 409 name-taken naming the kind of
// holder, never the other tenant, and nothing stored changes. An admin
// may name the zone's own names, but not another tenant's live name.
func TestNameHijacksRefused(t *testing.T) {
	e, hosting := hijackEnv(t)
	adm := e.tok["admin"]
	mine := must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Tenant: "hosting", Name: "mine.cloud.example"}))[0]
	cases := []struct {
		name, fqdn string
		kind       registry.HolderKind
	}{
		{"a sibling tenant's live name", "vm1.cloud.example", registry.HolderAssignment},
		{"a sibling tenant's live name with a trailing dot", "vm1.cloud.example.", registry.HolderAssignment},
		{"the zone apex", "cloud.example", registry.HolderApex},
		{"the zone's name server", "ns1.cloud.example", registry.HolderNameServer},
		{"a name server outside the zone", "ns.provider.example", registry.HolderNameServer},
		{"glue below a delegation", "x.lab.cloud.example", registry.HolderGlue},
		{"a delegation's name server (with glue)", "ns1.lab.cloud.example", registry.HolderNameServer},
		{"a static record", "www.cloud.example", registry.HolderRecord},
	}
	for _, c := range cases {
		for _, how := range []string{"allocate", "rename"} {
			t.Run(c.name+" by "+how, func(t *testing.T) {
				r := req{Method: "POST", Path: "/v1/assignments", Token: hosting, Body: []map[string]any{{"region": "us-east", "name": c.fqdn}}}
				if how == "rename" {
					r = req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", mine.ID), Token: hosting, Body: map[string]any{"name": c.fqdn}}
				}
				before := e.snapshot(t)
				x := e.do(t, r)
				p := checkProblem(t, x, http.StatusConflict)
				if p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(c.kind)) {
					t.Errorf("%s: want %s naming %q", x, problem.NameTaken, c.kind)
				}
				if strings.Contains(string(x.Body), "sibling") {
					t.Errorf("%s: the answer names the other tenant", x)
				}
				if d := before.diff(e.snapshot(t)); d != "" {
					t.Errorf("%s: a refused request changed the database: %s", x, d)
				}
			})
		}
	}
	t.Run("an admin may name the zone's names", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "tenant": "hosting", "name": "www.cloud.example"}}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s: want 201", x)
		}
	})
	t.Run("an admin may not take another tenant's live name", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "tenant": "hosting", "name": "vm1.cloud.example"}}})
		if p := checkProblem(t, x, http.StatusConflict); p.Type != problem.NameTaken {
			t.Errorf("%s: want %s", x, problem.NameTaken)
		}
	})
	t.Run("a name outside the tenant's suffixes is refused", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: hosting, Body: []map[string]any{{"region": "us-east", "name": "vm9.elsewhere.example"}}})
		if p := checkProblem(t, x, http.StatusUnprocessableEntity); !strings.Contains(p.Detail, "cloud.example.") {
			t.Errorf("%s: the answer does not list the tenant's suffixes", x)
		}
	})
	t.Run("the tenant's own name under its suffix is allowed, again for a second address", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: hosting, Body: []map[string]any{{"region": "us-east", "family": 4, "name": "mine.cloud.example"}}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s: want 201", x)
		}
	})
	t.Run("a token below admin cannot allocate for a tenant that does not exist", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: []map[string]any{{"region": "us-east", "tenant": "nobody-yet"}}})
		if p := checkProblem(t, x, http.StatusNotFound); !strings.Contains(p.Detail, "nobody-yet") {
			t.Errorf("%s: the answer does not name the tenant", x)
		}
	})
}

// TestQuotaOverAPI: globex may hold 4 IPv4 addresses; asking for 5 is 409
// quota naming the quota and the use, exactly 4 succeeds, one more fails.
func TestQuotaOverAPI(t *testing.T) {
	e := newEnv(t)
	foreign := e.tok["foreign"]
	post := func(count int) *exchange {
		return e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: foreign, Body: []map[string]any{{"region": "us-east", "family": 4, "count": count}}})
	}
	x := post(5)
	if p := checkProblem(t, x, http.StatusConflict); p.Type != problem.Quota || !strings.Contains(p.Detail, "max-ipv4") || !strings.Contains(p.Detail, "0 in use") {
		t.Errorf("%s: want %s naming max-ipv4 and the use", x, problem.Quota)
	}
	if x := post(4); x.Status != http.StatusCreated {
		t.Fatalf("exactly at the quota: %s", x)
	}
	x = post(1)
	if p := checkProblem(t, x, http.StatusConflict); p.Type != problem.Quota || !strings.Contains(p.Detail, "4 in use") {
		t.Errorf("%s: want %s with 4 in use", x, problem.Quota)
	}
	got := decode[registry.Tenant](t, e.do(t, req{Method: "GET", Path: "/v1/tenants/globex", Token: foreign}))
	if got.UsedIPv4 != 4 || got.MaxIPv4 == nil || *got.MaxIPv4 != 4 {
		t.Errorf("globex reads its tenant as %+v, want 4 of 4 IPv4 in use", got)
	}
}

// TestBatchLimit: a server's registry with a batch limit refuses a larger
// request with 413 naming the limit.
func TestBatchLimit(t *testing.T) {
	e := newEnv(t, func(e *env) { e.regOpts = append(e.regOpts, registry.WithMaxBatch(10)) })
	x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: []map[string]any{{"region": "us-east", "count": 6}, {"region": "us-east", "dual_stack": true, "count": 3}}})
	if p := checkProblem(t, x, http.StatusRequestEntityTooLarge); p.Type != problem.TooLarge || !strings.Contains(p.Detail, "at most 10") {
		t.Errorf("%s: want %s naming the limit", x, problem.TooLarge)
	}
	if x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: []map[string]any{{"region": "us-east", "count": 10}}}); x.Status != http.StatusCreated {
		t.Errorf("a batch at the limit: %s", x)
	}
}

// TestControlCharactersRefused: a control character or bidi override in
// any free-text field is 400 naming the field, and nothing is stored.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t)
	adm, alloc := e.tok["admin"], e.tok["allocate"]
	cases := []struct {
		name, field string
		r           req
	}{
		{"ESC in a resource", "resource", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us-east", "resource": "vm\x1b[2J"}}}},
		{"CR in a tenant", "tenant", req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "tenant": "acme\rroot"}}}},
		{"LF in a renamed resource", "resource", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: alloc, Body: map[string]any{"resource": "a\nb"}}},
		{"a C1 control in a block note", "note", req{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "10.9.0.0/16", "source": "private", "note": "x\u009bm"}}},
		{"a bidi override in a counterparty", "counterparty", req{Method: "POST", Path: "/v1/blocks", Token: adm, Body: map[string]any{"prefix": "10.9.0.0/16", "source": "private", "from": "evil\u202egnp.exe"}}},
		{"BEL in a pool purpose", "purpose", req{Method: "POST", Path: "/v1/pools", Token: adm, Body: map[string]any{"prefix": "10.0.9.0/24", "region": "us-east", "purpose": "\a"}}},
		{"ESC in a region's city", "city", req{Method: "POST", Path: "/v1/regions", Token: adm, Body: map[string]any{"name": "cc", "country": "US", "city": "\x1b]0;owned\a"}}},
		{"ESC in a tenant note", "note", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "cc", "note": "\x1b[31m"}}},
		// A name's syntax check refuses a control character as every text
		// field does, not as a bad label (422).
		{"ESC in an assignment's name", "name", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us-east", "tenant": "acme", "name": "vm\x1b[2J.example.com"}}}},
		{"ESC in a renamed name", "name", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: alloc, Body: map[string]any{"name": "vm\x1b.example.com"}}},
		{"LF in a region's name", "region name", req{Method: "POST", Path: "/v1/regions", Token: adm, Body: map[string]any{"name": "c\nc", "country": "US"}}},
		{"ESC in an allocation's region", "region name", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us\x1beast"}}}},
		{"ESC in a space's name", "space: space name", req{Method: "POST", Path: "/v1/spaces", Token: adm, Body: map[string]any{"name": "v\x1bpc"}}},
		{"ESC in a child pool's name", "child pool: name", req{Method: "POST", Path: "/v1/child-pools", Token: alloc, Body: map[string]any{"as_pool": "k\x1bp", "region": "us-east", "len": 56, "tenant": "acme"}}},
		{"ESC in a tenant's name suffix", "tenant cc: name suffix: names", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "cc", "names": []string{"g\x1b.example.net"}}}},
		{"TAB in an idempotency key", "idempotency key", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us-east"}}, Header: map[string]string{"Idempotency-Key": "a\tb"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			if p := checkProblem(t, x, http.StatusBadRequest); !strings.HasPrefix(p.Detail, c.field+":") {
				t.Errorf("%s: the detail does not start with the field %q", x, c.field)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}
}

// TestTenantSuffixOverlapRefused: a tenant's name suffix that equals,
// contains or lies under another tenant's is 409 overlap naming the other
// tenant and its suffix (only admins manage tenants), on add and on
// update, and nothing is stored.
func TestTenantSuffixOverlapRefused(t *testing.T) {
	e := newEnv(t)
	adm := e.tok["admin"]
	// env's acme holds example.com, globex globex.example.
	cases := []struct {
		name  string
		r     req
		words []string
	}{
		{"an equal suffix", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"Example.COM."}}},
			[]string{"example.com. equals the suffix example.com. of tenant acme"}},
		{"a suffix under another's", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"initech.example", "shop.example.com"}}},
			[]string{"shop.example.com. lies under the suffix example.com. of tenant acme"}},
		{"a suffix that contains another's", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"example"}}},
			[]string{"example. contains the suffix globex.example. of tenant globex"}},
		// The first other suffix in the index's order (registry.SuffixKey):
		// "globex.example." before "example.com.".
		{"every name", req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"."}}},
			[]string{"contains the suffix globex.example. of tenant globex"}},
		{"an update widening into another's", req{Method: "PATCH", Path: "/v1/tenants/globex", Token: adm, Body: map[string]any{"names": []string{"globex.example", "www.example.com"}}},
			[]string{"www.example.com. lies under the suffix example.com. of tenant acme"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			p := checkProblem(t, x, http.StatusConflict)
			if p.Type != problem.Overlap {
				t.Errorf("%s: type %q, want %q", x, p.Type, problem.Overlap)
			}
			for _, w := range c.words {
				if !strings.Contains(p.Detail, w) {
					t.Errorf("%s: the detail does not say %q", x, w)
				}
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}
	if x := e.do(t, req{Method: "POST", Path: "/v1/tenants", Token: adm, Body: map[string]any{"name": "initech", "names": []string{"initech.example", "example.org"}}}); x.Status != http.StatusCreated {
		t.Errorf("suffixes apart from every other tenant's: %s", x)
	}
}

// TestRecordControlCharactersRefused: a raw control character or bidi
// override in a static record's name or data is 400 naming the field,
// and nothing is stored; the escaped form is a record like any other.
func TestRecordControlCharactersRefused(t *testing.T) {
	e, _ := hijackEnv(t)
	adm := e.tok["admin"]
	path := "/v1/zones/cloud.example/records"
	for _, c := range []struct {
		name, field string
		body        map[string]any
	}{
		{"ESC in the name", "name:", map[string]any{"name": "a\x1b[2Jb", "type": "TXT", "data": "x"}},
		{"a bidi override in the name", "name:", map[string]any{"name": "c\u202ed", "type": "A", "data": "192.0.2.9"}},
		{"LF in TXT data", "record t.cloud.example. TXT data:", map[string]any{"name": "t", "type": "TXT", "data": "a\nb"}},
		{"a C1 control in TXT data", "record t.cloud.example. TXT data:", map[string]any{"name": "t", "type": "TXT", "data": "a\u009bb"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, req{Method: "POST", Path: path, Token: adm, Body: c.body})
			if p := checkProblem(t, x, http.StatusBadRequest); !strings.HasPrefix(p.Detail, c.field) {
				t.Errorf("%s: the detail does not start with %q", x, c.field)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}
	x := e.do(t, req{Method: "POST", Path: path, Token: adm, Body: map[string]any{"name": `esc\027`, "type": "TXT", "data": `"a\027b"`}})
	if x.Status != http.StatusCreated || !strings.Contains(string(x.Body), `esc\\027.cloud.example.`) || !strings.Contains(string(x.Body), `a\\027b`) {
		t.Errorf("the escaped forms: %s", x)
	}
}

// TestDelegationHidesNamesBelowIt: the zone answers a name at or below a
// delegation (lab.cloud.example, the operator's) with a referral, so a
// record written there (but the delegation's own NS and DS) or an
// assignment named there would never be served: a tenant's token is
// refused with 409 name-taken naming the delegation, never another
// tenant, by record and by allocation or rename; so is an admin, but for
// an address record below it, which may be glue. A record written there
// before may still be deleted.
func TestDelegationHidesNamesBelowIt(t *testing.T) {
	e, hosting := hijackEnv(t)
	adm := e.tok["admin"]
	mine := must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Tenant: "hosting", Name: "mine.cloud.example"}))[0]
	refused := []struct {
		name string
		r    req
		kind registry.HolderKind
	}{
		{"a tenant's TXT below the delegation", req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": "acme.lab", "type": "TXT", "data": "x"}}, registry.HolderBelowDelegation},
		{"a tenant's A below the delegation", req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": "vm.lab", "type": "A", "data": "192.0.2.9"}}, registry.HolderBelowDelegation},
		{"a tenant's TXT at the delegation", req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": "lab", "type": "TXT", "data": "x"}}, registry.HolderDelegation},
		{"a tenant's assignment named below the delegation", req{Method: "POST", Path: "/v1/assignments", Token: hosting, Body: []map[string]any{{"region": "us-east", "name": "vm.lab.cloud.example"}}}, registry.HolderBelowDelegation},
		{"a tenant's assignment named at the delegation", req{Method: "POST", Path: "/v1/assignments", Token: hosting, Body: []map[string]any{{"region": "us-east", "name": "lab.cloud.example"}}}, registry.HolderDelegation},
		{"a tenant's assignment renamed below the delegation", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", mine.ID), Token: hosting, Body: map[string]any{"name": "a.b.lab.cloud.example"}}, registry.HolderBelowDelegation},
		{"an admin's TXT below the delegation", req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: adm, Body: map[string]any{"name": "acme.lab", "type": "TXT", "data": "x"}}, registry.HolderBelowDelegation},
		{"an admin's assignment named below the delegation", req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "tenant": "hosting", "name": "vm.lab.cloud.example"}}}, registry.HolderBelowDelegation},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			p := checkProblem(t, x, http.StatusConflict)
			if p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(c.kind)) || !strings.Contains(p.Detail, "ever served") {
				t.Errorf("%s: want %s naming %q and that it is never served", x, problem.NameTaken, c.kind)
			}
			if strings.Contains(string(x.Body), "sibling") {
				t.Errorf("%s: the answer names another tenant", x)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}
	t.Run("an admin's address record below the delegation, which may be glue", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: adm, Body: map[string]any{"name": "ns2.lab", "type": "A", "data": "192.0.2.55"}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s: want 201", x)
		}
	})
	t.Run("a tenant that may delegate adds NS and DS at its delegation, not below it", func(t *testing.T) {
		must[registry.Tenant](t)(e.reg.UpdateTenant(setupCtx, registry.TenantSpec{Name: "hosting", MayDelegate: ptr(true)}))
		for _, r := range []map[string]any{
			{"name": "sub", "type": "NS", "data": "ns.provider.example."},
			{"name": "sub", "type": "NS", "data": "ns2.provider.example."},
			{"name": "sub", "type": "DS", "data": "12345 13 2 " + strings.Repeat("ab", 32)},
		} {
			if x := e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: r}); x.Status != http.StatusCreated {
				t.Fatalf("%s: want 201", x)
			}
		}
		x := e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: hosting, Body: map[string]any{"name": "deeper.sub", "type": "NS", "data": "ns.provider.example."}})
		if p := checkProblem(t, x, http.StatusConflict); !strings.Contains(p.Detail, string(registry.HolderBelowDelegation)) {
			t.Errorf("%s: want a delegation below a delegation refused", x)
		}
	})
	t.Run("a delegation added above names says which it hides", func(t *testing.T) {
		must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Tenant: "hosting", Name: "vm.team.cloud.example"}))
		must[zone.Record](t)(e.dns.AddRecord(setupCtx, "cloud.example", "_acme.team", "TXT", "token", 0))
		must[zone.Record](t)(e.dns.AddRecord(setupCtx, "cloud.example", "ns.team", "A", "192.0.2.77", 0))
		x := e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: adm, Body: map[string]any{"name": "team", "type": "NS", "data": "ns.provider.example."}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s: want 201", x)
		}
		got := decode[struct{ Hides []string }](t, x).Hides
		if want := []string{"vm.team.cloud.example", "_acme.team.cloud.example."}; !slices.Equal(got, want) {
			t.Errorf("%s: hides %q, want %q", x, got, want)
		}
		x = e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: adm, Body: map[string]any{"name": "team", "type": "NS", "data": "ns2.provider.example."}})
		if x.Status != http.StatusCreated || len(decode[struct{ Hides []string }](t, x).Hides) != 2 {
			t.Errorf("%s: a second NS of the delegation says what it hides too", x)
		}
		x = e.do(t, req{Method: "POST", Path: "/v1/zones/cloud.example/records", Token: adm, Body: map[string]any{"name": "www", "type": "TXT", "data": "delegates nothing"}})
		if x.Status != http.StatusCreated || strings.Contains(string(x.Body), `"hides"`) {
			t.Errorf("%s: a record that delegates nothing hides nothing", x)
		}
	})
	t.Run("a record the delegation came to hide may still be deleted", func(t *testing.T) {
		// Written before the delegation, as a register made before the
		// rule holds them.
		r := must[zone.Record](t)(e.dns.AddRecord(setupCtx, "cloud.example", "txt.later", "TXT", "old", 0))
		must[zone.Record](t)(e.dns.AddRecord(setupCtx, "cloud.example", "later", "NS", "ns.provider.example.", 0))
		if x := e.do(t, req{Method: "DELETE", Path: fmt.Sprintf("/v1/zones/cloud.example/records/%d", r.ID), Token: hosting}); x.Status != http.StatusNoContent {
			t.Fatalf("%s: want 204", x)
		}
	})
}
