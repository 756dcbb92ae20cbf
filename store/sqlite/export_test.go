package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// ExecInTx runs a raw statement on the connection of the transaction tx,
// so that a test can break the savepoint a shared transaction gives each
// caller (RELEASE it early) and make the store's own savepoint command
// fail, as SQLite itself would fail it.
func ExecInTx(ctx context.Context, rt registry.Tx, q string) error {
	_, err := rt.(*tx).q.exec(ctx, q)
	return err
}

// WaitQueued waits until n Updates wait for the writer.
func WaitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.jobs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d Updates queued after 10s, want %d", len(s.jobs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TailCounted reports whether the writer counts the pool counters' tail
// itself (rowCache.tail), so that its next fold writes those counts
// instead of counting the rows; called inside an Update.
func TailCounted(rt registry.Tx) bool {
	w, ok := rt.(*tx).q.(*wtx)
	return ok && w.rows != nil && w.rows.tailKnown
}
