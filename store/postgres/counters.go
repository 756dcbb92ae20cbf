package postgres

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// Pool counters (store/internal/poolcount): a transaction adds its
// changes up in tx.counts and stores them with its COMMIT, in the same
// round trip (run; commitUse in a group commit), one upsert for every
// counter row it touched. In a group commit each job starts from a copy
// of the shared changes and hands its own back only if it succeeds, so a
// job rolled back to its savepoint leaves nothing here either.
//
// The upsert adds to what the row holds when it runs (READ COMMITTED: a
// concurrent transaction's upsert of the same row waits for this one's
// COMMIT and then adds to it), so replicas never lose a count; its rows
// go in key order, so two transactions never wait for each other's
// counter rows in a cycle.

// upsertCounts adds a transaction's changes to the counter rows.
const upsertCounts = countsInto + `
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::bigint[]) ORDER BY 1, 2, 3, 4
	` + countsOnConflict

// upsertCounts1 and upsertCounts2 are upsertCounts for one and two
// rows, as VALUES in key order (poolcount's Rows: the keys' order in Go
// is SQL's, the kinds being three lower-case ASCII words, and a VALUES
// list is inserted in its order): an allocation's two counters. The
// arrays' unnest set up five table functions, each with its tuplestore,
// and a sort, at every allocation (issue 16: the backend's CPU an
// allocation).
const (
	upsertCounts1 = countsInto + `
	VALUES ($1::bigint, $2::text, $3::int, $4::bigint, $5::bigint)
	` + countsOnConflict
	upsertCounts2 = countsInto + `
	VALUES ($1::bigint, $2::text, $3::int, $4::bigint, $5::bigint), ($6::bigint, $7::text, $8::int, $9::bigint, $10::bigint)
	` + countsOnConflict
)

// countsInto and countsOnConflict are what the upserts share.
const (
	countsInto       = `INSERT INTO pool_counts (pool_id, kind, bits, day, n)`
	countsOnConflict = `ON CONFLICT (pool_id, kind, bits, day) DO UPDATE SET n = pool_counts.n + excluded.n`
)

// queueCounts queues the upsert of d's changes in b; false if there are
// none.
func queueCounts(b *pgx.Batch, d poolcount.Deltas) bool {
	if len(d) == 0 {
		return false
	}
	rows := d.Rows()
	if len(rows) > 2 {
		pools, kinds, bits, days, ns := poolcount.Columns(rows)
		b.Queue(upsertCounts, pools, kinds, bits, days, ns)
		return true
	}
	args := make([]any, 0, 5*len(rows))
	for _, r := range rows {
		args = append(args, r.Pool, string(r.Kind), int32(r.Bits), r.Day, r.N)
	}
	b.Queue([...]string{upsertCounts1, upsertCounts2}[len(rows)-1], args...)
	return true
}

// storeCounts stores the transaction's changes before a statement that
// reads the counters.
func (t *tx) storeCounts(ctx context.Context) error {
	if len(t.counts) == 0 {
		return nil
	}
	pools, kinds, bits, days, ns := poolcount.Columns(t.counts.Rows())
	if _, err := t.exec(ctx, upsertCounts, pools, kinds, bits, days, ns); err != nil {
		return fmt.Errorf("store pool counts: %w", err)
	}
	t.counts = nil
	return nil
}

// countInserted counts new assignment rows.
func (t *tx) countInserted(as ...registry.Assignment) {
	for _, a := range as {
		t.counts.Inserted(a.PoolID, a.Prefix.Bits(), a.State, micros(a.CreatedAt))
	}
}

// usageQuery is Usage's statement ($1 the pools, $2 now). The ended
// quarantines are counted once (MATERIALIZED): as a joined subquery the
// generic plan PostgreSQL settles on for a prepared statement ran the
// count again for every counter row (a nested loop without
// materialisation: 453 counter rows x 47,170 quarantined entries for the
// overview at ten million, minutes). $1 is BIGINT[] in both places:
// assignments.pool_id is an INTEGER (00064), pool_counts.pool_id a BIGINT,
// and a parameter given no type takes one from each ("inconsistent types
// deduced"). A length is the prefix's (00064).
const usageQuery = `WITH e AS MATERIALIZED (SELECT pool_id, masklen(prefix) AS bits, count(*) AS n FROM assignments
		WHERE state = 'quarantined' AND quarantine_until <= $2 AND pool_id = ANY($1::bigint[]) GROUP BY 1, 2)
	SELECT c.pool_id, c.kind, c.bits, c.n, coalesce(e.n, 0) FROM pool_counts c
		LEFT JOIN e ON c.kind = 'quarantined' AND e.pool_id = c.pool_id AND e.bits = c.bits
		WHERE c.pool_id = ANY($1::bigint[]) AND c.kind IN ('assigned', 'quarantined') AND c.day = 0 AND c.n <> 0`

// Usage implements registry.Tx from the counters: one row per pool,
// state and length, plus the quarantined assignments whose cool-down has
// ended, counted in the index of the pools' quarantined assignments
// (quarantines are few: they end in a day or so).
func (t *tx) Usage(ctx context.Context, poolIDs []int64, now time.Time) ([]registry.Usage, error) {
	if len(poolIDs) == 0 {
		return nil, nil
	}
	if err := t.storeCounts(ctx); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, usageQuery, poolIDs, micros(now))
	return collect(rows, err, func(rows rowscan.Scanner) (registry.Usage, error) {
		var u registry.Usage
		var st string
		err := rows.Scan(&u.PoolID, &st, &u.Bits, &u.Count, &u.Expired)
		u.State = registry.State(st)
		return u, err
	})
}

// CreatedSince implements registry.Tx: the whole days from since's on,
// from the day counters alone.
func (t *tx) CreatedSince(ctx context.Context, poolIDs []int64, since time.Time) (map[int]int64, error) {
	out := map[int]int64{}
	if len(poolIDs) == 0 {
		return out, nil
	}
	if err := t.storeCounts(ctx); err != nil {
		return nil, err
	}
	day := poolcount.Day(micros(since))
	rows, err := t.query(ctx, `SELECT bits, sum(n)::bigint FROM pool_counts WHERE pool_id = ANY($1) AND kind = 'created' AND day >= $2
		GROUP BY bits`, poolIDs, day)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var bits int
		var n int64
		if err := rows.Scan(&bits, &n); err != nil {
			return nil, err
		}
		out[bits] = n
	}
	maps.DeleteFunc(out, func(_ int, n int64) bool { return n == 0 })
	return out, mapErr(rows.Err())
}
