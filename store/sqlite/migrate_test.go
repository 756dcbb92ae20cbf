package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// TestTenantMigration: a register made before tenants existed upgrades
// with every tenant its assignments and tokens name made a tenant with no
// name limit (".") and no quota, its use counted, each logged by actor
// "migration"; allocating for them then works as before.
func TestTenantMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 255, 255, 255}}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 255}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at) VALUES (1, '10.0.0.0/30', 4, ?, ?, 30, 'assigned', 'old', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 3}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at, quarantine_until) VALUES (1, '10.0.0.4/32', 4, ?, ?, 32, 'quarantined', 'old', 0, 1)`, []any{[]byte{10, 0, 0, 4}, []byte{10, 0, 0, 4}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at) VALUES (1, '10.0.0.8/32', 4, ?, ?, 32, 'released', 'gone', 0)`, []any{[]byte{10, 0, 0, 8}, []byte{10, 0, 0, 8}}},
		{`INSERT INTO tokens (id, scope, tenant, mac, created_at, created_by) VALUES ('t1', 'allocate', 'tok', x'00', 0, 'test')`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.MigratedTenants(t, s)
}

// TestChildPoolUseMigration: migration 17 counts child pools carved
// before it against their tenants (storetest.ChildPoolUseMigration).
func TestChildPoolUseMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goTo := func(t *testing.T, version int64) (v4, v6 int64) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, version); err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, version); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT used_ipv4, used_ipv6 FROM tenants WHERE name = 'q'`).Scan(&v4, &v6); err != nil {
			t.Fatal(err)
		}
		return v4, v6
	}
	storetest.ChildPoolUseMigration(t, open, goTo)
}

// TestCountersMigration: migration 20 counts the assignments of a
// register made by a build that had migration 21 and not 20 (applied out
// of order: storetest.CountersMigration).
func TestCountersMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.CountersMigration(t, open, func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 19); err != nil {
			t.Fatal(err)
		}
		if _, err := p.ApplyVersion(ctx, 21, true); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSpacePerObjectMigration: migration 18 gives rows made before it
// their block's space (storetest.SpacePerObjectMigration).
func TestSpacePerObjectMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goTo := func(t *testing.T, version int64, query string) []string {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, version); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		return storetest.Rows(t, db, query)
	}
	storetest.SpacePerObjectMigration(t, open, goTo)
}

// TestCompactEventsMigration: migration 27 rewrites the payloads of the
// events stored before it in the compact encoding (those the registry
// wrote; JSON in another form stays TEXT), every reader gets the same
// JSON back, the log is append-only again after it, and down gives the
// TEXT back.
func TestCompactEventsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "e.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 25); err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	for _, e := range storetest.OldEvents {
		if _, err := db.ExecContext(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after) VALUES (1, 'old', 'x', ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''))`,
			e.Kind, e.ID, e.Subject, e.Before, e.After); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckOldEvents(t, s, before)
	s.Close()
	kinds := `SELECT typeof(before), typeof(after) FROM events WHERE seq > ` + fmt.Sprint(before) + ` ORDER BY seq`
	want := []string{"null blob", "blob blob", "null blob", "null text", "blob null", "null null"}
	if got := storetest.Rows(t, db, kinds); !slices.Equal(got, want) {
		t.Errorf("stored payloads %q, want %q", got, want)
	}
	if _, err := db.ExecContext(ctx, `UPDATE events SET actor = 'mallory'`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE events after the migration: %v, want refused as append-only", err)
	}
	if _, err := p.DownTo(ctx, 26); err != nil {
		t.Fatal(err)
	}
	want = []string{"null text", "text text", "null text", "null text", "text null", "null null"}
	if got := storetest.Rows(t, db, kinds); !slices.Equal(got, want) {
		t.Errorf("stored payloads after down %q, want %q", got, want)
	}
	if s, err = Open(ctx, path, Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckOldEvents(t, s, before)
}

// TestSuffixIndexMigration: migration 00034 indexes the suffixes of the
// tenants a register holds (storetest.SuffixIndexMigration).
func TestSuffixIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, path, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.SuffixIndexMigration(t, open, func(t *testing.T) {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ApplyVersion(ctx, 34, false); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPartialTenantIndexMigration: a register made before 00040 keeps its
// tenanted assignments in assignments_tenant, now partial (its tenant not empty),
// and drops its untenanted ones from it; a page of a tenant and the page
// of the untenanted still list exactly theirs, and an allocation after
// the migration joins the right one.
func TestPartialTenantIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 34); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 255, 255, 255}}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 255}}},
		{`INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (1, 4, 25, ?, 1)`, []any{[]byte{10, 0, 0, 128}}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, created_at) VALUES (1, 1, 4, ?, ?, 32, 'assigned', 'acme', 0)`, []any{[]byte{10, 0, 0, 1}, []byte{10, 0, 0, 1}}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, created_at) VALUES (2, 1, 4, ?, ?, 32, 'assigned', '', 0)`, []any{[]byte{10, 0, 0, 2}, []byte{10, 0, 0, 2}}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, created_at, released_at) VALUES (3, 1, 4, ?, ?, 32, 'released', 'acme', 0, 1)`, []any{[]byte{10, 0, 0, 3}, []byte{10, 0, 0, 3}}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, created_at) VALUES (4, 1, 4, ?, ?, 32, 'assigned', '', 0)`, []any{[]byte{10, 0, 0, 4}, []byte{10, 0, 0, 4}}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var def string
	var entries int
	if err := s.rdb.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'assignments_tenant'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "WHERE tenant <> ''") {
		t.Fatalf("assignments_tenant after the migrations: %s", def)
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments INDEXED BY assignments_tenant WHERE tenant <> ''`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 2 {
		t.Fatalf("assignments_tenant holds %d entries, want the 2 tenanted assignments", entries)
	}
	r := registry.New(s)
	if _, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 4, Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 4}); err != nil {
		t.Fatal(err)
	}
	ids := func(tenant string) []int64 {
		t.Helper()
		as, err := r.Assignments(ctx, registry.AssignmentFilter{Tenant: &tenant, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, a := range as {
			if a.Tenant != tenant {
				t.Errorf("page of tenant %q lists %d of tenant %q", tenant, a.ID, a.Tenant)
			}
			out = append(out, a.ID)
		}
		return out
	}
	if got := ids("acme"); !slices.Equal(got, []int64{1, 3, 5}) {
		t.Errorf("acme's assignments: %v, want [1 3 5]", got)
	}
	if got := ids(""); !slices.Equal(got, []int64{2, 4, 6}) {
		t.Errorf("untenanted assignments: %v, want [2 4 6]", got)
	}
}

// TestFreePoolAndChecksMigration: a register at 00040 migrates (00048,
// 00049; 00053 then drops free_pool, TestFreeWithoutPoolIndexMigration); the
// CHECK constraints of assignments, pool_counts and tags are written with OR
// and still refuse a state or kind outside their lists; the file passes
// an integrity check; allocating and a pool's free space read as before;
// both migrations go down again to the IN lists and the whole index.
func TestFreePoolAndChecksMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 40); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 255, 255, 255}}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 255}}},
		{`INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (1, 4, 25, ?, 1)`, []any{[]byte{10, 0, 0, 128}}},
		{`INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (1, 4, 26, ?, 1)`, []any{[]byte{10, 0, 0, 64}}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at) VALUES (1, 1, 4, ?, ?, 26, 'assigned', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 63}}},
		{`INSERT INTO pool_counts (pool_id, kind, bits, day, n) VALUES (1, 'assigned', 26, 0, 1)`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	schema := func(db *sql.DB, name string) string {
		t.Helper()
		var def string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = ?`, name).Scan(&def); err != nil {
			t.Fatal(err)
		}
		return def
	}
	// free_pool's third column (00048) is checked by going down below:
	// 00053 drops the index at the top.
	for _, c := range append(slices.Clone(checkForms), poolKeyForms...) {
		if def := schema(s.rdb, c.table); !strings.Contains(def, c.to) || strings.Contains(def, c.from) {
			t.Errorf("%s after the migrations: %s", c.table, def)
		}
	}
	var check string
	if err := s.rdb.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q, %v", check, err)
	}
	r := registry.New(s)
	got, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 26})
	if err != nil {
		t.Fatal(err)
	}
	if want := "10.0.0.64/26"; len(got) != 1 || got[0].Prefix.String() != want {
		t.Fatalf("allocated %v, want %s (the smallest free prefix)", got, want)
	}
	var free []string
	if err := s.View(ctx, func(tx registry.Tx) error {
		ps, err := tx.FreeOfPool(ctx, 1)
		for _, p := range ps {
			free = append(free, p.String())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(free, []string{"10.0.0.128/25"}) {
		t.Errorf("the pool's free space after the allocation: %v", free)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at) VALUES (9, 1, 4, x'0a0000c8', x'0a0000c8', 32, 'bogus', 0)`,
		`INSERT INTO pool_counts (pool_id, kind, bits, day, n) VALUES (1, 'bogus', 32, 0, 1)`,
		`INSERT INTO tags (kind, object_id, key, value) VALUES ('bogus', 1, 'k', 'v')`,
	} {
		if _, err := db.ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
			t.Errorf("%s: %v, want a CHECK constraint failure", q, err)
		}
	}
	p, err = goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 40); err != nil {
		t.Fatal(err)
	}
	if def := schema(db, "free_pool"); strings.Contains(def, "bits") {
		t.Errorf("free_pool after going down: %s", def)
	}
	for _, c := range append(slices.Clone(checkForms), poolKeyForms...) {
		if def := schema(db, c.table); !strings.Contains(def, c.from) || strings.Contains(def, c.to) {
			t.Errorf("%s after going down: %s", c.table, def)
		}
	}
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check after going down: %q, %v", check, err)
	}
}

// TestFreeWithoutPoolIndexMigration: a register at 00049 with free space in
// two pools of one region and in a child pool's scope (the pool's negated
// ID) migrates (00053 drops free_pool); each pool's free prefixes, those
// within a prefix, and a child pool's dissolution read and delete exactly
// that pool's rows through the free table's key; the file passes an
// integrity check; going down brings free_pool back with every row.
func TestFreeWithoutPoolIndexMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 49); err != nil {
		t.Fatal(err)
	}
	ip := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, []any{ip("10.0.0.0"), ip("10.255.255.255")}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{ip("10.0.0.0"), ip("10.0.0.255")}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at, child_of, name) VALUES (2, '10.0.0.0/26', 4, ?, ?, 26, 1, 1, 0, 1, 'kid')`, []any{ip("10.0.0.0"), ip("10.0.0.63")}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (3, '10.0.1.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{ip("10.0.1.0"), ip("10.0.1.255")}},
		{`INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (1, 4, 25, ?, 1), (1, 4, 26, ?, 1), (-2, 4, 27, ?, 2), (-2, 4, 28, ?, 2), (1, 4, 24, ?, 3)`,
			[]any{ip("10.0.0.128"), ip("10.0.0.64"), ip("10.0.0.0"), ip("10.0.0.48"), ip("10.0.1.0")}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'free_pool'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("free_pool after the migrations: %d, %v", n, err)
	}
	strs := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.String())
		}
		return out
	}
	within := func(tx registry.Tx, pool int64, p string) []string {
		t.Helper()
		fs, err := tx.FreeWithin(ctx, pool, netip.MustParsePrefix(p))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			if f.PoolID != pool {
				t.Errorf("FreeWithin(%d, %s): %v is pool %d's", pool, p, f.Prefix, f.PoolID)
			}
			out = append(out, fmt.Sprintf("%s@%d", f.Prefix, f.RegionID))
		}
		slices.Sort(out)
		return out
	}
	if err := s.View(ctx, func(tx registry.Tx) error {
		for _, c := range []struct {
			pool int64
			want []string
		}{
			{1, []string{"10.0.0.64/26", "10.0.0.128/25"}},
			{2, []string{"10.0.0.0/27", "10.0.0.48/28"}},
			{3, []string{"10.0.1.0/24"}},
			{4, nil},
		} {
			got, err := tx.FreeOfPool(ctx, c.pool)
			if err != nil {
				return err
			}
			if !slices.Equal(strs(got), c.want) {
				t.Errorf("FreeOfPool(%d) = %v, want %v", c.pool, strs(got), c.want)
			}
		}
		for _, c := range []struct {
			pool int64
			p    string
			want []string
		}{
			{1, "10.0.0.200/32", []string{"10.0.0.128/25@1"}},
			{1, "10.0.0.0/24", []string{"10.0.0.128/25@1", "10.0.0.64/26@1"}},
			{1, "10.0.0.96/27", []string{"10.0.0.64/26@1"}},
			{1, "10.0.0.0/27", nil},
			{2, "10.0.0.50/31", []string{"10.0.0.48/28@-2"}},
			{2, "10.0.0.0/26", []string{"10.0.0.0/27@-2", "10.0.0.48/28@-2"}},
			{3, "10.0.0.0/24", nil},
			{3, "10.0.1.7/32", []string{"10.0.1.0/24@1"}},
		} {
			if got := within(tx, c.pool, c.p); !slices.Equal(got, c.want) {
				t.Errorf("FreeWithin(%d, %s) = %v, want %v", c.pool, c.p, got, c.want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx registry.Tx) error {
		return tx.DissolvePool(ctx, 2, time.Unix(1, 0))
	}); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, err := s.rdb.QueryContext(ctx, `SELECT pool_id || ':' || bits FROM free ORDER BY pool_id, bits`)
	left, err = collect(rows, err, func(rows rowscan.Scanner) (string, error) {
		var v string
		return v, rows.Scan(&v)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pools 1 and 3 hold their free space as frontiers since 00071 (their
	// top rows were a frontier's shape): no row is left, and their
	// frontiers are.
	if len(left) != 0 {
		t.Errorf("free after dissolving pool 2: %v, want none", left)
	}
	rows, err = s.rdb.QueryContext(ctx, `SELECT pool_id || ':' || hex(below) FROM pool_frontier ORDER BY pool_id`)
	fronts, err := collect(rows, err, func(rows rowscan.Scanner) (string, error) {
		var v string
		return v, rows.Scan(&v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1:0A00003F", "3:0A0000FF"}; !slices.Equal(fronts, want) {
		t.Errorf("frontiers after dissolving pool 2: %v, want %v", fronts, want)
	}
	if err := s.View(ctx, func(tx registry.Tx) error {
		for pool, want := range map[int64][]string{1: {"10.0.0.64/26", "10.0.0.128/25"}, 3: {"10.0.1.0/24"}} {
			got, err := tx.FreeOfPool(ctx, pool)
			if err != nil {
				return err
			}
			if !slices.Equal(strs(got), want) {
				t.Errorf("FreeOfPool(%d) after dissolving pool 2 = %v, want %v", pool, strs(got), want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var check string
	if err := s.rdb.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q, %v", check, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err = goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 49); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM free INDEXED BY free_pool WHERE pool_id = 1`).Scan(&n); err != nil || n != 2 {
		t.Errorf("free_pool after going down holds %d of pool 1's 2 free prefixes (%v)", n, err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check after going down: %q, %v", check, err)
	}
}

// TestTagPoolBackfillMigration: 00057 gives the tags of the assignments
// already stored their assignment's pool (and the tags of other objects
// none), and going down drops the column, its index and its triggers.
func TestTagPoolBackfillMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 56); err != nil {
		t.Fatal(err)
	}
	ip := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, ?, ?, 8, 'private', 0)`, []any{ip("10.0.0.0"), ip("10.255.255.255")}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{ip("10.0.0.0"), ip("10.0.0.255")}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (2, '10.0.1.0/24', 4, ?, ?, 24, 1, 1, 0)`, []any{ip("10.0.1.0"), ip("10.0.1.255")}},
		{`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at) VALUES (7, 1, 4, ?, ?, 32, 'assigned', 0), (8, 2, 4, ?, ?, 32, 'assigned', 0)`,
			[]any{ip("10.0.0.1"), ip("10.0.0.1"), ip("10.0.1.1"), ip("10.0.1.1")}},
		{`INSERT INTO tags (kind, object_id, key, value) VALUES ('assignment', 7, 'env', 'a'), ('assignment', 7, 'team', 'b'), ('assignment', 8, 'env', 'a'), ('pool', 2, 'env', 'a')`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
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
	if want := []string{"assignment 7 env: 1", "assignment 7 team: 1", "assignment 8 env: 2", "pool 2 env: none"}; !slices.Equal(got, want) {
		t.Errorf("tags after 00057: %v, want %v", got, want)
	}
	if err := s.View(ctx, func(tx registry.Tx) error {
		as, err := tx.Assignments(ctx, registry.AssignmentFilter{RegionID: 1, Tags: registry.Tags{"env": "a"}, Limit: 10})
		if err != nil {
			return err
		}
		if len(as) != 2 || as[0].ID != 7 || as[1].ID != 8 {
			t.Errorf("env=a in region 1: %+v, want assignments 7 and 8", as)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err = goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 56); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name IN ('tags_pool_match', 'tags_pool_insert', 'tags_pool_update', 'assignments_tags_pool')
		OR sql LIKE '%pool_id%' AND name = 'tags'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after going down: %d of 00057's objects left (%v)", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tags`).Scan(&n); err != nil || n != 4 {
		t.Errorf("after going down: %d tags, want 4 (%v)", n, err)
	}
}

// TestAssignmentsAtAndCountsMarkMigration: 00058 replaces the indexes of
// assignments by address (assignments_all_first, the unique
// assignments_live) with one by space and address, and 00059 marks every
// row as counted. On a register at 00057 with one address held in two
// spaces (live in each, released before in one): the look-ups by address
// across spaces and within one answer as before; a second live row at a
// live row's address, or a released row made live over one, is refused;
// a row written after the mark without its counters (the tail) is in
// Usage; going down to 00057 brings both indexes back and counts the tail
// into pool_counts. Fails on main (neither migration exists there).
func TestAssignmentsAtAndCountsMarkMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawAt(t, path, 57)
	ip := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	exec := func(db *sql.DB, q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(db, `INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`)
	exec(db, `INSERT INTO spaces (name, created_at) VALUES ('vpc', 0)`)
	for i, sp := range []string{"global", "vpc"} {
		id := i + 1
		exec(db, `INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at, space) VALUES (?, '10.0.0.0/16', 4, ?, ?, 16, 'private', 0, ?)`,
			id, ip("10.0.0.0"), ip("10.0.255.255"), sp)
		exec(db, `INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at, space) VALUES (?, '10.0.0.0/24', 4, ?, ?, 24, ?, 1, 0, ?)`,
			id, ip("10.0.0.0"), ip("10.0.0.255"), id, sp)
	}
	// 10.0.0.0/30 live in both spaces, released before in the global one;
	// 10.0.0.8/29 live in the global space.
	exec(db, `INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at, released_at, space) VALUES
		(1, 1, 4, ?1, ?2, 30, 'released', 0, 5, 'global'), (2, 1, 4, ?1, ?2, 30, 'assigned', 10, NULL, 'global'),
		(3, 2, 4, ?1, ?2, 30, 'assigned', 10, NULL, 'vpc'), (4, 1, 4, ?3, ?4, 29, 'assigned', 10, NULL, 'global')`,
		ip("10.0.0.0"), ip("10.0.0.3"), ip("10.0.0.8"), ip("10.0.0.15"))
	exec(db, `INSERT INTO pool_counts (pool_id, kind, bits, day, n) VALUES (1, 'created', 30, 0, 2), (1, 'assigned', 30, 0, 1),
		(2, 'created', 30, 0, 1), (2, 'assigned', 30, 0, 1), (1, 'created', 29, 0, 1), (1, 'assigned', 29, 0, 1)`)
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var names string
	var through int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT group_concat(name, ' '), (SELECT through FROM pool_counts_mark) FROM (
		SELECT name FROM sqlite_master WHERE tbl_name = 'assignments' AND name IN ('assignments_at', 'assignments_live', 'assignments_all_first', 'assignments_live_again') ORDER BY name)`).Scan(&names, &through); err != nil {
		t.Fatal(err)
	}
	if names != "assignments_at assignments_live_again" || through != 4 {
		t.Errorf("after 00059: %q, mark at %d; want assignments_at assignments_live_again, 4", names, through)
	}
	ids := func(as []registry.Assignment) (out []int64) {
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	mp := netip.MustParsePrefix
	if err := s.View(ctx, func(tx registry.Tx) error {
		for _, c := range []struct {
			f    registry.AssignmentFilter
			want []int64
		}{
			{registry.AssignmentFilter{Contains: mp("10.0.0.1/32")}, []int64{1, 2, 3}},
			{registry.AssignmentFilter{Contains: mp("10.0.0.9/32")}, []int64{4}},
			{registry.AssignmentFilter{Within: mp("10.0.0.0/28")}, []int64{1, 2, 3, 4}},
			{registry.AssignmentFilter{Within: mp("10.0.0.8/29")}, []int64{4}},
			{registry.AssignmentFilter{Family: 4, Limit: 10}, []int64{1, 2, 3, 4}},
		} {
			as, err := tx.Assignments(ctx, c.f)
			if err != nil {
				return err
			}
			if !slices.Equal(ids(as), c.want) {
				t.Errorf("Assignments(%+v) = %v, want %v", c.f, ids(as), c.want)
			}
		}
		for _, c := range []struct {
			space, p string
			want     []int64
		}{{"global", "10.0.0.2/32", []int64{1, 2}}, {"vpc", "10.0.0.0/24", []int64{3}}, {"vpc", "10.0.0.8/29", nil}} {
			as, err := tx.AssignmentsAt(ctx, c.space, mp(c.p))
			if err != nil {
				return err
			}
			if !slices.Equal(ids(as), c.want) {
				t.Errorf("AssignmentsAt(%s, %s) = %v, want %v", c.space, c.p, ids(as), c.want)
			}
		}
		for _, c := range []struct {
			space, p string
			want     int64
		}{{"global", "10.0.0.3/32", 2}, {"vpc", "10.0.0.1/32", 3}, {"vpc", "10.0.0.9/32", 0}, {"global", "10.0.0.12/30", 4}} {
			a, _, err := tx.LiveAssignment(ctx, c.space, mp(c.p))
			if err != nil {
				return err
			}
			if a.ID != c.want {
				t.Errorf("LiveAssignment(%s, %s) = %d, want %d", c.space, c.p, a.ID, c.want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db = rawAt(t, path, 59)
	for _, q := range []string{
		`INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at, space) VALUES (9, 2, 4, ?1, ?2, 30, 'assigned', 0, 'vpc')`,
		`UPDATE assignments SET state = 'assigned', released_at = NULL WHERE id = 1`,
	} {
		if _, err := db.ExecContext(ctx, q, ip("10.0.0.0"), ip("10.0.0.3")); err == nil || !strings.Contains(err.Error(), "overlaps a live assignment") {
			t.Errorf("%s: %v, want the overlap refused", q, err)
		}
	}
	// A row of the tail: after the mark, in no counter.
	exec(db, `INSERT INTO assignments (id, pool_id, family, first, last, bits, state, created_at, space) VALUES (5, 2, 4, ?, ?, 30, 'assigned', 0, 'vpc')`,
		ip("10.0.0.4"), ip("10.0.0.7"))
	s, err = Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckCounters(t, ctx, s, time.Unix(0, 0))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db.Close()
	db = rawAt(t, path, 57)
	if err := db.QueryRowContext(ctx, `SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master
		WHERE name IN ('assignments_at', 'assignments_live', 'assignments_all_first', 'assignments_live_again', 'pool_counts_mark') ORDER BY name)`).Scan(&names); err != nil {
		t.Fatal(err)
	}
	if names != "assignments_all_first assignments_live" {
		t.Errorf("after going down: %q, want assignments_all_first assignments_live", names)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT n FROM pool_counts WHERE pool_id = 2 AND kind = 'assigned' AND bits = 30 AND day = 0`).Scan(&n); err != nil || n != 2 {
		t.Errorf("pool 2's assigned /30s after going down: %d, %v; want 2 (the tail counted)", n, err)
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity check after going down: %q, %v", check, err)
	}
}

// rawAt opens the register at path without the store, migrated up or
// down to version.
func rawAt(t *testing.T, path string, version int64) *sql.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	now, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now <= version {
		_, err = p.UpTo(ctx, version)
	} else {
		_, err = p.DownTo(ctx, version)
	}
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestJournalPartsMigration: 00063 moves the journal's steps into parts:
// a step written before reads back the same (Journal, and JournalSteps
// with one part a side, an empty side none), a step written after is cut
// into parts, and going down empties the journal (a secondary behind
// takes an AXFR once).
func TestJournalPartsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawAt(t, path, 62)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO dns_zones (id, name, kind, config, serial, created_at) VALUES (1, 'example.test.', 'forward', '{}', 12, 0)`, nil},
		{`INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed, added, created_at) VALUES (1, 10, 11, ?, ?, 5), (1, 11, 12, ?, x'', 6)`,
			[]any{[]byte("removed 10"), []byte("added 11"), []byte("removed 11")}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.Journal(ctx, 1, 10)
	if err != nil || len(ds) != 2 || string(ds[0].Removed) != "removed 10" || string(ds[0].Added) != "added 11" ||
		string(ds[1].Removed) != "removed 11" || len(ds[1].Added) != 0 || ds[1].From != 11 || ds[1].To != 12 {
		t.Fatalf("steps written before 00063 read back as %+v, %v", ds, err)
	}
	steps, err := s.JournalSteps(ctx, 1, 10)
	if err != nil || len(steps) != 2 || steps[0].RemovedParts != 1 || steps[0].AddedParts != 1 || steps[1].RemovedParts != 1 || steps[1].AddedParts != 0 {
		t.Fatalf("steps written before 00063 listed as %+v, %v", steps, err)
	}
	if parts, err := s.JournalParts(ctx, steps[0].ID, 1, 2); err != nil || len(parts) != 1 || string(parts[0]) != "added 11" {
		t.Fatalf("the added part of a step written before: %q, %v", parts, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db = rawAt(t, path, 62)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dns_journal`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after going down: %d journal steps (%v), want none", n, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed, added, created_at) VALUES (1, 12, 13, x'01', x'02', 7)`); err != nil {
		t.Errorf("after going down, a step as 00006 wrote it: %v", err)
	}
}
