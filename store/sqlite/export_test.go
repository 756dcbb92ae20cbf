package sqlite

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
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

// FreeTailSQL deletes the free rows the counters' tail holds (freetail.go).
const FreeTailSQL = freeTailSQL

// FreeCacheMatches checks, inside an Update, that the writer's free
// list (freecache.go) holds each cached scope's free prefixes as a read
// of the table does, the rows the tail holds left out (freeLive).
func FreeCacheMatches(ctx context.Context, rt registry.Tx) error {
	w, ok := rt.(*tx).q.(*wtx)
	if !ok || w.rows == nil {
		return nil
	}
	for s, set := range w.rows.free.scopes {
		if set == nil {
			continue
		}
		rows, err := w.queryNow(ctx, `SELECT bits, addr, pool_id FROM free f WHERE region_id = ?1 AND family = ?2 AND `+freeLive+` ORDER BY bits, addr, pool_id`, s.region, s.family)
		if err != nil {
			return err
		}
		var table, cached []string
		for rows.Next() {
			var bits int
			var addr []byte
			var pool int64
			if err := rows.Scan(&bits, &addr, &pool); err != nil {
				rows.Close()
				return err
			}
			a, _ := netip.AddrFromSlice(addr)
			table = append(table, fmt.Sprintf("%s/%d@%d", a, bits, pool))
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for bits, ks := range set.byBits {
			for _, k := range ks {
				cached = append(cached, fmt.Sprintf("%s/%d@%d", k.addr, bits, k.pool))
			}
		}
		if !slices.Equal(table, cached) {
			return fmt.Errorf("scope %v: cached %v, table %v", s, cached, table)
		}
	}
	return nil
}

// FreeHeld is the number of free rows the writer knows the tail holds,
// and whether it knows them; called inside an Update.
func FreeHeld(rt registry.Tx) (int, bool) {
	w, ok := rt.(*tx).q.(*wtx)
	if !ok || w.rows == nil {
		return 0, false
	}
	return len(w.rows.freeHeld), w.rows.freeKnown
}
