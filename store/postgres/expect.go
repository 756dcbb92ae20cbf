package postgres

import (
	"context"
	"errors"
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
// allocation this replica knows what the region's next take will answer,
// if nothing else writes the region's free space meanwhile: the best of
// the prefixes the allocation left over and of the row the database held
// next (the take statement returns it, takeWithNext). So the next
// allocation alone in the region is answered that row without a round
// trip, and its take goes out with its writes and its COMMIT, as
// takeExpected: the same take, and cadastre_expect (00081) fails the
// statement when the row it took is not the one expected. The region's
// lock, read from this replica's copy (lockKnownRegion), goes as
// lockRegionExpected, which fails the same way when the row is not the
// copy. A failed statement skips the rest of the pipeline, the COMMIT
// with it: the transaction did nothing, and Update runs it again
// (serialization_failure), the plain way, the expectation forgotten.
//
// What stays as it was: the take is the statement it was, under the
// region's lock, with a snapshot taken after the lock, and chooses the
// row it would have chosen; the transaction commits only if that row is
// the one the registry was handed, so its writes are those the plain
// path would have made. Any write transaction of this Store that commits
// with a region's lock forgets the region's expectation (it may have
// written free rows); another replica's writes are found by the check.
// A read whose answer is checked in the client only (a tenant's use, a
// name) is still read before the COMMIT is sent (run).

// nextKey is one kind of take: a region, a family and the longest prefix
// length wanted.
type nextKey struct {
	region  int64
	family  int
	maxBits int
}

// nextFree is the Store's expectations of its next takes, and the
// regions whose expectations failed lately.
type nextFree struct {
	mu   sync.Mutex
	rows map[nextKey]registry.FreePrefix
	// skip counts, by region, the transactions that learn nothing after
	// an expectation failed there: another writer (replica) takes in the
	// region, and each wrong guess costs a transaction run twice.
	skip map[int64]int
}

// expectSkip is how many transactions of a region learn no expectation
// after one failed there.
const expectSkip = 64

// maxExpected bounds the expectations kept.
const maxExpected = 4096

// expected returns the row the next take of k is expected to answer.
func (n *nextFree) expected(k nextKey) (registry.FreePrefix, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f, ok := n.rows[k]
	return f, ok
}

// settle is called after a write transaction that held the regions
// locked committed: their expectations are forgotten, and next becomes
// one (learnt, when the transaction learnt it).
func (n *nextFree) settle(locked []int64, learnt bool, k nextKey, next registry.FreePrefix) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.rows) > 0 {
		for key := range n.rows {
			for _, id := range locked {
				if key.region == id {
					delete(n.rows, key)
				}
			}
		}
	}
	if !learnt {
		return
	}
	if s := n.skip[k.region]; s > 0 {
		n.skip[k.region] = s - 1
		return
	}
	if n.rows == nil || len(n.rows) >= maxExpected {
		n.rows = map[nextKey]registry.FreePrefix{}
	}
	n.rows[k] = next
}

// failed forgets the regions' expectations after one failed, and learns
// none there for the next expectSkip transactions.
func (n *nextFree) failed(locked []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for key := range n.rows {
		for _, id := range locked {
			if key.region == id {
				delete(n.rows, key)
			}
		}
	}
	if n.skip == nil {
		n.skip = map[int64]int{}
	}
	for _, id := range locked {
		n.skip[id] = expectSkip
	}
}

// specTake is what a transaction alone learns of its take for the next
// one: the database's next row after it and the best prefix it left over.
type specTake struct {
	key nextKey
	// dirty: the transaction wrote free rows otherwise than by one take
	// and its leftovers; it learns nothing.
	dirty bool
	// expected marks a take answered from the expectation (takeExpected
	// queued).
	expected bool
	next     takeCand // the database's best row after the take (has, bits, addr, pool)
	left     takeCand // the best leftover queued for the same key
}

// leftOver notes a free prefix the transaction queued for insertion
// after its take (AddFree, deferred).
func (s *specTake) leftOver(f registry.FreePrefix) {
	if f.RegionID != s.key.region || prefix.Family(f.Prefix) != s.key.family || f.Prefix.Bits() > s.key.maxBits {
		return
	}
	bits, addr := int16(f.Prefix.Bits()), addrBytes(f.Prefix.Addr())
	if !s.left.has || before(bits, addr, f.PoolID, s.left.bits, s.left.addr, s.left.pool) {
		s.left.has, s.left.bits, s.left.addr, s.left.pool = true, bits, addr, f.PoolID
	}
}

// best is the row the next take of the key will answer, if any is known.
func (s *specTake) best() (registry.FreePrefix, bool) {
	c := s.next
	if !c.has || s.left.has && before(s.left.bits, s.left.addr, s.left.pool, c.bits, c.addr, c.pool) {
		c = s.left
	}
	if !c.has {
		return registry.FreePrefix{}, false
	}
	ip, ok := netip.AddrFromSlice(c.addr)
	if !ok {
		return registry.FreePrefix{}, false
	}
	return registry.FreePrefix{Prefix: netip.PrefixFrom(ip, int(c.bits)), PoolID: c.pool, RegionID: s.key.region}, true
}

// alone says whether t is a write transaction of its own (run), which
// may send its take expected and its COMMIT in one round trip.
func (t *tx) alone() bool {
	return t.s != nil && t.write && !t.batched && !t.one && t.cand == nil
}

// expectErrHint marks cadastre_expect's failures (00081).
const expectErrHint = "cadastre-expect"

// expectFailed reports a failure of cadastre_expect.
func expectFailed(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40001" && pe.Hint == expectErrHint
}

// takeExpected is takeWithNext that fails unless the row it takes is
// ($4, $5, $6): the (VALUES) row joined makes the check run when no row
// was taken too.
const takeExpected = `WITH pick AS (SELECT bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT MAX(bits) FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3)
		ORDER BY addr, pool_id LIMIT 1),
	taken AS (DELETE FROM free f USING pick WHERE f.region_id = $1 AND f.family = $2
		AND (f.bits, f.addr, f.pool_id) = (pick.bits, pick.addr, pick.pool_id) RETURNING f.bits, f.addr, f.pool_id)
	SELECT 0, t.bits, t.addr, t.pool_id FROM (VALUES (1)) v LEFT JOIN taken t ON true
		WHERE cadastre_expect((t.bits, t.addr, t.pool_id) = ($4::smallint, $5::bytea, $6::bigint), 'the free prefix taken')
	UNION ALL (SELECT 1, bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM pick) AND (addr, pool_id) > ((SELECT addr FROM pick), (SELECT pool_id FROM pick))
		ORDER BY addr, pool_id LIMIT 1)
	UNION ALL (SELECT 2, bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT MAX(bits) FROM free WHERE region_id = $1 AND family = $2 AND bits < (SELECT bits FROM pick))
		ORDER BY addr, pool_id LIMIT 1)`

// lockRegionExpected locks region $1 and fails unless its row is this
// replica's copy ($2...).
const lockRegionExpected = `WITH r AS (SELECT ` + regionCols + ` FROM regions WHERE name = $1 FOR NO KEY UPDATE)
	SELECT r.* FROM (VALUES (1)) v LEFT JOIN r ON true
	WHERE cadastre_expect((r.id, r.country, r.subdivision, r.city, r.borrow_policy, r.borrow_bits, r.created_at)
		IS NOT DISTINCT FROM ($2::bigint, $3::text, $4::text, $5::text, $6::text, $7::integer, $8::bigint), 'region')`

// takeAlone is TakeSmallestFree in a transaction alone (t.alone): the
// expected row without a round trip when one is known and nothing read
// only in the client waits in the queue, else takeWithNext, to learn the
// next one.
func (t *tx) takeAlone(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	k := nextKey{regionID, family, maxBits}
	if t.spec != nil || t.freeWritten {
		// A second take, or free rows written before: nothing learnt.
		if t.spec != nil {
			t.spec.dirty = true
		}
		t.freeWritten = true
		return t.takePlain(ctx, regionID, family, maxBits)
	}
	t.spec = &specTake{key: k}
	if f, ok := t.s.next.expected(k); ok && len(t.readers) == t.checkedReads {
		spec := t.spec
		spec.expected = true
		bits, addr := int16(f.Prefix.Bits()), addrBytes(f.Prefix.Addr())
		t.queueCheckedRead(func(rows pgx.Rows) error {
			got, found, next, err := readTakeWithNext(rows, k)
			if err != nil {
				return err
			}
			if !found || got != f {
				// cadastre_expect failed the statement first: not reached.
				return errors.New("postgres: the free prefix taken is not the one expected (a bug: cadastre_expect let it through)")
			}
			spec.next = next
			return nil
		}, takeExpected, regionID, family, maxBits, bits, addr, f.PoolID)
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
	t.spec.next = next
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

// queueCheckedRead is queueRead for a statement that fails on the server
// when its answer is not the one the client was handed (cadastre_expect):
// it may go out with the COMMIT (run).
func (t *tx) queueCheckedRead(read func(pgx.Rows) error, q string, args ...any) {
	t.queueRead(read, q, args...)
	t.checkedReads++
}

// settleAlone tells the Store what a transaction alone that committed
// learnt (run).
func (s *Store) settleAlone(x *tx) {
	var k nextKey
	var f registry.FreePrefix
	learnt := false
	if sp := x.spec; sp != nil && !sp.dirty {
		k = sp.key
		f, learnt = sp.best()
	}
	if learnt || len(x.locked) > 0 {
		s.next.settle(x.locked, learnt, k, f)
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
