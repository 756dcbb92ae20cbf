package postgres_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// No allocation waits for a second pool connection while it holds the
// region's lock: with as many writers as connections, a transaction that
// did (to reserve assignment IDs) waited for ever on a pool held by the
// transactions queued behind its own lock. The deadline only bounds the
// hang this test would otherwise be.
func TestAllocationsNeverWaitForASecondConnection(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, migratedDB(t), postgres.Options{MaxConns: 4, Writers: 4, MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st)
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("2603:1000::/24"), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("2603:1030::/64"), Region: "us-east", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = reg.Allocate(cctx, registry.Request{Region: "us-east", Family: 6})
		}()
	}
	wg.Wait()
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d failed (first: %v)", n, len(errs), errs[0])
	}
}

// A pool of one connection would hang in the migrations (they hold one
// for their lock and need another): Open makes it two.
func TestOpenWithOneConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, migratedDB(t), postgres.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}
