package server_test

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// pgSchema is a database of the test's own with the store's schema in
// it, copied from a template migrated once (pgtest.MigratedDatabase).
func pgSchema(t *testing.T) string { return migrated.Database(t) }

// openPG opens one more connection pool on the schema, as another
// replica would, closed when the test ends.
func openPG(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
