package server_test

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// pgSchema is a schema of the test's own (pgtest).
func pgSchema(t *testing.T) string { return pgtest.FreshSchema(t) }

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
