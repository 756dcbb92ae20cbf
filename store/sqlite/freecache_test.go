package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// The writer keeps each region's free list and the next assignment ID
// from one write transaction to the next, and sends an allocation's three
// writes as one statement (freecache.go, fold.go). Each case does, between
// two allocations of the same store, something the copy must see; the
// second allocation must be exactly the one the free table gives (the
// buddy order: SmallestFree read in a view just before), no address may be
// held twice, and the free table must stay apart from the live
// assignments. A stale copy hands out the wrong prefix or one twice.
func TestFreeCacheNeverHandsOutAStalePrefix(t *testing.T) {
	ctx := context.Background()
	errUndo := errors.New("test: undo")
	six := registry.Request{Region: "r", Family: 6, Bits: 64}
	cases := []struct {
		name string
		// between runs after the first allocation (first) of a, on path.
		between func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment)
	}{
		{"another store on the file allocates", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			if _, err := registry.New(open(t, path)).Allocate(ctx, six); err != nil {
				t.Fatal(err)
			}
		}},
		{"another store on the file releases the first at once", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			if _, err := registry.New(open(t, path)).Release(ctx, registry.Target{ID: first.ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"another store allocates a /60 and a /64 and releases the /60", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			b := registry.New(open(t, path))
			got, err := b.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 60})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Allocate(ctx, six); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Release(ctx, registry.Target{ID: got[0].ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"the writer itself releases the first at once", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			if _, err := a.Release(ctx, registry.Target{ID: first.ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"a batch rolls back after its first request took and wrote", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			// The second request (a /40 from a /56 pool) fails after the
			// first took its prefix from the copy: the whole batch is undone.
			_, err := a.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{six, {Region: "r", Family: 6, Bits: 40}}})
			if !errors.Is(err, registry.ErrInvalid) {
				t.Fatalf("batch with an impossible request: %v, want ErrInvalid", err)
			}
		}},
		{"a transaction rolls back after a take", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			err := st.Update(ctx, func(tx registry.Tx) error {
				if _, ok, err := tx.(registry.FreeTaker).TakeSmallestFree(ctx, first.RegionID, 6, 64); err != nil || !ok {
					t.Errorf("take: %v, %v", ok, err)
				}
				return errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
		}},
		{"a deferred take rolls back", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			err := st.Update(ctx, func(tx registry.Tx) error {
				tx.(registry.WriteDeferrer).DeferWrites()
				if _, ok, err := tx.(registry.FreeTaker).TakeSmallestFree(ctx, first.RegionID, 6, 64); err != nil || !ok {
					t.Errorf("take: %v, %v", ok, err)
				}
				return errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
		}},
		{"a caller of a shared commit fails after a take, the others commit", func(t *testing.T, path string, st registry.Store, a *registry.Registry, first registry.Assignment) {
			var wg sync.WaitGroup
			for i := range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					q := []registry.Request{six}
					if i%3 == 0 {
						q = append(q, registry.Request{Region: "r", Family: 6, Bits: 40})
					}
					_, err := a.AllocateAll(ctx, registry.Batch{Requests: q})
					if (err != nil) != (i%3 == 0) {
						t.Errorf("caller %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.db")
			st := open(t, path)
			r := registry.New(st)
			if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"fd00:db8::/56", "10.0.0.0/24"} {
				pfx := netip.MustParsePrefix(p)
				if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
					t.Fatal(err)
				}
				if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: "r", UseAll: true}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := r.Allocate(ctx, six) // the copy is read here
			if err != nil {
				t.Fatal(err)
			}
			first := got[0]
			if _, err := r.Allocate(ctx, six); err != nil { // and used here
				t.Fatal(err)
			}
			c.between(t, path, st, r, first)
			for i := range 3 {
				var want registry.FreePrefix
				if err := st.View(ctx, func(tx registry.Tx) error {
					var ok bool
					var err error
					want, ok, err = tx.SmallestFree(ctx, first.RegionID, 6, 64)
					if err == nil && !ok {
						err = errors.New("no free /64")
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
				got, err := r.Allocate(ctx, six)
				if err != nil {
					t.Fatalf("allocation %d after: %v", i+1, err)
				}
				if w := netip.PrefixFrom(want.Prefix.Addr(), 64); got[0].Prefix != w {
					t.Errorf("allocation %d after: %s, want %s (the smallest free prefix the table holds)", i+1, got[0].Prefix, w)
				}
			}
			checkNothingTwice(t, st)
		})
	}
}

// checkNothingTwice fails t if two live assignments overlap, a free
// prefix overlaps a live assignment or another free prefix, or an
// allocation event names an assignment that is not there.
func checkNothingTwice(t *testing.T, st registry.Store) {
	t.Helper()
	ctx := context.Background()
	err := st.View(ctx, func(tx registry.Tx) error {
		as, err := tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned, registry.StateQuarantined}})
		if err != nil {
			return err
		}
		held := map[string]netip.Prefix{}
		for _, a := range as {
			held[fmt.Sprintf("assignment %d", a.ID)] = a.Prefix
		}
		pools, err := tx.Pools(ctx, registry.PoolFilter{})
		if err != nil {
			return err
		}
		for _, p := range pools {
			free, err := tx.FreeOfPool(ctx, p.ID)
			if err != nil {
				return err
			}
			for _, f := range free {
				held[fmt.Sprintf("free %s of pool %d", f, p.ID)] = f
			}
		}
		names := make([]string, 0, len(held))
		for n := range held {
			names = append(names, n)
		}
		for i, n := range names {
			for _, m := range names[i+1:] {
				if held[n].Overlaps(held[m]) {
					t.Errorf("%s (%s) overlaps %s (%s)", n, held[n], m, held[m])
				}
			}
		}
		es, err := tx.Events(ctx, registry.EventFilter{})
		if err != nil {
			return err
		}
		for _, e := range es {
			if e.Action != "assignment.allocate" {
				continue
			}
			a, err := tx.AssignmentByID(ctx, e.SubjectID)
			if err != nil || a.Prefix.String() != e.Subject {
				t.Errorf("event %d: allocated %s as assignment %d; the assignment reads %s, %v", e.Seq, e.Subject, e.SubjectID, a.Prefix, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
