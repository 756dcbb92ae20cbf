package api

import (
	"fmt"
	"net/http"
	"net/netip"
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
