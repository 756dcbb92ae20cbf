package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runPagesByAddress: a pool's and a region's pages come in address order
// (by first address, IPv4 first, then length, then ID), whatever order the
// assignments were made in, the pool's filtered by the pool (a lent unit
// and another space's pool of the same prefix lie in its range), the
// cursor (NextCursor, SetCursor) resumes them at any page size, and a
// cursor of the other order is refused (issue 16: no index of a pool's
// rows by ID).
func runPagesByAddress(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("a pool's and a region's pages in address order, with their cursor", func(t *testing.T) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		reg := registry.New(s, registry.WithClock(func() time.Time { return t0 }))
		for _, r := range []string{"us-east", "us-west"} {
			if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: r, Location: location.Location{Country: "US"}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := reg.AddSpace(ctx, registry.Space{Name: "vpc-a"}); err != nil {
			t.Fatal(err)
		}
		for _, b := range []registry.Block{
			{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"},
			{Prefix: mp("2603:1030::/32"), Source: registry.SourceRIR, Registry: "arin"},
			{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"},
		} {
			if _, err := reg.AddBlock(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		pools := map[string]registry.Pool{}
		for _, p := range []registry.PoolSpec{
			{Prefix: mp("40.64.1.0/24"), Region: "us-east", UseAll: true},
			{Prefix: mp("40.64.0.0/24"), Region: "us-east", UseAll: true},
			{Prefix: mp("2603:1030::/48"), Region: "us-east", UseAll: true},
			{Prefix: mp("10.1.0.0/24"), Region: "us-east", Space: "vpc-a", UseAll: true},
			{Prefix: mp("40.64.2.0/24"), Region: "us-west", UseAll: true},
		} {
			pl, err := reg.AddPool(ctx, p)
			if err != nil {
				t.Fatalf("pool %s: %v", p.Prefix, err)
			}
			pools[p.Prefix.String()] = pl
		}
		// Made out of address order; a released /32 inside a live /30
		// (the same first address as another row of the pool) and the
		// same addresses in another space's pool.
		alloc := func(p, space string) registry.Assignment {
			t.Helper()
			as, err := reg.Allocate(ctx, registry.Request{Prefix: mp(p), Space: space, Tenant: "acme"})
			if err != nil || len(as) != 1 {
				t.Fatalf("alloc %s: %+v, %v", p, as, err)
			}
			return as[0]
		}
		for _, p := range []string{"40.64.0.9/32", "40.64.1.5/32", "2603:1030::5/128", "40.64.0.4/32", "40.64.0.128/25", "2603:1030::1/128", "40.64.2.7/32"} {
			alloc(p, "")
		}
		gone := alloc("40.64.0.1/32", "")
		if _, err := reg.Release(ctx, registry.Target{ID: gone.ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		alloc("40.64.0.0/30", "")
		alloc("10.1.0.9/32", "vpc-a")
		alloc("10.1.0.2/32", "vpc-a")

		every, err := reg.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		byAddress := func(a, b registry.Assignment) int {
			return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.ID, b.ID))
		}
		want := func(keep func(registry.Assignment) bool) []string {
			var out []string
			as := slices.Clone(every)
			slices.SortFunc(as, byAddress)
			for _, a := range as {
				if keep(a) {
					out = append(out, a.Prefix.String()+" "+string(a.State))
				}
			}
			return out
		}
		east := pools["40.64.0.0/24"].RegionID
		for _, c := range []struct {
			name string
			f    registry.AssignmentFilter
			keep func(registry.Assignment) bool
		}{
			{"a region by name", registry.AssignmentFilter{Region: "us-east"}, func(a registry.Assignment) bool { return a.RegionID == east }},
			{"a region by ID, IPv4", registry.AssignmentFilter{RegionID: east, Family: 4}, func(a registry.Assignment) bool { return a.RegionID == east && a.Prefix.Addr().Is4() }},
			{"a region's assigned", registry.AssignmentFilter{Region: "us-east", States: []registry.State{registry.StateAssigned}},
				func(a registry.Assignment) bool { return a.RegionID == east && a.State == registry.StateAssigned }},
			{"a pool", registry.AssignmentFilter{PoolID: pools["40.64.0.0/24"].ID}, func(a registry.Assignment) bool { return a.PoolID == pools["40.64.0.0/24"].ID }},
			{"a pool's live", registry.AssignmentFilter{PoolID: pools["40.64.0.0/24"].ID, States: []registry.State{registry.StateAssigned, registry.StateQuarantined}},
				func(a registry.Assignment) bool {
					return a.PoolID == pools["40.64.0.0/24"].ID && a.State != registry.StateReleased
				}},
			{"a private space's pool", registry.AssignmentFilter{PoolID: pools["10.1.0.0/24"].ID}, func(a registry.Assignment) bool { return a.PoolID == pools["10.1.0.0/24"].ID }},
			{"a region within a prefix", registry.AssignmentFilter{Region: "us-east", Within: mp("40.64.0.0/23")},
				func(a registry.Assignment) bool {
					return a.RegionID == east && mp("40.64.0.0/23").Overlaps(a.Prefix) && a.Space == "global"
				}},
		} {
			if !c.f.ByAddress() {
				t.Fatalf("%s: not a page in address order", c.name)
			}
			w := want(c.keep)
			if len(w) < 2 {
				t.Fatalf("%s: the test wants at least two rows, has %v", c.name, w)
			}
			for _, limit := range []int{0, 1, 2, 3, 100} {
				f := c.f
				f.Limit = limit
				var got []string
				for pages := 0; ; pages++ {
					as, err := reg.Assignments(ctx, f)
					if err != nil {
						t.Fatalf("%s, limit %d: %v", c.name, limit, err)
					}
					for _, a := range as {
						got = append(got, a.Prefix.String()+" "+string(a.State))
					}
					if limit == 0 || len(as) < limit || pages > 20 {
						break
					}
					g := c.f
					if err := g.SetCursor(f.NextCursor(as[len(as)-1])); err != nil {
						t.Fatalf("%s: cursor %q: %v", c.name, f.NextCursor(as[len(as)-1]), err)
					}
					f.AfterPrefix, f.AfterID = g.AfterPrefix, g.AfterID
				}
				if !slices.Equal(got, w) {
					t.Errorf("%s, pages of %d:\n%v\nwant (address order)\n%v", c.name, limit, got, w)
				}
			}
			// A cursor of a page in ID order, as a region's page gave
			// before: refused, not read as a place.
			g := c.f
			if err := g.SetCursor("3"); !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("%s: an ID cursor: %v, want ErrInvalid", c.name, err)
			}
		}
		// Pages in ID order keep their cursor; an address cursor is not one.
		tenant := "acme"
		f := registry.AssignmentFilter{Region: "us-east", Tenant: &tenant}
		if f.ByAddress() {
			t.Error("a region's page of a tenant: in address order")
		}
		if err := f.SetCursor("40.64.0.0/30,3"); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("an address cursor on a page in ID order: %v, want ErrInvalid", err)
		}
		// show of the pool: live ones by address, then the released by ID;
		// a live.ID cursor (before this order) is refused.
		var got []string
		after := ""
		for range 10 {
			h, err := reg.ShowWith(ctx, mp("40.64.0.0/24"), registry.ShowOptions{Limit: 2, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range h.Assignments {
				got = append(got, a.Prefix.String()+" "+string(a.State))
			}
			if after = h.Next; after == "" {
				break
			}
		}
		if w := []string{"40.64.0.0/30 assigned", "40.64.0.4/32 assigned", "40.64.0.9/32 assigned", "40.64.0.128/25 assigned", "40.64.0.1/32 released"}; !slices.Equal(got, w) {
			t.Errorf("show 40.64.0.0/24 by pages of 2: %v, want %v", got, w)
		}
		before := tables(t, s)
		_, err = reg.ShowWith(ctx, mp("40.64.0.0/24"), registry.ShowOptions{Limit: 2, After: "live.3"})
		refused(t, s, before, err, registry.ErrInvalid, "address")
	})
}
