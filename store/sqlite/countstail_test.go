package sqlite_test

import (
	"context"
	"database/sql"
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// TestCountersTail: single allocations write no pool counter (00059):
// their rows form the counters' tail, which every reader adds up, and
// which the writer folds into the counters every so many rows. Through
// rounds of single allocations (past the fold), releases and quarantines
// of rows in the tail and of rows already counted, batches, a pool
// deleted, and the store closed and opened again, the counters answer
// what a count of every row gives (storetest.CheckCounters), and the
// tail stays short. Fails on main: pool_counts_mark does not exist there.
func TestCountersTail(t *testing.T) {
	ctx := context.Background()
	path := sqlitetest.Path(t, "tail.db")
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { return now }
	open := func() (*sqlite.Store, *registry.Registry) {
		st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return st, registry.New(st, registry.WithClock(clock))
	}
	st, r := open()
	mp := netip.MustParsePrefix
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r1", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.0.0/20", "10.0.16.0/20"} {
		if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "r1", UseAll: true}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tail := func() (n, through int64) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM assignments WHERE id > m.through), m.through FROM pool_counts_mark m`).Scan(&n, &through); err != nil {
			t.Fatal(err)
		}
		return n, through
	}
	var sawTail, sawFold bool
	// counted: whether the writer counts the tail itself (its next fold
	// writes those counts, not a count of the rows); seen[v]: a check saw v.
	var seen [2]bool
	counted := func() bool {
		t.Helper()
		var c bool
		if err := st.Update(ctx, func(tx registry.Tx) error {
			c = sqlite.TailCounted(tx)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(step string) {
		t.Helper()
		storetest.CheckCounters(t, ctx, st, now)
		n, through := tail()
		if n > 2*128 {
			t.Errorf("%s: %d rows in the counters' tail", step, n)
		}
		sawTail = sawTail || n > 0
		sawFold = sawFold || through > 0
		c := counted()
		seen[btoi(c)] = true
		if step == "releases" && c {
			t.Errorf("%s: rows of the tail changed state, and the writer still counts the tail itself", step)
		}
	}
	var held []registry.Assignment
	for round := range 3 {
		for i := range 150 {
			as, err := r.Allocate(ctx, registry.Request{Region: "r1", Family: 4, Bits: 30})
			if err != nil {
				t.Fatalf("round %d, allocation %d: %v", round, i, err)
			}
			held = append(held, as...)
			if i%50 == 49 {
				now = now.Add(7 * time.Hour) // rows on several days
				check("singles")
			}
		}
		// Release every third held row, some in the tail, some counted,
		// half of them into quarantine (some ended by the next check).
		var keep []registry.Assignment
		for i, a := range held {
			if i%3 != 0 {
				keep = append(keep, a)
				continue
			}
			q := time.Duration(0)
			if i%2 == 0 {
				q = 5 * time.Hour
			}
			if _, err := r.Release(ctx, registry.Target{ID: a.ID}, q, nil); err != nil {
				t.Fatalf("release %s: %v", a.Prefix, err)
			}
		}
		held = keep
		check("releases")
		if _, err := r.Allocate(ctx, registry.Request{Region: "r1", Family: 4, Bits: 32, Count: 20}); err != nil {
			t.Fatal(err)
		}
		check("a batch")
		now = now.Add(3 * time.Hour)
		check("quarantines ended")
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st, r = open()
		check("opened again")
	}
	defer st.Close()
	if !sawTail || !sawFold || !seen[0] || !seen[1] {
		t.Errorf("tail seen %v, fold seen %v, tail counted by the writer seen %v, by its rows %v: the test missed a path", sawTail, sawFold, seen[1], seen[0])
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
