package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestNameHolderPreparedOnce: the statements an allocation runs, the name
// check of a named one first, keep their prepared program when their
// parameters are bound again (issue 10, bench/README.md, "Session 12:
// SQLite named allocation"). SQLite matches a WHERE term of the shape
// "column <> ?" against a partial index's condition of the same shape
// ("tenant <> ”" of assignments_tenant, 00040) by the bound value, and
// marks the statement to be parsed and planned again at every new binding:
// nameHolder's "tenant <> ?3" made each name check a fresh prepare, the
// 20 % of CPU SQLite named allocation lost in session 9. The program's
// expiry is read through the C API (sqlite3_expired after binding every
// parameter, sqlite3_stmt_status's re-prepare count after a step), on a
// register with every migration, so an index added later with a condition
// that matches a parameter fails here, not only in a benchmark.
//
// The name check's plan is checked too: the assignment branch looks the
// name up in assignments_name, and no step builds a temporary B-tree.
func TestNameHolderPreparedOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "once.db")
	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := queryPlan(ctx, t, conn, nameHolder, "vm-1.bench.example.", "vm-1.bench.example", "bench")
	conn.Close()
	if got := strings.Join(plan, "\n  "); !strings.Contains(got, "SEARCH assignments USING INDEX assignments_name (name=?)") ||
		strings.Contains(got, "TEMP B-TREE") || strings.Contains(got, "SCAN assignments") {
		t.Errorf("name check: plan\n  %s\nwant assignments searched through assignments_name, no scan of assignments, no temporary B-tree", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ name, q string }{
		{"name check", nameHolder},
		{"assignment", insertAssignment},
		{"assignment with its ID", insertWithID},
		{"free prefix searched", smallestFreeSQL},
		{"frontiers of a scope", frontiersOfScopeSQL},
		{"free prefix by key", removeFreeSQL},
		{"free prefix added", addFreeSQL},
		{"free prefixes added", addFrees[1]},
		{"pool counters", upsertCounts[1]},
		{"a tag", insertTagSQL},
	} {
		if n := reprepares(t, path, c.q); n != 0 {
			t.Errorf("%s: prepared again %d times in 3 runs with new bindings (a term compared with a partial index's condition by its bound value?)", c.name, n)
		}
	}
}

// queryPlan is the detail column of EXPLAIN QUERY PLAN q on conn.
// planQuerier is what queryPlan asks: a *sql.DB, *sql.Conn or *sql.Tx.
type planQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryPlan(ctx context.Context, t *testing.T, db planQuerier, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// reprepares prepares q on a read-only connection of its own to the
// database at path and runs it three times, binding every parameter
// again (NULL) each time: the number of times SQLite parsed and planned it
// again. A statement that fails (a NULL in a NOT NULL column) has been
// re-prepared, or not, before it runs, so writes count as well; the
// connection is read-only, so nothing is written.
func reprepares(t *testing.T, path, q string) int {
	t.Helper()
	c := openC(t, path, sqlite3.SQLITE_OPEN_READONLY)
	defer c.close()
	tls := c.tls
	st := c.prepare(q)
	defer sqlite3.Xsqlite3_finalize(tls, st)
	expired := 0
	for range 3 {
		for i := range sqlite3.Xsqlite3_bind_parameter_count(tls, st) {
			sqlite3.Xsqlite3_bind_null(tls, st, i+1)
		}
		if sqlite3.Xsqlite3_expired(tls, st) != 0 {
			expired++
		}
		for sqlite3.Xsqlite3_step(tls, st) == sqlite3.SQLITE_ROW {
		}
		sqlite3.Xsqlite3_reset(tls, st)
	}
	n := int(sqlite3.Xsqlite3_stmt_status(tls, st, sqlite3.SQLITE_STMTSTATUS_REPREPARE, 0))
	if n != expired {
		t.Logf("%q: expired %d times after binding, re-prepared %d times", q, expired, n)
	}
	return max(n, expired)
}

// cConn is a connection of its own to a database file through SQLite's C
// API (modernc's transpiled library), for what database/sql does not show.
type cConn struct {
	t   *testing.T
	tls *libc.TLS
	db  uintptr
	pp  uintptr // room for one pointer, an out parameter
	mem []uintptr
}

// openC opens the database at path with flags (sqlite3_open_v2's).
func openC(t *testing.T, path string, flags int32) *cConn {
	t.Helper()
	c := &cConn{t: t, tls: libc.NewTLS()}
	c.pp = c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_open_v2(c.tls, c.cstring(path), c.pp, flags, 0); rc != sqlite3.SQLITE_OK {
		c.close()
		t.Fatalf("open %s: code %d", path, rc)
	}
	c.db = cPointer(c.pp)
	return c
}

// cstring is s in C memory, freed by close.
func (c *cConn) cstring(s string) uintptr {
	p, err := libc.CString(s)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mem = append(c.mem, p)
	return p
}

// exec runs q (sqlite3_exec).
func (c *cConn) exec(q string) {
	c.t.Helper()
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, c.cstring(q), 0, 0, 0); rc != sqlite3.SQLITE_OK {
		c.t.Fatalf("%s: %s", q, libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)))
	}
}

// prepare prepares q; the caller finalizes it.
func (c *cConn) prepare(q string) uintptr {
	c.t.Helper()
	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, c.cstring(q), -1, c.pp, 0); rc != sqlite3.SQLITE_OK {
		c.t.Fatalf("prepare %q: %s", q, libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)))
	}
	return cPointer(c.pp)
}

func (c *cConn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
	}
	for _, p := range c.mem {
		libc.Xfree(c.tls, p)
	}
	c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	c.tls.Close()
}

// cPointer reads the pointer stored at p, memory of libc's allocator
// (tls.Alloc), outside Go's heap: it never moves, so its address may be
// held as a uintptr.
func cPointer(p uintptr) uintptr {
	return *(*uintptr)(unsafe.Add(unsafe.Pointer(nil), p))
}
