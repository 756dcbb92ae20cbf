package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
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
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
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
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
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

// TestSpacePerObjectMigration: migration 18 gives pools, assignments,
// reservations and relocations the space of their block, for rows made
// before it: a register taken back to 17 and up again has vpc-a's rows
// in vpc-a and the global pool's in global, and overlap is then refused
// within vpc-a and not across spaces.
func TestSpacePerObjectMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(s)
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = reg.AddSpace(ctx, registry.Space{Name: "vpc-a"})
	mustDo(err)
	_, err = reg.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}})
	mustDo(err)
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"})
	mustDo(err)
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("40.64.0.0/16"), Source: registry.SourceRIR, Registry: "arin"})
	mustDo(err)
	for _, p := range []string{"10.1.0.0/16", "40.64.0.0/24"} {
		_, err = reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: "r", UseAll: true})
		mustDo(err)
	}
	for _, p := range []string{"10.1.0.0/24", "40.64.0.0/28"} {
		_, err = reg.Allocate(ctx, registry.Request{Prefix: netip.MustParsePrefix(p)})
		mustDo(err)
	}
	_, err = reg.Reserve(ctx, registry.ReservationSpec{Prefix: netip.MustParsePrefix("10.1.2.0/29"), Reason: "gw"})
	mustDo(err)
	mustDo(s.Close())

	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	mustDo(err)
	_, err = p.DownTo(ctx, 17)
	mustDo(err)
	var n int
	mustDo(db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('assignments') WHERE name = 'space'`).Scan(&n))
	if n != 0 {
		t.Fatal("assignments.space still there at version 17")
	}
	_, err = p.Up(ctx)
	mustDo(err)
	for _, c := range []struct{ sql, want string }{
		{`SELECT group_concat(prefix || ' ' || space, ', ') FROM (SELECT prefix, space FROM pools ORDER BY id)`, "10.1.0.0/16 vpc-a, 40.64.0.0/24 global"},
		{`SELECT group_concat(prefix || ' ' || space, ', ') FROM (SELECT prefix, space FROM assignments ORDER BY id)`, "10.1.0.0/24 vpc-a, 40.64.0.0/28 global"},
		{`SELECT group_concat(prefix || ' ' || space, ', ') FROM reservations`, "10.1.2.0/29 vpc-a"},
	} {
		var got string
		mustDo(db.QueryRowContext(ctx, c.sql).Scan(&got))
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.sql, got, c.want)
		}
	}
	db.Close()

	// The backfilled rows are checked per space as new ones are.
	s, err = Open(ctx, path, Options{NoSync: true})
	mustDo(err)
	defer s.Close()
	reg = registry.New(s)
	if _, err := reg.Allocate(ctx, registry.Request{Prefix: netip.MustParsePrefix("10.1.0.128/25"), Space: "vpc-a"}); !errors.Is(err, registry.ErrOverlap) {
		t.Errorf("alloc over vpc-a's backfilled assignment: %v, want an overlap", err)
	}
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate})
	mustDo(err)
	_, err = reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "r", Space: registry.PrivateSpace, UseAll: true})
	mustDo(err)
	if _, err := reg.Allocate(ctx, registry.Request{Prefix: netip.MustParsePrefix("10.1.0.0/24"), Space: registry.PrivateSpace}); err != nil {
		t.Errorf("alloc 10.1.0.0/24 in space private beside vpc-a's: %v", err)
	}
}
