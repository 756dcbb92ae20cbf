package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	msqlite "modernc.org/sqlite"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// tagRegister is a register of two regions: region 1 with pools 1 and 2
// (10.1.0.0/16, 10.2.0.0/16), region 2 with pool 3 (10.3.0.0/16). Pool 3
// holds "others" assignments, then pools 1 and 2 hold mine each, all
// tagged env=x by a plain INSERT (as a script writes them: the trigger
// sets their pool). IDs: pool 3's first, so a tag read in ID order meets
// every one of them before region 1's.
func tagRegister(t *testing.T, others, mine int) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "tags.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ip := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'one', 'US', 0), (2, 'two', 'BR', 0)`)
	exec(`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, ip("10.0.0.0"), ip("10.255.255.255"))
	for _, p := range []struct {
		id, region int64
		prefix     string
	}{{1, 1, "10.1.0.0/16"}, {2, 1, "10.2.0.0/16"}, {3, 2, "10.3.0.0/16"}} {
		pf := netip.MustParsePrefix(p.prefix)
		last := pf.Addr().As4()
		last[2], last[3] = 255, 255
		exec(`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (?, ?, 4, ?, ?, 16, 1, ?, 0)`,
			p.id, p.prefix, pf.Addr().AsSlice(), last[:], p.region)
	}
	// Rows of about 2 KB, one or two a page: each assignment read is a
	// page fetched, so the pages count the rows (rows next to each other
	// on a page are read without a fetch).
	bulk := strings.Repeat("r", 2000)
	id := int64(0)
	add := func(pool int64, n int) {
		for i := range n {
			id++
			a := netip.AddrFrom4([4]byte{10, byte(pool), byte(i >> 8), byte(i)}).AsSlice()
			exec(`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at, resource) VALUES (?, ?, 4, ?, ?, 32, 'assigned', 0, ?)`,
				id, pool, a, a, fmt.Sprintf("%d-%s", id, bulk))
			exec(`INSERT INTO tags (kind, object_id, key, value) VALUES ('assignment', ?, 'env', 'x')`, id)
		}
	}
	add(3, others)
	add(1, mine)
	add(2, mine)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTagInRegionReadsItsPools: a page of a tag in a region reads the
// tag's entries in the region's pools, not the tag's entries of every
// region until the page is full (issue 16: at ten million the page of a
// tag one assignment in a hundred carries read every region's entries of
// it, SQLite's twin of PostgreSQL's 9,247 rows for a page). Counted in
// pages the reader's connection fetched (sqlite3_db_status cache hits and
// misses), whatever SQLite's page cache held.
func TestTagInRegionReadsItsPools(t *testing.T) {
	ctx := context.Background()
	const others, mine, limit = 3000, 20, 10
	s := tagRegister(t, others, mine)
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{conn: conn, stmts: map[string]*sql.Stmt{}}
	defer r.close()
	pages := func() int {
		n := 0
		if err := conn.Raw(func(dc any) error {
			for _, op := range []msqlite.DBStatusOp{msqlite.DBStatusCacheHit, msqlite.DBStatusCacheMiss} {
				cur, _, err := dc.(msqlite.DBStatus).Status(op, false)
				if err != nil {
					return err
				}
				n += cur
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name string
		f    registry.AssignmentFilter
		want []int64
	}{
		{"a tag in a region", registry.AssignmentFilter{RegionID: 1, Tags: registry.Tags{"env": "x"}, Limit: limit},
			[]int64{others + 1, others + 2, others + 3, others + 4, others + 5, others + 6, others + 7, others + 8, others + 9, others + 10}},
		{"a tag in a region, after a cursor", registry.AssignmentFilter{RegionID: 1, Tags: registry.Tags{"env": "x"}, Limit: 3, AfterID: others + mine - 1},
			[]int64{others + mine, others + mine + 1, others + mine + 2}},
		{"a tag in a pool", registry.AssignmentFilter{PoolID: 2, Tags: registry.Tags{"env": "x"}, Limit: 2},
			[]int64{others + mine + 1, others + mine + 2}},
		{"a tag in a region's IPv4 assigned", registry.AssignmentFilter{RegionID: 1, Family: 4, States: []registry.State{registry.StateAssigned},
			Tags: registry.Tags{"env": "x"}, Limit: 1}, []int64{others + 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Twice: the first run prepares the statement (reading the schema).
			var got []registry.Assignment
			n := 0
			for range 2 {
				before := pages()
				if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
				got, err = (&tx{q: &rtx{r: r}}).Assignments(ctx, c.f)
				if _, rerr := conn.ExecContext(ctx, "ROLLBACK"); err != nil || rerr != nil {
					t.Fatal(err, rerr)
				}
				n = pages() - before
			}
			var ids []int64
			for _, a := range got {
				ids = append(ids, a.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Fatalf("page %v, want %v", ids, c.want)
			}
			// A few pages per pool and per row of the page; the other
			// region's 3,000 entries would be thousands.
			if max := 20 * (c.f.Limit + 2); n > max {
				t.Errorf("%d pages fetched for a page of %d (at most %d: the tag's entries of the other region were read)", n, c.f.Limit, max)
			}
		})
	}
}

// TestTagPoolKeptOnEveryWrite: an assignment's tag carries its
// assignment's pool however the row is written (SetTags, a script's
// INSERT without it or with a wrong one, an UPDATE of the row), and the
// tags of other objects carry none.
func TestTagPoolKeptOnEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := tagRegister(t, 2, 2) // assignments 1-2 in pool 3, 3-4 in pool 1, 5-6 in pool 2
	if err := s.Update(ctx, func(rt registry.Tx) error {
		if err := rt.SetTags(ctx, registry.KindAssignment, 5, registry.Tags{"team": "a", "env": "y"}); err != nil {
			return err
		}
		if err := rt.SetTags(ctx, registry.KindPool, 1, registry.Tags{"env": "x"}); err != nil {
			return err
		}
		for _, q := range []string{
			`INSERT INTO tags (kind, object_id, key, value, pool_id) VALUES ('assignment', 3, 'wrong', 'v', 3)`,
			`INSERT INTO tags (kind, object_id, key, value) VALUES ('assignment', 6, 'moved', 'v')`,
			`UPDATE tags SET object_id = 1 WHERE kind = 'assignment' AND object_id = 6 AND key = 'moved'`,
			`UPDATE tags SET pool_id = 2 WHERE kind = 'assignment' AND object_id = 4`,
			`INSERT INTO tags (kind, object_id, key, value, pool_id) VALUES ('region', 2, 'r', 'v', 9)`,
		} {
			if _, err := rt.(*tx).q.exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT kind || ' ' || object_id || ' ' || key || ': ' || coalesce(pool_id, 'none') FROM tags ORDER BY kind, object_id, key`)
	got, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var v string
		return v, r.Scan(&v)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"assignment 1 env: 3", "assignment 1 moved: 3", "assignment 2 env: 3",
		"assignment 3 env: 1", "assignment 3 wrong: 1", "assignment 4 env: 1",
		"assignment 5 env: 2", "assignment 5 team: 2", "assignment 6 env: 2",
		"pool 1 env: none", "region 2 r: 9", // not an assignment's: left as written
	}
	if !slices.Equal(got, want) {
		t.Errorf("tags:\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
