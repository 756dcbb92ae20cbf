package sqlite_test

import (
	"context"
	"database/sql"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// freeTailFixture is a store with one region, a /16 block and two /20
// pools, and a read-only handle on its file that sees the raw tables.
type freeTailFixture struct {
	t    *testing.T
	path string
	now  time.Time
	st   *sqlite.Store
	r    *registry.Registry
	raw  *sql.DB
}

func newFreeTail(t *testing.T) *freeTailFixture {
	t.Helper()
	ctx := context.Background()
	f := &freeTailFixture{t: t, path: sqlitetest.Path(t, "freetail.db"), now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	f.st, f.r = f.open()
	mp := netip.MustParsePrefix
	if _, err := f.r.AddRegion(ctx, registry.RegionSpec{Name: "r1", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.0.0/20", "10.0.16.0/20"} {
		if _, err := f.r.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "r1", UseAll: true}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+f.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	f.raw = raw
	t.Cleanup(func() {
		raw.Close()
		f.st.Close()
	})
	return f
}

func (f *freeTailFixture) open() (*sqlite.Store, *registry.Registry) {
	f.t.Helper()
	st, err := sqlite.Open(context.Background(), f.path, sqlite.Options{NoSync: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return st, registry.New(st, registry.WithClock(func() time.Time { return f.now }))
}

// held counts the free rows a live assignment holds (the raw table, as
// freeLive tells them) and the rows of the counters' tail.
func (f *freeTailFixture) held() (rows, tail int64) {
	rows, _, tail = f.heldBy()
	return rows, tail
}

// heldBy is held with the rows held by assignments the counters count
// (at or before the mark), which must be none: free is exact as of the mark.
func (f *freeTailFixture) heldBy() (rows, counted, tail int64) {
	f.t.Helper()
	const heldBy = `SELECT count(*) FROM free f WHERE EXISTS (SELECT 1 FROM assignments h WHERE h.family = f.family AND h.first = f.addr
		AND h.state <> 'released' AND h.pool_id = f.pool_id AND h.bits >= f.bits`
	if err := f.raw.QueryRow(`SELECT (`+heldBy+`)), (`+heldBy+` AND h.id <= (SELECT through FROM pool_counts_mark))),
		(SELECT count(*) FROM assignments WHERE id > (SELECT through FROM pool_counts_mark))`).Scan(&rows, &counted, &tail); err != nil {
		f.t.Fatal(err)
	}
	return rows, counted, tail
}

// check compares the store with its rows (storetest.CheckInvariants: no
// two live assignments overlap, free + live = each pool's size, free
// disjoint from live, counters) and the writer's free list with the table.
func (f *freeTailFixture) check(step string) {
	f.t.Helper()
	ctx := context.Background()
	if _, counted, _ := f.heldBy(); counted != 0 {
		f.t.Errorf("%s: %d free rows held by assignments before the counters' mark", step, counted)
	}
	storetest.CheckInvariants(f.t, ctx, f.st, f.r, f.now)
	if err := f.st.Update(ctx, func(tx registry.Tx) error {
		// The writer's own reads fold first: what they see is the view's.
		if _, _, err := tx.SmallestFree(ctx, 1, 4, 32); err != nil {
			return err
		}
		return sqlite.FreeCacheMatches(ctx, tx)
	}); err != nil {
		f.t.Errorf("%s: %v", step, err)
	}
}

func (f *freeTailFixture) singles(n, bits int) []registry.Assignment {
	f.t.Helper()
	var out []registry.Assignment
	for i := range n {
		as, err := f.r.Allocate(context.Background(), registry.Request{Region: "r1", Family: 4, Bits: bits})
		if err != nil {
			f.t.Fatalf("allocation %d: %v", i, err)
		}
		out = append(out, as...)
	}
	return out
}

// TestFreeTail: a single folded allocation keeps its free row in the
// table (freetail.go); readers leave it out, the writer deletes it before
// anything else reads or writes free or changes assignments, and before
// the counters' mark moves. Each step checks the store against its rows.
// Fails with the fold's held rows kept but freeLive left out of the
// readers (CheckInvariants: free + live > size), without the fold before
// a release (the released prefix's return meets its own held row), and
// the first step fails on main (no row is held there).
func TestFreeTail(t *testing.T) {
	ctx := context.Background()
	f := newFreeTail(t)
	as := f.singles(40, 30)
	rows, tail := f.held()
	if rows == 0 || tail != 40 {
		t.Fatalf("after 40 single allocations: %d free rows held, %d rows in the tail; want some, 40", rows, tail)
	}
	if err := f.st.Update(ctx, func(tx registry.Tx) error {
		n, known := sqlite.FreeHeld(tx)
		if !known || int64(n) != rows {
			t.Errorf("the writer knows %d held rows (%v), the table holds %d", n, known, rows)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.check("singles")

	// Release rows of the tail (some returned at once, merged with their
	// buddies; some quarantined), then take their space again.
	for i, a := range as {
		if i%3 != 0 {
			continue
		}
		q := time.Duration(0)
		if i%2 == 0 {
			q = time.Hour
		}
		if _, err := f.r.Release(ctx, registry.Target{ID: a.ID}, q, nil); err != nil {
			t.Fatalf("release %s: %v", a.Prefix, err)
		}
	}
	f.check("releases")
	f.now = f.now.Add(2 * time.Hour)
	f.singles(5, 30) // an allocation reaps what ended first
	f.check("quarantines ended")
	f.singles(30, 30)
	f.check("space taken again")
	// Past tailMax: the fold deletes the held rows and moves the mark;
	// a prefix released and returned must still be free after it.
	f.singles(140, 32)
	if rows, tail := f.held(); tail >= 140+70 {
		t.Errorf("%d rows in the tail after %d allocations (%d held): no fold", tail, 210, rows)
	}
	f.check("folded")

	// A batch and a specific prefix between singles.
	if _, err := f.r.Allocate(ctx, registry.Request{Region: "r1", Family: 4, Bits: 32, Count: 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Allocate(ctx, registry.Request{Region: "r1", Prefix: netip.MustParsePrefix("10.0.31.0/28")}); err != nil {
		t.Fatal(err)
	}
	f.singles(10, 31)
	f.check("a batch and a specific prefix")
}

// TestFreeTailReopened: fewer than tailMax single allocations, the store
// closed and opened again (its writer knows nothing of the held rows), or
// a second store opened on the file beside the first (the CLI beside
// `serve`): neither hands out a prefix the tail holds, and free space
// agrees with the rows.
func TestFreeTailReopened(t *testing.T) {
	t.Run("folded, then closed", func(t *testing.T) {
		// The last of tailMax allocations folds the tail at its commit:
		// the held rows must go with it, not at the writer's next read
		// of free, which a closed store never makes.
		f := newFreeTail(t)
		as := f.singles(128, 32)
		if _, _, tail := f.heldBy(); tail != 0 {
			t.Fatalf("%d rows in the tail after 128 singles, want a fold", tail)
		}
		if err := f.st.Close(); err != nil {
			t.Fatal(err)
		}
		if _, counted, _ := f.heldBy(); counted != 0 {
			t.Errorf("closed after the fold: %d free rows held by assignments before the counters' mark", counted)
		}
		f.st, f.r = f.open()
		for _, a := range as[:20] {
			if _, err := f.r.Release(context.Background(), registry.Target{ID: a.ID}, 0, nil); err != nil {
				t.Fatalf("release %s: %v", a.Prefix, err)
			}
		}
		f.check("reopened, released")
	})
	for _, beside := range []bool{false, true} {
		name := map[bool]string{false: "reopened", true: "beside"}[beside]
		t.Run(name, func(t *testing.T) {
			f := newFreeTail(t)
			first := f.singles(50, 32)
			if rows, _ := f.held(); rows == 0 {
				t.Fatal("no free row held")
			}
			old, oldR := f.st, f.r
			if beside {
				st2, r2 := f.open()
				defer st2.Close()
				f.st, f.r = st2, r2
			} else {
				if err := f.st.Close(); err != nil {
					t.Fatal(err)
				}
				f.st, f.r = f.open()
			}
			// Its writer knows none of the held rows: releases of rows
			// that hold some come first (each returns its prefix, which
			// meets its own held row unless the rows go before the release).
			// The last ones: the first allocation of a store is not folded.
			for _, a := range first[40:] {
				if _, err := f.r.Release(context.Background(), registry.Target{ID: a.ID}, 0, nil); err != nil {
					t.Fatalf("release %s: %v", a.Prefix, err)
				}
			}
			first = first[:40]
			f.check(name)
			second := f.singles(50, 32)
			seen := map[netip.Prefix]bool{}
			for _, a := range append(first, second...) {
				if seen[a.Prefix] {
					t.Fatalf("%s handed out twice", a.Prefix)
				}
				seen[a.Prefix] = true
			}
			f.check(name + ", then more singles")
			if beside {
				// The first store again: another connection wrote.
				f.st, f.r = old, oldR
				for _, a := range f.singles(20, 32) {
					if seen[a.Prefix] {
						t.Fatalf("%s handed out twice", a.Prefix)
					}
				}
				f.check("the first store again")
			}
		})
	}
}

// TestFreeTailSQLSparesOtherRows: the rows of the tail written by other
// paths (specific prefixes) deleted their free rows
// themselves: freeTailSQL, the fold the writer runs when it does not know
// the held rows, deletes nothing for them, only the single allocations'.
func TestFreeTailSQLSparesOtherRows(t *testing.T) {
	ctx := context.Background()
	f := newFreeTail(t)
	// The batch first: its rows are counted and the mark moved past them.
	if _, err := f.r.Allocate(ctx, registry.Request{Region: "r1", Family: 4, Bits: 32, Count: 20}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.31.0/28", "10.0.2.0/24", "10.0.17.5/32"} {
		if _, err := f.r.Allocate(ctx, registry.Request{Region: "r1", Prefix: netip.MustParsePrefix(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	rw, err := sql.Open("sqlite", "file:"+f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	dump := func() string {
		t.Helper()
		return strings.Join(storetest.Rows(t, rw, `SELECT region_id || ' ' || family || ' ' || bits, hex(addr) || ' ' || pool_id FROM free ORDER BY region_id, family, bits, addr, pool_id`), "\n")
	}
	tailOf := func() int64 {
		var n int64
		if err := rw.QueryRow(`SELECT count(*) FROM assignments WHERE id > (SELECT through FROM pool_counts_mark)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := tailOf(); n < 3 {
		t.Fatalf("%d rows in the tail, want the three specific prefixes at least", n)
	}
	before := dump()
	if _, err := rw.Exec(sqlite.FreeTailSQL); err != nil {
		t.Fatal(err)
	}
	if after := dump(); after != before {
		t.Errorf("freeTailSQL deleted free rows no single allocation held:\nbefore %s\nafter %s", before, after)
	}
	// And with single allocations' held rows beside them, it deletes
	// exactly those.
	f.st, f.r = f.open()
	f.singles(30, 30)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	rows, _ := f.held()
	if rows == 0 {
		t.Fatal("no free row held")
	}
	var n0, n1 int64
	if err := rw.QueryRow(`SELECT count(*) FROM free`).Scan(&n0); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Exec(sqlite.FreeTailSQL); err != nil {
		t.Fatal(err)
	}
	if err := rw.QueryRow(`SELECT count(*) FROM free`).Scan(&n1); err != nil {
		t.Fatal(err)
	}
	if rows2, _ := f.held(); n0-n1 != rows || rows2 != 0 {
		t.Errorf("freeTailSQL deleted %d rows, %d were held, %d are left", n0-n1, rows, rows2)
	}
	f.st, f.r = f.open()
	f.check("after freeTailSQL")
}
