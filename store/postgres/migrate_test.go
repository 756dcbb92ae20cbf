package postgres

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestTenantMigration: as the SQLite store's, on PostgreSQL.
func TestTenantMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 8); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO regions (id, name, country, created_at) VALUES (1, 'r', 'US', 0)`, nil},
		{`INSERT INTO blocks (id, prefix, family, first, last, bits, source, created_at) VALUES (1, '10.0.0.0/8', 4, $1, $2, 8, 'private', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 255, 255, 255}}},
		{`INSERT INTO pools (id, prefix, family, first, last, bits, block_id, region_id, created_at) VALUES (1, '10.0.0.0/24', 4, $1, $2, 24, 1, 1, 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 255}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at) VALUES (1, '10.0.0.0/30', 4, $1, $2, 30, 'assigned', 'old', 0)`, []any{[]byte{10, 0, 0, 0}, []byte{10, 0, 0, 3}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at, quarantine_until) VALUES (1, '10.0.0.4/32', 4, $1, $2, 32, 'quarantined', 'old', 0, 1)`, []any{[]byte{10, 0, 0, 4}, []byte{10, 0, 0, 4}}},
		{`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, created_at) VALUES (1, '10.0.0.8/32', 4, $1, $2, 32, 'released', 'gone', 0)`, []any{[]byte{10, 0, 0, 8}, []byte{10, 0, 0, 8}}},
		{`INSERT INTO tokens (id, scope, tenant, mac, created_at, created_by) VALUES ('t1', 'allocate', 'tok', '\x00'::bytea, 0, 'test')`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.MigratedTenants(t, s)
}

// TestChildPoolUseMigration: as the SQLite store's, on PostgreSQL.
func TestChildPoolUseMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goTo := func(t *testing.T, version int64) (v4, v6 int64) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
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
	dsn := pgtest.FreshSchema(t)
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.CountersMigration(t, open, func(t *testing.T) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
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

// TestSpacePerObjectMigration: as the SQLite store's, on PostgreSQL.
func TestSpacePerObjectMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goTo := func(t *testing.T, version int64, query string) []string {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, version); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		// An assignment's length is its prefix's here (00064), its space
		// its pool's (00078); SQLite keeps the columns.
		query = strings.ReplaceAll(query, "SELECT bits, space FROM assignments", "SELECT masklen(prefix), "+poolSpace+" FROM assignments")
		return storetest.Rows(t, db, query)
	}
	storetest.SpacePerObjectMigration(t, open, goTo)
}

// TestCompactEventsMigration: as the SQLite store's, on PostgreSQL,
// where the payload columns become BYTEA (and TEXT again on down).
func TestCompactEventsMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
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
		if _, err := db.ExecContext(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after) VALUES (1, 'old', 'x', $1, $2, $3, NULLIF($4, ''), NULLIF($5, ''))`,
			e.Kind, e.ID, e.Subject, e.Before, e.After); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckOldEvents(t, s, before)
	s.Close()
	kind := func(col string) string {
		return `CASE WHEN ` + col + ` IS NULL THEN 'null' WHEN pg_typeof(` + col + `) = 'text'::regtype THEN 'text' WHEN get_byte(` + col + `::bytea, 0) = 1 THEN 'encoded' ELSE 'json' END`
	}
	kinds := `SELECT ` + kind("before") + `, ` + kind("after") + ` FROM events WHERE seq > ` + strconv.FormatInt(before, 10) + ` ORDER BY seq`
	want := []string{"null encoded", "encoded encoded", "null encoded", "null json", "encoded null", "null null"}
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
	if s, err = Open(ctx, dsn, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckOldEvents(t, s, before)
}

// TestSpaceNoOverlapCleanupMigration: 00024 drops the assignments branch
// of space_no_overlap() and the index assignments_space_live; named-space
// assignments stay kept apart (by the exclusion constraint, whose index
// now serves the live-assignment look-up), pools, reservations and
// relocations still by the trigger; down to 23 restores both, up again
// removes them.
func TestSpaceNoOverlapCleanupMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(s)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.AddSpace(ctx, registry.Space{Name: "vpc-a"}))
	must(reg.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}))
	must(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"}))
	must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "r", UseAll: true}))
	must(reg.Allocate(ctx, registry.Request{Prefix: netip.MustParsePrefix("10.1.0.0/24")}))
	must(reg.Reserve(ctx, registry.ReservationSpec{Prefix: netip.MustParsePrefix("10.1.2.0/29"), Reason: "gw"}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	state := func(t *testing.T) (index bool, branch bool) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT to_regclass('assignments_space_live') IS NOT NULL`).Scan(&index); err != nil {
			t.Fatal(err)
		}
		var def string
		if err := db.QueryRowContext(ctx, `SELECT pg_get_functiondef('space_no_overlap'::regproc)`).Scan(&def); err != nil {
			t.Fatal(err)
		}
		return index, strings.Contains(def, "FROM assignments")
	}
	// refusals inserts straight into the tables: the database itself
	// refuses. Before 44 an assignment row holds its first and last
	// addresses too, before 64 its family and bits.
	refusals := func(t *testing.T, version int) {
		t.Helper()
		assignment := `INSERT INTO assignments (pool_id, space, prefix, state, created_at)
				SELECT pool_id, space, '10.1.0.128/25', 'assigned', 0 FROM assignments LIMIT 1`
		if version < 64 {
			assignment = `INSERT INTO assignments (pool_id, space, prefix, family, bits, state, created_at)
				SELECT pool_id, space, '10.1.0.128/25', 4, 25, 'assigned', 0 FROM assignments LIMIT 1`
		}
		if version < 44 {
			assignment = `INSERT INTO assignments (pool_id, space, prefix, family, first, last, bits, state, created_at)
				SELECT pool_id, space, '10.1.0.128/25', 4, '\x0a010080'::bytea, '\x0a0100ff'::bytea, 25, 'assigned', 0 FROM assignments LIMIT 1`
		}
		qs := []string{assignment}
		if version >= 74 {
			// Since 74 the overlap rule of assignments is the writes'
			// (tx.go overlapCheck), not a constraint's: SQL alone passes.
			qs = nil
		}
		for _, q := range append(qs,
			`INSERT INTO reservations (pool_id, space, prefix, family, first, last, bits, reason, created_at)
				SELECT pool_id, space, '10.1.2.0/30', 4, '\x0a010200'::bytea, '\x0a010203'::bytea, 30, 'x', 0 FROM reservations LIMIT 1`,
		) {
			_, err := db.ExecContext(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "overlap") && !strings.Contains(err.Error(), "exclusion") && !strings.Contains(err.Error(), "conflicting key") {
				t.Errorf("%s: %v, want an overlap refused", q, err)
			}
		}
	}
	if index, branch := state(t); index || branch {
		t.Fatalf("at the latest version: index assignments_space_live %t, assignments branch %t; want neither", index, branch)
	}
	refusals(t, 74)
	// The live-assignment look-up of a named space (the statement
	// LiveAssignment runs) reads the B-tree of prefixes (the exclusion
	// constraint's index, which it read before, went with 74).
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan []string
	rows, err := conn.QueryContext(ctx, `EXPLAIN SELECT a.id FROM assignments a JOIN pools p ON p.id = a.pool_id WHERE a.id = ANY(ARRAY(`+liveOverlapping+`)) AND a.state <> 'released' AND p.space = $3 LIMIT 1`,
		"10.1.0.5/32", "10.1.0.5/32", "vpc-a")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, l)
	}
	rows.Close()
	conn.Close()
	if p := strings.Join(plan, "\n"); strings.Count(p, " assignments_prefix") < 2 || !strings.Contains(p, "Index Scan Backward using assignments_prefix") || strings.Contains(p, "Seq Scan") {
		t.Errorf("the live look-up of a named space does not read the B-tree of prefixes:\n%s", p)
	}

	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 23); err != nil {
		t.Fatal(err)
	}
	if index, branch := state(t); !index || !branch {
		t.Errorf("down to 23: index assignments_space_live %t, assignments branch %t; want both back", index, branch)
	}
	refusals(t, 23)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if index, branch := state(t); index || branch {
		t.Errorf("up again: index assignments_space_live %t, assignments branch %t; want neither", index, branch)
	}
	refusals(t, 74)
}

// TestSuffixIndexMigration: as the SQLite store's, on PostgreSQL.
func TestSuffixIndexMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	open := func(t *testing.T) registry.Store {
		s, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.SuffixIndexMigration(t, open, func(t *testing.T) {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		sub, _ := fs.Sub(migrations, "migrations")
		p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ApplyVersion(ctx, 34, false); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNarrowerAssignmentRowsMigration: migration 44 rebuilds the
// assignments table without the first and last addresses (issue 16,
// storage). Down to 43 with rows in it, each row's first and last are
// its prefix's; up again, every row is as it was (its ID, prefix, state,
// times, names and space), the indexes and constraints are those of
// before but for the two (family, first) indexes, which assignments_prefix
// replaces, the database still refuses an overlap, and the next
// allocation takes the next ID.
func TestNarrowerAssignmentRowsMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := migrationRegister(t, s, true)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	for _, q := range []registry.Request{
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Name: "web.acme.example.", Resource: "vm-1"},
		{Region: "r", Family: 4, Bits: 28, Tenant: "acme"},
		{Region: "r", Family: 6, Bits: 128, Tenant: "acme", Resource: "vm-2"},
		{Region: "r", Family: 6, Bits: 120},
		{Prefix: netip.MustParsePrefix("10.1.255.0/24")},
	} {
		as, err := reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		for _, a := range as {
			ids = append(ids, a.ID)
		}
	}
	must(reg.Release(ctx, registry.Target{ID: ids[1]}, 0, nil))
	must(reg.Release(ctx, registry.Target{ID: ids[2]}, time.Hour, nil))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// family and bits are the prefix's (00064 drops the columns).
	const rowsQuery = `SELECT string_agg(concat_ws(' ', id, pool_id, prefix, family(prefix), masklen(prefix), state, tenant, resource, name, created_at, released_at, quarantine_until, ` + poolSpace + `), E'\n' ORDER BY id) FROM assignments`
	const defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = 'assignments'::regclass
		UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'assignments'::regclass) s`
	read := func(t *testing.T, q string) string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	// A grant an operator made on the table survives both ways.
	if _, err := db.ExecContext(ctx, `GRANT SELECT ON assignments TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	const grantQuery = `SELECT has_table_privilege('public', 'assignments', 'SELECT')::text`
	rows, defs := read(t, rowsQuery), read(t, defsQuery)
	if strings.Count(rows, "\n") != 4 || !strings.Contains(rows, "released") || !strings.Contains(rows, "quarantined") || !strings.Contains(rows, "web.acme.example.") {
		t.Fatalf("rows before:\n%s", rows)
	}
	for _, want := range []string{"assignments_prefix ON", "USING btree (id) WITH (fillfactor='100')",
		"USING btree (hashtext(resource)) WITH (fillfactor='100')"} {
		if !strings.Contains(defs, want) {
			t.Errorf("at the latest version, no %q in\n%s", want, defs)
		}
	}
	if strings.Contains(defs, "assignments_all_first") || strings.Contains(defs, "assignments_live_first") {
		t.Errorf("at the latest version, a (family, first) index:\n%s", defs)
	}

	p := migrationProvider(t, db)
	if _, err := p.DownTo(ctx, 43); err != nil {
		t.Fatal(err)
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows down to 43:\n%s\nwant\n%s", got, rows)
	}
	if bad := read(t, `SELECT count(*) FILTER (WHERE first <> substr(inet_send(network(prefix)), 5) OR last <> substr(inet_send(broadcast(prefix)), 5)
		OR length(first) <> CASE family WHEN 4 THEN 4 ELSE 16 END)::text FROM assignments`); bad != "0" {
		t.Errorf("down to 43: %s rows whose first and last are not their prefix's", bad)
	}
	if read(t, grantQuery) != "true" {
		t.Error("down to 43: the grant on assignments is lost")
	}
	down := read(t, defsQuery)
	for _, want := range []string{"assignments_all_first ON", "assignments_live_first ON"} {
		if !strings.Contains(down, want) {
			t.Errorf("down to 43, no %q in\n%s", want, down)
		}
	}
	if strings.Contains(down, "assignments_prefix") || strings.Contains(down, "fillfactor") {
		t.Errorf("down to 43, 44's index or fillfactor left:\n%s", down)
	}
	// A row added at 43, with its first and last, goes up too.
	if _, err := db.ExecContext(ctx, `INSERT INTO assignments (pool_id, space, prefix, family, first, last, bits, state, created_at)
		SELECT pool_id, space, '10.1.254.0/24', 4, '\x0a01fe00'::bytea, '\x0a01feff'::bytea, 24, 'quarantined', 0 FROM assignments WHERE family = 4 LIMIT 1`); err == nil {
		t.Error("down to 43: a quarantined row without quarantine_until was taken")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows up again:\n%s\nwant\n%s", got, rows)
	}
	if got := read(t, defsQuery); got != defs {
		t.Errorf("indexes and constraints up again:\n%s\nwant\n%s", got, defs)
	}
	if read(t, grantQuery) != "true" {
		t.Error("up again: the grant on assignments is lost")
	}
	s, err = Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The store still refuses an overlap of a live row (the rule is its
	// writes' since 74).
	var pool int64
	if err := db.QueryRowContext(ctx, `SELECT pool_id FROM assignments WHERE family(prefix) = 4 LIMIT 1`).Scan(&pool); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx registry.Tx) error {
		return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: netip.MustParsePrefix("10.1.255.128/25"), PoolID: pool, State: registry.StateAssigned})
	})
	if !errors.Is(err, registry.ErrOverlap) {
		t.Errorf("an overlapping row: %v, want ErrOverlap", err)
	}
	reg = registry.New(s)
	as, err := reg.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 32})
	if err != nil {
		t.Fatal(err)
	}
	if as[0].ID <= ids[len(ids)-1] {
		t.Errorf("allocation after the migration: ID %d, want after %d", as[0].ID, ids[len(ids)-1])
	}
	if got, err := reg.Assignments(ctx, registry.AssignmentFilter{Within: netip.MustParsePrefix("10.1.0.0/16"), Limit: 10}); err != nil || len(got) != 4 {
		t.Errorf("assignments within 10.1.0.0/16 after the migration: %d (%v), want 4 (the released one too)", len(got), err)
	}
}

// TestHashedTextIndexesMigration: migrations 59 and 60 (issue 16,
// storage) drop free_pool, key assignments_tenant and assignments_resource
// by the text's hash and fold assignments_pool_state into
// assignments_pool_past. Down to 58 the indexes are those of before; up
// again they are those of the latest version, and a tenant's, a
// resource's and a pool's past pages find their rows. Fails on main: the
// indexes hold the text.
func TestHashedTextIndexesMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	reg := migrationRegister(t, s, false)
	var ids []int64
	for _, q := range []registry.Request{
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Resource: "vm-1"},
		{Region: "r", Family: 4, Bits: 32, Resource: "vm-2"},
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme"},
	} {
		as, err := reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		ids = append(ids, as[0].ID)
	}
	if _, err := reg.Release(ctx, registry.Target{ID: ids[2]}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	pages := func(t *testing.T) {
		t.Helper()
		acme := "acme"
		for _, c := range []struct {
			f    registry.AssignmentFilter
			want []int64
		}{
			{registry.AssignmentFilter{Tenant: &acme}, []int64{ids[0], ids[2]}},
			{registry.AssignmentFilter{Resource: "vm-2"}, []int64{ids[1]}},
			{registry.AssignmentFilter{Resource: "vm-3"}, nil},
			{registry.AssignmentFilter{PoolID: 1, States: []registry.State{registry.StateQuarantined}}, []int64{ids[2]}},
		} {
			c.f.Limit = 10
			if got := assignmentIDs(t, reg, c.f); !slices.Equal(got, c.want) {
				t.Errorf("page %+v: %v, want %v", c.f, got, c.want)
			}
		}
	}
	pages(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid IN ('assignments'::regclass, 'free'::regclass)
		UNION ALL SELECT pg_get_statisticsobjdef(oid) FROM pg_statistic_ext WHERE stxrelid = 'assignments'::regclass) s`
	read := func(t *testing.T) string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, defsQuery).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return regexp.MustCompile(` (ON|FROM) [^ ]+\.`).ReplaceAllString(s, " $1 ") // the test's schema
	}
	latest := read(t)
	// assignments_tenant is 77's (one int8 of the hash and the ID).
	for _, want := range []string{"assignments_tenant ON assignments USING btree ((((((hashtext(tenant) >> 8))::bigint << 39) + id)))",
		"assignments_resource ON assignments USING btree (hashtext(resource))",
		"assignments_pool_past ON assignments USING btree (pool_id, state, id) INCLUDE (quarantine_until)",
		"assignments_tenant_hash (dependencies) ON tenant, hashtext(tenant) FROM", "assignments_resource_hash (dependencies) ON resource, hashtext(resource) FROM"} {
		if !strings.Contains(latest, want) {
			t.Errorf("at the latest version, no %q in\n%s", want, latest)
		}
	}
	for _, gone := range []string{"free_pool", "assignments_pool_state"} {
		if strings.Contains(latest, gone) {
			t.Errorf("at the latest version, %s:\n%s", gone, latest)
		}
	}
	p := migrationProvider(t, db)
	if _, err := p.DownTo(ctx, 58); err != nil {
		t.Fatal(err)
	}
	down := read(t)
	for _, want := range []string{"free_pool ON free USING btree (pool_id, addr)",
		"assignments_tenant ON assignments USING btree (tenant, id)",
		"assignments_resource ON assignments USING btree (resource)",
		"assignments_pool_state ON assignments USING btree (pool_id, state, bits, quarantine_until)",
		"assignments_pool_past ON assignments USING btree (pool_id, state, id) WITH"} {
		if !strings.Contains(down, want) {
			t.Errorf("down to 58, no %q in\n%s", want, down)
		}
	}
	if strings.Contains(down, "hashtext") {
		t.Errorf("down to 58, a hash's index or statistics left:\n%s", down)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t); got != latest {
		t.Errorf("indexes up again:\n%s\nwant\n%s", got, latest)
	}
	s.Close()
	s, err = Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg = registry.New(s)
	pages(t)
}

// migrationRegister is the register the migration tests start from: a
// region r, a tenant acme (acme.example.), the private block 10.0.0.0/8
// with the pool 10.1.0.0/16 (every address), and with ipv6 the block
// fd00::/48 with the pool fd00:0:0:1::/64.
func migrationRegister(t *testing.T, s registry.Store, ipv6 bool) *registry.Registry {
	t.Helper()
	ctx := context.Background()
	reg := registry.New(s)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}))
	must(reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &[]string{"acme.example."}}))
	must(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate}))
	must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "r", UseAll: true}))
	if ipv6 {
		must(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}))
		must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00:0:0:1::/64"), Region: "r"}))
	}
	return reg
}

// TestJournalPartsMigration: as the SQLite store's, on PostgreSQL.
func TestJournalPartsMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 71); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO dns_zones (id, name, kind, config, serial, created_at) VALUES (1, 'example.test.', 'forward', '{}', 12, 0)`, nil},
		{`INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed, added, created_at) VALUES (1, 10, 11, $1, $2, 5), (1, 11, 12, $3, '\x'::bytea, 6)`,
			[]any{[]byte("removed 10"), []byte("added 11"), []byte("removed 11")}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds, err := s.Journal(ctx, 1, 10)
	if err != nil || len(ds) != 2 || string(ds[0].Removed) != "removed 10" || string(ds[0].Added) != "added 11" ||
		string(ds[1].Removed) != "removed 11" || len(ds[1].Added) != 0 || ds[1].From != 11 || ds[1].To != 12 {
		t.Fatalf("steps written before 00072 read back as %+v, %v", ds, err)
	}
	steps, err := s.JournalSteps(ctx, 1, 10)
	if err != nil || len(steps) != 2 || steps[0].RemovedParts != 1 || steps[0].AddedParts != 1 || steps[1].RemovedParts != 1 || steps[1].AddedParts != 0 {
		t.Fatalf("steps written before 00072 listed as %+v, %v", steps, err)
	}
	if parts, err := s.JournalParts(ctx, steps[0].ID, 1, 2); err != nil || len(parts) != 1 || string(parts[0]) != "added 11" {
		t.Fatalf("the added part of a step written before: %q, %v", parts, err)
	}
	p, err = goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 71); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dns_journal`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after going down: %d journal steps (%v), want none", n, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed, added, created_at) VALUES (1, 12, 13, '\x01'::bytea, '\x02'::bytea, 7)`); err != nil {
		t.Errorf("after going down, a step as 00006 wrote it: %v", err)
	}
}
