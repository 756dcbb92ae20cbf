package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
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
	m := newMigrationStore(t, false)
	if _, err := m.reg.AddTenant(ctx, registry.TenantSpec{Name: "other"}); err != nil {
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
		as, err := m.reg.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocate %+v: %v", q, err)
		}
		ids = append(ids, as[0].ID)
	}
	if _, err := m.reg.Release(ctx, registry.Target{ID: ids[3]}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
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
			if got := assignmentIDs(t, m.reg, c.f); !slices.Equal(got, c.want) {
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
			if err := m.db.QueryRowContext(ctx, `SELECT name_holder(0, 0, 0, $1, $2, $3)`, c.bare+".", c.bare, c.tenant).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s: name_holder(%s, %s) = %q, want %q", at, c.bare, c.tenant, got, c.want)
			}
		}
	}
	const defsQuery = `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
		SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = 'assignments'::regclass
		UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'assignments'::regclass
		UNION ALL SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = 'name_holder' AND p.pronamespace = current_schema()::regnamespace) s`
	// The columns by name: 78 reorders them and drops space (the pool's).
	const rowsQuery = `SELECT string_agg(concat_ws(' ', id, created_at, released_at, quarantine_until, pool_id, prefix, state, tenant, resource, name, ` +
		poolSpace + `), E'\n' ORDER BY id) FROM assignments`
	pages(t, "latest")
	latest, rows := m.read(t, defsQuery), m.read(t, rowsQuery)
	defsHold(t, "at the latest version", latest, []string{"USING btree (hashtext(rtrim(name, '.'::text))) WITH (fillfactor='100') WHERE ((state <> 'released'::assignment_state) AND (name <> ''::text))",
		"USING btree ((((((hashtext(tenant) >> 8))::bigint << 39) + id)))",
		"assignments_id_below CHECK ((id < '549755813888'::bigint))",
		"WHERE hashtext(rtrim(a.name, '.')) = hashtext(p_bare) AND rtrim(a.name, '.') = p_bare AND"}, nil)
	if _, err := m.db.ExecContext(ctx, `INSERT INTO assignments (id, pool_id, prefix, state, created_at)
		SELECT 549755813888, pool_id, '10.1.250.0/32', 'assigned', 0 FROM assignments LIMIT 1`); err == nil || !strings.Contains(err.Error(), "assignments_id_below") {
		t.Errorf("an ID of 2^39: %v, want assignments_id_below's violation", err)
	}
	p := migrationProvider(t, m.db)
	if _, err := p.DownTo(ctx, 75); err != nil {
		t.Fatal(err)
	}
	defsHold(t, "down to 75", m.read(t, defsQuery), []string{"USING btree (rtrim(name, '.'::text), tenant) WITH (fillfactor='100') WHERE ((state <> 'released'::text) AND (name <> ''::text))",
		"USING btree (hashtext(tenant), id)",
		"WHERE rtrim(a.name, '.') = p_bare AND a.name <> ''"},
		[]string{"assignments_id_below", "<< 39", "hashtext(rtrim", "hashtext(p_bare)"})
	m.same(t, "down to 75", rowsQuery, rows)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	m.same(t, "up again", defsQuery, latest)
	m.same(t, "up again", rowsQuery, rows)
	m.reopen(t)
	pages(t, "up again")
}
