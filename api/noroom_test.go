package api

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestNoRoomTellsATenantNothingOfFreeSpace: every way of asking for more
// than a region holds (a count past what fits, a batch whose second
// request does not fit, dual-stack into a region without IPv6, a borrow
// whose lenders are full, a child pool, a specific prefix a reservation
// holds) is refused with the same status and problem type whoever asks;
// a token bound to a tenant reads only that its request does not fit
// (not how many fit, which request of the batch failed, the region's
// pools, its lenders or the reservation), while the operator's callers
// (admin, and an allocate token bound to no tenant, which reads the same
// through /v1/pools) read the detail. The server's log keeps it.
func TestNoRoomTellsATenantNothingOfFreeSpace(t *testing.T) {
	e := newEnv(t)
	// sa-east holds 4 IPv4 addresses (10.0.1.0/30), no IPv6, and may not
	// borrow; eu-west holds no IPv4; ap-south has no pool of its own and
	// borrows from sa-east, which has no /28 to lend.
	must[registry.Region](t)(e.reg.AddRegion(setupCtx, registry.RegionSpec{Name: "ap-south", Location: location.Location{Country: "IN"},
		Borrow: registry.BorrowPolicy{From: []string{"sa-east"}}}))
	must[registry.Reservation](t)(e.reg.Reserve(setupCtx, registry.ReservationSpec{Prefix: netip.MustParsePrefix("10.0.0.200/32"), Reason: "the gateway"}))
	cases := []struct {
		name string
		r    req
		typ  string
		// detail is what the operator reads (each must appear), and a
		// tenant must not.
		detail []string
	}{
		{"a count past what fits", req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"region": "sa-east", "family": 4, "count": 5}}},
			problem.Policy, []string{"only 4 of 5", "sa-east"}},
		{"a batch whose second request does not fit", req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"region": "sa-east", "family": 4, "count": 2}, {"region": "sa-east", "family": 4, "count": 3}}},
			problem.Policy, []string{"request 2", "only 2 of 3"}},
		{"dual-stack into a region without IPv6", req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"region": "sa-east", "dual_stack": true, "count": 1}}},
			problem.NoSpace, []string{"no IPv6 pool", "pool add"}},
		{"a borrow whose lenders are full", req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"region": "ap-south", "family": 4, "count": 1, "len": 28}}},
			problem.NoSpace, []string{"lender", "sa-east"}},
		{"a child pool", req{Method: "POST", Path: "/v1/child-pools", Body: map[string]any{"as_pool": "kids", "region": "eu-west", "family": 4, "len": 30}},
			problem.NoSpace, []string{"no IPv4 pool", "eu-west"}},
		{"a reserved prefix", req{Method: "POST", Path: "/v1/assignments", Body: []map[string]any{{"address": "10.0.0.200"}}},
			problem.Overlap, []string{"reserved", "the gateway"}},
	}
	for _, c := range cases {
		for _, role := range []string{"admin", "allocate", "tenant"} {
			t.Run(c.name+" as "+role, func(t *testing.T) {
				r := c.r
				r.Token = e.tok[role]
				if role != "tenant" {
					// The operator's callers name a tenant; a tenant's token
					// is bound to it.
					if b, ok := r.Body.([]map[string]any); ok {
						for _, q := range b {
							q["tenant"] = "acme"
						}
					} else {
						r.Body.(map[string]any)["tenant"] = "acme"
					}
				}
				before := e.snapshot(t)
				x := e.do(t, r)
				p := checkProblem(t, x, http.StatusConflict)
				if p.Type != c.typ {
					t.Errorf("%s: type %s, want %s", x, p.Type, c.typ)
				}
				for _, d := range c.detail {
					if got := strings.Contains(string(x.Body), d); got != (role != "tenant") {
						t.Errorf("%s: the answer names %q: %v, want %v", x, d, got, role != "tenant")
					}
				}
				if role == "tenant" && !strings.Contains(p.Detail, "not free") && !strings.Contains(p.Detail, "does not fit") {
					t.Errorf("%s: a tenant is not told that its request does not fit", x)
				}
				if d := before.diff(e.snapshot(t)); d != "" {
					t.Errorf("%s: a refused request changed the database: %s", x, d)
				}
			})
		}
	}
	if !strings.Contains(e.logs.String(), "only 4 of 5") {
		t.Errorf("the server's log does not keep what a tenant was not told")
	}
}
