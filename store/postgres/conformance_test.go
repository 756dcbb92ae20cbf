package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// freshSchema is an empty schema of the test's own (pgtest).
func freshSchema(t *testing.T) string { return pgtest.FreshSchema(t) }

// migratedDB is a database of the test's own with the schema in it: a
// copy of a template migrated once (pgtest.MigratedDatabase), not a
// migration per test. The migration tests use empty schemas.
func migratedDB(t *testing.T) string { return migrated.Database(t) }

func open(t *testing.T) registry.Store {
	s, err := postgres.Open(context.Background(), migratedDB(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

// A search_path naming no existing schema is refused with a message that
// says so, not the migration tool's confusing "relation does not exist".
func TestOpenRefusesMissingSchema(t *testing.T) {
	dsn := freshSchema(t) // proves the server is there (testenv.Need otherwise)
	dsn = dsn[:strings.LastIndex(dsn, "search_path=")] + "search_path=cadastre_no_such_schema"
	_, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "cadastre_no_such_schema") || !strings.Contains(err.Error(), "CREATE SCHEMA") {
		t.Fatalf("Open with a missing schema: %v", err)
	}
}

// The allocator over this store follows the brute-force model of the rules.
func TestAllocatorMatchesModel(t *testing.T) { storetest.Model(t, open) }

// A Count batch (deferred writes here) leaves exactly what as many single
// allocations leave.
func TestBatchMatchesSingles(t *testing.T) { storetest.BatchMatchesSingles(t, open) }

// Export, import and export again give the same bytes; bad files change nothing.
func TestTransfer(t *testing.T)       { storetest.Transfer(t, open) }
func TestTransferNetBox(t *testing.T) { storetest.TransferNetBox(t, open) }

// The cloud-sized register, small: deterministic, shaped like a cloud, consistent.
func TestCloud(t *testing.T) { storetest.Cloud(t, open) }

// The counters kept on write (report, pool listings) equal a recount,
// failed jobs of a group commit included.
func TestCounters(t *testing.T) { storetest.Counters(t, open) }
