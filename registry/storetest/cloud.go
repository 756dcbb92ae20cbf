package storetest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/interchange"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Cloud is the conformance of the cloud-sized register (demo.Cloud, `cadastre
// demo --scale`) at a small size: two builds with the same seed export the
// same bytes; the register has the shape of a
// large cloud (60 regions, about 1,200 IPv4 blocks of about 80 million
// addresses from all five registries, allocations, transfers with a price
// and BYOIP, an IPv6 /32 per region, relocations, 30 % named, quarantines
// and releases spread over 90 days) and keeps every invariant; loaded
// into an empty register its export gives the same bytes again; and with
// child pools it keeps the invariants too.
func Cloud(t *testing.T, open Open) {
	ctx := registry.WithActor(context.Background(), "test")
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 2000
	build := func(seed uint64, childPools int) (registry.Store, *registry.Registry, demo.CloudResult) {
		t.Helper()
		st := open(t)
		res, err := demo.Cloud(ctx, st, now, demo.CloudOptions{Assignments: n, Seed: seed, ChildPools: childPools})
		if err != nil {
			t.Fatalf("cloud (seed %d): %v", seed, err)
		}
		return st, registry.New(st, registry.WithClock(func() time.Time { return now })), res
	}
	export := func(reg *registry.Registry) (registry.Dump, []byte) {
		t.Helper()
		d, err := reg.Dump(ctx)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		var b bytes.Buffer
		if err := interchange.Write(&b, d, interchange.JSON); err != nil {
			t.Fatalf("export: %v", err)
		}
		return d, b.Bytes()
	}

	st, reg, res := build(7, 0)
	d, first := export(reg)
	_, again, _ := build(7, 0)
	if _, second := export(again); !bytes.Equal(first, second) {
		t.Errorf("two builds with seed 7 export different registers (%d and %d bytes)", len(first), len(second))
	}

	// The shape of a large cloud.
	t.Run("shape", func(t *testing.T) {
		if len(d.Regions) != 60 || res.Regions != 60 {
			t.Errorf("%d regions (result says %d), want 60", len(d.Regions), res.Regions)
		}
		var v4Blocks int
		var v4Addrs uint64
		registries, sources := map[string]int{}, map[registry.Source]int{}
		for _, b := range d.Blocks {
			if b.RegisteredCountry == "" {
				t.Errorf("block %s: no registered country", b.Prefix)
			}
			registries[b.Registry]++
			if !b.Prefix.Addr().Is4() {
				continue
			}
			v4Blocks++
			v4Addrs += 1 << (32 - b.Prefix.Bits())
			sources[b.Source]++
			if b.Source == registry.SourceTransfer && (b.Price == nil || b.Price.Cents <= 0 || b.From == "") {
				t.Errorf("transferred block %s without a price or a counterparty", b.Prefix)
			}
		}
		if v4Blocks < 1100 || v4Blocks > 1300 || v4Addrs < 70e6 || v4Addrs > 90e6 {
			t.Errorf("%d IPv4 blocks of %d addresses, want about 1,200 and 80 million", v4Blocks, v4Addrs)
		}
		for _, r := range []string{"afrinic", "apnic", "arin", "lacnic", "ripe"} {
			if registries[r] == 0 {
				t.Errorf("no block from %s: %v", r, registries)
			}
		}
		if sources[registry.SourceRIR] <= sources[registry.SourceTransfer] || sources[registry.SourceTransfer] == 0 || sources[registry.SourceBYOIP] == 0 {
			t.Errorf("sources %v: want mostly registry allocations, some transfers and BYOIP", sources)
		}
		v6 := map[string]int{}
		for _, p := range d.Pools {
			if p.Prefix.Addr().Is6() && p.Prefix.Bits() == 32 {
				v6[p.Region]++
			}
		}
		if len(v6) != 60 {
			t.Errorf("%d regions with an IPv6 /32 pool, want 60", len(v6))
		}
		if len(d.Relocations) == 0 {
			t.Error("no relocation")
		}
		states := map[registry.State]int{}
		kinds := map[string]int{}
		named, borrowed := 0, 0
		first, last := now, time.Time{}
		relocated := map[string]bool{}
		for _, x := range d.Relocations {
			relocated[x.Prefix.String()] = true
		}
		for _, a := range d.Assignments {
			states[a.State]++
			switch {
			case a.Prefix.Addr().Is4() && a.Prefix.Bits() == 32:
				kinds["v4/32"]++
			case a.Prefix.Bits() == 128:
				kinds["v6/128"]++
			case a.Prefix.Bits() == 64:
				kinds["v6/64"]++
			default:
				t.Errorf("assignment %s: not a /32, /128 or /64", a.Prefix)
			}
			if a.Name != "" {
				named++
			}
			if relocated[a.Pool.String()] {
				borrowed++
			}
			first, last = minTime(first, a.CreatedAt), maxTime(last, a.CreatedAt)
		}
		if len(d.Assignments) != n || res.Assignments != n {
			t.Errorf("%d assignments (result says %d), want %d", len(d.Assignments), res.Assignments, n)
		}
		if named < n*25/100 || named > n*35/100 || named != res.Named {
			t.Errorf("%d named (result says %d), want about 30 %% of %d", named, res.Named, n)
		}
		for _, k := range []string{"v4/32", "v6/128", "v6/64"} {
			if kinds[k] < n/10 {
				t.Errorf("kinds %v: too few %s", kinds, k)
			}
		}
		if states[registry.StateQuarantined] == 0 || states[registry.StateReleased] == 0 || states[registry.StateQuarantined] != res.Quarantined {
			t.Errorf("states %v (result: %d quarantined): want some quarantined and released", states, res.Quarantined)
		}
		if borrowed == 0 {
			t.Error("no assignment from a relocated unit")
		}
		if first.Before(now.Add(-demo.Days*24*time.Hour)) || now.Sub(first) < 85*24*time.Hour || now.Sub(last) > 24*time.Hour {
			t.Errorf("assignments made from %s to %s, want over the %d days to %s", first, last, demo.Days, now)
		}
		CheckInvariants(t, ctx, st, reg, now)
	})

	// A region's pages (merged from its pools' pages where the store does
	// so) are the region's assignments, in the page's order (by address,
	// or by ID for its past alone or a tag), whatever the filter.
	t.Run("region pages", func(t *testing.T) {
		for _, region := range []string{"us-east", "brazil-south", "kenya-central"} {
			for _, f := range []registry.AssignmentFilter{{}, {Family: 4}, {Family: 6}, {States: []registry.State{registry.StateAssigned}},
				{States: []registry.State{registry.StateQuarantined, registry.StateReleased}}, {Family: 4, Tags: registry.Tags{"none": "x"}}} {
				f.Region = region
				all, err := reg.Assignments(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var paged []registry.Assignment
				for page := f; ; {
					page.Limit = 37
					got, err := reg.Assignments(ctx, page)
					if err != nil {
						t.Fatal(err)
					}
					paged = append(paged, got...)
					if len(got) < page.Limit {
						break
					}
					if err := page.SetCursor(page.NextCursor(got[len(got)-1])); err != nil {
						t.Fatal(err)
					}
				}
				order := func(a, b registry.Assignment) int { return cmp.Compare(a.ID, b.ID) }
				if f.ByAddress() {
					order = func(a, b registry.Assignment) int {
						return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.ID, b.ID))
					}
				}
				if !slices.IsSortedFunc(all, order) {
					t.Errorf("region %s, filter %+v: not in the page's order (by address: %v)", region, f, f.ByAddress())
				}
				if len(paged) != len(all) {
					t.Fatalf("region %s, filter %+v: %d by pages, %d at once", region, f, len(paged), len(all))
				}
				for i := range all {
					if paged[i].ID != all[i].ID || paged[i].Region != region {
						t.Fatalf("region %s, filter %+v: row %d: %d (%s) by pages, %d at once", region, f, i, paged[i].ID, paged[i].Region, all[i].ID)
					}
				}
			}
		}
	})

	// Pages by past state or by tag, with and without a region, family or
	// state (the store may read them from other indexes than the plain
	// filter: issue 16), page by page, are the rows a brute-force filter of
	// every assignment keeps, in ID order.
	t.Run("pages by state and tag", func(t *testing.T) {
		every, err := reg.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		tagged := 0
		for i, a := range every {
			if a.State != registry.StateAssigned || i%3 != 0 {
				continue
			}
			set := registry.Tags{"team": "b"}
			if i%7 == 0 {
				set["env"] = "a"
			}
			if _, err := reg.PatchAssignment(ctx, a.ID, "", nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: set}}); err != nil {
				t.Fatal(err)
			}
			tagged++
		}
		if every, err = reg.Assignments(ctx, registry.AssignmentFilter{}); err != nil {
			t.Fatal(err)
		}
		keep := func(a registry.Assignment, f registry.AssignmentFilter) bool {
			if f.Region != "" && a.Region != f.Region || f.Family != 0 && (f.Family == 4) != a.Prefix.Addr().Is4() {
				return false
			}
			if len(f.States) > 0 && !slices.Contains(f.States, a.State) {
				return false
			}
			for k, v := range f.Tags {
				if a.Tags[k] != v {
					return false
				}
			}
			return true
		}
		past := []registry.State{registry.StateQuarantined, registry.StateReleased}
		for _, f := range []registry.AssignmentFilter{
			{States: past[:1]}, {States: past[1:]}, {States: past}, {Family: 4, States: past[1:]}, {Family: 6, States: past},
			{Region: "us-east", States: past[:1]}, {Region: "us-east", States: past}, {Region: "brazil-south", Family: 4, States: past[1:]},
			{Tags: registry.Tags{"env": "a"}}, {Tags: registry.Tags{"env": "a", "team": "b"}}, {Tags: registry.Tags{"team": "b"}, Family: 4},
			{Tags: registry.Tags{"team": "b"}, Region: "us-east"}, {Tags: registry.Tags{"team": "b"}, States: []registry.State{registry.StateAssigned, registry.StateQuarantined}}, {Tags: registry.Tags{"env": "none"}},
		} {
			var want []int64
			for _, a := range every {
				if keep(a, f) {
					want = append(want, a.ID)
				}
			}
			var got []int64
			for page := f; ; {
				page.Limit = 23
				as, err := reg.Assignments(ctx, page)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range as {
					got = append(got, a.ID)
				}
				if len(as) < page.Limit {
					break
				}
				page.AfterID = as[len(as)-1].ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("filter %+v: %d by pages, %d kept from every assignment (first pages %v, want %v)", f, len(got), len(want), got[:min(5, len(got))], want[:min(5, len(want))])
			}
			if len(want) == 0 && f.Tags["env"] != "none" {
				t.Errorf("filter %+v: the register has none to page through", f)
			}
		}
		if tagged == 0 {
			t.Error("no assignment tagged")
		}
	})

	// The assignments holding an address or prefix (GET
	// /v1/assignments?contains=, the address page of a tenant's session;
	// the store may look them up by their first address: issue 16), whole
	// and page by page, with a tenant, a state or a tag, are the rows a
	// brute-force filter of every assignment keeps, in ID order: for the
	// first and last address of assignments live and past, their prefix,
	// a supernet no assignment holds, and an IPv6 /64 inside a /64.
	t.Run("holding a prefix", func(t *testing.T) {
		every, err := reg.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		holds := func(a registry.Assignment, p netip.Prefix, f registry.AssignmentFilter) bool {
			if a.Prefix.Bits() > p.Bits() || !a.Prefix.Contains(p.Addr()) || a.Prefix.Addr().Is4() != p.Addr().Is4() {
				return false
			}
			if f.Tenant != nil && a.Tenant != *f.Tenant || len(f.States) > 0 && !slices.Contains(f.States, a.State) {
				return false
			}
			for k, v := range f.Tags {
				if a.Tags[k] != v {
					return false
				}
			}
			return true
		}
		found := 0
		for i, a := range every {
			if i%41 != 0 && a.State == registry.StateAssigned {
				continue
			}
			last := prefix.Last(a.Prefix)
			tenant := a.Tenant
			for j, p := range []netip.Prefix{
				netip.PrefixFrom(a.Prefix.Addr(), a.Prefix.Addr().BitLen()),
				netip.PrefixFrom(last, last.BitLen()),
				a.Prefix,
				netip.PrefixFrom(a.Prefix.Addr(), a.Prefix.Bits()/2).Masked(),
			} {
				f := registry.AssignmentFilter{Contains: p}
				switch j % 4 {
				case 1:
					f.Tenant = &tenant
				case 2:
					f.States = []registry.State{registry.StateAssigned, registry.StateQuarantined}
				case 3:
					f.Tags = registry.Tags{"team": "b"}
				}
				var want []int64
				for _, b := range every {
					if holds(b, p, f) {
						want = append(want, b.ID)
					}
				}
				all, err := reg.Assignments(ctx, f)
				if err != nil {
					t.Fatalf("filter %+v: %v", f, err)
				}
				var got []int64
				for _, b := range all {
					got = append(got, b.ID)
				}
				var paged []int64
				for page := f; ; {
					page.Limit = 1
					as, err := reg.Assignments(ctx, page)
					if err != nil {
						t.Fatal(err)
					}
					for _, b := range as {
						paged = append(paged, b.ID)
					}
					if len(as) < page.Limit {
						break
					}
					page.AfterID = as[len(as)-1].ID
				}
				if !slices.Equal(got, want) || !slices.Equal(paged, want) {
					t.Errorf("holding %s, filter %+v: %v at once, %v by pages, want %v", p, f, got, paged, want)
				}
				found += len(want)
			}
		}
		if found == 0 {
			t.Error("no assignment held any prefix looked up")
		}
	})

	// A region's activity per UTC day (the region page's chart; the store
	// may read whole days from counters) is what a count of its pools'
	// assignments by the day they were made and released gives, for
	// windows starting and ending mid-day, at midnight, and within a day.
	t.Run("activity", func(t *testing.T) {
		every, err := reg.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		day := func(x time.Time) time.Time { return x.UTC().Truncate(24 * time.Hour) }
		midnight := day(now)
		for _, region := range []string{"us-east", "brazil-south"} {
			pools := map[int64]bool{}
			for _, a := range every {
				if a.Region == region {
					pools[a.PoolID] = true
				}
			}
			var ids []int64
			for id := range pools {
				ids = append(ids, id)
			}
			for _, w := range [][2]time.Time{
				{now.Add(-91 * 24 * time.Hour), now},
				{now.Add(-30*24*time.Hour - 5*time.Hour), now.Add(-10*24*time.Hour + 3*time.Hour)},
				{midnight.Add(-20 * 24 * time.Hour), midnight.Add(-2 * 24 * time.Hour)},
				{midnight.Add(-3*24*time.Hour + time.Hour), midnight.Add(-3*24*time.Hour + 20*time.Hour)},
				{now.Add(-2 * time.Hour), now.Add(time.Hour)},
			} {
				type key struct {
					day time.Time
					fam int
				}
				want := map[key][2]int64{}
				for _, a := range every {
					if !pools[a.PoolID] {
						continue
					}
					fam := 6
					if a.Prefix.Addr().Is4() {
						fam = 4
					}
					// Every whole UTC day the window touches (Tx.Activity).
					lo, hi := wholeDays(w[0], w[1])
					if !a.CreatedAt.Before(lo) && a.CreatedAt.Before(hi) {
						k := key{day(a.CreatedAt), fam}
						v := want[k]
						v[0]++
						want[k] = v
					}
					if r := a.ReleasedAt; r != nil && !r.Before(lo) && r.Before(hi) {
						k := key{day(*r), fam}
						v := want[k]
						v[1]++
						want[k] = v
					}
				}
				got := map[key][2]int64{}
				err := st.View(ctx, func(tx registry.Tx) error {
					days, err := tx.Activity(ctx, ids, w[0], w[1])
					for _, d := range days {
						k := key{d.Day, d.Family}
						v := got[k]
						got[k] = [2]int64{v[0] + d.Allocated, v[1] + d.Released}
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("region %s, %s to %s: %s IPv%d: made, released %v; counted from the rows %v", region, w[0], w[1], k.day.Format(time.DateOnly), k.fam, got[k], v)
					}
				}
				for k, v := range got {
					if _, ok := want[k]; !ok && v != ([2]int64{}) {
						t.Errorf("region %s, %s to %s: %s IPv%d: %v, none in the rows", region, w[0], w[1], k.day.Format(time.DateOnly), k.fam, v)
					}
				}
				if w[1].Sub(w[0]) > 24*time.Hour && len(want) == 0 {
					t.Errorf("region %s, %s to %s: nothing made or released to compare", region, w[0], w[1])
				}
				// The region page's read (Registry.Activity: the region, its
				// pools and their counts, in one snapshot) gives the days
				// from w[0]'s to w[1]'s as the store does. On PostgreSQL it
				// went through ViewOne, which allows one statement: every
				// region page answered 500.
				byName, err := reg.Activity(ctx, region, w[0], w[1])
				if err != nil {
					t.Fatalf("Registry.Activity(%s, %s, %s): %v", region, w[0], w[1], err)
				}
				var byIDs []registry.DayActivity
				if err := st.View(ctx, func(tx registry.Tx) (err error) {
					byIDs, err = tx.Activity(ctx, ids, day(w[0]), day(w[1]))
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(byName) != fmt.Sprint(byIDs) {
					t.Errorf("Registry.Activity(%s, %s, %s) = %v; the store's days of its pools %v", region, w[0], w[1], byName, byIDs)
				}
			}
		}
	})

	t.Run("import into an empty register", func(t *testing.T) {
		st2 := open(t)
		reg2 := registry.New(st2, registry.WithClock(func() time.Time { return now }))
		if _, err := reg2.Load(ctx, d, registry.LoadOptions{}); err != nil {
			t.Fatalf("load: %v", err)
		}
		if _, b := export(reg2); !bytes.Equal(first, b) {
			t.Errorf("export, import, export: %d bytes, then %d", len(first), len(b))
		}
		CheckInvariants(t, ctx, st2, reg2, now)
	})

	t.Run("child pools", func(t *testing.T) {
		st3, reg3, res3 := build(7, 2)
		if res3.ChildPools != 120 || res3.Assignments != n {
			t.Errorf("%d child pools and %d assignments, want 120 and %d", res3.ChildPools, res3.Assignments, n)
		}
		pools, err := reg3.Pools(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		kids := 0
		for _, p := range pools {
			if p.IsChild() {
				kids++
				if p.Prefix.Bits() != 48 || p.Assigned.IsZero() {
					t.Errorf("child pool %s (%s): want a /48 with /64s in it", p.Name, p.Prefix)
				}
			}
		}
		if kids != 120 {
			t.Errorf("%d child pools listed, want 120", kids)
		}
		CheckInvariants(t, ctx, st3, reg3, now)
		if _, err := demo.Cloud(ctx, st3, now, demo.CloudOptions{Assignments: 10}); err == nil {
			t.Error("a second build into the same register: no error")
		}
	})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// wholeDays is the whole UTC days [lo, hi) that [from, to) touches: what
// Tx.Activity counts.
func wholeDays(from, to time.Time) (lo, hi time.Time) {
	if !from.Before(to) {
		return from, from
	}
	return from.UTC().Truncate(24 * time.Hour), to.Add(-time.Microsecond).UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
}
