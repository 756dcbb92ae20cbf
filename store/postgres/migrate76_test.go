package postgres

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestHashedKeysMigration: migrations 76 and 77 (issue 16, storage) key
// assignments_name by the name's hash and assignments_tenant by one int8
// of the tenant's hash and the ID, and add assignments_id_below. At the
// latest version a tenant's pages (from a cursor too), a name's page and
// name_holder() find their rows by the new keys; down to 75 the indexes,
// the function and the constraint are 75's, and the rows and pages the
// same; up again the definitions are the latest's. Fails on main: the
// indexes hold (rtrim(name, '.'), tenant) and (hashtext(tenant), id).
func TestHashedKeysMigration(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	reg := migrationRegister(t, s, false)
	if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, q := range []registry.Request{
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Name: "vm1.acme.example."},
		{Region: "r", Family: 4, Bits: 32, Tenant: "other", Resource: "vm-2"},
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme", Name: "vm3.acme.example"},
		{Region: "r", Family: 4, Bits: 32, Tenant: "acme"},
		{Region: "r", Family: 4, Bits: 32},
	} {
		as, err := reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		ids = append(ids, as[0].ID)
	}
	if _, err := reg.Release(ctx, registry.Target{ID: ids[3]}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pages := func(t *testing.T, at string) {
		t.Helper()
		acme, other, none := "acme", "other", ""
		for _, c := range []struct {
			f    registry.AssignmentFilter
			want []int64
		}{
			{registry.AssignmentFilter{Tenant: &acme}, []int64{ids[0], ids[2], ids[3]}},
			{registry.AssignmentFilter{Tenant: &acme, AfterID: ids[0]}, []int64{ids[2], ids[3]}},
			{registry.AssignmentFilter{Tenant: &acme, AfterID: ids[2], States: []registry.State{registry.StateQuarantined}}, []int64{ids[3]}},
			{registry.AssignmentFilter{Tenant: &acme, States: []registry.State{registry.StateAssigned}}, []int64{ids[0], ids[2]}},
			{registry.AssignmentFilter{Tenant: &other}, []int64{ids[1]}},
			{registry.AssignmentFilter{Tenant: &none}, []int64{ids[4]}},
			{registry.AssignmentFilter{Name: "vm1.acme.example."}, []int64{ids[0]}},
			{registry.AssignmentFilter{Name: "vm3.acme.example"}, []int64{ids[2]}},
			{registry.AssignmentFilter{Name: "vm3.acme.example."}, nil},
			{registry.AssignmentFilter{Name: "vm9.acme.example"}, nil},
		} {
			c.f.Limit = 10
			if got := assignmentIDs(t, reg, c.f); !slices.Equal(got, c.want) {
				t.Errorf("%s: page %+v: %v, want %v", at, c.f, got, c.want)
			}
		}
		// name_holder(): another tenant's name, stored with its dot or
		// without, and a name nobody holds.
		for _, c := range []struct{ bare, tenant, want string }{
			{"vm1.acme.example", "other", "assignment"},
			{"vm3.acme.example", "other", "assignment"},
			{"vm3.acme.example", "acme", ""},
			{"vm9.acme.example", "other", ""},
		} {
			var got string
			if err := db.QueryRowContext(ctx, `SELECT name_holder(0, 0, 0, $1, $2, $3)`, c.bare+".", c.bare, c.tenant).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s: name_holder(%s, %s) = %q, want %q", at, c.bare, c.tenant, got, c.want)
			}
		}
	}
	read := func(t *testing.T, q string) string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	const defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = 'assignments'::regclass
		UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'assignments'::regclass
		UNION ALL SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = 'name_holder' AND p.pronamespace = current_schema()::regnamespace) s`
	const rowsQuery = `SELECT string_agg(a::text, E'\n' ORDER BY id) FROM assignments a`
	pages(t, "latest")
	latest, rows := read(t, defsQuery), read(t, rowsQuery)
	for _, want := range []string{"USING btree (hashtext(rtrim(name, '.'::text))) WITH (fillfactor='100') WHERE ((state <> 'released'::text) AND (name <> ''::text))",
		"USING btree ((((((hashtext(tenant) >> 8))::bigint << 39) + id)))",
		"assignments_id_below CHECK ((id < '549755813888'::bigint))",
		"WHERE hashtext(rtrim(a.name, '.')) = hashtext(p_bare) AND rtrim(a.name, '.') = p_bare AND"} {
		if !strings.Contains(latest, want) {
			t.Errorf("at the latest version, no %q in\n%s", want, latest)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO assignments (id, pool_id, space, prefix, state, created_at)
		SELECT 549755813888, pool_id, space, '10.1.250.0/32', 'assigned', 0 FROM assignments LIMIT 1`); err == nil || !strings.Contains(err.Error(), "assignments_id_below") {
		t.Errorf("an ID of 2^39: %v, want assignments_id_below's violation", err)
	}
	p := migrationProvider(t, db)
	if _, err := p.DownTo(ctx, 75); err != nil {
		t.Fatal(err)
	}
	down := read(t, defsQuery)
	for _, want := range []string{"USING btree (rtrim(name, '.'::text), tenant) WITH (fillfactor='100') WHERE ((state <> 'released'::text) AND (name <> ''::text))",
		"USING btree (hashtext(tenant), id)",
		"WHERE rtrim(a.name, '.') = p_bare AND a.name <> ''"} {
		if !strings.Contains(down, want) {
			t.Errorf("down to 75, no %q in\n%s", want, down)
		}
	}
	for _, gone := range []string{"assignments_id_below", "<< 39", "hashtext(rtrim", "hashtext(p_bare)"} {
		if strings.Contains(down, gone) {
			t.Errorf("down to 75, %q left:\n%s", gone, down)
		}
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows down to 75:\n%s\nwant\n%s", got, rows)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, defsQuery); got != latest {
		t.Errorf("up again:\n%s\nwant\n%s", got, latest)
	}
	if got := read(t, rowsQuery); got != rows {
		t.Errorf("rows up again:\n%s\nwant\n%s", got, rows)
	}
	pages(t, "up again")
}
