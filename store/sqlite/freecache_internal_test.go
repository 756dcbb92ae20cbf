package sqlite

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	msqlite "modernc.org/sqlite"
)

// The DELETE by key proves every take from the writer's free list: a
// prefix the copy holds and the table does not (here: put there by the
// test, an address already assigned) is never handed out, whether the
// take is sent at once or held and folded into the allocation's
// statement (fold.go).
func TestFreeCacheTakeIsProvenByTheTable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// take takes one /64 after the copy was spoiled with phantom and
		// returns the prefix handed out, if any.
		take func(t *testing.T, s *Store, r *registry.Registry, region int64) (netip.Prefix, error)
	}{
		{"TakeSmallestFree sent at once", func(t *testing.T, s *Store, r *registry.Registry, region int64) (netip.Prefix, error) {
			var got netip.Prefix
			err := s.Update(ctx, func(tx registry.Tx) error {
				f, ok, err := tx.(registry.FreeTaker).TakeSmallestFree(ctx, region, 6, 64)
				if err == nil && !ok {
					err = errors.New("nothing free")
				}
				got = f.Prefix
				return err
			})
			return got, err
		}},
		{"an allocation, held and folded", func(t *testing.T, s *Store, r *registry.Registry, region int64) (netip.Prefix, error) {
			got, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 64})
			if err != nil {
				if !errors.Is(err, registry.ErrConflict) {
					t.Errorf("a held take of a prefix the table lacks: %v, want ErrConflict", err)
				}
				return netip.Prefix{}, nil
			}
			return got[0].Prefix, nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Spoil the copy: the first assignment's prefix, as if free.
			s, r, first, phantom := withPhantom(t)
			if err := s.Update(ctx, func(rt registry.Tx) error {
				c := rt.(*tx).cache()
				if c.free.scopes[freeScope{first.RegionID, 6}] == nil {
					t.Fatal("the region's free list is not cached after an allocation")
				}
				c.free.added(phantom)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			taken, err := c.take(t, s, r, first.RegionID)
			if err != nil {
				t.Fatal(err)
			}
			if taken == first.Prefix {
				t.Fatalf("handed out %s, which assignment %d holds", taken, first.ID)
			}
			// Whatever happened, the copy was dropped: the next allocation
			// is the table's smallest.
			got, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 64})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Prefix == first.Prefix || got[0].Prefix == taken {
				t.Fatalf("next allocation %s: held already", got[0].Prefix)
			}
		})
	}
}

// TestHeldFailureFailsTheCaller: the folded allocation is INSERT OR FAIL
// (fold.go), so a check that refuses it after the free row's DELETE keeps
// that DELETE in the transaction; the caller's transaction fails whatever
// the caller does with the error. Here the free list (table and copy) is
// given the prefix of a live assignment, so the take and the DELETE pass
// and the overlap trigger refuses the row; the caller ignores the error
// and returns nil. Update fails with the overlap and nothing of it is
// kept: the free row is still there. Without wtx.failed the transaction
// commits the DELETE.
func TestHeldFailureFailsTheCaller(t *testing.T) {
	ctx := context.Background()
	s, _, first, phantom := withPhantom(t)
	// A row the registry would never add (AddFree refuses it: the address
	// is in the pool's frontier run), written as a row all the same.
	if err := s.Update(ctx, func(rt registry.Tx) error { return rt.(*tx).addFreeRows(ctx, []registry.FreePrefix{phantom}) }); err != nil {
		t.Fatal(err)
	}
	var sawErr error
	err := s.Update(ctx, func(rt registry.Tx) error {
		rt.(registry.WriteDeferrer).DeferWrites()
		f, ok, err := rt.(registry.FreeTaker).TakeSmallestFree(ctx, first.RegionID, 6, 64)
		if err != nil || !ok || f != phantom {
			t.Fatalf("take: %v %v %v, want the phantom %v", f, ok, err, phantom)
		}
		a := first
		a.ID = 0
		if err := rt.InsertAssignment(ctx, &a); err != nil {
			t.Fatal(err) // held
		}
		sawErr = rt.AppendEvent(ctx, &registry.Event{At: first.CreatedAt, Actor: "test", Action: "assignment.allocate", SubjectKind: "assignment", SubjectID: a.ID, Subject: a.Prefix.String()})
		return nil // the caller goes on
	})
	if !errors.Is(sawErr, registry.ErrOverlap) {
		t.Errorf("the folded allocation: %v, want ErrOverlap", sawErr)
	}
	if !errors.Is(err, registry.ErrOverlap) {
		t.Errorf("Update: %v, want the held allocation's ErrOverlap", err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM free WHERE addr = ? AND bits = 64`, addrBytes(first.Prefix.Addr())).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the free row of %s: %d rows after the failed caller, want 1 (kept)", first.Prefix, n)
	}
}

// TestWriterLookaside: the writer's SQLite allocations during single
// allocations come from its lookaside (lookaside.go): none misses for
// want of a free slot, and at most one an allocation for its size (the
// fold's trigger frame). With SQLite's default 40 slots the lookaside is
// full of what the prepared statements hold, and every one of an
// allocation's ~33 misses (fails on main).
func TestWriterLookaside(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/16")
	allocate := func(n int) {
		for range n {
			if _, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 32}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// status reads (and resets) the writer connection's lookaside counters.
	status := func() (hit, missSize, missFull int) {
		err := s.Update(ctx, func(rt registry.Tx) error {
			return rt.(*tx).q.(*wtx).conn.Raw(func(dc any) error {
				st := dc.(msqlite.DBStatus)
				var err error
				for _, c := range []struct {
					op msqlite.DBStatusOp
					v  *int
				}{{msqlite.DBStatusLookasideHit, &hit}, {msqlite.DBStatusLookasideMissSize, &missSize}, {msqlite.DBStatusLookasideMissFull, &missFull}} {
					if _, *c.v, err = st.Status(c.op, true); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return hit, missSize, missFull
	}
	allocate(200) // statements prepared, caches filled
	status()
	allocate(200)
	hit, missSize, missFull := status()
	if hit == 0 || missFull > 0 || missSize > 200+10 {
		t.Errorf("200 allocations: lookaside hits %d, misses %d for size and %d for a full lookaside, want none for a full one, at most one an allocation for size", hit, missSize, missFull)
	}
}

// storeWithPool opens a store of its own whose region "r" holds the
// private pool pfx, closed at the test's end.
func storeWithPool(t *testing.T, pfx string) (*Store, *registry.Registry) {
	t.Helper()
	return storeWithPolicy(t, pfx, true)
}

// storeWithPolicy is storeWithPool with the pool's address policy
// (useAll false: IPv4's network and broadcast addresses, IPv6's /64
// anycast addresses kept back).
func storeWithPolicy(t *testing.T, pfx string, useAll bool) (*Store, *registry.Registry) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := registry.New(s)
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix(pfx)
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: p, Source: "private"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: p, Region: "r", UseAll: useAll}); err != nil {
		t.Fatal(err)
	}
	return s, r
}

// withPhantom is storeWithPool's IPv6 /56 with one /64 allocated (first)
// and that prefix as a free prefix of its pool (phantom), for a test to
// put in the free list.
func withPhantom(t *testing.T) (*Store, *registry.Registry, registry.Assignment, registry.FreePrefix) {
	t.Helper()
	s, r := storeWithPool(t, "fd00:db8::/56")
	got, err := r.Allocate(context.Background(), registry.Request{Region: "r", Family: 6, Bits: 64})
	if err != nil {
		t.Fatal(err)
	}
	first := got[0]
	return s, r, first, registry.FreePrefix{RegionID: first.RegionID, PoolID: first.PoolID, Prefix: first.Prefix}
}
