package bench_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// TestBatchMatchesSingles checks that a Count batch, which the SQLite store
// writes with multi-row INSERTs, leaves exactly the assignments, events and
// free space that the same number of single allocations leave. Fast: a few
// hundred allocations on NoSync stores.
func TestBatchMatchesSingles(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	open := func(name string) (*sqlite.Store, *registry.Registry) {
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), name), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		r := registry.New(st, registry.WithClock(func() time.Time { return at }))
		if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"10.0.0.0/22", "10.0.8.0/23", "fd00::/48"} {
			pfx := netip.MustParsePrefix(p)
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: "r"}); err != nil {
				t.Fatal(err)
			}
		}
		return st, r
	}
	// Counts chosen to cross chunk and free-prefix boundaries; the IPv4
	// total spans both pools.
	reqs := []registry.Request{
		{Region: "r", Family: 4, Count: 3},
		{Region: "r", Family: 4, Count: 300, Tenant: "t"},
		{Region: "r", Family: 4, Bits: 30, Count: 20},
		{Region: "r", Family: 4, Count: 1100, Resource: "vm"},
		{Region: "r", Count: 1500},
		{Region: "r", Bits: 64, Count: 129},
	}
	_, batch := open("batch.db")
	_, single := open("single.db")
	for _, q := range reqs {
		got, err := batch.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("batch %+v: %v", q, err)
		}
		one := q
		one.Count = 1
		var want []registry.Assignment
		for range q.Count {
			a, err := single.Allocate(ctx, one)
			if err != nil {
				t.Fatalf("single %+v: %v", one, err)
			}
			want = append(want, a...)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%+v: batch and singles differ:\n%v\n%v", q, got, want)
		}
	}
	// A batch larger than what is left fails and changes nothing.
	if _, err := batch.Allocate(ctx, registry.Request{Region: "r", Family: 4, Count: 1 << 12}); err == nil {
		t.Fatal("oversized batch succeeded")
	}
	dump := func(r *registry.Registry) string {
		var out struct {
			A []registry.Assignment
			E []registry.Event
			F [][]netip.Prefix
		}
		err := r.Store().View(ctx, func(tx registry.Tx) error {
			var err error
			if out.A, err = tx.Assignments(ctx, registry.AssignmentFilter{}); err != nil {
				return err
			}
			if out.E, err = tx.Events(ctx, registry.EventFilter{}); err != nil {
				return err
			}
			pools, err := tx.Pools(ctx, registry.PoolFilter{})
			if err != nil {
				return err
			}
			for _, p := range pools {
				f, err := tx.FreeOfPool(ctx, p.ID)
				if err != nil {
					return err
				}
				out.F = append(out.F, f)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	if b, s := dump(batch), dump(single); b != s {
		t.Fatalf("stores differ after batch and single allocations")
	}
}
