// Package migrated gives a test a PostgreSQL database of its own with the
// store's schema already in it: a copy of a template migrated once per
// test process (pgtest.MigratedDatabase). A separate package because
// pgtest cannot import the store, whose own tests import pgtest.
package migrated

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// Database returns the DSN of a migrated database of the test's own,
// dropped when the test ends. postgres.Open on it applies no migration.
func Database(t testing.TB) string {
	t.Helper()
	return pgtest.MigratedDatabase(t, Migrate)
}

// Migrate brings the database at dsn to the current schema.
func Migrate(ctx context.Context, dsn string) error {
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		return err
	}
	return s.Close()
}
