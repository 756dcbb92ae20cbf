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
//
// The counters hold the assignment rows up to pool_counts_mark.through
// (00059); the rows after it, the tail, are counted by the readers from
// the rows themselves. A single allocation's row joins the tail and
// writes no counter (fold.go); a batch's rows are counted here, the tail
// folded into the counters before them and the mark moved past them
// after (markDue), before anything reads the mark or writes to the tail.
type countCache struct {
	d poolcount.Deltas
	// tailEmpty: no row after the mark (known in this transaction);
	// markDue: d counts rows after the mark, which must move to the last
	// row before a row joins the tail or a reader adds the tail up.
	tailEmpty, markDue bool
	// added counts the rows this transaction added to the tail.
	added int
	snap  countSnap
	// snapped: snap holds the running caller's starting state.
	snapped bool
}

// countSnap is what a caller's failure restores.
type countSnap struct {
	d                  poolcount.Deltas
	tailEmpty, markDue bool
}

// begin starts a caller's savepoint.
func (c *countCache) begin() { c.snap, c.snapped = countSnap{}, false }

// end closes a caller's savepoint: failed, its changes are undone.
func (c *countCache) end(failed bool) {
	if failed && c.snapped {
		c.d, c.tailEmpty, c.markDue = c.snap.d, c.snap.tailEmpty, c.snap.markDue
	}
	c.snap, c.snapped = countSnap{}, false
}

// change is called before the running caller changes the cache.
func (c *countCache) change() {
	if !c.snapped {
		c.snap, c.snapped = countSnap{d: c.d.Clone(), tailEmpty: c.tailEmpty, markDue: c.markDue}, true
	}
}

// tailMax is the tail's length at which the writer folds it into the
// counters at COMMIT: what a reader of the counters reads at most beyond
// them (a range of the table by ID, twice that after a crash or another
// writer's allocations), against one upsert of the tail's counters and one
// WAL frame or two every tailMax allocations.
const tailMax = 128

const (
	// tailWhere selects the rows of the tail of assignments a.
	tailWhere = `a.id > (SELECT through FROM pool_counts_mark)`
	// markSQL moves the mark to the last row; markClampSQL moves it back to
	// the last row when rows after that were deleted, so that new rows,
	// whose IDs follow the last, join the tail.
	markSQL      = `UPDATE pool_counts_mark SET through = (SELECT COALESCE(MAX(id), 0) FROM assignments) WHERE through <> (SELECT COALESCE(MAX(id), 0) FROM assignments)`
	markClampSQL = `UPDATE pool_counts_mark SET through = (SELECT COALESCE(MAX(id), 0) FROM assignments) WHERE through > (SELECT COALESCE(MAX(id), 0) FROM assignments)`
	tailLenSQL   = `SELECT COALESCE(MAX(id), 0) - (SELECT through FROM pool_counts_mark) FROM assignments`
)

// foldTailSQL adds the tail's rows, in their states now, to the counters
// (markSQL then moves the mark past them).
var foldTailSQL = `INSERT INTO pool_counts (pool_id, kind, bits, day, n)
	SELECT pool_id, kind, bits, day, count(*) FROM (
		SELECT a.pool_id, 'created' AS kind, a.bits, ` + poolcount.DaySQL("a.created_at") + ` AS day FROM assignments a WHERE ` + tailWhere + `
		UNION ALL
		SELECT a.pool_id, a.state, a.bits, 0 FROM assignments a WHERE ` + tailWhere + ` AND a.state IN ('assigned', 'quarantined'))
	WHERE true GROUP BY 1, 2, 3, 4
	ON CONFLICT (pool_id, kind, bits, day) DO UPDATE SET n = n + excluded.n`

// settle moves the mark past the rows d counts, if due.
func (w *wtx) settle(ctx context.Context) error {
	if !w.cnt.markDue {
		return nil
	}
	if _, err := w.exec(ctx, markSQL); err != nil {
		return fmt.Errorf("pool counters: move the mark: %w", mapErr(err))
	}
	w.cnt.change()
	w.cnt.markDue = false
	w.rows.countedTo(w.rows.nextID - 1)
	return nil
}

// foldTail adds the tail to the counters and moves the mark past it.
// When the writer counted the tail's rows as they joined (rowCache.tail),
// it writes those counts: the same upsert a batch's counts are, instead of
// foldTailSQL's two passes over the tail and its sort, ~2.5M instructions
// a fold, ~20k a single allocation (bench/README.md, "Session 17 ...
// sqlitedurable5"). Otherwise (a row of the tail changed or was deleted,
// the writer started, another connection wrote) it counts the rows.
func (w *wtx) foldTail(ctx context.Context) error {
	if w.held.active() {
		// A held row joins the tail first, as it would before foldTailSQL.
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	qs := []string{foldTailSQL, markSQL}
	if c := w.rows; c != nil && c.tailKnown {
		if err := upsertDeltas(ctx, w, c.tail); err != nil {
			return err
		}
		qs = qs[1:]
	}
	for _, q := range qs {
		if _, err := w.exec(ctx, q); err != nil {
			return fmt.Errorf("pool counters: count the tail: %w", mapErr(err))
		}
	}
	w.cnt.change()
	w.cnt.tailEmpty, w.cnt.markDue = true, false
	w.rows.countedTo(w.rows.nextID - 1)
	return nil
}

// beforeTail is called before a row that joins the tail is written.
func (w *wtx) beforeTail(ctx context.Context) error { return w.settle(ctx) }

// joinedTail is called after a row joined the tail, with what it counts.
func (w *wtx) joinedTail(pool int64, bits int, st registry.State, createdMicros int64) {
	w.cnt.change()
	w.cnt.tailEmpty = false
	w.cnt.added++
	if w.rows != nil {
		w.rows.joinedTail(pool, bits, st, createdMicros)
	}
}

// beforeCounted is called before rows that d counts are written: the
// tail is folded first, so that the mark can move past them (countInserted).
func (t *tx) beforeCounted(ctx context.Context) error {
	if w, ok := t.q.(*wtx); ok && !w.cnt.tailEmpty {
		return w.foldTail(ctx)
	}
	return nil
}

// commitCounts writes the batch's counter changes before COMMIT, moves
// the mark past what they count, and folds the tail when it is long.
func (w *wtx) commitCounts(ctx context.Context) error {
	if err := w.cnt.flush(ctx, w); err != nil {
		return err
	}
	if err := w.settle(ctx); err != nil {
		return err
	}
	if w.cnt.added == 0 {
		return nil
	}
	n, ok := w.rows.tailLen()
	if !ok {
		rows, err := w.query(ctx, tailLenSQL)
		if n, err = one(rows, err, func(rows rowscan.Scanner) (int64, error) {
			var n int64
			return n, rows.Scan(&n)
		}); err != nil {
			return fmt.Errorf("pool counters: the tail's length: %w", mapErr(err))
		}
	}
	if n >= tailMax {
		return w.foldTail(ctx)
	}
	return nil
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
	if err := upsertDeltas(ctx, q, c.d); err != nil {
		return err
	}
	c.d = nil
	return nil
}

// upsertDeltas adds d to the counters.
func upsertDeltas(ctx context.Context, q querier, d poolcount.Deltas) error {
	rows := d.Rows()
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

// countInserted counts new assignment rows, written after beforeCounted.
func (t *tx) countInserted(as ...registry.Assignment) {
	c := t.counts()
	if c == nil {
		return
	}
	c.change()
	c.markDue = true
	for _, a := range as {
		c.d.Inserted(a.PoolID, a.Prefix.Bits(), a.State, micros(a.CreatedAt))
	}
}

// stateBefore reads what UpdateAssignment needs to count a change of
// state: the row's pool, length and state before it, and whether the
// counters hold it (a row of the tail is counted as it is).
func (t *tx) stateBefore(ctx context.Context, id int64) (pool int64, bits int, st registry.State, counted bool, err error) {
	rows, err := t.q.query(ctx, `SELECT a.pool_id, a.bits, a.state, NOT (`+tailWhere+`) FROM assignments a WHERE a.id = ?`, id)
	var s string
	_, err = one(rows, err, func(rows rowscan.Scanner) (struct{}, error) {
		return struct{}{}, rows.Scan(&pool, &bits, &s, &counted)
	})
	return pool, bits, registry.State(s), counted, notFound(err, fmt.Sprintf("assignment %d", id))
}

// flushCounts writes the batch's counter changes, and moves the mark past
// what they count, before a statement that reads the counters.
func (t *tx) flushCounts(ctx context.Context) error {
	if w, ok := t.q.(*wtx); ok {
		if err := w.cnt.flush(ctx, w); err != nil {
			return err
		}
		return w.settle(ctx)
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
	// The counters and the tail's live rows (00059), the tail by ID.
	rows, err := t.q.query(ctx, `SELECT pool_id, kind, bits, SUM(n) FROM (
		SELECT pool_id, kind, bits, n FROM pool_counts WHERE pool_id IN (`+ids+`) AND kind IN ('assigned', 'quarantined') AND day = 0
		UNION ALL
		SELECT a.pool_id, a.state, a.bits, 1 FROM assignments a WHERE `+tailWhere+` AND +a.pool_id IN (`+ids+`) AND +a.state IN ('assigned', 'quarantined'))
		GROUP BY 1, 2, 3 HAVING SUM(n) <> 0`)
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
	if err := read(`SELECT bits, sum(n) FROM (
		SELECT bits, n FROM pool_counts WHERE pool_id IN (`+ids+`) AND kind = 'created' AND day >= ?1
		UNION ALL
		SELECT a.bits, 1 FROM assignments a WHERE `+tailWhere+` AND +a.pool_id IN (`+ids+`) AND `+poolcount.DaySQL("a.created_at")+` >= ?1)
		GROUP BY bits`, day); err != nil {
		return nil, err
	}
	maps.DeleteFunc(out, func(_ int, n int64) bool { return n == 0 })
	return out, nil
}
