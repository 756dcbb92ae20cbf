package api

import (
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestRegionAllocationInASpace: "space" in POST /v1/assignments limits an
// allocation from a region to that space's pools (issue 12): us-east holds
// the private space's 10.0.0.0/24 and vpc-a's 10.0.0.0/28 (the same
// addresses); with "space": "vpc-a" the address comes from vpc-a's pool,
// without it never from vpc-a's; an unknown space is 404 naming it and a
// full space 409-class exhaustion naming it, with nothing stored.
func TestRegionAllocationInASpace(t *testing.T) {
	e := newEnv(t)
	adm := e.tok["admin"]
	if _, err := e.reg.AddSpace(setupCtx, registry.Space{Name: "vpc-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.AddBlock(setupCtx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Source: registry.SourcePrivate, Space: "vpc-a"}); err != nil {
		t.Fatal(err)
	}
	vpc, err := e.reg.AddPool(setupCtx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.0.0.0/30"), Region: "us-east", Space: "vpc-a", UseAll: true})
	if err != nil {
		t.Fatal(err)
	}

	for i := range 4 {
		x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "family": 4, "space": "vpc-a"}}})
		if x.Status != http.StatusCreated {
			t.Fatalf("allocation %d in vpc-a: %s", i, x)
		}
		if as := decode[[]registry.Assignment](t, x); len(as) != 1 || as[0].PoolID != vpc.ID || as[0].Space != "vpc-a" {
			t.Fatalf("allocation %d in vpc-a: %+v, want one from vpc-a's pool %d", i, as, vpc.ID)
		}
	}
	before := e.snapshot(t)
	x := e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "family": 4, "space": "vpc-a"}}})
	if p := checkProblem(t, x, http.StatusConflict); !strings.Contains(p.Detail, "vpc-a") {
		t.Fatalf("a fifth address from vpc-a's /30: %s", x)
	}
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "family": 4, "space": "vpc-z"}}})
	if p := checkProblem(t, x, http.StatusNotFound); !strings.Contains(p.Detail, "vpc-z") {
		t.Fatalf("an unknown space: %s", x)
	}
	if after := e.snapshot(t); !reflect.DeepEqual(after, before) {
		t.Fatal("a refused allocation changed the register")
	}
	// Without a space: never vpc-a's pool, though it is us-east's.
	x = e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: adm, Body: []map[string]any{{"region": "us-east", "family": 4}}})
	if as := decode[[]registry.Assignment](t, x); x.Status != http.StatusCreated || len(as) != 1 || as[0].Space == "vpc-a" || as[0].PoolID == vpc.ID {
		t.Fatalf("an allocation without a space: %s", x)
	}
}
