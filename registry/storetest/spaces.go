package storetest

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runSpaces is the conformance of spaces (VRFs) beyond blocks: pools and
// assignments belong to their block's space, and look-ups, geofeeds, the
// MMDB export, the audit and DNS read the global space only unless a
// space is named.
func runSpaces(t *testing.T, open Open) {
	ctx := context.Background()
	now := t0.Add(time.Hour)

	// Two VPCs both hold 10.0.0.0/8; the global space holds 40.64.0.0/10.
	// vpc-a's pool 10.1.0.0/16 is in Ireland, vpc-b's 10.2.0.0/16 in the
	// US, the global pool 40.64.0.0/24 in the US.
	setup := func(t *testing.T) (registry.Store, *registry.Registry) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		reg := registry.New(s, registry.WithClock(func() time.Time { return now }))
		for _, sp := range []string{"vpc-a", "vpc-b"} {
			if _, err := reg.AddSpace(ctx, registry.Space{Name: sp}); err != nil {
				t.Fatal(err)
			}
		}
		for _, g := range []registry.RegionSpec{{Name: "us-east", Location: location.Location{Country: "US"}}, {Name: "eu-west", Location: location.Location{Country: "IE"}}} {
			if _, err := reg.AddRegion(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range []registry.Block{
			{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"},
			{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"},
			{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-b"},
		} {
			if _, err := reg.AddBlock(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []registry.PoolSpec{
			{Prefix: mp("40.64.0.0/24"), Region: "us-east"},
			{Prefix: mp("10.1.0.0/16"), Region: "eu-west", Space: "vpc-a"},
			{Prefix: mp("10.2.0.0/16"), Region: "us-east", Space: "vpc-b"},
		} {
			if _, err := reg.AddPool(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []registry.Request{
			{Prefix: mp("40.64.0.10/32"), Tenant: "acme", Name: "www.acme.example"},
			{Prefix: mp("10.1.0.10/32"), Tenant: "acme", Name: "db.vpc-a.example"},
			{Prefix: mp("10.2.0.10/32"), Space: "vpc-b", Tenant: "acme", Name: "db.vpc-b.example"},
		} {
			if _, err := reg.Allocate(ctx, q); err != nil {
				t.Fatalf("alloc %s: %v", q.Prefix, err)
			}
		}
		return s, reg
	}
	prefixes := func(pl []registry.Placement) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range pl {
			out = append(out, p.Prefix)
		}
		return out
	}

	t.Run("placements are the global space's unless a space is named", func(t *testing.T) {
		_, reg := setup(t)
		for _, c := range []struct {
			space string
			want  []netip.Prefix
		}{
			{"", []netip.Prefix{mp("40.64.0.0/24")}},
			{registry.GlobalSpace, []netip.Prefix{mp("40.64.0.0/24")}},
			{"vpc-a", []netip.Prefix{mp("10.1.0.0/16")}},
			{"vpc-b", []netip.Prefix{mp("10.2.0.0/16")}},
			{registry.PrivateSpace, nil},
		} {
			pl, _, err := reg.PlacementsIn(ctx, c.space)
			if err != nil || !slices.Equal(prefixes(pl), c.want) {
				t.Errorf("placements of space %q = %v, %v; want %v", c.space, prefixes(pl), err, c.want)
			}
		}
		pl, _, err := reg.Placements(ctx)
		if err != nil || !slices.Equal(prefixes(pl), []netip.Prefix{mp("40.64.0.0/24")}) {
			t.Errorf("placements = %v, %v; want the global space only", prefixes(pl), err)
		}
		if _, _, err := reg.PlacementsIn(ctx, "vpc-z"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("placements of an unknown space: %v, want ErrNotFound", err)
		}
	})

	t.Run("the geofeed, the MMDB export, look-ups and the audit leave private spaces out", func(t *testing.T) {
		_, reg := setup(t)
		feed, err := geo.PublishFeed(ctx, reg)
		if err != nil {
			t.Fatal(err)
		}
		if csv := string(feed.CSV); !strings.Contains(csv, "40.64.0.0/24,US") || strings.Contains(csv, "10.") || feed.Entries != 1 {
			t.Errorf("published feed (%d entries):\n%s", feed.Entries, csv)
		}
		places, _, err := reg.Placements(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var mmdb bytes.Buffer
		n, err := geo.ExportMMDB(&mmdb, places, now)
		if err != nil || n != 1 {
			t.Errorf("MMDB export: %d networks, %v; want the global pool alone", n, err)
		}

		// A partner feed that places both VPCs' space and ours in Brazil:
		// the audit finds our global pool, never a private one.
		br := location.Location{Country: "BR"}
		in := geo.Inputs{Register: places, Feeds: []geo.Feed{{Name: "partner", Entries: []geo.Entry{
			{Prefix: mp("40.64.0.0/24"), Location: br}, {Prefix: mp("10.0.0.0/8"), Location: br}}}}}
		tab, err := geo.Build(ctx, in, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := geo.AuditRegister(ctx, tab, reg, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Checked != 1 || len(rep.Findings) != 1 || rep.Findings[0].Prefix != mp("40.64.0.0/24") {
			t.Errorf("audit checked %d prefixes, findings %+v; want 40.64.0.0/24 alone", rep.Checked, rep.Findings)
		}
		for _, c := range []struct {
			addr   string
			source string
			want   string
		}{
			{"40.64.0.10", geo.RegisterSource, "US"},
			{"10.1.0.10", "partner", "BR"}, // not the register's IE: vpc-a is not the global space
			{"10.2.0.10", "partner", "BR"},
		} {
			r := tab.Lookup(netip.MustParseAddr(c.addr))
			if r.Source != c.source || r.Location.Country != c.want {
				t.Errorf("look-up %s = %s from %s; want %s from %s", c.addr, r.Location.Country, r.Source, c.want, c.source)
			}
		}
		// Asked for, vpc-a's register places its own address.
		pa, _, err := reg.PlacementsIn(ctx, "vpc-a")
		if err != nil {
			t.Fatal(err)
		}
		tabA, err := geo.Build(ctx, geo.Inputs{Register: pa}, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if r := tabA.Lookup(netip.MustParseAddr("10.1.0.10")); r.Source != geo.RegisterSource || r.Location.Country != "IE" {
			t.Errorf("look-up in vpc-a = %+v", r.Answer)
		}
	})

	t.Run("DNS reads no named space's pools and assignments", func(t *testing.T) {
		s, _ := setup(t)
		err := s.View(ctx, func(tx registry.Tx) error {
			pools, err := tx.Pools(ctx, registry.PoolFilter{})
			if err != nil {
				return err
			}
			as, err := tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}})
			if err != nil {
				return err
			}
			if len(pools) != 3 || len(as) != 3 {
				t.Fatalf("fixture: %d pools, %d assignments", len(pools), len(as))
			}
			gp, ga, err := registry.DNSOnly(ctx, tx, pools, as)
			if err != nil {
				return err
			}
			if len(gp) != 1 || gp[0].Prefix != mp("40.64.0.0/24") || len(ga) != 1 || ga[0].Name != "www.acme.example" {
				t.Errorf("global only: pools %+v, assignments %+v", gp, ga)
			}
			// Without the pools, the assignments' pools are read.
			_, ga, err = registry.DNSOnly(ctx, tx, nil, as)
			if err != nil || len(ga) != 1 || ga[0].Name != "www.acme.example" {
				t.Errorf("global only, assignments alone: %+v, %v", ga, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("show, alloc and reserve find the space of the pool that holds an address", func(t *testing.T) {
		s, reg := setup(t)
		for _, c := range []struct {
			q, space  string
			wantSpace string
			pool      string // "" in no pool
		}{
			{"10.1.0.10/32", "", "vpc-a", "10.1.0.0/16"},
			{"10.2.0.10/32", "", "vpc-b", "10.2.0.0/16"},
			{"10.1.0.10/32", "vpc-b", "vpc-b", ""}, // vpc-b holds the address in no pool
			{"10.1.0.0/16", "vpc-a", "vpc-a", "10.1.0.0/16"},
			{"40.64.0.10/32", "", registry.GlobalSpace, "40.64.0.0/24"},
		} {
			h, err := reg.ShowIn(ctx, mp(c.q), c.space)
			if err != nil {
				t.Errorf("show %s --space %q: %v", c.q, c.space, err)
				continue
			}
			got := ""
			if h.Pool != nil {
				got = h.Pool.Prefix.String()
			}
			if h.Block.Space != c.wantSpace || got != c.pool {
				t.Errorf("show %s --space %q: block %s in %s, pool %q; want space %s, pool %q", c.q, c.space, h.Block.Prefix, h.Block.Space, got, c.wantSpace, c.pool)
			}
		}
		before := tables(t, s)
		_, err := reg.ShowIn(ctx, mp("10.3.0.1/32"), "")
		refused(t, s, before, err, registry.ErrInvalid, "vpc-a", "vpc-b", "--space")

		// An address taken with the wrong space named is refused, naming
		// the pool and its space; the right one is taken.
		_, err = reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.20/32"), Space: "vpc-b", Tenant: "acme"})
		refused(t, s, before, err, registry.ErrInvalid, "10.1.0.0/16", "vpc-a", "vpc-b")
		_, err = reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.20/32"), Space: "vpc-z", Tenant: "acme"})
		refused(t, s, before, err, registry.ErrNotFound, "vpc-z")
		// A region allocation naming a space takes that space's pools only:
		// eu-west's vpc-a pool is IPv4, so IPv6 there is no space at all.
		_, err = reg.Allocate(ctx, registry.Request{Region: "eu-west", Space: "vpc-a", Tenant: "acme"})
		refused(t, s, before, err, registry.ErrNoSpace, "vpc-a", "IPv6")
		_, err = reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.2.0.0/29"), Reason: "gateways", Space: "vpc-a"})
		refused(t, s, before, err, registry.ErrInvalid, "10.2.0.0/16", "vpc-b", "vpc-a")
		// Pools overlap only across spaces: within one the refusal names it.
		_, err = reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.1.0.0/17"), Region: "us-east", Space: "vpc-a"})
		refused(t, s, before, err, registry.ErrOverlap, "vpc-a", "10.1.0.0/16")

		as, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.20/32"), Space: "vpc-a", Tenant: "acme"})
		if err != nil || len(as) != 1 || as[0].Region != "eu-west" {
			t.Fatalf("alloc 10.1.0.20 --space vpc-a: %+v, %v", as, err)
		}
		v, err := reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.2.0.0/29"), Reason: "gateways", Space: "vpc-b"})
		if err != nil || v.Region != "us-east" {
			t.Fatalf("reserve 10.2.0.0/29 --space vpc-b: %+v, %v", v, err)
		}
	})
}

// runShowPages: show of exactly a pool lists its assignments a page at a
// time (live ones by address, then released ones by ID), the pages together
// are every assignment once, and the summary counts them all.
func runShowPages(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("show POOL pages its assignments, live first, and the pages add up", func(t *testing.T) {
		s := open(t)
		t.Cleanup(func() { s.Close() })
		reg := registry.New(s, registry.WithClock(func() time.Time { return t0 }))
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("40.64.0.0/24"), Region: "us-east"}); err != nil {
			t.Fatal(err)
		}
		as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Count: 7, Tenant: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		// Two released (no quarantine), five live.
		for _, a := range []registry.Assignment{as[1], as[4]} {
			if _, err := reg.Release(ctx, registry.Target{ID: a.ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
		var live []registry.Assignment
		for _, a := range as {
			if a.ID != as[1].ID && a.ID != as[4].ID {
				live = append(live, a)
			}
		}
		slices.SortFunc(live, func(a, b registry.Assignment) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
		var want []int64
		for _, a := range live {
			want = append(want, a.ID)
		}
		want = append(want, as[1].ID, as[4].ID)

		for _, limit := range []int{1, 2, 3, 5, 7, 100} {
			var got []int64
			after, pages := "", 0
			for {
				h, err := reg.ShowWith(ctx, mp("40.64.0.0/24"), registry.ShowOptions{Limit: limit, After: after})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(h.Assignments) > limit {
					t.Fatalf("limit %d: a page of %d", limit, len(h.Assignments))
				}
				if h.Summary == nil || h.Summary.Live != 5 || h.Summary.Assigned.String() != "5" {
					t.Fatalf("limit %d: summary %+v", limit, h.Summary)
				}
				for _, a := range h.Assignments {
					got = append(got, a.ID)
				}
				if h.Next == "" {
					break
				}
				after = h.Next
				if pages > 10 {
					t.Fatalf("limit %d: more than 10 pages", limit)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: pages list %v, want %v (live by address, then released by ID)", limit, got, want)
			}
			if wantPages := max(1, (len(want)+limit-1)/limit); pages != wantPages {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
			}
		}
		all, err := reg.Show(ctx, mp("40.64.0.0/24"))
		if err != nil || len(all.Assignments) != 7 || all.Next != "" {
			t.Errorf("show without a limit: %d assignments, next %q, %v", len(all.Assignments), all.Next, err)
		}
		before := tables(t, s)
		for _, bad := range []string{"x", "live.", "past.-1", "live.1.2", "other.3"} {
			_, err := reg.ShowWith(ctx, mp("40.64.0.0/24"), registry.ShowOptions{Limit: 2, After: bad})
			refused(t, s, before, err, registry.ErrInvalid, "cursor")
		}
	})
}
