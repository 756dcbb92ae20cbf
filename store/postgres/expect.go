package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// An allocation alone in one round trip (issue 16: one caller's durable
// allocation at >= 80 % of an empty durable commit).
//
// A transaction of its own (run) sent its region's lock and its take of a
// free prefix in one round trip, and its writes and COMMIT in a second:
// the registry needs the take's answer to know what to write. After an
// allocation this replica knows what the region's next takes will answer,
// if nothing else writes the region's free space meanwhile (nextFree: the
// prefixes the allocation left over, then the rows known before). So the
// next allocation alone in the region is answered the first of them
// without a round trip, and its take goes out with its writes and its
// COMMIT, as takeExpected: a DELETE of that row, which cadastre_expect
// (00081) fails unless the row is the one TakeSmallestFree's statement
// would take, folded with the allocation's writes (fold.go). The region's
// lock, read from this replica's copy (lockKnownRegion), goes as
// lockRegionExpected (with the transaction's bounds in one statement:
// lockRegionTimed), which fails the same way when the row is not the
// copy. A failed statement skips the rest of the pipeline, the COMMIT
// with it: the transaction did nothing, and Update runs it again
// (serialization_failure, or registry.ErrConflict for any other failure
// of a transaction that took what it expected: afterExpected), the plain
// way, the expectation forgotten.
//
// What stays as it was: the take chooses, under the region's lock and
// with a snapshot taken after it, the row the plain statement chooses;
// the transaction commits only if that row is the one the registry was
// handed, so its writes are those the plain path would have made. Any
// write transaction of this Store that commits with a region's lock
// forgets the region's expectations (it may have written free rows);
// another replica's writes are found by the check. A read whose answer
// is checked in the client only (a tenant's use, a name) is still read
// before the COMMIT is sent (run). Group commits (group.go) are not
// changed: their jobs take from the batch's queue (memtake.go).

// nextKey is one kind of take: a region, a family and the longest prefix
// length wanted.
type nextKey struct {
	region  int64
	family  int
	maxBits int
}

// nextFree is the Store's expectations of its next takes, and the
// regions whose expectations failed lately.
//
// An expectation of a kind of take is a list of free rows in the take's
// order (before) that come before every other row of free the take may
// choose, so that the next takes answer them in turn. A take's leftovers
// come before every row it did not take: they are parts of the row taken,
// hence longer than any the take could have chosen (it chose the longest
// that fits, then the lowest address). So after a take that learnt the
// database's next row (takeWithNext), the list is its leftovers and that
// row; after a take of the list's first row, the rest and its leftovers.
type nextFree struct {
	mu   sync.Mutex
	rows map[nextKey][]registry.FreePrefix
	// skip counts, by region, the transactions that learn nothing after
	// an expectation failed there: another writer (replica) takes in the
	// region, and each wrong guess costs a transaction run twice.
	skip map[int64]int
}

const (
	// expectSkip is how many transactions of a region learn no
	// expectation after one failed there.
	expectSkip = 64
	// maxExpected bounds the kinds of take expected, maxKnown the rows
	// kept for one (the first ones: still before every other row).
	maxExpected = 4096
	maxKnown    = 32
)

// expected returns the rows the next takes of k are expected to answer,
// in order; the caller must not change them.
func (n *nextFree) expected(k nextKey) []registry.FreePrefix {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rows[k]
}

// settle is called after a write transaction that held the regions
// locked committed: their expectations are forgotten, and rows becomes
// k's (learnt, when the transaction learnt it).
func (n *nextFree) settle(locked []int64, learnt bool, k nextKey, rows []registry.FreePrefix) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop(locked)
	if !learnt || len(rows) == 0 {
		return
	}
	if s := n.skip[k.region]; s > 0 {
		n.skip[k.region] = s - 1
		return
	}
	if n.rows == nil || len(n.rows) >= maxExpected {
		n.rows = map[nextKey][]registry.FreePrefix{}
	}
	n.rows[k] = rows
}

// skipping says whether expectations failed in the region lately: its
// transactions alone lock it by a statement, not by a copy
// (lockKnownRegion), which a row the copy never matches (a borrow policy
// stored in another spelling than its String) would fail every time.
func (n *nextFree) skipping(region int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.skip[region] > 0
}

// drop forgets the regions' expectations; n.mu is held.
func (n *nextFree) drop(regions []int64) {
	for key := range n.rows {
		if slices.Contains(regions, key.region) {
			delete(n.rows, key)
		}
	}
}

// failed forgets the regions' expectations after one failed, and learns
// none there for the next expectSkip transactions.
func (n *nextFree) failed(locked []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop(locked)
	if n.skip == nil {
		n.skip = map[int64]int{}
	}
	for _, id := range locked {
		n.skip[id] = expectSkip
	}
}

// specTake is what a transaction alone learns of its take for the next
// ones: the rows known to come first after it (nextFree).
type specTake struct {
	key nextKey
	// dirty: the transaction wrote free rows otherwise than by one take
	// and its leftovers; it learns nothing.
	dirty bool
	// known are the rows known before the take's leftovers came: the
	// expectation's rest, or the database's next row (takeWithNext).
	known []registry.FreePrefix
	// left are the leftovers queued for the same kind of take.
	left []registry.FreePrefix
	// taken is the row an expected take took, take its statement queued
	// (takeExpected); nil for a take that was a statement.
	taken registry.FreePrefix
	take  *pgx.QueuedQuery
}

// leftOver notes a free prefix the transaction queued for insertion
// after its take (AddFree, deferred).
func (s *specTake) leftOver(f registry.FreePrefix) {
	if s.take != nil && f == s.taken {
		// The row taken goes back: its DELETE and INSERT stay two
		// statements, in order.
		s.take.SQL = takeExpectedUnfolded
		s.dirty = true
	}
	if f.RegionID == s.key.region && prefix.Family(f.Prefix) == s.key.family && f.Prefix.Bits() <= s.key.maxBits {
		s.left = append(s.left, f)
	}
}

// next is the expectation after the transaction: its leftovers, in the
// take's order, then the rows known, at most maxKnown. Every leftover
// comes before every row known: it is a part of the row taken, which came
// before them, so it is longer than any of them.
func (s *specTake) next() []registry.FreePrefix {
	slices.SortFunc(s.left, func(a, b registry.FreePrefix) int {
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return b.Prefix.Bits() - a.Prefix.Bits() // longer first
		}
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.PoolID, b.PoolID)
	})
	n := min(len(s.left)+len(s.known), maxKnown)
	rows := make([]registry.FreePrefix, 0, n)
	rows = append(rows, s.left[:min(len(s.left), n)]...)
	return append(rows, s.known[:n-len(rows)]...)
}

// alone says whether t is a write transaction of its own (run), which
// may send its take expected and its COMMIT in one round trip.
func (t *tx) alone() bool {
	return t.s != nil && t.write && !t.batched && !t.one && t.cand == nil
}

// expectErrHint marks cadastre_expect's failures (00081).
const expectErrHint = "cadastre-expect"

// isExpectFailure reports a failure of cadastre_expect.
func isExpectFailure(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40001" && pe.Hint == expectErrHint
}

// takeExpected deletes the free row expected ($4, $5, $6), failing
// unless it is the one TakeSmallestFree's statement (takePlain) would
// take: the check is a one-time filter (cadastre_expect is STABLE, its
// argument an uncorrelated subquery), made before the row is looked for,
// so that it fails when the row is not there too. Under the region's
// lock no other transaction deletes the row between the two. A plain
// DELETE, so that fold can fold it with the allocation's writes (one
// statement fewer: foldTable).
const takeExpected = `DELETE FROM free WHERE region_id = $1 AND family = $2 AND bits = $4 AND addr = $5 AND pool_id = $6
	AND cadastre_expect((SELECT (bits, addr, pool_id) = ($4, $5, $6) FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3 ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1), 'the free prefix taken')`

// takeExpectedUnfolded is takeExpected not to be folded: the transaction
// puts the row back (AddFree), and an INSERT of it folded with its
// DELETE, in no promised order, could find it still there.
const takeExpectedUnfolded = takeExpected + ` -- not folded`

// lockRegionExpected locks region $1 and fails unless its row is this
// replica's copy ($2...). Its rows are not read.
const lockRegionExpected = `WITH r AS (SELECT ` + regionCols + ` FROM regions WHERE name = $1 FOR NO KEY UPDATE)
	SELECT cadastre_expect((r.id, r.country, r.subdivision, r.city, r.borrow_policy, r.borrow_bits, r.created_at)
		IS NOT DISTINCT FROM ($2::bigint, $3::text, $4::text, $5::text, $6::text, $7::integer, $8::bigint), 'region')
	FROM (VALUES (1)) v LEFT JOIN r ON true`

// lockRegionTimed is lockRegionExpected that also sets the transaction's
// bounds (setTimeouts, $9 and $10): a transaction alone whose first
// statement after BEGIN locks a region by its copy sends one statement
// for both, not two (issue 16: fewer statements per allocation). The
// bounds are set before the lock is waited for: a targetlist is evaluated
// in order, and the lock is an InitPlan, run when its value is first
// needed, by the third column. lock_timeout bounds the wait for the
// row; statement_timeout, as before, bounds the statements after this
// one. The row is checked as lockRegionExpected checks it (no row: false).
const lockRegionTimed = `SELECT set_config('lock_timeout', $9, true), set_config('statement_timeout', $10, true),
	cadastre_expect(COALESCE((SELECT (id, country, subdivision, city, borrow_policy, borrow_bits, created_at)
		IS NOT DISTINCT FROM ($2::bigint, $3::text, $4::text, $5::text, $6::text, $7::integer, $8::bigint)
		FROM regions WHERE name = $1 FOR NO KEY UPDATE), false), 'region')`

// lockExpected queues the lock of region name by its copy known, checked
// on the server: in place of the transaction's setTimeouts when that is
// the last statement queued (lockRegionTimed), else after it.
func (t *tx) lockExpected(name string, known registry.Region) {
	args := []any{name, known.ID, known.Location.Country, known.Location.Subdivision, known.Location.City,
		known.Borrow.String(), known.BorrowBits, micros(known.CreatedAt)}
	if b := t.pending; b != nil && b.Len() > t.carried && len(t.readers) == 0 {
		if last := b.QueuedQueries[b.Len()-1]; last.SQL == setTimeouts {
			last.SQL, last.Arguments = lockRegionTimed, append(args, last.Arguments...)
			return
		}
	}
	t.later(lockRegionExpected, args...)
}

// takeAlone is TakeSmallestFree in a transaction alone (t.alone): the
// first expected row without a round trip when one is known, else
// takeWithNext, to learn the next row.
func (t *tx) takeAlone(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	k := nextKey{regionID, family, maxBits}
	if regionID <= 0 {
		// A child pool's free space (scope minus its ID): it has no row
		// to lock, and its expected take would not wait for another
		// writer's.
		return t.takePlain(ctx, regionID, family, maxBits)
	}
	if t.spec != nil || t.freeWritten {
		// A second take, or free rows written before: nothing learnt.
		t.freeWrote()
		return t.takePlain(ctx, regionID, family, maxBits)
	}
	if rows := t.s.next.expected(k); len(rows) > 0 {
		f := rows[0]
		t.spec = &specTake{key: k, known: rows[1:], taken: f}
		t.later(takeExpected, regionID, family, maxBits, int16(f.Prefix.Bits()), addrBytes(f.Prefix.Addr()), f.PoolID)
		t.spec.take = t.pending.QueuedQueries[t.pending.Len()-1]
		return f, true, nil
	}
	rows, err := t.query(ctx, takeWithNext, regionID, family, maxBits)
	if err != nil {
		return registry.FreePrefix{}, false, err
	}
	f, found, next, err := readTakeWithNext(rows, k)
	if err != nil {
		return registry.FreePrefix{}, false, err
	}
	t.spec = &specTake{key: k}
	if next.has {
		ip, ok := netip.AddrFromSlice(next.addr)
		if ok {
			t.spec.known = []registry.FreePrefix{{Prefix: netip.PrefixFrom(ip, int(next.bits)), PoolID: next.pool, RegionID: regionID}}
		}
	}
	return f, found, nil
}

// readTakeWithNext reads takeWithNext's (or takeExpected's) rows: the
// row taken, and the best row left after it.
func readTakeWithNext(rows pgx.Rows, k nextKey) (registry.FreePrefix, bool, takeCand, error) {
	var f registry.FreePrefix
	found := false
	next := takeCand{region: k.region, family: k.family, maxBits: k.maxBits}
	defer rows.Close()
	for rows.Next() {
		var n int32
		var bits int16
		var addr []byte
		var pool int64
		if err := rows.Scan(&n, &bits, &addr, &pool); err != nil {
			return f, false, next, err
		}
		switch {
		case n == 0:
			ip, ok := netip.AddrFromSlice(addr)
			if !ok {
				return f, false, next, errors.New("postgres: stored free address of a bad length")
			}
			f, found = registry.FreePrefix{Prefix: netip.PrefixFrom(ip, int(bits)), PoolID: pool, RegionID: k.region}, true
		case !next.has || before(bits, addr, pool, next.bits, next.addr, next.pool):
			next.has, next.bits, next.addr, next.pool = true, bits, addr, pool
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, false, next, mapErr(err)
	}
	return f, found, next, nil
}

// settleAlone tells the Store what a transaction alone that committed
// learnt (run).
func (s *Store) settleAlone(x *tx) {
	if sp := x.spec; sp != nil && !sp.dirty {
		s.next.settle(x.locked, true, sp.key, sp.next())
	} else if len(x.locked) > 0 {
		s.next.settle(x.locked, false, nextKey{}, nil)
	}
}

// freeWrote marks a write to free other than a take's leftovers: the
// transaction learns no expectation (and a take after it expects none).
func (t *tx) freeWrote() {
	t.freeWritten = true
	if t.spec != nil {
		t.spec.dirty = true
	}
}

// afterExpected is the outcome of transaction alone x that failed with
// err (run). When x took a free row it expected, its failure may be that
// of the expectation, whichever statement reported first (a folded
// statement's writes run in no promised order: the overlap rule may
// refuse the row before cadastre_expect refuses the take), or a refusal
// of the registry's that went by the row: every such failure runs the
// transaction again without the expectation (registry.ErrConflict), whose
// outcome is the caller's. A failure that may have committed (the
// connection lost, registry.ErrStorage) or the caller's end is the
// caller's as it is.
func (s *Store) afterExpected(x *tx, err error) error {
	if err == nil {
		return nil
	}
	if isExpectFailure(err) {
		// A region's copy (lockKnownRegion), in any transaction alone, or
		// the take expected.
		s.expectFailed(x)
		return err
	}
	if x.spec == nil || x.spec.take == nil {
		return err
	}
	if errors.Is(err, registry.ErrStorage) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Most likely another writer took in the region.
	s.expectFailed(x)
	return fmt.Errorf("%s: a transaction that took the free prefix it expected failed (%v); it runs again: %w", s.name, err, registry.ErrConflict)
}

// expectFailed forgets what x expected: its expectation of the take, its
// copies of the regions; the regions learn none for a while.
func (s *Store) expectFailed(x *tx) {
	s.expectFails.Add(1)
	s.next.failed(x.locked)
	s.forgetRegions(x.locked)
}

// forgetRegions drops this Store's copies of the regions (read again
// under the next lock), after one was not the row expected.
func (s *Store) forgetRegions(ids []int64) {
	s.regions.Range(func(k, v any) bool {
		if slices.Contains(ids, v.(registry.Region).ID) {
			s.regions.Delete(k)
		}
		return true
	})
}
