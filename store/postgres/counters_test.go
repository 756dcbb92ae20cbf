package postgres_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// Several replicas on one database allocate, quarantine and release in
// the same pools at once, each with group commit: every replica's
// transactions add their counts to the same counter rows, and none is
// lost or counted twice. Bounded: a fixed number of operations per worker
// and a deadline.
func TestCountersWithReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := migratedDB(t)
	// Time moves a minute with every allocation, so quarantines (of half
	// an hour) end and are reaped while the replicas run.
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var ticks atomic.Int64
	clock := func() time.Time { return start.Add(time.Duration(ticks.Load()) * time.Minute) }
	const replicas, workers, ops = 3, 6, 30
	var regs []*registry.Registry
	var stores []registry.Store
	for i := range replicas {
		st, err := postgres.Open(ctx, dsn, postgres.Options{Writers: 2})
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
		regs = append(regs, registry.New(st, registry.WithClock(clock)))
	}
	reg := regs[0]
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"40.64.0.0/16", "2603:1000::/24"} {
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(b), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"40.64.0.0/24", "2603:1030::/48"} {
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: "us-east"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*workers)
	for r := range replicas {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rg := regs[r]
				for i := range ops {
					q := registry.Request{Region: "us-east", Family: 4 + 2*((w+i)%2)}
					if i%7 == 0 {
						q.Count = 3
					}
					ticks.Add(1)
					got, err := rg.Allocate(ctx, q)
					if err != nil {
						errs <- err
						return
					}
					if i%3 == 0 {
						continue // kept
					}
					quarantine := time.Duration(0)
					if i%3 == 1 {
						quarantine = 30 * time.Minute
					}
					if _, err := rg.Release(ctx, registry.Target{ID: got[0].ID}, quarantine, nil); err != nil && !errors.Is(err, registry.ErrNotFound) {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	now := clock()
	storetest.CheckCounters(t, ctx, stores[1], now)
	storetest.CheckCounters(t, ctx, stores[2], now.Add(-20*time.Minute))
	storetest.CheckInvariants(t, ctx, stores[2], regs[2], now)
}
