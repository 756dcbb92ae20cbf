package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
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
	stores := make([]*postgres.Store, replicas)
	regs := make([]*registry.Registry, replicas)
	for i := range replicas {
		s, err := postgres.Open(ctx, dsn, postgres.Options{Writers: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i], regs[i] = s, registry.New(s)
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
		errs := make([]error, len(allocs))
		var wg sync.WaitGroup
		for k, a := range allocs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[k] = regs[a.replica].Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 128, Tenant: a.tenant, Name: a.name})
			}()
		}
		time.Sleep(300 * time.Millisecond) // let them queue behind the holders
		close(release)
		wg.Wait()
		holders.Wait()
		return errs
	}
	fillers := func(round string, replica int) []alloc {
		var out []alloc
		for k := range 4 {
			out = append(out, alloc{replica, "a", fmt.Sprintf("f%d-%s-%d.example", replica, round, k)})
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
	}{
		{"another tenant's assignment, before the batch", []alloc{{0, "b", "held.example"}}, true},
		{"two tenants in one batch", []alloc{{0, "a", "one.example"}, {0, "b", "one.example"}}, false},
		{"two tenants, the bare and the dotted name", []alloc{{0, "a", "dot.example"}, {0, "b", "dot.example."}}, false},
		{"two replicas' batches at once", []alloc{{0, "a", "two.example"}, {1, "b", "two.example"}}, false},
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
				allocs := append(fillers(fmt.Sprintf("%d-%d", ci, round), 0), fillers(fmt.Sprintf("%d-%d", ci, round), 1)...)
				allocs = append(allocs, contested...)
				errs := batch(t, allocs)
				if after := postgres.NamesChecked(stores[0]) + postgres.NamesChecked(stores[1]); after < before+replicas {
					t.Fatalf("round %d: %d batches sent their names to names_free, want %d", round, after-before, replicas)
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
