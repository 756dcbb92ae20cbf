package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runChildPools checks child pools (issue 12, hierarchy) through the
// registry on the store: registry.ChildPoolTx, the store's overlap rules
// for them, the free-space scope that keeps region-wide allocations out of
// them, the roll-up of use, and dissolution.
func runChildPools(t *testing.T, open Open) {
	ctx := context.Background()
	at := t0
	setup := func(t *testing.T) (registry.Store, *registry.Registry) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		r := registry.New(st, registry.WithClock(func() time.Time { return at }))
		if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "eu", Location: location.Location{Country: "DE"}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"fd00::/32", "10.0.0.0/16"} {
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp(p), Source: "private"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{"fd00::/46", "10.0.0.0/22"} {
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "eu"}); err != nil {
				t.Fatal(err)
			}
		}
		return st, r
	}

	t.Run("a child pool is carved from its region and hands out only to allocations that name it", func(t *testing.T) {
		st, r := setup(t)
		site, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Bits: 48, Purpose: "site", Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if site.Prefix != mp("fd00::/48") || site.Name != "site1" || site.Tenant != "acme" || !site.IsChild() || site.ParentID == 0 {
			t.Fatalf("child pool: %+v", site)
		}
		got, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 56, Count: 2, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Prefix != mp("fd00::/56") || got[1].Prefix != mp("fd00:0:0:100::/56") || got[0].PoolID != site.ID || got[0].Region != "eu" {
			t.Fatalf("children: %v", got)
		}
		// A region-wide /48 comes from outside the child pool.
		plain, err := r.Allocate(ctx, registry.Request{Region: "eu", Bits: 48})
		if err != nil {
			t.Fatal(err)
		}
		if plain[0].Prefix != mp("fd00:0:1::/48") {
			t.Fatalf("region-wide /48: %s, want fd00:0:1::/48 (outside the child pool)", plain[0].Prefix)
		}
		// Siblings never overlap; the second child pool is the next /48.
		site2, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site2", Region: "eu", Bits: 48, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if site2.Prefix != mp("fd00:0:2::/48") {
			t.Fatalf("site2: %s", site2.Prefix)
		}
		// The parent counts both child pools and the /48 as assigned; the
		// region counts top-level pools only.
		pools, err := r.Pools(ctx, "eu")
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, p := range pools {
			lines = append(lines, fmt.Sprintf("%s %s assigned=%s free=%s", p.Prefix, p.Name, p.Assigned, p.Free))
		}
		want := []string{
			"10.0.0.0/22  assigned=0 free=1022",
			"fd00::/46  assigned=" + pow2(80).Mul(3).String() + " free=" + pow2(80).String(),
			"fd00::/48 site1 assigned=" + pow2(72).Mul(2).String() + " free=" + pow2(80).Sub(pow2(72).Mul(2)).String(),
			"fd00:0:2::/48 site2 assigned=0 free=" + pow2(80).String(),
		}
		if !slices.Equal(lines, want) {
			t.Fatalf("pools:\n got %q\nwant %q", lines, want)
		}
		rep, err := r.Report(ctx, "eu")
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rep {
			if row.Family == 6 && (row.Pools != 1 || row.Size != pow2(82) || row.Assigned != pow2(80).Mul(3)) {
				t.Fatalf("report IPv6: pools %d size %s assigned %s, want 1, 2^82, 3*2^80", row.Pools, row.Size, row.Assigned)
			}
		}
		// The geofeed places the parent once: a child pool adds nothing.
		places, _, err := r.Placements(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(places); i++ {
			if places[i-1].Prefix.Overlaps(places[i].Prefix) {
				t.Fatalf("placements %s and %s overlap", places[i-1].Prefix, places[i].Prefix)
			}
		}
		CheckInvariants(t, ctx, st, r, at)
	})

	t.Run("export carries a live child pool and its children (Transfer loads it back)", func(t *testing.T) {
		_, r := setup(t)
		if _, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Bits: 48, Tenant: "acme", Tags: registry.Tags{"site": "fra1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 56, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		d, err := r.Dump(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.ChildPools) != 1 || d.ChildPools[0].Name != "site1" || d.ChildPools[0].Parent != mp("fd00::/46") || d.ChildPools[0].Tags["site"] != "fra1" {
			t.Fatalf("child pools in the dump: %+v", d.ChildPools)
		}
		if len(d.Assignments) != 1 || d.Assignments[0].ChildPool != "site1" || d.Assignments[0].Pool != mp("fd00::/48") {
			t.Fatalf("assignments in the dump: %+v", d.Assignments)
		}
	})

	t.Run("a child pool counts against its tenant's quota from carving to dissolution, once per key", func(t *testing.T) {
		st, r := setup(t)
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "q", MaxIPv4: ptr(int64(300)), MaxIPv6: ptr(int64(2))}); err != nil {
			t.Fatal(err)
		}
		use := func() (int64, int64) {
			x, err := r.Tenant(ctx, "q")
			if err != nil {
				t.Fatal(err)
			}
			return x.UsedIPv4, x.UsedIPv6
		}
		spec := registry.ChildPoolSpec{Name: "v4", Region: "eu", Family: 4, Bits: 24, Tenant: "q", Key: "carve-v4"}
		first, err := r.AllocatePool(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.AllocatePool(ctx, spec)
		if err != nil || again.ID != first.ID {
			t.Fatalf("retry: %+v %v, want child pool %d", again, err, first.ID)
		}
		if v4, v6 := use(); v4 != 256 || v6 != 0 {
			t.Fatalf("use after carving a /24 (and a retry): %d/%d, want 256/0", v4, v6)
		}
		before := snapshot(t, ctx, st, at)
		for _, c := range []struct {
			name string
			do   func() error
			want error
		}{
			{"another /24 passes the IPv4 quota", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "v4b", Region: "eu", Family: 4, Bits: 24, Tenant: "q"})
				return err
			}, registry.ErrQuota},
			{"the key with another length", func() error {
				s := spec
				s.Bits = 25
				_, err := r.AllocatePool(ctx, s)
				return err
			}, registry.ErrIdempotency},
			{"the key for assignments", func() error {
				_, err := r.Allocate(ctx, registry.Request{Region: "eu", Family: 4, Tenant: "q", Key: "carve-v4"})
				return err
			}, registry.ErrIdempotency},
			{"children past the quota", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "v4", Family: 4, Bits: 26, Tenant: "q"})
				return err
			}, registry.ErrQuota},
			{"a restricted caller's unknown tenant", func() error {
				_, err := r.AllocatePool(registry.Restricted(ctx), registry.ChildPoolSpec{Name: "v4c", Region: "eu", Family: 4, Bits: 28, Tenant: "nobody"})
				return err
			}, registry.ErrNotFound},
		} {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			if after := snapshot(t, ctx, st, at); after != before {
				t.Fatalf("%s changed the register", c.name)
			}
		}
		kids, err := r.Allocate(ctx, registry.Request{Pool: "v4", Family: 4, Bits: 27, Tenant: "q"})
		if err != nil {
			t.Fatal(err)
		}
		if v4, _ := use(); v4 != 288 {
			t.Fatalf("use with a /27 child: %d, want 288 (children count as any assignment)", v4)
		}
		if _, err := r.Release(ctx, registry.Target{ID: kids[0].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReleasePool(ctx, "v4", nil); err != nil {
			t.Fatal(err)
		}
		if v4, v6 := use(); v4 != 0 || v6 != 0 {
			t.Fatalf("use after dissolving: %d/%d, want 0/0", v4, v6)
		}
		// IPv6: a child pool is one prefix, as an assignment of its length.
		if _, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "v6", Region: "eu", Bits: 48, Tenant: "q"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Allocate(ctx, registry.Request{Pool: "v6", Bits: 56, Tenant: "q"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Allocate(ctx, registry.Request{Pool: "v6", Bits: 56, Tenant: "q"}); !errors.Is(err, registry.ErrQuota) {
			t.Fatalf("a third IPv6 prefix: %v, want ErrQuota", err)
		}
		CheckInvariants(t, ctx, st, r, at)
	})

	t.Run("concurrent retries with one key carve one child pool and count it once", func(t *testing.T) {
		_, r := setup(t)
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "q"}); err != nil {
			t.Fatal(err)
		}
		spec := registry.ChildPoolSpec{Name: "race", Region: "eu", Bits: 48, Tenant: "q", Key: "race-1"}
		const n = 6
		ids := make(chan int64, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := r.AllocatePool(ctx, spec)
				if err != nil {
					errs <- err
					return
				}
				ids <- p.ID
			}()
		}
		wg.Wait()
		close(ids)
		close(errs)
		for err := range errs {
			t.Errorf("a retry failed: %v", err)
		}
		var first int64
		for id := range ids {
			if first == 0 {
				first = id
			}
			if id != first {
				t.Fatalf("child pools %d and %d for one key", first, id)
			}
		}
		if x, err := r.Tenant(ctx, "q"); err != nil || x.UsedIPv6 != 1 {
			t.Fatalf("use: %+v %v, want one IPv6 prefix", x, err)
		}
	})

	t.Run("bad requests change nothing", func(t *testing.T) {
		st, r := setup(t)
		if _, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Bits: 48, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 56, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "other"}); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, ctx, st, at)
		acme := "acme"
		other := "other"
		for _, c := range []struct {
			name string
			do   func() error
			want error
		}{
			{"a taken child pool name", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Bits: 48})
				return err
			}, registry.ErrExists},
			{"a bad child pool name", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "Site 1", Region: "eu", Bits: 48})
				return err
			}, registry.ErrInvalid},
			{"no length", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site9", Region: "eu"})
				return err
			}, registry.ErrInvalid},
			{"an IPv6 child pool longer than a /64", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site9", Region: "eu", Bits: 80})
				return err
			}, registry.ErrInvalid},
			{"an unknown region", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site9", Region: "nowhere", Bits: 48})
				return err
			}, registry.ErrNotFound},
			{"longer than the region has free", func() error {
				_, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site9", Region: "eu", Bits: 45})
				return err
			}, registry.ErrInvalid},
			{"an unknown child pool", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "site9", Bits: 56})
				return err
			}, registry.ErrNotFound},
			{"another tenant's child pool, below admin", func() error {
				_, err := r.Allocate(registry.Restricted(ctx), registry.Request{Pool: "site1", Bits: 56, Tenant: "other"})
				return err
			}, registry.ErrNotFound},
			{"the wrong family", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "site1", Family: 4, Bits: 24})
				return err
			}, registry.ErrInvalid},
			{"shorter than the child pool", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 47})
				return err
			}, registry.ErrInvalid},
			{"more than the child pool holds", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 56, Count: 256})
				return err
			}, registry.ErrNoSpace},
			{"a child pool by address", func() error {
				_, err := r.Allocate(ctx, registry.Request{Pool: "site1", Prefix: mp("fd00:0:0:ff00::/56")})
				return err
			}, registry.ErrInvalid},
			{"releasing a child pool with live children", func() error {
				_, err := r.ReleasePool(ctx, "site1", nil)
				if err != nil && !strings.Contains(err.Error(), "fd00::/56") {
					t.Errorf("refusal does not name the child: %v", err)
				}
				return err
			}, registry.ErrState},
			{"space straddling a child pool and its parent", func() error {
				_, err := r.Allocate(ctx, registry.Request{Prefix: mp("fd00::/47")})
				return err
			}, registry.ErrOverlap},
			{"space in another tenant's child pool, below admin", func() error {
				_, err := r.Allocate(registry.Restricted(ctx), registry.Request{Prefix: mp("fd00:0:0:ff00::/56"), Tenant: "other"})
				return err
			}, registry.ErrOverlap},
			{"releasing another tenant's child pool", func() error {
				_, err := r.ReleasePool(ctx, "site1", &other)
				return err
			}, registry.ErrNotFound},
			{"releasing an unknown child pool", func() error {
				_, err := r.ReleasePool(ctx, "site9", &acme)
				return err
			}, registry.ErrNotFound},
		} {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
			if after := snapshot(t, ctx, st, at); after != before {
				t.Fatalf("%s changed the register:\nbefore %s\nafter  %s", c.name, before, after)
			}
		}
	})

	t.Run("releasing a child pool dissolves it into its parent, after its children's quarantine", func(t *testing.T) {
		st, r := setup(t)
		site, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Family: 4, Bits: 24, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if site.Prefix != mp("10.0.1.0/24") {
			t.Fatalf("IPv4 child pool: %s, want 10.0.1.0/24 (the first /24 holds the pool's network address)", site.Prefix)
		}
		got, err := r.Allocate(ctx, registry.Request{Pool: "site1", Family: 4, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Prefix != mp("10.0.1.1/32") {
			t.Fatalf("first address of the child pool: %s, want 10.0.1.1/32 (its policy keeps its network address back)", got[0].Prefix)
		}
		if _, err := r.Release(ctx, registry.Target{ID: got[0].ID}, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReleasePool(ctx, "site1", nil); !errors.Is(err, registry.ErrState) || !strings.Contains(err.Error(), "quarantined") {
			t.Fatalf("release during a child's quarantine: %v, want ErrState naming it", err)
		}
		at = at.Add(2 * time.Hour)
		defer func() { at = t0 }()
		out, err := r.ReleasePool(ctx, "site1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.DissolvedAt == nil {
			t.Fatal("released child pool has no DissolvedAt")
		}
		// An Update: DissolvePool is tried again below (it must find nothing).
		err = st.Update(ctx, func(tx registry.Tx) error {
			if _, err := tx.ChildPool(ctx, "site1"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("dissolved child pool still found: %v", err)
			}
			kids, err := tx.ChildPools(ctx, site.ParentID)
			if err != nil || len(kids) != 0 {
				t.Errorf("ChildPools after dissolution: %v %v", kids, err)
			}
			free, err := tx.FreeOfPool(ctx, site.ID)
			if err != nil || len(free) != 0 {
				t.Errorf("dissolved child pool keeps free space %v %v", free, err)
			}
			over, err := tx.PoolsOverlapping(ctx, "", site.Prefix)
			if err != nil || len(over) != 1 || over[0].ID != site.ParentID {
				t.Errorf("PoolsOverlapping after dissolution: %v %v, want only the parent", over, err)
			}
			if err := tx.DissolvePool(ctx, site.ID, at); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("dissolving twice: %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The name is free again, and the space is the parent's: the same
		// /24 comes back.
		again, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Family: 4, Bits: 24})
		if err != nil {
			t.Fatal(err)
		}
		if again.Prefix != site.Prefix {
			t.Fatalf("after dissolution: %s, want %s again", again.Prefix, site.Prefix)
		}
		CheckInvariants(t, ctx, st, r, at)
	})

	t.Run("a parent pool and its region can be removed after its child pools are dissolved", func(t *testing.T) {
		// Found by an operator's walk-through (session 24): the dissolved
		// child's row still named its parent, so removing the parent failed
		// on the foreign key, the region counted the dissolved child as a
		// pool that served it, and nothing could remove that.
		st, r := setup(t)
		site, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site1", Region: "eu", Bits: 48, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Allocate(ctx, registry.Request{Pool: "site1", Bits: 64, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Release(ctx, registry.Target{ID: got[0].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReleasePool(ctx, "site1", nil); err != nil {
			t.Fatal(err)
		}
		// A live child pool still blocks its parent's removal.
		if _, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: "site2", Region: "eu", Bits: 48}); err != nil {
			t.Fatal(err)
		}
		if err := r.RemovePool(ctx, site.ParentID, ""); !errors.Is(err, registry.ErrState) || !strings.Contains(err.Error(), "site2") {
			t.Fatalf("removing a parent with a live child pool: %v, want ErrState naming site2", err)
		}
		// The pools that serve it: its two and the live site2 (on the same
		// /48 as the dissolved site1, which is not counted).
		if err := r.RemoveRegion(ctx, "eu", ""); !errors.Is(err, registry.ErrState) || !strings.Contains(err.Error(), "3 pools still serve it") {
			t.Fatalf("removing the region: %v, want ErrState counting 3 pools, not the dissolved %s", err, site.Prefix)
		}
		if _, err := r.ReleasePool(ctx, "site2", nil); err != nil {
			t.Fatal(err)
		}
		events := func() int {
			t.Helper()
			evs, err := r.Events(ctx, registry.EventFilter{SubjectKind: "pool"})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Action == "pool.remove" {
					n++
				}
			}
			return n
		}
		before := events()
		if err := r.RemovePool(ctx, site.ParentID, ""); err != nil {
			t.Fatalf("removing the parent of dissolved child pools: %v", err)
		}
		if n := events() - before; n != 3 {
			t.Errorf("pool.remove events: %d, want 3 (the parent and its two dissolved child pools)", n)
		}
		err = st.View(ctx, func(tx registry.Tx) error {
			for _, id := range []int64{site.ID, site.ParentID} {
				if _, err := tx.PoolByID(ctx, id); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("pool %d after removal: %v, want ErrNotFound", id, err)
				}
			}
			if _, err := tx.AssignmentByID(ctx, got[0].ID); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("the dissolved child's released assignment after removal: %v, want ErrNotFound", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pools, err := r.Pools(ctx, "eu")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pools {
			if err := r.RemovePool(ctx, p.Pool.ID, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.RemoveRegion(ctx, "eu", ""); err != nil {
			t.Fatalf("removing the region: %v", err)
		}
		CheckInvariants(t, ctx, st, r, at)
	})

	t.Run("the store refuses overlapping siblings and finds the parent behind many children", func(t *testing.T) {
		st, r := setup(t)
		for i := range 12 {
			if _, err := r.AllocatePool(ctx, registry.ChildPoolSpec{Name: fmt.Sprintf("s%d", i), Region: "eu", Bits: 56}); err != nil {
				t.Fatal(err)
			}
		}
		err := st.Update(ctx, func(tx registry.Tx) error {
			s0, err := tx.ChildPool(ctx, "s0")
			if err != nil {
				return err
			}
			parent, err := tx.PoolByID(ctx, s0.ParentID)
			if err != nil {
				return err
			}
			kids, err := tx.ChildPools(ctx, parent.ID)
			if err != nil {
				return err
			}
			if len(kids) != 12 {
				t.Errorf("ChildPools: %d, want 12", len(kids))
			}
			// Past the twelve child pools: the parent must still be found.
			q := mp("fd00:0:0:f00::/64")
			over, err := tx.PoolsOverlapping(ctx, "", q)
			if err != nil {
				return err
			}
			if len(over) != 1 || over[0].ID != parent.ID {
				t.Errorf("PoolsOverlapping(%s): %v, want the parent %s only", q, over, parent.Prefix)
			}
			q = mp("fd00:0:0:b80::/64")
			over, err = tx.PoolsOverlapping(ctx, "", q)
			if err != nil {
				return err
			}
			if len(over) != 2 || over[0].ID != parent.ID || over[1].Name != "s11" {
				t.Errorf("PoolsOverlapping(%s): %v, want the parent and s11", q, over)
			}
			dup := registry.Pool{Prefix: mp("fd00::/52"), BlockID: parent.BlockID, RegionID: parent.RegionID, ParentID: parent.ID, Name: "dup", CreatedAt: t0}
			if err := tx.InsertPool(ctx, &dup); !errors.Is(err, registry.ErrOverlap) {
				t.Errorf("overlapping sibling: %v, want ErrOverlap", err)
			}
			return errors.New("roll back")
		})
		if err == nil || err.Error() != "roll back" {
			t.Fatal(err)
		}
	})
}

func pow2(n int) prefix.Count { return prefix.Pow2(n) }

// ChildPoolUseMigration checks migration 17 on a store: live child pools
// carved before it counted nothing against their tenants, and it adds
// their use (a dissolved one adds nothing); its Down takes it away again.
// open opens the store (every migration applied); goTo migrates the
// closed store's database to version and returns tenant q's use there.
func ChildPoolUseMigration(t *testing.T, open func(t *testing.T) registry.Store, goTo func(t *testing.T, version int64) (v4, v6 int64)) {
	ctx := context.Background()
	st := open(t)
	r := registry.New(st, registry.WithClock(func() time.Time { return t0 }))
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "eu", Location: location.Location{Country: "DE"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"fd00::/32", "10.0.0.0/16"} {
		if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp(p), Source: "private"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"fd00::/44", "10.0.0.0/22"} {
		if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "eu"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "q"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []registry.ChildPoolSpec{{Name: "a", Family: 4, Bits: 26}, {Name: "b", Bits: 48}, {Name: "gone", Family: 4, Bits: 28}} {
		s.Region, s.Tenant = "eu", "q"
		if _, err := r.AllocatePool(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.ReleasePool(ctx, "gone", nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if v4, v6 := goTo(t, 16); v4 != 0 || v6 != 0 {
		t.Fatalf("use before migration 17: %d/%d, want 0/0 (child pools counted nothing then)", v4, v6)
	}
	if v4, v6 := goTo(t, 17); v4 != 64 || v6 != 1 {
		t.Fatalf("use after migration 17: %d/%d, want 64/1 (the live /26 and /48, not the dissolved /28)", v4, v6)
	}
	st = open(t)
	defer st.Close()
	r = registry.New(st, registry.WithClock(func() time.Time { return t0 }))
	for _, name := range []string{"a", "b"} {
		if _, err := r.ReleasePool(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if x, err := r.Tenant(ctx, "q"); err != nil || x.UsedIPv4 != 0 || x.UsedIPv6 != 0 {
		t.Fatalf("use after dissolving both: %+v %v, want 0/0", x, err)
	}
}
