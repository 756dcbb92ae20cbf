package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

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
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
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
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(compactEvents()))
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
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
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
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
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
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
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
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.ApplyVersion(ctx, 34, false); err != nil {
			t.Fatal(err)
		}
	})
}
