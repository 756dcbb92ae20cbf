package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestDerivedColumnsMigration: migration 64 (issue 16, storage) rebuilds
// assignments without family and bits (the prefix's) and with pool_id an
// INTEGER. At the latest version the columns are those, the pages of a
// family's past, a pool's quarantined and the count of ended quarantines
// by length still answer from the prefix, and the indexes, constraints,
// statistics and grants are those of before but for the two that held
// family or bits. Down to 63 every row is as it was with its family and
// bits back; up again the rows, indexes and grants are the same and the
// next allocation takes the next ID. Fails on main: the columns are there.
func TestDerivedColumnsMigration(t *testing.T) {
	ctx := context.Background()
	m := newMigrationStore(t, true)
	var ids []int64
	var pools []int64
	for _, q := range []registry.Request{
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Name: "web.acme.example.", Resource: "vm-1"},
		{Region: "r", Family: 4, Bits: 28, Tenant: "acme"},
		{Region: "r", Family: 6, Bits: 128, Tenant: "acme", Resource: "vm-2"},
		{Region: "r", Family: 6, Bits: 120},
		{Region: "r", Family: 4, Bits: 30},
	} {
		as, err := m.reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		ids = append(ids, as[0].ID)
		if !slices.Contains(pools, as[0].PoolID) {
			pools = append(pools, as[0].PoolID)
		}
	}
	for _, r := range []struct {
		i          int
		quarantine time.Duration
	}{{1, 0}, {2, time.Hour}, {4, time.Hour}} {
		if _, err := m.reg.Release(ctx, registry.Target{ID: ids[r.i]}, r.quarantine, nil); err != nil {
			t.Fatal(err)
		}
	}
	// pages reads what the dropped columns served: a family's past pages
	// (assignments_state_past4 and _past6), a pool's quarantined page, and the
	// ended quarantines counted by length (usageQuery).
	pages := func(t *testing.T) {
		t.Helper()
		for _, c := range []struct {
			f    registry.AssignmentFilter
			want []int64
		}{
			{registry.AssignmentFilter{Family: 4, States: []registry.State{registry.StateReleased}}, []int64{ids[1]}},
			{registry.AssignmentFilter{Family: 6, States: []registry.State{registry.StateQuarantined}}, []int64{ids[2]}},
			{registry.AssignmentFilter{Family: 4, States: []registry.State{registry.StateQuarantined}}, []int64{ids[4]}},
			{registry.AssignmentFilter{States: []registry.State{registry.StateQuarantined}}, []int64{ids[2], ids[4]}},
			{registry.AssignmentFilter{PoolID: pools[0], States: []registry.State{registry.StateQuarantined}}, []int64{ids[4]}},
			{registry.AssignmentFilter{Family: 6}, []int64{ids[2], ids[3]}},
		} {
			c.f.Limit = 10
			if got := assignmentIDs(t, m.reg, c.f); !slices.Equal(got, c.want) {
				t.Errorf("page %+v: %v, want %v", c.f, got, c.want)
			}
		}
		var expired []string
		if err := m.s.View(ctx, func(tx registry.Tx) error {
			us, err := tx.Usage(ctx, pools, time.Now().Add(48*time.Hour))
			for _, u := range us {
				if u.Expired != 0 {
					expired = append(expired, fmt.Sprintf("%s /%d: %d", u.State, u.Bits, u.Expired))
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(expired)
		if want := []string{"quarantined /128: 1", "quarantined /30: 1"}; !slices.Equal(expired, want) {
			t.Errorf("ended quarantines: %q, want %q", expired, want)
		}
	}
	pages(t)
	if _, err := m.db.ExecContext(ctx, `GRANT SELECT ON assignments TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	const (
		colsQuery = `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute
			WHERE attrelid = 'assignments'::regclass AND attnum > 0 AND NOT attisdropped`
		rowsQuery = `SELECT string_agg(concat_ws(' ', id, pool_id, prefix, family(prefix), masklen(prefix), state, tenant, resource, name,
			created_at, released_at, quarantine_until, ` + poolSpace + `), E'\n' ORDER BY id) FROM assignments`
		defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = 'assignments'::regclass
			UNION ALL SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'assignments'::regclass
			UNION ALL SELECT stxname FROM pg_statistic_ext WHERE stxrelid = 'assignments'::regclass
			UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = 'assignments'::regclass AND NOT tgisinternal
			UNION ALL SELECT 'grant ' || has_table_privilege('public', 'assignments', 'SELECT')) s`
	)
	read := func(t *testing.T, q string) string {
		t.Helper()
		return regexp.MustCompile(` ON [^ ]+\.`).ReplaceAllString(m.read(t, q), " ON ") // the test's schema
	}
	// 78 changed state's type and dropped space since.
	if got, want := read(t, colsQuery), "id bigint, created_at bigint, released_at bigint, quarantine_until bigint, pool_id integer, state assignment_state, prefix cidr, tenant text, resource text, name text"; got != want {
		t.Errorf("columns at the latest version:\n%s\nwant\n%s", got, want)
	}
	rows, latest := read(t, rowsQuery), read(t, defsQuery)
	for _, want := range []string{
		"assignments_state_past4 ON assignments USING btree (state, id) WITH (fillfactor='100') WHERE ((state <> 'assigned'::assignment_state) AND (family((prefix)::inet) = 4))",
		"assignments_state_past6 ON assignments USING btree (state, id) WITH (fillfactor='100') WHERE ((state <> 'assigned'::assignment_state) AND (family((prefix)::inet) = 6))",
		"assignments_pool_past ON assignments USING btree (pool_id, state, id) INCLUDE (quarantine_until) WITH (fillfactor='100') WHERE",
		"assignments_pkey ON assignments USING btree (id) WITH (fillfactor='100')",
		// The pool's rule (00086): a trigger in place of the foreign key.
		"trigger assignments_pool",
		"assignments_tenant_hash", "assignments_resource_hash", "assignments_family\n", "grant true",
	} {
		if !strings.Contains(latest, want) {
			t.Errorf("at the latest version, no %q in\n%s", want, latest)
		}
	}
	if strings.Contains(latest, "family_check") || strings.Contains(latest, "bits") || strings.Contains(latest, "state_family_past") {
		t.Errorf("at the latest version, a constraint or index on family or bits:\n%s", latest)
	}

	p := migrationProvider(t, m.db)
	if _, err := p.DownTo(ctx, 63); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t, colsQuery), "id bigint, pool_id bigint, created_at bigint, released_at bigint, quarantine_until bigint, family smallint, bits smallint, prefix cidr, state text, tenant text, resource text, name text, space text"; got != want {
		t.Errorf("columns down to 63:\n%s\nwant\n%s", got, want)
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows down to 63:\n%s\nwant\n%s", got, rows)
	}
	if bad := read(t, `SELECT count(*) FILTER (WHERE family <> family(prefix) OR bits <> masklen(prefix))::text FROM assignments`); bad != "0" {
		t.Errorf("down to 63: %s rows whose family or bits are not their prefix's", bad)
	}
	down := read(t, defsQuery)
	for _, want := range []string{"(state, family, id) WITH (fillfactor='100') WHERE", "INCLUDE (quarantine_until, bits) WITH (fillfactor='100') WHERE", "assignments_family_check CHECK", "grant true",
		"assignments_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools(id, space)"} {
		if !strings.Contains(down, want) {
			t.Errorf("down to 63, no %q in\n%s", want, down)
		}
	}
	if strings.Contains(down, "trigger assignments_pool") {
		t.Errorf("down to 63, the pool's trigger left:\n%s", down)
	}
	if strings.Contains(down, "assignments_family\n") {
		t.Errorf("down to 63, the statistics of family(prefix) left:\n%s", down)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows up again:\n%s\nwant\n%s", got, rows)
	}
	if got := read(t, defsQuery); got != latest {
		t.Errorf("indexes, constraints and grants up again:\n%s\nwant\n%s", got, latest)
	}
	m.reopen(t)
	pages(t)
	as, err := m.reg.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 32})
	if err != nil {
		t.Fatal(err)
	}
	if as[0].ID <= ids[len(ids)-1] {
		t.Errorf("allocation after the migration: ID %d, want after %d", as[0].ID, ids[len(ids)-1])
	}
}

// migrationProvider is a goose provider of this store's migrations on db,
// for a test that goes down and up again.
func migrationProvider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// assignmentIDs is the IDs of the page f of reg, in its order.
func assignmentIDs(t *testing.T, reg *registry.Registry, f registry.AssignmentFilter) []int64 {
	t.Helper()
	got, err := reg.Assignments(context.Background(), f)
	if err != nil {
		t.Fatalf("page %+v: %v", f, err)
	}
	var ids []int64
	for _, a := range got {
		ids = append(ids, a.ID)
	}
	return ids
}
