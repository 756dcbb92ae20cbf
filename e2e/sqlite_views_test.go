package e2e

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// TestSQLiteConcurrentColdReads (fixed: each read connection now prepares
// its own statements) is the deterministic form of a hang seen
// under the load generator: 16 clients hitting a freshly started
// `cadastre serve --db` sometimes get no answer at all, and /readyz hangs
// too. The read pool has 8 connections; a View holds one for its whole
// transaction, and the first use of a query prepares it (Store.rstmt)
// under a mutex with s.rdb.PrepareContext, which needs a further pooled
// connection. Eight Views that reach the same cold query together hold
// all 8 connections, one waits for a 9th inside the mutex and the other
// seven wait for the mutex: nobody ever finishes.
func TestSQLiteConcurrentColdReads(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cold.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const views = 8 // the read pool's size
	var inside sync.WaitGroup
	inside.Add(views)
	done := make(chan error, views)
	for range views {
		go func() {
			done <- st.View(ctx, func(tx registry.Tx) error {
				inside.Done()
				inside.Wait() // all 8 read connections are now held
				_, err := tx.Regions(ctx)
				return err
			})
		}()
	}
	deadline := time.After(10 * time.Second)
	for i := range views {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			// The goroutines stay blocked; the store cannot be closed.
			t.Fatalf("%d of %d concurrent read transactions still blocked after 10 s: deadlock in the read statement cache", views-i, views)
		}
	}
	st.Close()
}
