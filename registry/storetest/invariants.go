package storetest

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// CheckInvariants verifies, from the store alone, what must always hold:
// no two live assignments of a space overlap (across regions too), each lies inside a
// pool of its region (borrowed ones inside a relocation pool), every free
// list is maximal aligned, inside its pool and disjoint from live
// assignments and lent units, free list + live = size, and the counts of
// Pools and the store's counters (CheckCounters) agree with the rows. It returns the live assignments it checked.
func CheckInvariants(t testing.TB, ctx context.Context, st registry.Store, reg *registry.Registry, now time.Time) []registry.Assignment {
	t.Helper()
	usage, err := reg.Pools(ctx, "")
	if err != nil {
		t.Fatalf("pools: %v", err)
	}
	var live []registry.Assignment
	var reservations []registry.Reservation
	free := map[int64][]netip.Prefix{}
	err = st.View(ctx, func(tx registry.Tx) error {
		if reservations, err = tx.Reservations(ctx); err != nil {
			return err
		}
		live, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned, registry.StateQuarantined}})
		if err != nil {
			return err
		}
		for _, p := range usage {
			f, err := tx.FreeOfPool(ctx, p.ID)
			if err != nil {
				return err
			}
			free[p.ID] = f
		}
		return nil
	})
	if err != nil {
		t.Fatalf("view: %v", err)
	}
	pools := map[int64]registry.PoolUsage{}
	for _, p := range usage {
		pools[p.ID] = p
	}
	// No overlap among live assignments of a space.
	sorted := slices.Clone(live)
	slices.SortFunc(sorted, func(a, b registry.Assignment) int {
		if c := strings.Compare(a.Space, b.Space); c != 0 {
			return c
		}
		return prefix.Compare(a.Prefix, b.Prefix)
	})
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1].Space == sorted[i].Space && sorted[i-1].Prefix.Overlaps(sorted[i].Prefix) {
			t.Fatalf("live assignments %d %s (%s) and %d %s (%s) overlap", sorted[i-1].ID, sorted[i-1].Prefix, sorted[i-1].Region, sorted[i].ID, sorted[i].Prefix, sorted[i].Region)
		}
	}
	type acc struct{ assigned, quarantined, quarantinedLive, freeList prefix.Count }
	per := map[int64]*acc{}
	for id := range pools {
		per[id] = &acc{}
	}
	for _, a := range live {
		p, ok := pools[a.PoolID]
		if !ok {
			t.Fatalf("assignment %d %s: pool %d does not exist", a.ID, a.Prefix, a.PoolID)
		}
		if p.RegionID != a.RegionID || p.Region != a.Region {
			t.Fatalf("assignment %d %s of region %s lies in pool %s of region %s", a.ID, a.Prefix, a.Region, p.Prefix, p.Region)
		}
		if !prefix.Covers(p.Prefix, a.Prefix) {
			t.Fatalf("assignment %d %s lies outside its pool %s", a.ID, a.Prefix, p.Prefix)
		}
		if a.Borrowed != (p.Relocation != nil) || (a.Relocation == nil) != (p.Relocation == nil) {
			t.Fatalf("assignment %d %s: borrowed=%v but pool %s relocation=%v", a.ID, a.Prefix, a.Borrowed, p.Prefix, p.Relocation)
		}
		c := per[a.PoolID]
		switch a.State {
		case registry.StateAssigned:
			c.assigned = c.assigned.Add(prefix.Size(a.Prefix))
		case registry.StateQuarantined:
			c.quarantined = c.quarantined.Add(prefix.Size(a.Prefix))
			if a.QuarantineUntil.After(now) {
				c.quarantinedLive = c.quarantinedLive.Add(prefix.Size(a.Prefix))
			}
		}
	}
	// Units lent out of a pool.
	lent := map[int64][]netip.Prefix{}    // lent units and child pools: out of the parent's free space
	lentOut := map[int64][]netip.Prefix{} // lent units: out of the parent's size
	for _, p := range usage {
		if p.IsChild() {
			// A live child pool lies in its parent, in its region, and
			// counts there as assigned; it is out of the parent's free space.
			parent, ok := pools[p.ParentID]
			if !ok || parent.IsChild() || !prefix.Covers(parent.Prefix, p.Prefix) || parent.RegionID != p.RegionID {
				t.Fatalf("child pool %s %s: parent %d is not a top-level pool of its region covering it", p.Name, p.Prefix, p.ParentID)
			}
			if p.DissolvedAt != nil {
				t.Fatalf("child pool %s %s: dissolved, yet listed", p.Name, p.Prefix)
			}
			lent[p.ParentID] = append(lent[p.ParentID], p.Prefix)
			per[p.ParentID].assigned = per[p.ParentID].assigned.Add(prefix.Size(p.Prefix))
			continue
		}
		if p.Relocation == nil {
			continue
		}
		lentOut[p.ParentID] = append(lentOut[p.ParentID], p.Prefix)
		parent, ok := pools[p.ParentID]
		if !ok || !prefix.Covers(parent.Prefix, p.Prefix) {
			t.Fatalf("relocation pool %s: parent %d is not a pool covering it", p.Prefix, p.ParentID)
		}
		if parent.RegionID == p.RegionID {
			t.Fatalf("relocation pool %s: lent by its own region %s", p.Prefix, p.Region)
		}
		lent[p.ParentID] = append(lent[p.ParentID], p.Prefix)
	}
	for id, fl := range free {
		p := pools[id]
		set := map[netip.Prefix]bool{}
		for _, f := range fl {
			set[f] = true
		}
		for i, f := range fl {
			if f != f.Masked() || !prefix.Covers(p.Prefix, f) {
				t.Fatalf("pool %s: free prefix %s is not an aligned prefix inside the pool", p.Prefix, f)
			}
			if i > 0 && fl[i-1].Overlaps(f) {
				t.Fatalf("pool %s: free prefixes %s and %s overlap", p.Prefix, fl[i-1], f)
			}
			if b, ok := prefix.Buddy(f); ok && f.Bits() > p.Prefix.Bits() && set[b] {
				t.Fatalf("pool %s: free list not maximal: buddies %s and %s are both free", p.Prefix, f, b)
			}
			for _, l := range lent[id] {
				if l.Overlaps(f) {
					t.Fatalf("pool %s: free prefix %s overlaps lent unit %s", p.Prefix, f, l)
				}
			}
			per[id].freeList = per[id].freeList.Add(prefix.Size(f))
		}
		for _, a := range live {
			if a.Space != p.Space {
				continue // another space may hold the same addresses
			}
			i, _ := slices.BinarySearchFunc(fl, a.Prefix, prefix.Compare)
			for _, j := range []int{i - 1, i} {
				if j >= 0 && j < len(fl) && fl[j].Overlaps(a.Prefix) {
					t.Fatalf("pool %s: free prefix %s overlaps live assignment %d %s", p.Prefix, fl[j], a.ID, a.Prefix)
				}
			}
		}
	}
	held := policyHeld(t, pools, free, live, reservations)
	reserved := map[int64]prefix.Count{}
	for _, v := range reservations {
		p, ok := pools[v.PoolID]
		if !ok || !prefix.Covers(p.Prefix, v.Prefix) {
			t.Fatalf("reservation %s: not inside its pool %d", v.Prefix, v.PoolID)
		}
		for _, a := range live {
			if a.Space == v.Space && a.Prefix.Overlaps(v.Prefix) {
				t.Fatalf("reservation %s overlaps live assignment %d %s", v.Prefix, a.ID, a.Prefix)
			}
		}
		for _, f := range free[v.PoolID] {
			if f.Overlaps(v.Prefix) {
				t.Fatalf("reservation %s overlaps free prefix %s", v.Prefix, f)
			}
		}
		reserved[v.PoolID] = reserved[v.PoolID].Add(prefix.Size(v.Prefix))
	}
	for id, p := range pools {
		c := per[id]
		size := prefix.Size(p.Prefix)
		for _, l := range lentOut[id] {
			size = size.Sub(prefix.Size(l))
		}
		if p.Size != size {
			t.Fatalf("pool %s: size %s, want %s (less lent units)", p.Prefix, p.Size, size)
		}
		if got := c.freeList.Add(c.assigned).Add(c.quarantined).Add(reserved[id]).Add(held[id]); got != size {
			t.Fatalf("pool %s: free list %s + assigned %s + quarantined %s + reserved %s + kept back by policy %s = %s, want size %s",
				p.Prefix, c.freeList, c.assigned, c.quarantined, reserved[id], held[id], got, size)
		}
		if p.Assigned != c.assigned || p.Quarantined != c.quarantinedLive {
			t.Fatalf("pool %s: Pools says assigned %s quarantined %s, rows say %s and %s", p.Prefix, p.Assigned, p.Quarantined, c.assigned, c.quarantinedLive)
		}
		if got := p.Free.Add(p.Assigned).Add(p.Quarantined).Add(p.Reserved); got != p.Size {
			t.Fatalf("pool %s: free %s + assigned %s + quarantined %s + reserved %s != size %s", p.Prefix, p.Free, p.Assigned, p.Quarantined, p.Reserved, p.Size)
		}
	}
	CheckCounters(t, ctx, st, now)
	return live
}

// policyHeld checks the address policy of every pool (IPv4 network and
// broadcast addresses, IPv6 subnet-router anycast addresses in nothing
// but an assignment of a /64 or shorter) and counts, per pool, the
// addresses it keeps out of free space, assignments and reservations.
func policyHeld(t testing.TB, pools map[int64]registry.PoolUsage, free map[int64][]netip.Prefix, live []registry.Assignment, rs []registry.Reservation) map[int64]prefix.Count {
	t.Helper()
	out := map[int64]prefix.Count{}
	// A reservation keeps an address of its own pool back: another
	// space's pool may hold the same address (the same RFC 1918 prefix in
	// two spaces) and its policy still keeps it.
	reservedAt := func(pool int64, a netip.Addr) bool {
		return slices.ContainsFunc(rs, func(v registry.Reservation) bool { return v.PoolID == pool && v.Prefix.Contains(a) })
	}
	for id, p := range pools {
		if p.UseAll {
			continue
		}
		var inPool []netip.Prefix // everything in the pool longer than a /64, or any IPv4
		inPool = append(inPool, free[id]...)
		for _, a := range live {
			if a.PoolID == id {
				inPool = append(inPool, a.Prefix)
			}
		}
		for _, c := range pools {
			if c.IsChild() && c.ParentID == id {
				inPool = append(inPool, c.Prefix)
			}
		}
		if p.Prefix.Addr().Is4() {
			if p.Prefix.Bits() > 30 {
				continue
			}
			for _, a := range []netip.Addr{p.Prefix.Addr(), prefix.Last(p.Prefix)} {
				for _, q := range inPool {
					if q.Contains(a) {
						t.Fatalf("pool %s: %s holds %s, which the pool's policy keeps back", p.Prefix, q, a)
					}
				}
				if !reservedAt(id, a) {
					out[id] = out[id].Add(prefix.CountOf(1))
				}
			}
			continue
		}
		split := map[netip.Prefix]bool{}
		for _, v := range rs {
			if v.PoolID == id && v.Prefix.Bits() > 64 {
				split[netip.PrefixFrom(v.Prefix.Addr(), 64).Masked()] = true
			}
		}
		for _, q := range inPool {
			if q.Bits() <= 64 {
				continue
			}
			s := netip.PrefixFrom(q.Addr(), 64).Masked()
			if q.Contains(s.Addr()) {
				t.Fatalf("pool %s: %s holds the anycast address of %s, which the pool's policy keeps back", p.Prefix, q, s)
			}
			split[s] = true
		}
		if p.Prefix.Bits() > 64 && p.Prefix.Addr() == netip.PrefixFrom(p.Prefix.Addr(), 64).Masked().Addr() {
			split[netip.PrefixFrom(p.Prefix.Addr(), 64).Masked()] = true
		}
		for s := range split {
			if p.Prefix.Contains(s.Addr()) && !reservedAt(id, s.Addr()) {
				out[id] = out[id].Add(prefix.CountOf(1))
			}
		}
	}
	return out
}
