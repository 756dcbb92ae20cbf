package api

import (
	"net/http"
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
