package sqlite_test

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registry.Store {
		s, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "c.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func openStore(t *testing.T) registry.Store {
	s, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "c.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The allocator over this store follows the brute-force model of the rules.
func TestAllocatorMatchesModel(t *testing.T) { storetest.Model(t, openStore) }

// A Count batch (multi-row INSERTs here) leaves exactly what as many
// single allocations leave.
func TestBatchMatchesSingles(t *testing.T) { storetest.BatchMatchesSingles(t, openStore) }

// Export, import and export again give the same bytes; bad files change nothing.
func TestTransfer(t *testing.T)       { storetest.Transfer(t, openStore) }
func TestTransferNetBox(t *testing.T) { storetest.TransferNetBox(t, openStore) }

// The cloud-sized register, small: deterministic, shaped like a cloud, consistent.
func TestCloud(t *testing.T) { storetest.Cloud(t, openStore) }

// The counters kept on write (report, pool listings) equal a recount,
// failed jobs of a group commit included.
func TestCounters(t *testing.T) { storetest.Counters(t, openStore) }
