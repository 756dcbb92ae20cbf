package sqlite

import (
	"context"
	"fmt"
	"maps"
	"math/bits"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// countCache keeps a group-commit batch's changes to the pool counters
// (poolcount) in memory and writes them once, before COMMIT: a batch of
// N allocations in a pool is one upsert per counter it touched, not N.
// As useCache does for tenants: the writer connection is the only one,
// so adding deltas is exact; a statement that reads the counters flushes
// first; a caller's failure rolls its savepoint back and, with it, what it
// added here (begin, end).
type countCache struct {
	d       poolcount.Deltas
	snap    poolcount.Deltas
	snapped bool
}

// begin starts a caller's savepoint.
func (c *countCache) begin() { c.snap, c.snapped = nil, false }

// end closes a caller's savepoint: failed, its changes are undone.
func (c *countCache) end(failed bool) {
	if failed && c.snapped {
		c.d = c.snap
	}
	c.snap, c.snapped = nil, false
}

// change is called before the running caller changes the cache.
func (c *countCache) change() {
	if !c.snapped {
		c.snap, c.snapped = c.d.Clone(), true
	}
}

// upsertCounts[k] adds changes to 1<<k counter rows in one statement:
// batches go in power-of-two slices (rowsOf), so these few texts serve
// every size and stay prepared. Built once, never written after.
var upsertCounts = func() (out [8]string) {
	for k := range out {
		out[k] = `INSERT INTO pool_counts (pool_id, kind, bits, day, n) VALUES ` + valuesList(1<<k, 5) + `
	ON CONFLICT (pool_id, kind, bits, day) DO UPDATE SET n = n + excluded.n`
	}
	return out
}()

// flush writes the changes and empties the cache: usually one statement
// (an allocation touches two counters: its state's and its day's).
func (c *countCache) flush(ctx context.Context, q querier) error {
	if len(c.d) == 0 {
		return nil
	}
	c.change()
	rows := c.d.Rows()
	args := make([]any, 0, 5*min(len(rows), maxRows))
	for len(rows) > 0 {
		n := rowsOf(min(len(rows), maxRows))
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r.Pool, string(r.Kind), r.Bits, r.Day, r.N)
		}
		if _, err := q.exec(ctx, upsertCounts[bits.Len(uint(n))-1], args...); err != nil {
			return fmt.Errorf("pool %d: store its counts: %w", rows[0].Pool, mapErr(err))
		}
		rows = rows[n:]
	}
	c.d = nil
	return nil
}

// counts is the batch's counter cache in a write transaction, nil in a
// view (which writes nothing).
func (t *tx) counts() *countCache {
	if w, ok := t.q.(*wtx); ok {
		return &w.cnt
	}
	return nil
}

// countInserted counts new assignment rows.
func (t *tx) countInserted(as ...registry.Assignment) {
	c := t.counts()
	if c == nil {
		return
	}
	c.change()
	for _, a := range as {
		c.d.Inserted(a.PoolID, a.Prefix.Bits(), a.State, micros(a.CreatedAt))
	}
}

// stateBefore reads what UpdateAssignment needs to count a change of
// state: the row's pool, length and state before it.
func (t *tx) stateBefore(ctx context.Context, id int64) (pool int64, bits int, st registry.State, err error) {
	rows, err := t.q.query(ctx, `SELECT pool_id, bits, state FROM assignments WHERE id = ?`, id)
	var s string
	_, err = one(rows, err, func(rows rowscan.Scanner) (struct{}, error) {
		return struct{}{}, rows.Scan(&pool, &bits, &s)
	})
	return pool, bits, registry.State(s), notFound(err, fmt.Sprintf("assignment %d", id))
}

// flushCounts writes the batch's counter changes before a statement that
// reads the counters.
func (t *tx) flushCounts(ctx context.Context) error {
	if w, ok := t.q.(*wtx); ok {
		return w.cnt.flush(ctx, w)
	}
	return nil
}

// Usage implements registry.Tx from the counters: one row per pool,
// state and length, plus the quarantined assignments whose cool-down has
// ended, counted in the index of the pools' quarantined assignments
// (quarantines are few: they end in a day or so).
func (t *tx) Usage(ctx context.Context, poolIDs []int64, now time.Time) ([]registry.Usage, error) {
	if len(poolIDs) == 0 {
		return nil, nil
	}
	if err := t.flushCounts(ctx); err != nil {
		return nil, err
	}
	ids := idList(poolIDs)
	rows, err := t.q.query(ctx, `SELECT pool_id, kind, bits, n FROM pool_counts
		WHERE pool_id IN (`+ids+`) AND kind IN ('assigned', 'quarantined') AND day = 0 AND n <> 0`)
	out, err := collect(rows, err, func(rows rowscan.Scanner) (registry.Usage, error) {
		var u registry.Usage
		var st string
		err := rows.Scan(&u.PoolID, &st, &u.Bits, &u.Count)
		u.State = registry.State(st)
		return u, err
	})
	if err != nil {
		return nil, err
	}
	// The pools' quarantined entries of the covering index by pool and
	// state, not the index of every quarantine by end: quarantines
	// that ended and were not reaped yet (no reaper runs between CLI
	// commands) can be thousands, each a row read, for every call.
	// `state <> 'assigned'` is the partial index's condition (00026),
	// which SQLite does not infer from `state = 'quarantined'`.
	rows, err = t.q.query(ctx, `SELECT pool_id, bits, count(*) FROM assignments INDEXED BY assignments_pool_state
		WHERE pool_id IN (`+ids+`) AND state = 'quarantined' AND state <> 'assigned' AND quarantine_until <= ? GROUP BY pool_id, bits`, micros(now))
	expired, err := collect(rows, err, func(rows rowscan.Scanner) (registry.Usage, error) {
		var u registry.Usage
		return u, rows.Scan(&u.PoolID, &u.Bits, &u.Expired)
	})
	if err != nil {
		return nil, err
	}
	return withExpired(out, expired), nil
}

// withExpired sets the Expired of out's quarantined counts from expired.
func withExpired(out, expired []registry.Usage) []registry.Usage {
	if len(expired) == 0 {
		return out
	}
	type key struct {
		pool int64
		bits int
	}
	n := make(map[key]int64, len(expired))
	for _, e := range expired {
		n[key{e.PoolID, e.Bits}] = e.Expired
	}
	for i, u := range out {
		if u.State == registry.StateQuarantined {
			out[i].Expired = n[key{u.PoolID, u.Bits}]
		}
	}
	return out
}

// CreatedSince implements registry.Tx: the whole days from since's on,
// from the day counters alone.
func (t *tx) CreatedSince(ctx context.Context, poolIDs []int64, since time.Time) (map[int]int64, error) {
	out := map[int]int64{}
	if len(poolIDs) == 0 {
		return out, nil
	}
	if err := t.flushCounts(ctx); err != nil {
		return nil, err
	}
	ids := idList(poolIDs)
	day := poolcount.Day(micros(since))
	read := func(q string, args ...any) error {
		rows, err := t.q.query(ctx, q, args...)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			var bits int
			var n int64
			if err := rows.Scan(&bits, &n); err != nil {
				return err
			}
			out[bits] += n
		}
		return rows.Err()
	}
	if err := read(`SELECT bits, sum(n) FROM pool_counts WHERE pool_id IN (`+ids+`) AND kind = 'created' AND day >= ? GROUP BY bits`, day); err != nil {
		return nil, err
	}
	maps.DeleteFunc(out, func(_ int, n int64) bool { return n == 0 })
	return out, nil
}
