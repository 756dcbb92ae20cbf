package registry_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2014, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one registry over a fresh SQLite store in t.TempDir().
type env struct {
	t     testing.TB
	ctx   context.Context
	path  string
	store *sqlite.Store
	reg   *registry.Registry
	clock *fakeClock
	raw   *sql.DB
	ver   *sql.Conn // one connection, for PRAGMA data_version
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "cadastre.db"), newClock())
}

// openEnv opens (or reopens) the store at path with NoSync.
func openEnv(t testing.TB, path string, clock *fakeClock) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	ver, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ver.Close() })
	return &env{t: t, ctx: ctx, path: path, store: st, reg: registry.New(st, registry.WithClock(clock.Now)), clock: clock, raw: raw, ver: ver}
}

// version is SQLite's data_version seen from the test's own connection: it
// changes exactly when another connection commits, so an unchanged version
// proves that a failed request committed nothing.
func (e *env) version() int64 {
	e.t.Helper()
	var v int64
	if err := e.ver.QueryRowContext(e.ctx, "PRAGMA data_version").Scan(&v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func (e *env) region(name string, borrow string, bits int) registry.Region {
	e.t.Helper()
	pol, err := registry.ParseBorrowPolicy(borrow)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.reg.AddRegion(e.ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US", Subdivision: "US-VA"}, Borrow: pol, BorrowBits: bits})
	if err != nil {
		e.t.Fatalf("add region %s: %v", name, err)
	}
	return r
}

func (e *env) block(p string) registry.Block {
	e.t.Helper()
	b, err := e.reg.AddBlock(e.ctx, registry.Block{Prefix: mustPrefix(p), Source: registry.SourcePrivate})
	if err != nil {
		e.t.Fatalf("add block %s: %v", p, err)
	}
	return b
}

func (e *env) pool(p, region string) registry.Pool {
	e.t.Helper()
	pl, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: mustPrefix(p), Region: region})
	if err != nil {
		e.t.Fatalf("add pool %s: %v", p, err)
	}
	return pl
}

// standard builds two regions: east (IPv4 10.0.0.0/24 + 10.0.1.0/26, IPv6
// fd00::/120) may borrow from south (IPv4 10.0.2.0/23, IPv6 fd00::100/120)
// in units of /borrowBits; south may not borrow.
func (e *env) standard(borrowBits int) {
	e.t.Helper()
	e.region("south", "none", 0)
	e.region("east", "south", borrowBits)
	e.block("10.0.0.0/16")
	e.block("fd00::/64")
	e.pool("10.0.0.0/24", "east")
	e.pool("10.0.1.0/26", "east")
	e.pool("fd00::/120", "east")
	e.pool("10.0.2.0/23", "south")
	e.pool("fd00::100/120", "south")
}

func (e *env) alloc(q registry.Request) []registry.Assignment {
	e.t.Helper()
	out, err := e.reg.Allocate(e.ctx, q)
	if err != nil {
		e.t.Fatalf("allocate %+v: %v", q, err)
	}
	return out
}

func prefixes(as []registry.Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Prefix.String()
	}
	return out
}

// dump prints every row of every table, so that two dumps compare the
// whole database.
func (e *env) dump() string {
	e.t.Helper()
	var b strings.Builder
	for _, table := range []string{"regions", "blocks", "pools", "relocations", "free", "assignments", "events", "idempotency"} {
		rows, err := e.raw.QueryContext(e.ctx, "SELECT * FROM "+table)
		if err != nil {
			e.t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			e.t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "== %s (%d)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// count returns a number from a raw SQL query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.raw.QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkInvariants verifies, from the store alone, what must always hold:
// no two live assignments overlap (across regions too), each lies inside a
// pool of its region (borrowed ones inside a relocation pool), every free
// list is maximal aligned, inside its pool and disjoint from live
// assignments and lent units, free list + live = size, and the counts of
// Pools agree with the rows. It returns the live assignments it checked.
func checkInvariants(t testing.TB, ctx context.Context, st registry.Store, reg *registry.Registry, now time.Time) []registry.Assignment {
	t.Helper()
	usage, err := reg.Pools(ctx, "")
	if err != nil {
		t.Fatalf("pools: %v", err)
	}
	var live []registry.Assignment
	free := map[int64][]netip.Prefix{}
	err = st.View(ctx, func(tx registry.Tx) error {
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
	// No overlap among live assignments.
	sorted := slices.Clone(live)
	slices.SortFunc(sorted, func(a, b registry.Assignment) int { return prefix.Compare(a.Prefix, b.Prefix) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i-1].Prefix.Overlaps(sorted[i].Prefix) {
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
	lent := map[int64][]netip.Prefix{}
	for _, p := range usage {
		if p.Relocation == nil {
			continue
		}
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
			i, _ := slices.BinarySearchFunc(fl, a.Prefix, prefix.Compare)
			for _, j := range []int{i - 1, i} {
				if j >= 0 && j < len(fl) && fl[j].Overlaps(a.Prefix) {
					t.Fatalf("pool %s: free prefix %s overlaps live assignment %d %s", p.Prefix, fl[j], a.ID, a.Prefix)
				}
			}
		}
	}
	for id, p := range pools {
		c := per[id]
		size := prefix.Size(p.Prefix)
		for _, l := range lent[id] {
			size = size.Sub(prefix.Size(l))
		}
		if p.Size != size {
			t.Fatalf("pool %s: size %s, want %s (less lent units)", p.Prefix, p.Size, size)
		}
		if got := c.freeList.Add(c.assigned).Add(c.quarantined); got != size {
			t.Fatalf("pool %s: free list %s + assigned %s + quarantined %s = %s, want size %s", p.Prefix, c.freeList, c.assigned, c.quarantined, got, size)
		}
		if p.Assigned != c.assigned || p.Quarantined != c.quarantinedLive {
			t.Fatalf("pool %s: Pools says assigned %s quarantined %s, rows say %s and %s", p.Prefix, p.Assigned, p.Quarantined, c.assigned, c.quarantinedLive)
		}
		if got := p.Free.Add(p.Assigned).Add(p.Quarantined); got != p.Size {
			t.Fatalf("pool %s: free %s + assigned %s + quarantined %s != size %s", p.Prefix, p.Free, p.Assigned, p.Quarantined, p.Size)
		}
	}
	return live
}

// freeOf lists a pool's free prefixes as the store keeps them.
func (e *env) freeOf(poolID int64) []netip.Prefix {
	e.t.Helper()
	var free []netip.Prefix
	err := e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		free, err = tx.FreeOfPool(e.ctx, poolID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return free
}
