package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// An idempotency key means the same locally and over the API: the
// registry alone scopes keys (by tenant), so a command retried with
// --server after a local run, or the other way round, gets its first
// answer back, whichever token sends it; and a key reused for a
// different request never replays another request's assignments.
func TestIdempotencyKeysMeanTheSameLocallyAndOverTheAPI(t *testing.T) {
	e := newEnv(t)
	post := func(t *testing.T, token, key string, body []map[string]any) []registry.Assignment {
		t.Helper()
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: token, Body: body, Header: map[string]string{"Idempotency-Key": key}})
		if x.Status != http.StatusCreated {
			t.Fatalf("%s: status %d, want 201", x, x.Status)
		}
		return decode[[]registry.Assignment](t, x)
	}
	local := func(t *testing.T, q registry.Request) []registry.Assignment {
		t.Helper()
		out, err := e.reg.Allocate(setupCtx, q)
		if err != nil {
			t.Fatalf("local %+v: %v", q, err)
		}
		return out
	}
	same := func(t *testing.T, got, first []registry.Assignment) {
		t.Helper()
		if len(got) != 1 || len(first) != 1 || got[0].ID != first[0].ID {
			t.Fatalf("retry got %+v, want the first answer %+v", got, first)
		}
	}
	body := []map[string]any{{"region": "us-east", "tenant": "acme", "resource": "vm-7"}}
	t.Run("local first, then an admin token and the tenant's own token", func(t *testing.T) {
		first := local(t, registry.Request{Region: "us-east", Tenant: "acme", Resource: "vm-7", Key: "k-local"})
		same(t, post(t, e.tok["admin"], "k-local", body), first)
		same(t, post(t, e.tok["allocate"], "k-local", body), first)
		same(t, post(t, e.tok["tenant"], "k-local", []map[string]any{{"region": "us-east", "resource": "vm-7"}}), first)
	})
	t.Run("over the API first, then locally", func(t *testing.T) {
		first := post(t, e.tok["allocate"], "k-api", body)
		same(t, local(t, registry.Request{Region: "us-east", Tenant: "acme", Resource: "vm-7", Key: "k-api"}), first)
	})
	t.Run("another tenant's same key is another request", func(t *testing.T) {
		first := post(t, e.tok["admin"], "k-other", body)
		other := post(t, e.tok["admin"], "k-other", []map[string]any{{"region": "us-east", "tenant": "globex", "resource": "vm-7"}})
		if other[0].ID == first[0].ID {
			t.Fatal("globex's request replayed acme's assignment")
		}
	})
	t.Run("text moved between fields is another request", func(t *testing.T) {
		first := post(t, e.tok["admin"], "k-split", []map[string]any{{"region": "us-east", "tenant": "acme|vm"}})
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["admin"], Body: []map[string]any{{"region": "us-east", "tenant": "acme", "resource": "vm|"}},
			Header: map[string]string{"Idempotency-Key": "k-split"}})
		if x.Status == http.StatusCreated && decode[[]registry.Assignment](t, x)[0].ID == first[0].ID {
			t.Fatal("a different request with the same key replayed the first one's assignment")
		}
	})
}

// A child pool takes an Idempotency-Key as an allocation does, in the same
// key space: a retry returns the same child pool and counts once against
// its tenant; a key used for assignments is refused for a child pool and
// the other way round. Tags given in the body are on what is made.
func TestChildPoolKeysAndAllocationTags(t *testing.T) {
	e := newEnv(t)
	tok := e.tok["tenant"] // bound to acme
	carve := func(key string, body map[string]any) *exchange {
		return e.do(t, req{Method: "POST", Path: "/v1/child-pools", Token: tok, Body: body, Header: map[string]string{"Idempotency-Key": key}})
	}
	body := map[string]any{"as_pool": "site1", "region": "us-east", "len": 56, "tags": map[string]string{"site": "fra1"}}
	first := carve("c1", body)
	if first.Status != http.StatusCreated {
		t.Fatalf("%s: status %d", first, first.Status)
	}
	p1 := decode[registry.Pool](t, first)
	before, err := e.reg.Tenant(setupCtx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	again := carve("c1", body)
	if again.Status != http.StatusCreated || decode[registry.Pool](t, again).ID != p1.ID || p1.Tags["site"] != "fra1" {
		t.Fatalf("retry: %s, want child pool %d with its tags", again, p1.ID)
	}
	if after, _ := e.reg.Tenant(setupCtx, "acme"); after.UsedIPv6 != before.UsedIPv6 {
		t.Fatalf("a retry counted again: use %d, was %d", after.UsedIPv6, before.UsedIPv6)
	}
	if x := carve("c1", map[string]any{"as_pool": "site1", "region": "us-east", "len": 52}); x.Status != http.StatusConflict {
		t.Fatalf("same key, another child pool: %s, want 409", x)
	}
	x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: tok, Body: []map[string]any{{"region": "us-east"}}, Header: map[string]string{"Idempotency-Key": "c1"}})
	if x.Status != http.StatusConflict {
		t.Fatalf("a child pool's key for assignments: %s, want 409", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: tok, Body: []map[string]any{{"pool": "site1", "len": 64, "count": 2, "tags": map[string]string{"env": "prod"}}},
		Header: map[string]string{"Idempotency-Key": "a1"}})
	if x.Status != http.StatusCreated {
		t.Fatalf("children with tags: %s", x)
	}
	kids := decode[[]registry.Assignment](t, x)
	if len(kids) != 2 || kids[0].Tags["env"] != "prod" || kids[1].Tags["env"] != "prod" {
		t.Fatalf("children: %+v, want two tagged env=prod", kids)
	}
	// The replay carries the tags too, and the list filters by them.
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: tok, Body: []map[string]any{{"pool": "site1", "len": 64, "count": 2, "tags": map[string]string{"env": "prod"}}},
		Header: map[string]string{"Idempotency-Key": "a1"}})
	if r := decode[[]registry.Assignment](t, x); x.Status != http.StatusCreated || len(r) != 2 || r[0].ID != kids[0].ID || r[0].Tags["env"] != "prod" {
		t.Fatalf("replay: %s", x)
	}
	if x := carve("a1", body); x.Status != http.StatusConflict {
		t.Fatalf("an allocation's key for a child pool: %s, want 409", x)
	}
	x = e.do(t, req{Method: "GET", Path: "/v1/assignments?tag=env%3Dprod", Token: tok})
	if !strings.Contains(string(x.Body), kids[0].Prefix.String()) || !strings.Contains(string(x.Body), kids[1].Prefix.String()) {
		t.Fatalf("list by tag: %s", x)
	}
	x = e.do(t, req{Method: "GET", Path: "/v1/pools?tag=site%3Dfra1", Token: e.tok["admin"]})
	if !strings.Contains(string(x.Body), `"name":"site1"`) || strings.Contains(string(x.Body), "fd00:cad:1::/48") {
		t.Fatalf("pools by tag: %s, want child pool site1 only", x)
	}
	for _, bad := range []map[string]any{
		{"region": "us-east", "tags": map[string]string{"Env": "prod"}},
		{"region": "us-east", "tags": map[string]string{"env": "a\x1bb"}},
	} {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: tok, Body: []map[string]any{bad}})
		if x.Status != http.StatusBadRequest && x.Status != http.StatusUnprocessableEntity {
			t.Fatalf("bad tags %v: %s, want 400 or 422", bad, x)
		}
	}
}
