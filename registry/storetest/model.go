package storetest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

var (
	seedFlag = flag.Uint64("seed", 0, "Model: run only this seed")
	opsFlag  = flag.Int("ops", 400, "Model: operations per seed")
)

// The brute-force model keeps one cell per address: which pool owns it
// (a relocated address belongs to the borrower's pool) and its state.

type cellState uint8

const (
	cFree cellState = iota
	cAssigned
	cQuarantined
	cHeld     // kept back by the pool's address policy
	cReserved // in a reservation
)

type mpool struct {
	prefix netip.Prefix
	region string
	parent int // index of the lender's pool, -1 for an own pool
	useAll bool
	// A child pool (AllocatePool) has a name and childOf, the index+1 of
	// the pool it was carved from; 0 for any other pool. Its cells belong
	// to it; its parent counts them in its size and as assigned.
	name    string
	childOf int
	gone    bool // a dissolved child pool: no space, not listed
	space   string
}

// spaceOK is the registry's rule for allocations from a region (and
// child pools carved from one): the space named only, or with none named
// the global and the built-in private space, never a named space's pool.
func spaceOK(space, poolSpace string) bool {
	if space != "" {
		return poolSpace == space
	}
	return poolSpace == registry.GlobalSpace || poolSpace == registry.PrivateSpace
}

// live reports whether pool i is listed (not a dissolved child pool).
func (m *model) live(i int) bool { return !m.pools[i].gone }

// childByName is the index of the live child pool called name, or -1.
func (m *model) childByName(name string) int {
	for i, p := range m.pools {
		if p.childOf > 0 && !p.gone && p.name == name {
			return i
		}
	}
	return -1
}

// mres is a reservation of the model.
type mres struct {
	prefix netip.Prefix
	pool   int
	until  time.Time // zero: for ever
}

type mcell struct {
	pool  int
	state cellState
}

type massign struct {
	id     int64
	prefix netip.Prefix
	pool   int
	state  cellState
	until  time.Time
}

// ckey is a cell: an address in a space (two spaces may hold the same
// address, each its own cell).
type ckey struct {
	space string
	addr  netip.Addr
}

// key is the cell of address a in pool i's space.
func (m *model) key(i int, a netip.Addr) ckey { return ckey{m.pools[i].space, a} }

type model struct {
	pools   []mpool
	cells   map[ckey]mcell
	assigns map[int64]massign // live ones
	lenders map[string][]string
	unit    map[string]int
	res     []mres
}

func (m *model) clone() *model {
	c := *m
	c.pools = slices.Clone(m.pools)
	c.cells = maps.Clone(m.cells)
	c.assigns = maps.Clone(m.assigns)
	c.res = slices.Clone(m.res)
	return &c
}

// addrAt is base + off for the small pools of these tests.
func addrAt(base netip.Addr, off int) netip.Addr {
	b := base.As16()
	v := binary.BigEndian.Uint32(b[12:]) + uint32(off)
	binary.BigEndian.PutUint32(b[12:], v)
	a := netip.AddrFrom16(b)
	if base.Is4() {
		return a.Unmap()
	}
	return a
}

func addrs(p netip.Prefix) []netip.Addr {
	n, _ := prefix.Size(p).Uint64()
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = addrAt(p.Addr(), i)
	}
	return out
}

// addPool adds an own pool; unless useAll its policy keeps back the IPv4
// network and broadcast addresses (of a /30 or shorter) and the
// anycast address of the IPv6 /64 it starts (pools here are longer than
// a /64, so every free prefix is).
func (m *model) addPool(p netip.Prefix, region string, useAll bool, space string) int {
	m.pools = append(m.pools, mpool{prefix: p, region: region, parent: -1, useAll: useAll, space: space})
	i := len(m.pools) - 1
	for _, a := range addrs(p) {
		m.cells[m.key(i, a)] = mcell{pool: i}
	}
	if !useAll {
		if p.Addr().Is4() && p.Bits() <= 30 {
			m.cells[m.key(i, p.Addr())] = mcell{pool: i, state: cHeld}
			m.cells[m.key(i, prefix.Last(p))] = mcell{pool: i, state: cHeld}
		} else if b := p.Addr().As16(); !p.Addr().Is4() && binary.BigEndian.Uint64(b[8:]) == 0 {
			m.cells[m.key(i, p.Addr())] = mcell{pool: i, state: cHeld}
		}
	}
	return i
}

// freeList is the canonical buddy decomposition of pool i's free cells:
// a prefix is listed when it is all free and its parent (inside the pool)
// is not.
func (m *model) freeList(i int) []netip.Prefix {
	p := m.pools[i].prefix
	as := addrs(p)
	free := make([]bool, len(as))
	for k, a := range as {
		c := m.cells[m.key(i, a)]
		free[k] = c.pool == i && c.state == cFree
	}
	var out []netip.Prefix
	var rec func(lo, n, bits int)
	rec = func(lo, n, bits int) {
		all, none := true, true
		for _, f := range free[lo : lo+n] {
			all, none = all && f, none && !f
		}
		switch {
		case all:
			out = append(out, netip.PrefixFrom(as[lo], bits))
		case !none:
			rec(lo, n/2, bits+1)
			rec(lo+n/2, n/2, bits+1)
		}
	}
	rec(0, len(as), p.Bits())
	return out
}

type counts struct{ size, assigned, quarantined, ended, reserved int }

func (m *model) counts(i int, now time.Time) counts {
	var c counts
	for _, a := range addrs(m.pools[i].prefix) {
		switch cl := m.cells[m.key(i, a)]; {
		case cl.pool == i:
			c.size++
			if cl.state == cHeld {
				c.reserved++
			}
		case m.pools[cl.pool].childOf == i+1:
			// A live child pool's space: the parent handed it out.
			c.size++
			c.assigned++
		}
	}
	for _, v := range m.res {
		if v.pool == i && (v.until.IsZero() || v.until.After(now)) {
			for _, a := range addrs(v.prefix) {
				if m.cells[m.key(i, a)].state == cReserved {
					c.reserved++
				}
			}
		}
	}
	for _, a := range m.assigns {
		if a.pool != i {
			continue
		}
		n, _ := prefix.Size(a.prefix).Uint64()
		switch {
		case a.state == cAssigned:
			c.assigned += int(n)
		case a.until.After(now):
			c.quarantined += int(n)
		default:
			c.ended += int(n)
		}
	}
	return c
}

// choose is the rule: among the region's free prefixes of the family that
// can hold a /bits, the longest one, lowest address first.
func (m *model) choose(region string, fam, bits int, space string) (int, netip.Prefix, bool) {
	best, bestPool := netip.Prefix{}, -1
	for i, p := range m.pools {
		// A child pool's space goes only to requests that name it.
		if p.region != region || prefix.Family(p.prefix) != fam || p.childOf > 0 || !spaceOK(space, p.space) {
			continue
		}
		for _, f := range m.freeList(i) {
			if f.Bits() > bits {
				continue
			}
			if bestPool < 0 || f.Bits() > best.Bits() || f.Bits() == best.Bits() && f.Addr().Less(best.Addr()) {
				best, bestPool = f, i
			}
		}
	}
	return bestPool, best, bestPool >= 0
}

type errKind int

const (
	kindOK errKind = iota
	kindInvalid
	kindNoSpace // IPv6: never borrowed
	kindPolicy  // IPv4: no room and no lender could help
	kindState
	kindNotFound
	kindHeld   // asked-for space is held (exit 4)
	kindExists // a name in use
)

func (k errKind) String() string {
	return [...]string{"ok", "invalid", "no space", "policy", "state", "not found", "held", "exists"}[k]
}

func (k errKind) matches(err error) bool {
	switch k {
	case kindOK:
		return err == nil
	case kindInvalid:
		return errors.Is(err, registry.ErrInvalid)
	case kindNoSpace:
		var pe *registry.PolicyError
		return errors.Is(err, registry.ErrNoSpace) && !errors.As(err, &pe)
	case kindPolicy:
		var pe *registry.PolicyError
		// A PolicyError: borrowing forbidden (ErrPolicy), or allowed but
		// every lender full (LendersFull, ErrNoSpace only).
		return errors.As(err, &pe) && errors.Is(err, registry.ErrNoSpace) && errors.Is(err, registry.ErrPolicy) != pe.LendersFull
	case kindState:
		return errors.Is(err, registry.ErrState)
	case kindNotFound:
		return errors.Is(err, registry.ErrNotFound)
	case kindHeld:
		var he *registry.HeldError
		return errors.As(err, &he) && errors.Is(err, registry.ErrOverlap)
	case kindExists:
		return errors.Is(err, registry.ErrExists)
	}
	return false
}

func (m *model) borrow(region string, bits int, space string) (int, netip.Prefix, errKind) {
	unit := min(m.unit[region], bits)
	for _, l := range m.lenders[region] {
		li, lf, ok := m.choose(l, 4, unit, space)
		if !ok {
			continue
		}
		take := netip.PrefixFrom(lf.Addr(), unit)
		i := len(m.pools)
		m.pools = append(m.pools, mpool{prefix: take, region: region, parent: li, space: m.pools[li].space})
		for _, a := range addrs(take) {
			m.cells[m.key(i, a)] = mcell{pool: i}
		}
		return i, take, kindOK
	}
	return 0, netip.Prefix{}, kindPolicy
}

type taken struct {
	prefix netip.Prefix
	pool   int
}

func (m *model) take(region string, fam, bits int, space string) (taken, errKind) {
	i, f, ok := m.choose(region, fam, bits, space)
	if !ok {
		if fam == 6 {
			return taken{}, kindNoSpace
		}
		var k errKind
		if i, f, k = m.borrow(region, bits, space); k != kindOK {
			return taken{}, k
		}
	}
	p := netip.PrefixFrom(f.Addr(), bits)
	for _, a := range addrs(p) {
		m.cells[m.key(i, a)] = mcell{pool: i, state: cAssigned}
	}
	m.assigns[-int64(len(m.assigns))-1] = massign{prefix: p, pool: i, state: cAssigned} // ID set later
	return taken{p, i}, kindOK
}

// reap returns every ended quarantine and reservation to free space.
func (m *model) reap(now time.Time) {
	for id, a := range m.assigns {
		if a.state == cQuarantined && !a.until.After(now) {
			m.free(id)
		}
	}
	m.res = slices.DeleteFunc(m.res, func(v mres) bool {
		if v.until.IsZero() || v.until.After(now) {
			return false
		}
		m.unreserveCells(v)
		return true
	})
}

func (m *model) unreserveCells(v mres) {
	for _, a := range addrs(v.prefix) {
		if c := m.cells[m.key(v.pool, a)]; c.state == cReserved {
			m.cells[m.key(v.pool, a)] = mcell{pool: c.pool}
		}
	}
}

// holding is the most specific pool of space holding all of p; with no
// space named, pools of several spaces holding p are ErrInvalid, and one
// space holding it is the space.
func (m *model) holding(p netip.Prefix, space string) (int, errKind) {
	if space == "" {
		var in []string
		for _, pl := range m.pools {
			if !pl.gone && prefix.Covers(pl.prefix, p) && !slices.Contains(in, pl.space) {
				in = append(in, pl.space)
			}
		}
		if len(in) > 1 {
			return -1, kindInvalid
		}
		if len(in) == 1 {
			space = in[0]
		}
	}
	best, overlap := -1, false
	for i, pl := range m.pools {
		if pl.gone || (space != "" && pl.space != space) {
			continue
		}
		// A child pool is more specific than its parent, even of the
		// same prefix.
		if prefix.Covers(pl.prefix, p) && (best < 0 || pl.prefix.Bits() > m.pools[best].prefix.Bits() || pl.prefix.Bits() == m.pools[best].prefix.Bits() && pl.childOf > 0) {
			best = i
		}
		overlap = overlap || pl.prefix.Overlaps(p)
	}
	switch {
	case best >= 0:
		return best, kindOK
	case overlap:
		return -1, kindInvalid
	}
	return -1, kindNotFound
}

// allocateAt takes exactly p: every cell free in the pool holding it.
func (m *model) allocateAt(now time.Time, p netip.Prefix, space string) (taken, errKind) {
	m.reap(now)
	i, k := m.holding(p, space)
	if k != kindOK {
		return taken{}, k
	}
	for _, a := range addrs(p) {
		if c := m.cells[m.key(i, a)]; c.pool != i || c.state != cFree {
			return taken{}, kindHeld
		}
	}
	for _, a := range addrs(p) {
		m.cells[m.key(i, a)] = mcell{pool: i, state: cAssigned}
	}
	m.assigns[-1] = massign{prefix: p, pool: i, state: cAssigned}
	return taken{p, i}, kindOK
}

// reserve reserves p: every cell free or kept back by policy, and no
// reservation in force overlapping it.
func (m *model) reserve(now time.Time, p netip.Prefix, until time.Time, space string) errKind {
	m.reap(now)
	i, k := m.holding(p, space)
	if k != kindOK {
		return k
	}
	for _, a := range addrs(p) {
		if c := m.cells[m.key(i, a)]; c.pool != i || (c.state != cFree && c.state != cHeld) {
			return kindHeld
		}
	}
	// A reservation in force over an address the policy keeps back
	// leaves its cell cHeld: the overlap is found in the list.
	for _, v := range m.res {
		if m.pools[v.pool].space == m.pools[i].space && v.prefix.Overlaps(p) {
			return kindHeld
		}
	}
	for _, a := range addrs(p) {
		if m.cells[m.key(i, a)].state == cFree {
			m.cells[m.key(i, a)] = mcell{pool: i, state: cReserved}
		}
	}
	m.res = append(m.res, mres{prefix: p, pool: i, until: until})
	return kindOK
}

func (m *model) unreserve(now time.Time, p netip.Prefix, space string) errKind {
	m.reap(now)
	// Reservations overlapping p in more than one space, none named: the
	// caller must say which.
	var in []string
	for _, v := range m.res {
		if sp := m.pools[v.pool].space; v.prefix.Overlaps(p) && (space == "" || sp == space) && !slices.Contains(in, sp) {
			in = append(in, sp)
		}
	}
	if len(in) > 1 {
		return kindInvalid
	}
	j := slices.IndexFunc(m.res, func(v mres) bool { return v.prefix == p && (space == "" || m.pools[v.pool].space == space) })
	if j < 0 {
		return kindNotFound
	}
	m.unreserveCells(m.res[j])
	m.res = slices.Delete(m.res, j, j+1)
	return kindOK
}

// chooseIn is the rule inside one pool: its longest free prefix that
// can hold a /bits, lowest address first.
func (m *model) chooseIn(i, bits int) (netip.Prefix, bool) {
	var best netip.Prefix
	for _, f := range m.freeList(i) {
		if f.Bits() > bits {
			continue
		}
		if !best.IsValid() || f.Bits() > best.Bits() || f.Bits() == best.Bits() && f.Addr().Less(best.Addr()) {
			best = f
		}
	}
	return best, best.IsValid()
}

// carve applies AllocatePool: a free /bits of the region, as an
// allocation of that length would take it (never borrowed), becomes the
// child pool name, with its parent's address policy.
func (m *model) carve(now time.Time, s registry.ChildPoolSpec) (int, errKind) {
	m.reap(now)
	w := 32
	if s.Family == 6 {
		w = 64
	}
	if s.Bits < 1 || s.Bits > w {
		return 0, kindInvalid
	}
	if m.childByName(s.Name) >= 0 {
		return 0, kindExists
	}
	shortest := 129
	for _, p := range m.pools {
		if p.region == s.Region && prefix.Family(p.prefix) == s.Family && spaceOK(s.Space, p.space) {
			shortest = min(shortest, p.prefix.Bits())
		}
	}
	if shortest == 129 && (s.Family == 6 || len(m.lenders[s.Region]) == 0) {
		return 0, kindNoSpace
	}
	if s.Bits < shortest && shortest != 129 {
		return 0, kindInvalid
	}
	i, f, ok := m.choose(s.Region, s.Family, s.Bits, s.Space)
	if !ok {
		return 0, kindNoSpace
	}
	p := netip.PrefixFrom(f.Addr(), s.Bits)
	parent := m.pools[i]
	useAll := parent.useAll || parent.parent >= 0 // a lent unit hands out every address
	m.pools = append(m.pools, mpool{prefix: p, region: s.Region, parent: -1, useAll: useAll, name: s.Name, childOf: i + 1, space: parent.space})
	c := len(m.pools) - 1
	for _, a := range addrs(p) {
		m.cells[m.key(c, a)] = mcell{pool: c}
	}
	if !useAll && p.Addr().Is4() && p.Bits() <= 30 {
		m.cells[m.key(c, p.Addr())] = mcell{pool: c, state: cHeld}
		m.cells[m.key(c, prefix.Last(p))] = mcell{pool: c, state: cHeld}
	}
	return c, kindOK
}

// allocateIn applies a request naming a child pool: count prefixes of
// /bits from its own free space, all or none.
func (m *model) allocateIn(now time.Time, q registry.Request) ([]taken, errKind) {
	m.reap(now)
	c := m.childByName(q.Pool)
	if c < 0 {
		return nil, kindNotFound
	}
	p := m.pools[c]
	if prefix.Family(p.prefix) != q.Family || q.Bits < p.prefix.Bits() || (q.Space != "" && q.Space != p.space) {
		return nil, kindInvalid
	}
	var out []taken
	for range max(q.Count, 1) {
		f, ok := m.chooseIn(c, q.Bits)
		if !ok {
			return nil, kindNoSpace
		}
		x := netip.PrefixFrom(f.Addr(), q.Bits)
		for _, a := range addrs(x) {
			m.cells[m.key(c, a)] = mcell{pool: c, state: cAssigned}
		}
		m.assigns[-int64(len(m.assigns))-1] = massign{prefix: x, pool: c, state: cAssigned}
		out = append(out, taken{x, c})
	}
	return out, kindOK
}

// dissolve applies ReleasePool: refused while the child pool holds a live
// assignment or a reservation in force; else its space is its parent's
// free space again.
func (m *model) dissolve(now time.Time, name string) errKind {
	m.reap(now)
	c := m.childByName(name)
	if c < 0 {
		return kindNotFound
	}
	for _, a := range m.assigns {
		if a.pool == c {
			return kindState
		}
	}
	for _, v := range m.res {
		if v.pool == c {
			return kindState
		}
	}
	parent := m.pools[c].childOf - 1
	for _, a := range addrs(m.pools[c].prefix) {
		m.cells[m.key(parent, a)] = mcell{pool: parent}
	}
	m.pools[c].gone = true
	return kindOK
}

// somePrefix is a random aligned prefix inside a random pool (now and
// then outside every pool), and the space to name with it: mostly the
// pool's, now and then none (ambiguous where two spaces hold it).
func (m *model) somePrefix(rng *rand.Rand) (netip.Prefix, string) {
	if rng.IntN(20) == 0 {
		return mp("10.0.9.0/28"), []string{"", "vpc-b"}[rng.IntN(2)]
	}
	var live []int
	for i := range m.pools {
		if m.live(i) {
			live = append(live, i)
		}
	}
	chosen := m.pools[live[rng.IntN(len(live))]]
	pl := chosen.prefix
	w := pl.Addr().BitLen()
	bits := w - rng.IntN(min(5, w-pl.Bits()+1))
	n := 1 << (bits - pl.Bits())
	space := chosen.space
	if rng.IntN(4) == 0 {
		space = ""
	}
	return netip.PrefixFrom(addrAt(pl.Addr(), rng.IntN(n)<<(w-bits)), bits), space
}

func (m *model) free(id int64) {
	a := m.assigns[id]
	for _, x := range addrs(a.prefix) {
		m.cells[m.key(a.pool, x)] = mcell{pool: a.pool}
	}
	delete(m.assigns, id)
}

// allocate applies q to m (a clone: on error the caller drops it).
func (m *model) allocate(now time.Time, q registry.Request) ([]taken, errKind) {
	m.reap(now)
	type item struct{ fam, bits int }
	items := []item{{q.Family, q.Bits}}
	if q.DualStack {
		items = []item{{6, 128}, {4, 32}}
	}
	for _, it := range items {
		shortest := 129
		for _, p := range m.pools {
			if p.region == q.Region && prefix.Family(p.prefix) == it.fam && !p.gone && spaceOK(q.Space, p.space) {
				shortest = min(shortest, p.prefix.Bits())
			}
		}
		if shortest == 129 {
			return nil, kindNoSpace
		}
		if it.bits < shortest {
			return nil, kindInvalid
		}
	}
	var out []taken
	for range max(q.Count, 1) {
		for _, it := range items {
			tk, k := m.take(q.Region, it.fam, it.bits, q.Space)
			if k != kindOK {
				return nil, k
			}
			out = append(out, tk)
		}
	}
	return out, kindOK
}

func (m *model) release(now time.Time, id int64, byPrefix netip.Prefix, space string, quarantine time.Duration) (int64, errKind) {
	m.reap(now)
	if byPrefix.IsValid() {
		// Live assignments overlapping the prefix in more than one space,
		// none named: the caller must say which.
		var in []string
		for _, a := range m.assigns {
			if sp := m.pools[a.pool].space; a.prefix.Overlaps(byPrefix) && (space == "" || sp == space) && !slices.Contains(in, sp) {
				in = append(in, sp)
			}
		}
		if len(in) > 1 {
			return 0, kindInvalid
		}
		id = 0
		for i, a := range m.assigns {
			if a.prefix == byPrefix && (space == "" || m.pools[a.pool].space == space) {
				id = i
			}
		}
		if id == 0 {
			return 0, kindNotFound
		}
	}
	a, ok := m.assigns[id]
	if !ok || a.state != cAssigned {
		return 0, kindState
	}
	if quarantine == 0 {
		m.free(id)
		return id, kindOK
	}
	a.state, a.until = cQuarantined, now.Add(quarantine)
	m.assigns[id] = a
	for _, x := range addrs(a.prefix) {
		c := m.cells[m.key(a.pool, x)]
		c.state = cQuarantined
		m.cells[m.key(a.pool, x)] = c
	}
	return id, kindOK
}

// compare checks the store against the model: the same pools, the same
// live assignments, the same free lists and the same counts.
func (m *model) compare(t testing.TB, e *modelEnv, live []registry.Assignment) {
	t.Helper()
	now := e.clock.Now()
	usage, err := e.reg.Pools(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	livePools := 0
	// A pool is known by prefix, name, space and region: a unit lent whole
	// (a request as long as the lender's pool, vpc-b's 10.0.2.0/25) is a
	// pool with its lender's prefix, name and space in another region.
	type pkey struct {
		p                   netip.Prefix
		name, space, region string
	}
	byPrefix := map[pkey]int{}
	for i, p := range m.pools {
		if m.live(i) {
			livePools++
			byPrefix[pkey{p.prefix, p.name, p.space, p.region}] = i
		}
	}
	if len(usage) != livePools {
		t.Fatalf("store has %d pools, model %d", len(usage), livePools)
	}
	poolID := map[int]int64{}
	type rcount struct{ size, assigned, quarantined prefix.Count }
	rows := map[string]*rcount{}
	parentID := map[int]int64{}
	for _, u := range usage {
		i, ok := byPrefix[pkey{u.Prefix, u.Name, u.Space, u.Region}]
		if !ok {
			t.Fatalf("store has pool %s %q (%s, space %s), the model does not", u.Prefix, u.Name, u.Region, u.Space)
		}
		mp := m.pools[i]
		poolID[i] = u.ID
		if u.IsChild() != (mp.childOf > 0) || u.Tenant != map[bool]string{true: "t"}[mp.childOf > 0] {
			t.Fatalf("pool %s: store says child pool %q of tenant %q, model %q", u.Prefix, u.Name, u.Tenant, mp.name)
		}
		if mp.childOf > 0 {
			parentID[i] = u.ParentID
		}
		if u.Region != mp.region || (u.Relocation != nil) != (mp.parent >= 0) {
			t.Fatalf("pool %s: store says region %s relocation %v, model region %s parent %d", u.Prefix, u.Region, u.Relocation, mp.region, mp.parent)
		}
		if mp.parent >= 0 && (u.Relocation.FromRegion != m.pools[mp.parent].region || u.Relocation.Prefix != mp.prefix) {
			t.Fatalf("pool %s: relocation %+v, model lender %s", u.Prefix, *u.Relocation, m.pools[mp.parent].region)
		}
		c := m.counts(i, now)
		want := [3]prefix.Count{prefix.CountOf(uint64(c.size)), prefix.CountOf(uint64(c.assigned)), prefix.CountOf(uint64(c.quarantined))}
		if got := [3]prefix.Count{u.Size, u.Assigned, u.Quarantined}; got != want {
			t.Fatalf("pool %s: size/assigned/quarantined %v, model %v", u.Prefix, got, want)
		}
		if want := prefix.CountOf(uint64(c.size - c.assigned - c.quarantined - c.reserved)); u.Free != want || u.Reserved != prefix.CountOf(uint64(c.reserved)) {
			t.Fatalf("pool %s: free %s reserved %s, model %s and %d (ended quarantines and reservations count as free)", u.Prefix, u.Free, u.Reserved, want, c.reserved)
		}
		if u.UseAll != mp.useAll && mp.parent < 0 {
			t.Fatalf("pool %s: use all %v, model %v", u.Prefix, u.UseAll, mp.useAll)
		}
		if mp.childOf > 0 {
			continue // the report sums top-level pools: the parent counts it
		}
		k := fmt.Sprint(mp.region, "/", prefix.Family(mp.prefix))
		if rows[k] == nil {
			rows[k] = &rcount{}
		}
		rows[k].size = rows[k].size.Add(u.Size)
		rows[k].assigned = rows[k].assigned.Add(u.Assigned)
		rows[k].quarantined = rows[k].quarantined.Add(u.Quarantined)
	}
	for i, id := range parentID {
		if want := poolID[m.pools[i].childOf-1]; id != want {
			t.Fatalf("child pool %s: parent %d, model %s (%d)", m.pools[i].prefix, id, m.pools[m.pools[i].childOf-1].prefix, want)
		}
	}
	freeLists := map[int][]netip.Prefix{}
	err = e.store.View(e.ctx, func(tx registry.Tx) error {
		for i, id := range poolID {
			if freeLists[i], err = tx.FreeOfPool(e.ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.pools {
		if !m.live(i) {
			continue
		}
		got, want := freeLists[i], m.freeList(i)
		if !slices.Equal(got, want) {
			t.Fatalf("pool %s: free list\n got %v\nwant %v", m.pools[i].prefix, got, want)
		}
	}
	var rs []registry.Reservation
	if err := e.store.View(e.ctx, func(tx registry.Tx) (err error) {
		rs, err = tx.Reservations(e.ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var gotRes, wantRes []string
	for _, v := range rs {
		gotRes = append(gotRes, fmt.Sprint(v.Prefix, " ", v.Pool, " ", v.Space, " ", v.Until))
	}
	for _, v := range m.res {
		var until *time.Time
		if !v.until.IsZero() {
			until = &v.until
		}
		wantRes = append(wantRes, fmt.Sprint(v.prefix, " ", m.pools[v.pool].prefix, " ", m.pools[v.pool].space, " ", until))
	}
	slices.Sort(gotRes)
	slices.Sort(wantRes)
	if !slices.Equal(gotRes, wantRes) {
		t.Fatalf("reservations\n got %v\nwant %v", gotRes, wantRes)
	}
	if len(live) != len(m.assigns) {
		t.Fatalf("store has %d live assignments, model %d", len(live), len(m.assigns))
	}
	for _, a := range live {
		ma, ok := m.assigns[a.ID]
		if !ok {
			t.Fatalf("store has live assignment %d %s, the model does not", a.ID, a.Prefix)
		}
		st := registry.StateAssigned
		if ma.state == cQuarantined {
			st = registry.StateQuarantined
		}
		if a.Prefix != ma.prefix || a.State != st || a.Pool != m.pools[ma.pool].prefix || a.Region != m.pools[ma.pool].region || a.Space != m.pools[ma.pool].space {
			t.Fatalf("assignment %d: store %s %s pool %s region %s; model %s %s pool %s region %s", a.ID, a.Prefix, a.State, a.Pool, a.Region,
				ma.prefix, st, m.pools[ma.pool].prefix, m.pools[ma.pool].region)
		}
		if st == registry.StateQuarantined && !a.QuarantineUntil.Equal(ma.until) {
			t.Fatalf("assignment %d: quarantine until %v, model %v", a.ID, a.QuarantineUntil, ma.until)
		}
	}
	report, err := e.reg.Report(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range report {
		k := fmt.Sprint(row.Region, "/", row.Family)
		want := rows[k]
		if want == nil {
			want = &rcount{}
		}
		if row.Size != want.size || row.Assigned != want.assigned || row.Quarantined != want.quarantined ||
			row.Free != row.Size.Sub(row.Assigned).Sub(row.Quarantined).Sub(row.Reserved) {
			t.Fatalf("report %s: size %s assigned %s quarantined %s free %s; pools say %s %s %s", k, row.Size, row.Assigned, row.Quarantined, row.Free, want.size, want.assigned, want.quarantined)
		}
	}
}

// Model runs seeded random sequences of allocations (by length and of an
// exact prefix), reservations, releases, child pools (carved, allocated
// inside, released: refused while they hold anything, their use rolled up
// into their parent) and clock travel in two spaces that hold the same
// RFC 1918 prefixes (the built-in private space and vpc-b: operations name
// a space, the other or none, which is refused where both hold the prefix)
// against a brute-force model of the rules (one cell per address and
// space, the rule written the obvious way), over a store from open, and
// checks the store against the model and its own invariants after every
// step: the same rules, whatever the store does to be fast. A failure
// prints the seed; rerun it with -seed=N (and -ops=N).
func Model(t *testing.T, open Open) {
	seeds := []uint64{1, 2, 3, 4, uint64(time.Now().UnixNano())}
	ops := *opsFlag
	if *seedFlag != 0 {
		seeds = seeds[:0]
		seeds = append(seeds, *seedFlag)
	}
	if testing.Short() {
		ops /= 5
	}
	if testenv.Race && *seedFlag == 0 {
		// The race detector makes the store's own work several times
		// slower; it looks for races, which fewer steps show as well.
		ops /= 4
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			// Each seed has a store of its own; a networked store spends
			// most of a step waiting for round trips.
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce with: go test -run '%s' -seed=%d -ops=%d -v", t.Name(), seed, ops)
				}
			})
			runModel(t, open, seed, ops)
		})
	}
}

func runModel(t *testing.T, open Open, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	unit := []int{24, 26, 28}[rng.IntN(3)]
	e := newModelEnv(t, open)
	e.standard(unit, true)
	m := &model{cells: map[ckey]mcell{}, assigns: map[int64]massign{},
		lenders: map[string][]string{"east": {"south"}}, unit: map[string]int{"east": unit, "south": 24}}
	for _, p := range standardPools {
		m.addPool(mp(p.prefix), p.region, p.useAll, p.space)
	}
	t.Logf("seed %d: borrow unit /%d, %d operations", seed, unit, ops)

	var log []string // the operations so far, printed on failure
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last operations:\n%s", strings.Join(log[max(0, len(log)-15):], "\n"))
		}
	})
	stats := map[string]int{}
	for step := 0; step < ops; step++ {
		now := e.clock.Now()
		x := rng.IntN(100)
		switch {
		case x < 40: // allocate
			q := registry.Request{Region: []string{"east", "east", "south"}[rng.IntN(3)], Tenant: "t", Space: []string{"", "", "vpc-b", registry.PrivateSpace}[rng.IntN(4)]}
			switch y := rng.IntN(10); {
			case y < 2:
				q.DualStack = true
				q.Count = 1 + rng.IntN(4)
			default:
				q.Family = []int{4, 4, 6}[rng.IntN(3)]
				w := 32
				if q.Family == 6 {
					w = 128
				}
				q.Bits = w
				if rng.IntN(10) < 3 {
					q.Bits = w - 10 + rng.IntN(11) // sometimes shorter than every pool
				}
				q.Count = 1
				if rng.IntN(10) < 3 {
					q.Count = 2 + rng.IntN(30)
					if rng.IntN(8) == 0 {
						q.Count = 100 + rng.IntN(500)
					}
				}
			}
			next := m.clone()
			want, kind := next.allocate(now, q)
			desc := fmt.Sprintf("%d: allocate %+v at %s -> model %v", step, q, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			var before string // read only where the model expects a failure
			if kind != kindOK {
				before = snapshot(t, e.ctx, e.store, e.clock.Now())
			}
			got, err := e.reg.Allocate(e.ctx, q)
			if !kind.matches(err) {
				t.Fatalf("%s: model expects %v, got %v (%d assignments)", desc, kind, err, len(got))
			}
			stats["allocate "+kind.String()]++
			if kind != kindOK {
				if snapshot(t, e.ctx, e.store, e.clock.Now()) != before {
					t.Fatalf("%s: failed request %v committed a change", desc, err)
				}
				break
			}
			if len(got) != len(want) {
				t.Fatalf("%s: got %d assignments, model %d", desc, len(got), len(want))
			}
			// Put the real IDs into the model.
			for id, a := range next.assigns {
				if id < 0 {
					delete(next.assigns, id)
					_ = a
				}
			}
			for i, a := range got {
				w := want[i]
				if a.Prefix != w.prefix || a.Pool != next.pools[w.pool].prefix || a.Region != q.Region || a.Borrowed != (next.pools[w.pool].parent >= 0) || a.Space != next.pools[w.pool].space {
					t.Fatalf("%s: assignment %d of %d is %s in pool %s (borrowed %v); the rule picks %s in pool %s", desc, i+1, len(got), a.Prefix, a.Pool, a.Borrowed, w.prefix, next.pools[w.pool].prefix)
				}
				next.assigns[a.ID] = massign{id: a.ID, prefix: a.Prefix, pool: w.pool, state: cAssigned}
			}
			m = next
		case x < 47: // allocate exactly a prefix
			p, space := m.somePrefix(rng)
			q := registry.Request{Prefix: p, Tenant: "t", Space: space}
			next := m.clone()
			want, kind := next.allocateAt(now, p, space)
			desc := fmt.Sprintf("%d: allocate exactly %s in space %q at %s -> model %v", step, p, space, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error {
				got, err := e.reg.Allocate(e.ctx, q)
				if err == nil {
					if len(got) != 1 || got[0].Prefix != p || got[0].Pool != next.pools[want.pool].prefix {
						t.Fatalf("%s: got %v, model %s in pool %s", desc, got, p, next.pools[want.pool].prefix)
					}
					delete(next.assigns, -1)
					next.assigns[got[0].ID] = massign{id: got[0].ID, prefix: p, pool: want.pool, state: cAssigned}
				}
				return err
			})
			stats["allocate exactly "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 53: // reserve
			p, space := m.somePrefix(rng)
			spec := registry.ReservationSpec{Prefix: p, Reason: "gateways", Space: space}
			var until time.Time
			if rng.IntN(2) == 0 {
				until = now.Add(time.Duration(1+rng.IntN(10)) * time.Minute)
				spec.Until = &until
			}
			next := m.clone()
			kind := next.reserve(now, p, until, space)
			desc := fmt.Sprintf("%d: reserve %s in space %q until %v at %s -> model %v", step, p, space, until, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error { _, err := e.reg.Reserve(e.ctx, spec); return err })
			stats["reserve "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 57: // unreserve, mostly one that exists
			p, space := m.somePrefix(rng)
			if len(m.res) > 0 && rng.IntN(4) > 0 {
				v := m.res[rng.IntN(len(m.res))]
				p, space = v.prefix, m.pools[v.pool].space
				if rng.IntN(3) == 0 {
					space = ""
				}
			}
			next := m.clone()
			kind := next.unreserve(now, p, space)
			desc := fmt.Sprintf("%d: unreserve %s in space %q at %s -> model %v", step, p, space, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error { _, err := e.reg.UnreserveIn(e.ctx, p, space); return err })
			stats["unreserve "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 62: // carve a child pool, now and then under a name in use
			spec := registry.ChildPoolSpec{Name: fmt.Sprint("c", step), Region: []string{"east", "east", "south"}[rng.IntN(3)], Family: 4, Bits: 24 + rng.IntN(9), Tenant: "t",
				Space: []string{"", "", "vpc-b"}[rng.IntN(3)]}
			if names := m.childNames(); len(names) > 0 && rng.IntN(6) == 0 {
				spec.Name = names[rng.IntN(len(names))]
			}
			if rng.IntN(12) == 0 {
				spec.Family, spec.Bits = 6, 56+rng.IntN(20) // longer than a /64, or shorter than every IPv6 pool
			}
			next := m.clone()
			_, kind := next.carve(now, spec)
			desc := fmt.Sprintf("%d: carve child pool %s IPv%d /%d in %s space %q at %s -> model %v", step, spec.Name, spec.Family, spec.Bits, spec.Region, spec.Space, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error {
				got, err := e.reg.AllocatePool(e.ctx, spec)
				if err == nil {
					if want := next.pools[len(next.pools)-1]; got.Prefix != want.prefix || got.Name != spec.Name || got.Space != want.space {
						t.Fatalf("%s: got %s %s, the rule carves %s", desc, got.Name, got.Prefix, want.prefix)
					}
				}
				return err
			})
			stats["carve "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 70: // allocate inside a child pool
			names := m.childNames()
			if len(names) == 0 {
				continue
			}
			q := registry.Request{Pool: names[rng.IntN(len(names))], Family: 4, Count: 1 + rng.IntN(3), Tenant: "t"}
			c := m.childByName(q.Pool)
			q.Bits = m.pools[c].prefix.Bits() + rng.IntN(33-m.pools[c].prefix.Bits())
			switch rng.IntN(15) {
			case 0:
				q.Pool = "nosuch"
			case 1:
				q.Bits = m.pools[c].prefix.Bits() - 1 // shorter than the child pool
			case 2:
				q.Family, q.Bits = 6, 128
			case 3, 4:
				q.Space = []string{"vpc-b", registry.PrivateSpace}[rng.IntN(2)] // its own, or not
			}
			next := m.clone()
			want, kind := next.allocateIn(now, q)
			desc := fmt.Sprintf("%d: allocate %d /%d in child pool %s at %s -> model %v", step, q.Count, q.Bits, q.Pool, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error {
				got, err := e.reg.Allocate(e.ctx, q)
				if err != nil {
					return err
				}
				if len(got) != len(want) {
					t.Fatalf("%s: got %d assignments, model %d", desc, len(got), len(want))
				}
				for id := range next.assigns {
					if id < 0 {
						delete(next.assigns, id)
					}
				}
				for i, a := range got {
					if a.Prefix != want[i].prefix || a.PoolID == 0 || a.Pool != next.pools[want[i].pool].prefix {
						t.Fatalf("%s: assignment %d is %s in pool %s; the rule picks %s", desc, i+1, a.Prefix, a.Pool, want[i].prefix)
					}
					next.assigns[a.ID] = massign{id: a.ID, prefix: a.Prefix, pool: want[i].pool, state: cAssigned}
				}
				return nil
			})
			stats["allocate in child "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 73: // dissolve a child pool: refused while it holds anything
			names := append(m.childNames(), "nosuch")
			name := names[rng.IntN(len(names))]
			next := m.clone()
			kind := next.dissolve(now, name)
			desc := fmt.Sprintf("%d: release child pool %s at %s -> model %v", step, name, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			e.checkStep(desc, kind, func() error { _, err := e.reg.ReleasePool(e.ctx, name, nil); return err })
			stats["release child pool "+kind.String()]++
			if kind == kindOK {
				m = next
			}
		case x < 88: // release
			ids := slices.Sorted(maps.Keys(m.assigns))
			if len(ids) == 0 {
				continue
			}
			id := ids[rng.IntN(len(ids))]
			var target registry.Target
			var byPrefix netip.Prefix
			if rng.IntN(2) == 0 {
				target.ID = id
			} else {
				target.Prefix, byPrefix = m.assigns[id].prefix, m.assigns[id].prefix
				if rng.IntN(2) == 0 {
					target.Space = m.pools[m.assigns[id].pool].space
				}
			}
			var quarantine time.Duration
			if rng.IntN(10) < 5 {
				quarantine = time.Duration(1+rng.IntN(10)) * time.Minute
			}
			next := m.clone()
			_, kind := next.release(now, id, byPrefix, target.Space, quarantine)
			desc := fmt.Sprintf("%d: release %s (id %d, %s) quarantine %s at %s -> model %v", step, target, id, m.assigns[id].prefix, quarantine, now.Format(time.TimeOnly), kind)
			log = append(log, desc)
			var before string // read only where the model expects a failure
			if kind != kindOK {
				before = snapshot(t, e.ctx, e.store, e.clock.Now())
			}
			a, err := e.reg.Release(e.ctx, target, quarantine, nil)
			if !kind.matches(err) {
				t.Fatalf("%s: model expects %v, got %v", desc, kind, err)
			}
			stats["release "+kind.String()]++
			if kind != kindOK {
				if snapshot(t, e.ctx, e.store, e.clock.Now()) != before {
					t.Fatalf("%s: failed release %v committed a change", desc, err)
				}
				break
			}
			if a.ID != id {
				t.Fatalf("%s: released assignment %d", desc, a.ID)
			}
			m = next
		default: // time passes
			d := time.Duration(10+rng.IntN(170)) * time.Second
			log = append(log, fmt.Sprintf("%d: advance %s", step, d))
			e.clock.Advance(d)
			stats["advance"]++
		}
		m.compare(t, e, CheckInvariants(t, e.ctx, e.store, e.reg, e.clock.Now()))
	}
	rels, kids := 0, 0
	for _, p := range m.pools {
		if p.parent >= 0 {
			rels++
		}
		if p.childOf > 0 {
			kids++
		}
	}
	t.Logf("seed %d: %d relocations, %d child pools, %v", seed, rels, kids, stats)
}

// childNames lists the model's live child pools, in the order made.
func (m *model) childNames() []string {
	var out []string
	for _, p := range m.pools {
		if p.childOf > 0 && !p.gone {
			out = append(out, p.name)
		}
	}
	return out
}

// checkStep runs op, which the model expects to end as kind; a failure
// must leave the store as it was.
func (e *modelEnv) checkStep(desc string, kind errKind, op func() error) {
	e.t.Helper()
	var before string
	if kind != kindOK {
		before = snapshot(e.t, e.ctx, e.store, e.clock.Now())
	}
	err := op()
	if !kind.matches(err) {
		e.t.Fatalf("%s: model expects %v, got %v", desc, kind, err)
	}
	if kind != kindOK && snapshot(e.t, e.ctx, e.store, e.clock.Now()) != before {
		e.t.Fatalf("%s: failed step %v committed a change", desc, err)
	}
}

// modelEnv is one registry, on its own clock, over a fresh store.
type modelEnv struct {
	t     testing.TB
	ctx   context.Context
	store registry.Store
	reg   *registry.Registry
	clock *clock
}

func newModelEnv(t *testing.T, open Open) *modelEnv {
	st := open(t)
	t.Cleanup(func() { st.Close() })
	c := &clock{now: time.Date(2014, 3, 1, 12, 0, 0, 0, time.UTC)}
	return &modelEnv{t: t, ctx: context.Background(), store: st, reg: registry.New(st, registry.WithClock(c.Now)), clock: c}
}

// standard builds two regions: east (IPv4 10.0.0.0/24 + 10.0.1.0/26, IPv6
// fd00::/120) may borrow from south (IPv4 10.0.2.0/23, IPv6 fd00::100/120)
// in units of /borrowBits; south may not borrow. With vpcB, the named
// space vpc-b holds the same 10.0.0.0/16 and pools in it (standardPools);
// without it, the private space alone (the transfer tests add their own).
func (e *modelEnv) standard(borrowBits int, vpcB bool) {
	e.t.Helper()
	south, err := registry.ParseBorrowPolicy("south")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, spec := range []registry.RegionSpec{{Name: "south"}, {Name: "east", Borrow: south, BorrowBits: borrowBits}} {
		spec.Location = location.Location{Country: "US", Subdivision: "US-VA"}
		if _, err := e.reg.AddRegion(e.ctx, spec); err != nil {
			e.t.Fatalf("add region %s: %v", spec.Name, err)
		}
	}
	blocks := []registry.Block{{Prefix: mp("10.0.0.0/16")}, {Prefix: mp("fd00::/64")}}
	if vpcB {
		if _, err := e.reg.AddSpace(e.ctx, registry.Space{Name: "vpc-b"}); err != nil {
			e.t.Fatal(err)
		}
		blocks = append(blocks, registry.Block{Prefix: mp("10.0.0.0/16"), Space: "vpc-b"})
	}
	for _, b := range blocks {
		b.Source = registry.SourcePrivate
		if _, err := e.reg.AddBlock(e.ctx, b); err != nil {
			e.t.Fatalf("add block %s: %v", b.Prefix, err)
		}
	}
	for _, p := range standardPools {
		if p.space == "vpc-b" && !vpcB {
			continue
		}
		if _, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: mp(p.prefix), Region: p.region, UseAll: p.useAll, Space: p.space}); err != nil {
			e.t.Fatalf("add pool %s: %v", p.prefix, err)
		}
	}
}

// standardPools are the pools of standard: each IPv4 pool of east and
// south and east's IPv6 pool keep back what the address policy says;
// east's 10.0.4.0/28 hands out every address (a NAT pool). They are in the
// built-in private space; the named space vpc-b holds the same 10.0.0.0/16
// and pools on the same prefixes (east 10.0.0.0/24 beside the private
// one's, south 10.0.2.0/25 inside the private 10.0.2.0/23): no overlap
// within a space, any across.
var standardPools = []struct {
	prefix, region string
	useAll         bool
	space          string
}{
	{"10.0.0.0/24", "east", false, registry.PrivateSpace}, {"10.0.1.0/26", "east", false, registry.PrivateSpace}, {"fd00::/120", "east", false, registry.PrivateSpace},
	{"10.0.2.0/23", "south", false, registry.PrivateSpace}, {"fd00::100/120", "south", false, registry.PrivateSpace}, {"10.0.4.0/28", "east", true, registry.PrivateSpace},
	{"10.0.0.0/24", "east", false, "vpc-b"}, {"10.0.2.0/25", "south", true, "vpc-b"},
}

// clock is a registry clock tests advance by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// snapshot is what the registry keeps, read through Tx, as text: two equal
// snapshots taken at registry time now prove that nothing changed in
// between, on any store (released assignments and older events are left
// out: every change writes an event at now).
func snapshot(t testing.TB, ctx context.Context, st registry.Store, now time.Time) string {
	t.Helper()
	var out struct {
		Regions      []registry.Region
		Blocks       []registry.Block
		Pools        []registry.Pool
		Free         map[int64][]netip.Prefix
		Relocations  []registry.Relocation
		Reservations []registry.Reservation
		Assignments  []registry.Assignment
		Events       []registry.Event
	}
	err := st.View(ctx, func(tx registry.Tx) error {
		var err error
		if out.Regions, err = tx.Regions(ctx); err != nil {
			return err
		}
		if out.Blocks, err = tx.Blocks(ctx); err != nil {
			return err
		}
		if out.Pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
			return err
		}
		out.Free = map[int64][]netip.Prefix{}
		for _, p := range out.Pools {
			if out.Free[p.ID], err = tx.FreeOfPool(ctx, p.ID); err != nil {
				return err
			}
		}
		if out.Relocations, err = tx.Relocations(ctx); err != nil {
			return err
		}
		if out.Reservations, err = tx.Reservations(ctx); err != nil {
			return err
		}
		live := registry.AssignmentFilter{States: []registry.State{registry.StateAssigned, registry.StateQuarantined}}
		if out.Assignments, err = tx.Assignments(ctx, live); err != nil {
			return err
		}
		// Every change writes an event at the registry's time: those of
		// now stand for every change the step could have made.
		out.Events, err = tx.Events(ctx, registry.EventFilter{Since: now})
		return err
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
