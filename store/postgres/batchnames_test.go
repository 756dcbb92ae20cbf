package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// TestBatchNameChecks: the name checks of a group commit's jobs go to
// names_free with the COMMIT (migration 00045), not one name_holder()
// per job. A name held by another tenant, before the batch or by another
// job of the same batch, or by a job of another replica's batch running
// at the same moment, is still refused (name taken, holder "assignment"),
// exactly once per contested name. Each case queues its allocations
// behind a held writer so that they run as one batch, and checks that the
// batch sent its names to names_free. It fails if names_free is skipped
// (every contested name is then given twice).
func TestBatchNameChecks(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	const replicas = 2
	var entered atomic.Int64 // allocations that called Update
	stores := make([]*postgres.Store, replicas)
	regs := make([]*registry.Registry, replicas)
	for i := range replicas {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Writers: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i], regs[i] = s, registry.New(counting{s, &entered})
	}
	r := regs[0]
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00:0:0:1::/64"), Region: "r", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	type alloc struct {
		replica      int
		tenant, name string
	}
	// batch runs the allocations, those of each replica in one batch of
	// its writer (queued behind an Update that holds it), both batches
	// released together.
	batch := func(t *testing.T, allocs []alloc) []error {
		release := make(chan struct{})
		var holders sync.WaitGroup
		for i := range replicas {
			holding := make(chan struct{})
			holders.Add(1)
			go func() {
				defer holders.Done()
				if err := stores[i].Update(ctx, func(registry.Tx) error {
					close(holding)
					<-release
					return nil
				}); err != nil {
					t.Error(err)
				}
			}()
			<-holding
		}
		entered.Store(0)
		errs := make([]error, len(allocs))
		var wg sync.WaitGroup
		for k, a := range allocs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[k] = regs[a.replica].Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 128, Tenant: a.tenant, Name: a.name})
			}()
		}
		// Every allocation has called Update before the holders let go,
		// and had time to queue behind them.
		for deadline := time.Now().Add(time.Minute); entered.Load() < int64(len(allocs)); {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d allocations reached Update", entered.Load(), len(allocs))
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		close(release)
		wg.Wait()
		holders.Wait()
		return errs
	}
	// fillers make a batch of a replica's allocations: replica 0's for
	// tenant a, 1's for b, so that the two batches wait for no tenant's
	// row of the other (a NOWAIT that failed would run a batch again with
	// savepoints, and its names would not go to names_free).
	fillers := func(round string, replica int) []alloc {
		var out []alloc
		for k := range 4 {
			out = append(out, alloc{replica, []string{"a", "b"}[replica], fmt.Sprintf("f%d-%s-%d.example", replica, round, k)})
		}
		return out
	}
	if _, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 128, Tenant: "a", Name: "held.example"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		contested []alloc // each wants the same name: exactly one may get it
		held      bool    // the name is held before the batch
		replicas  int     // the replicas whose batches run
	}{
		{"another tenant's assignment, before the batch", []alloc{{0, "b", "held.example"}}, true, 1},
		{"two tenants in one batch", []alloc{{0, "a", "one.example"}, {0, "b", "one.example"}}, false, 1},
		{"two tenants, the bare and the dotted name", []alloc{{0, "a", "dot.example"}, {0, "b", "dot.example."}}, false, 1},
		{"two replicas' batches at once", []alloc{{0, "a", "two.example"}, {1, "b", "two.example"}}, false, 2},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for round := range 3 {
				contested := c.contested
				if !c.held && round > 0 {
					// A fresh name each round (the first round's is held now).
					contested = nil
					for _, a := range c.contested {
						a.name = fmt.Sprintf("r%d-%s", round, a.name)
						contested = append(contested, a)
					}
				}
				// A batch refused by names_free ran again with savepoints,
				// and so would the next 16: this round's run without.
				postgres.NoSavepointBatches(stores[0])
				postgres.NoSavepointBatches(stores[1])
				before := postgres.NamesChecked(stores[0]) + postgres.NamesChecked(stores[1])
				var allocs []alloc
				for i := range c.replicas {
					allocs = append(allocs, fillers(fmt.Sprintf("%d-%d", ci, round), i)...)
				}
				allocs = append(allocs, contested...)
				errs := batch(t, allocs)
				if after := postgres.NamesChecked(stores[0]) + postgres.NamesChecked(stores[1]); after < before+int64(c.replicas) {
					t.Fatalf("round %d: %d batches sent their names to names_free, want %d", round, after-before, c.replicas)
				}
				got := 0
				for k, a := range allocs {
					err := errs[k]
					var nt *registry.NameTakenError
					switch {
					case k < len(allocs)-len(contested):
						if err != nil {
							t.Fatalf("round %d: filler %s: %v", round, a.name, err)
						}
					case err == nil:
						got++
					case errors.As(err, &nt) && nt.Holder == registry.HolderAssignment:
					default:
						t.Fatalf("round %d: %s for %s: %v, want name taken by an assignment", round, a.name, a.tenant, err)
					}
				}
				want := 1
				if c.held {
					want = 0
				}
				if got != want {
					t.Fatalf("round %d: %d of %d contested allocations got the name, want %d", round, got, len(contested), want)
				}
			}
		})
	}
}

// counting is a Store that counts the Updates called.
type counting struct {
	*postgres.Store
	n *atomic.Int64
}

func (c counting) Update(ctx context.Context, fn func(registry.Tx) error) error {
	c.n.Add(1)
	return c.Store.Update(ctx, fn)
}
