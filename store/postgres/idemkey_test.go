package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// A keyed allocation costs no round trip more than one without a key: the
// key is not looked up before the transaction (registry.AllocateAll takes
// it as absent, and the store's unique key refuses it if it is not). On
// main before session 14 the look-up was a round trip of its own: 60 for
// 20 allocations.
func TestKeyedAllocationRoundTrips(t *testing.T) {
	ctx := context.Background()
	r, trips := tracedRegion(t)
	if _, err := r.Allocate(ctx, registry.Request{Region: "east", Family: 4, Key: "warm"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	before := trips.n.Load()
	for i := range n {
		if _, err := r.Allocate(ctx, registry.Request{Region: "east", Family: 4, Key: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := trips.n.Load() - before; got > 2*n {
		t.Errorf("%d keyed allocations: %d round trips, want at most %d", n, got, 2*n)
	}
	// The retry of one is answered with its assignment, and writes nothing.
	first, err := r.Allocate(ctx, registry.Request{Region: "east", Family: 4, Key: "again"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Allocate(ctx, registry.Request{Region: "east", Family: 4, Key: "again"})
	if err != nil || len(again) != 1 || again[0].ID != first[0].ID {
		t.Fatalf("retry: %+v, %v; want assignment %d", again, err, first[0].ID)
	}
}

// A retry is answered as its first request was, even where the request
// would now be refused: the key, taken as absent by the allocation, is
// looked up when the allocation fails, before the refusal is returned.
func TestKeyedRetryReplaysAfterARefusal(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, migratedDB(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := registry.New(st)
	regionWithPool(t, r, "east", "10.0.0.0/16")
	one := int64(1)
	for name, max := range map[string]*int64{"full": &one, "renamed": nil} {
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: name, Names: &[]string{name + ".example"}, MaxIPv4: max}); err != nil {
			t.Fatal(err)
		}
	}
	tenantCtx := registry.Restricted(ctx)
	for _, c := range []struct {
		name   string
		first  registry.Request
		before func() error // between the first request and its retry
		retry  registry.Request
		want   func(error) bool // nil: the first request's assignment
	}{
		{"a retry at the tenant's quota replays",
			registry.Request{Region: "east", Family: 4, Tenant: "full", Key: "q"}, nil,
			registry.Request{Region: "east", Family: 4, Tenant: "full", Key: "q"}, nil},
		{"another request under that key is refused",
			registry.Request{}, nil,
			registry.Request{Region: "east", Family: 4, Tenant: "full", Key: "q", Resource: "other"},
			func(err error) bool { return errors.Is(err, registry.ErrIdempotency) }},
		{"a new key at the quota is refused",
			registry.Request{}, nil,
			registry.Request{Region: "east", Family: 4, Tenant: "full", Key: "new"},
			func(err error) bool { var q *registry.QuotaError; return errors.As(err, &q) }},
		{"a retry whose name the tenant may no longer use replays",
			registry.Request{Region: "east", Family: 4, Tenant: "renamed", Name: "vm.renamed.example", Key: "n"},
			func() error {
				_, err := r.UpdateTenant(ctx, registry.TenantSpec{Name: "renamed", Names: &[]string{"other.example"}})
				return err
			},
			registry.Request{Region: "east", Family: 4, Tenant: "renamed", Name: "vm.renamed.example", Key: "n"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var first []registry.Assignment
			if c.first.Region != "" {
				var err error
				if first, err = r.Allocate(tenantCtx, c.first); err != nil {
					t.Fatal(err)
				}
			}
			if c.before != nil {
				if err := c.before(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := r.Allocate(tenantCtx, c.retry)
			if c.want != nil {
				if !c.want(err) {
					t.Fatalf("err = %v (got %+v), want a refusal", err, got)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0].ID != first[0].ID {
				t.Fatalf("retry: %+v, %v; want assignment %d", got, err, first[0].ID)
			}
		})
	}
}
