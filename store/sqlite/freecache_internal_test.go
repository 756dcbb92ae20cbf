package sqlite

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
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
			s, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := registry.New(s)
			if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
				t.Fatal(err)
			}
			pfx := netip.MustParsePrefix("fd00:db8::/56")
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: "r", UseAll: true}); err != nil {
				t.Fatal(err)
			}
			got, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 64})
			if err != nil {
				t.Fatal(err)
			}
			first := got[0]
			// Spoil the copy: the first assignment's prefix, as if free.
			phantom := registry.FreePrefix{RegionID: first.RegionID, PoolID: first.PoolID, Prefix: first.Prefix}
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
			got, err = r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 64})
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Prefix == first.Prefix || got[0].Prefix == taken {
				t.Fatalf("next allocation %s: held already", got[0].Prefix)
			}
		})
	}
}
