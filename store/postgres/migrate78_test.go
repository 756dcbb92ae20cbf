package postgres

import (
	"context"
	"database/sql"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// poolSpace is an assignment's space read from its pool, in a statement
// on assignments (unaliased): the row's own column before 78, the only
// one from it on.
const poolSpace = `(SELECT sp.space FROM pools sp WHERE sp.id = pool_id)`

// migrationStore is the set-up of a migration test: a store on a schema
// of its own at the latest version, migrationRegister's register on it,
// and a database/sql handle on the schema for the test's SQL and goose.
type migrationStore struct {
	dsn string
	s   *Store
	reg *registry.Registry
	db  *sql.DB
}

// newMigrationStore makes a migrationStore, closed at the test's end; the
// register has an IPv6 pool if ipv6.
func newMigrationStore(t *testing.T, ipv6 bool) *migrationStore {
	t.Helper()
	m := &migrationStore{dsn: pgtest.FreshSchema(t)}
	s, err := Open(context.Background(), m.dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.s = s
	t.Cleanup(func() { m.s.Close() })
	m.reg = migrationRegister(t, s, ipv6)
	if m.db, err = sql.Open("pgx", m.dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.db.Close() })
	return m
}

// read is the one text q answers.
func (m *migrationStore) read(t *testing.T, q string) string {
	t.Helper()
	var s string
	if err := m.db.QueryRowContext(context.Background(), q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// same fails t if q no longer reads want.
func (m *migrationStore) same(t *testing.T, at, q, want string) {
	t.Helper()
	if got := m.read(t, q); got != want {
		t.Errorf("%s: %s\n%s\nwant\n%s", at, q, got, want)
	}
}

// defsHold fails t for each of want that text lacks and each of gone that
// it has.
func defsHold(t *testing.T, at, text string, want, gone []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s, no %q in\n%s", at, w, text)
		}
	}
	for _, g := range gone {
		if strings.Contains(text, g) {
			t.Errorf("%s, %q left:\n%s", at, g, text)
		}
	}
}

// reopen opens the store again, as a server started after the migration
// does: the prepared statements of the one before were planned for the
// table as it was.
func (m *migrationStore) reopen(t *testing.T) {
	t.Helper()
	m.s.Close()
	s, err := Open(context.Background(), m.dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.s, m.reg = s, registry.New(s)
}

// TestStateEnumWithoutSpaceMigration: migration 78 (issue 16, storage)
// rebuilds assignments without space (its pool's) and with state an
// ENUM. At the latest version the columns are those, the pool's rule is
// 00086's trigger (no foreign key), a state not of the type and a pool that does not
// exist are refused, and the pages (by one state and by several), the
// look-ups and the dump give each row its state and its pool's space;
// down to 77 every row is as it was with its space (the pool's) and
// state text, and the constraints are 77's; up again the rows and
// definitions are the latest's, and the next allocation takes the next
// ID. Fails on main: the columns are there.
func TestStateEnumWithoutSpaceMigration(t *testing.T) {
	ctx := context.Background()
	m := newMigrationStore(t, true)
	var ids []int64
	for _, q := range []registry.Request{
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Name: "web.acme.example."},
		{Region: "r", Family: 4, Bits: 28, Tenant: "acme"},
		{Region: "r", Family: 6, Bits: 128, Resource: "vm-2"},
		{Region: "r", Family: 4, Bits: 30},
	} {
		as, err := m.reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		ids = append(ids, as[0].ID)
	}
	for _, r := range []struct {
		i          int
		quarantine time.Duration
	}{{1, 0}, {2, time.Hour}} {
		if _, err := m.reg.Release(ctx, registry.Target{ID: ids[r.i]}, r.quarantine, nil); err != nil {
			t.Fatal(err)
		}
	}
	states := map[int64]registry.State{ids[0]: registry.StateAssigned, ids[1]: registry.StateReleased,
		ids[2]: registry.StateQuarantined, ids[3]: registry.StateAssigned}
	// check reads every row through the store: its state as written and
	// its pool's space.
	check := func(t *testing.T, at string) {
		t.Helper()
		for _, c := range []struct {
			f    registry.AssignmentFilter
			want []int64
		}{
			{registry.AssignmentFilter{}, ids},
			{registry.AssignmentFilter{States: []registry.State{registry.StateQuarantined}}, ids[2:3]},
			{registry.AssignmentFilter{States: []registry.State{registry.StateReleased, registry.StateQuarantined}}, ids[1:3]},
			{registry.AssignmentFilter{Family: 4, States: []registry.State{registry.StateReleased, registry.StateQuarantined}}, ids[1:2]},
			{registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}}, []int64{ids[0], ids[3]}},
		} {
			c.f.Limit = 10
			got, err := m.reg.Assignments(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: page %+v: %v", at, c.f, err)
			}
			var gotIDs []int64
			for _, a := range got {
				gotIDs = append(gotIDs, a.ID)
				if a.State != states[a.ID] || a.Space != "private" {
					t.Errorf("%s: page %+v: assignment %d %s in space %q, want %s in private", at, c.f, a.ID, a.State, a.Space, states[a.ID])
				}
			}
			if !slices.Equal(gotIDs, c.want) {
				t.Errorf("%s: page %+v: %v, want %v", at, c.f, gotIDs, c.want)
			}
		}
		if err := m.s.View(ctx, func(x registry.Tx) error {
			for _, id := range ids {
				a, err := x.AssignmentByID(ctx, id)
				if err != nil {
					return err
				}
				if a.State != states[id] || a.Space != "private" {
					t.Errorf("%s: assignment %d %s in space %q, want %s in private", at, id, a.State, a.Space, states[id])
				}
			}
			live, ok, err := x.LiveAssignment(ctx, "private", netip.MustParsePrefix("10.1.0.0/16"))
			if err != nil || !ok || live.ID != ids[0] {
				t.Errorf("%s: the live assignment of private in 10.1.0.0/16: %d %t %v, want %d", at, live.ID, ok, err, ids[0])
			}
			if _, ok, err := x.LiveAssignment(ctx, "vpc-a", netip.MustParsePrefix("10.1.0.0/16")); ok || err != nil {
				t.Errorf("%s: a live assignment of vpc-a: %t %v, want none", at, ok, err)
			}
			dump, err := x.(registry.AssignmentDumper).DumpAssignments(ctx, 0, 10, nil)
			if len(dump) != len(ids) {
				t.Errorf("%s: dump: %d rows (%v), want %d", at, len(dump), err, len(ids))
			}
			for _, a := range dump {
				if a.State != states[a.ID] || a.Space != "private" {
					t.Errorf("%s: dump: assignment %d %s in space %q, want %s in private", at, a.ID, a.State, a.Space, states[a.ID])
				}
			}
			return err
		}); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
	}
	check(t, "latest")
	if _, err := m.db.ExecContext(ctx, `GRANT SELECT ON assignments TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	const (
		colsQuery = `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'assignments'::regclass AND attnum > 0 AND NOT attisdropped`
		rowsQuery = `SELECT string_agg(concat_ws(' ', id, created_at, released_at, quarantine_until, pool_id, prefix, state, tenant, resource, name, ` +
			poolSpace + `), E'\n' ORDER BY id) FROM assignments`
		defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = 'assignments'::regclass
			UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'assignments'::regclass
			UNION ALL SELECT stxname FROM pg_statistic_ext WHERE stxrelid = 'assignments'::regclass
			UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = 'assignments'::regclass AND NOT tgisinternal
			UNION ALL SELECT 'grant ' || has_table_privilege('public', 'assignments', 'SELECT')
			UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typname = 'assignment_state' AND typnamespace = current_schema()::regnamespace) s`
	)
	if got, want := m.read(t, colsQuery), "id bigint, created_at bigint, released_at bigint, quarantine_until bigint, pool_id integer, state assignment_state, prefix cidr, tenant text, resource text, name text"; got != want {
		t.Errorf("columns at the latest version:\n%s\nwant\n%s", got, want)
	}
	rows, latest := m.read(t, rowsQuery), m.read(t, defsQuery)
	defsHold(t, "at the latest version", latest, []string{
		"trigger assignments_pool", // 00086: the pool's rule, in place of 78's foreign key
		"assignments_check CHECK (((state <> 'quarantined'::assignment_state) OR (quarantine_until IS NOT NULL)))",
		"USING btree (tenant, state, id) WITH (fillfactor='100') WHERE (state <> 'assigned'::assignment_state)",
		"WHERE ((state <> 'released'::assignment_state) AND (name <> ''::text))",
		"assignments_tenant_hash", "grant true", "type assignment_state",
	}, []string{"space", "'assigned'::text", "'released'::text", "'quarantined'::text", "assignments_state_check", "FOREIGN KEY"})
	for _, c := range []struct{ q, want string }{
		{`INSERT INTO assignments (pool_id, prefix, state, created_at) SELECT pool_id, '10.1.250.0/32', 'gone', 0 FROM assignments LIMIT 1`, "invalid input value for enum"},
		{`INSERT INTO assignments (pool_id, prefix, state, created_at) VALUES (999999, '10.1.250.0/32', 'assigned', 0)`, "pool 999999 is missing"},
	} {
		if _, err := m.db.ExecContext(ctx, c.q); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.q, err, c.want)
		}
	}

	p := migrationProvider(t, m.db)
	if _, err := p.DownTo(ctx, 77); err != nil {
		t.Fatal(err)
	}
	if got, want := m.read(t, colsQuery), "id bigint, created_at bigint, released_at bigint, quarantine_until bigint, pool_id integer, prefix cidr, state text, tenant text, resource text, name text, space text"; got != want {
		t.Errorf("columns down to 77:\n%s\nwant\n%s", got, want)
	}
	m.same(t, "down to 77", rowsQuery, rows)
	if got := m.read(t, `SELECT count(*) FILTER (WHERE space <> `+poolSpace+`)::text FROM assignments`); got != "0" {
		t.Errorf("down to 77: %s rows whose space is not their pool's", got)
	}
	defsHold(t, "down to 77", m.read(t, defsQuery), []string{
		"assignments_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools(id, space)",
		"assignments_state_check CHECK",
		"assignments_check CHECK (((state <> 'quarantined'::text) OR (quarantine_until IS NOT NULL)))",
		"USING btree (tenant, state, id) WITH (fillfactor='100') WHERE (state <> 'assigned'::text)",
		"grant true",
	}, []string{"assignment_state", "assignments_pool_fk", "trigger assignments_pool"})
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	m.same(t, "up again", rowsQuery, rows)
	m.same(t, "up again", defsQuery, latest)
	m.reopen(t)
	check(t, "up again")
	as, err := m.reg.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 32})
	if err != nil {
		t.Fatal(err)
	}
	if as[0].ID <= ids[len(ids)-1] || as[0].Space != "private" {
		t.Errorf("allocation after the migration: ID %d in %q, want after %d in private", as[0].ID, as[0].Space, ids[len(ids)-1])
	}
}
