package postgres

import (
	"bytes"
	"context"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
)

// A take from the queue (issue 16): in a shared batch without savepoints
// (group.go) the jobs' writes wait in one queue until a statement or the
// COMMIT sends them, among them the free prefixes each allocation leaves
// over (laterFree). The next job's take would send them and pick the
// best row of free, by bits descending, then address, then pool; when
// the transaction knows the best row of free the database holds for the
// same request (takeCand), that choice is the better of it and the best
// queued leftover, and a leftover that wins is taken out of the queue
// with no statement and no round trip. The address chosen is the one the
// statement would have chosen.
//
// takeCand is the database's best remaining row of free for one (region,
// family, maxBits), as the last take statement returned it. The region's
// lock, held to the end of the transaction, keeps other transactions'
// writers of free out of the region; any statement this transaction sends
// (exec, query, row, flush, a COPY) may write free, or send queued
// leftovers into it, and forgets it (forget).
type takeCand struct {
	valid   bool
	region  int64
	family  int
	maxBits int
	has     bool // a row exists
	bits    int16
	addr    []byte
	pool    int64
	// used says a take looked at the candidate since takeNoting kept it.
	// A candidate forgotten unused (a statement went out before the next
	// take: a named allocation's name check, a quota's count) cost its
	// two probes for nothing; skip then counts the takes that run the
	// plain statement instead, so that jobs which always send a statement
	// between their takes pay for no probe (session 16: named allocations
	// over HTTP paid 60-70 µs of backend CPU each for probes never used).
	used bool
	skip int
}

// probeSkip is how many takes run without the probes after a candidate
// was forgotten unused; the next takeNoting tries again.
const probeSkip = 32

// forget drops the known candidate: a statement is going out.
func (t *tx) forget() {
	if c := t.cand; c != nil {
		if c.valid && !c.used {
			c.skip = probeSkip
		}
		c.valid = false
	}
}

// probing says whether this take should learn the database's next row
// (takeNoting) rather than run the plain statement.
func (t *tx) probing() bool {
	c := t.cand
	if c.skip > 0 {
		c.skip--
		return false
	}
	return true
}

// before says whether free row (bits, addr, pool) comes before (bBits,
// bAddr, bPool) in the take's order: larger bits (a smaller prefix)
// first, then the lower address, then the lower pool.
func before(bits int16, addr []byte, pool int64, bBits int16, bAddr []byte, bPool int64) bool {
	if bits != bBits {
		return bits > bBits
	}
	if c := bytes.Compare(addr, bAddr); c != 0 {
		return c < 0
	}
	return pool < bPool
}

// takeQueued answers a take from the queued leftovers when the best of
// them comes before the database's known candidate (or there is none).
func (t *tx) takeQueued(regionID int64, family, maxBits int) (registry.FreePrefix, bool) {
	c := t.cand
	if c == nil || !c.valid || c.region != regionID || c.family != family || c.maxBits != maxBits ||
		t.pending == nil || len(t.readers) > 0 {
		// Not used: a queued read (a named allocation's name check) or
		// another request sends a statement anyway.
		return registry.FreePrefix{}, false
	}
	c.used = true
	bestQ, bestK := -1, -1
	var bBits int16
	var bAddr []byte
	var bPool int64
	for qi, q := range t.pending.QueuedQueries {
		a := q.Arguments
		switch q.SQL {
		case insertFree:
			if a[0].(int64) != regionID || a[1].(int) != family || a[2].(int) > maxBits {
				continue
			}
			if bits := int16(a[2].(int)); bestQ < 0 || before(bits, a[3].([]byte), a[4].(int64), bBits, bAddr, bPool) {
				bestQ, bestK, bBits, bAddr, bPool = qi, -1, bits, a[3].([]byte), a[4].(int64)
			}
		case insertFrees:
			rs, fs, bs, as, ps := a[0].([]int64), a[1].([]int16), a[2].([]int16), a[3].([][]byte), a[4].([]int64)
			for k := range rs {
				if rs[k] != regionID || int(fs[k]) != family || int(bs[k]) > maxBits {
					continue
				}
				if bestQ < 0 || before(bs[k], as[k], ps[k], bBits, bAddr, bPool) {
					bestQ, bestK, bBits, bAddr, bPool = qi, k, bs[k], as[k], ps[k]
				}
			}
		}
	}
	if bestQ < 0 || c.has && before(c.bits, c.addr, c.pool, bBits, bAddr, bPool) {
		// Nothing queued, or the database's row comes first: the
		// statement takes it (after sending the queue).
		return registry.FreePrefix{}, false
	}
	ip, ok := netip.AddrFromSlice(bAddr)
	if !ok {
		return registry.FreePrefix{}, false
	}
	f := registry.FreePrefix{Prefix: netip.PrefixFrom(ip, int(bBits)), PoolID: bPool, RegionID: regionID}
	// The queue is changed in place, its earlier jobs' part too: a job
	// that fails after this gives the batch up (group.go), and the batch
	// runs again with savepoints, where nothing is taken from the queue.
	t.tookQueued = true
	if t.s != nil {
		t.s.memTakes.Add(1)
	}
	q := t.pending.QueuedQueries[bestQ]
	if bestK >= 0 {
		a := q.Arguments
		a[0], a[1], a[2] = del(a[0].([]int64), bestK), del(a[1].([]int16), bestK), del(a[2].([]int16), bestK)
		a[3], a[4] = del(a[3].([][]byte), bestK), del(a[4].([]int64), bestK)
		if len(a[0].([]int64)) > 0 {
			return f, true
		}
	}
	t.pending.QueuedQueries = append(t.pending.QueuedQueries[:bestQ], t.pending.QueuedQueries[bestQ+1:]...)
	if bestQ < t.carried {
		t.carried--
	}
	return f, true
}

func del[T any](s []T, k int) []T {
	out := make([]T, 0, len(s)-1)
	out = append(out, s[:k]...)
	return append(out, s[k+1:]...)
}

// takeWithNext is the take (TakeSmallestFree's statement) that also
// returns the best row left after it, for takeCand: the row tagged 0 is
// the one taken; 1 the next at the same bits, 2 the first at the next
// smaller bits (read before the DELETE, both exclude the row taken).
// Each is one probe of free's key (region_id, family, bits, addr, pool_id),
// the DELETE's too: pick's values go in as parameters (InitPlans), not as
// a join, so that the rows come in the key's order and LIMIT 1 reads one
// (a join sorted every row of the same bits: 85 ms at 10M assignments;
// the DELETE joined USING pick read every row of the region and family,
// 91 in BenchmarkDurablePostgres, 0.1 ms of 0.25).
const takeWithNext = `WITH pick AS (SELECT bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3 ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1),
	taken AS (DELETE FROM free WHERE region_id = $1 AND family = $2
		AND (bits, addr, pool_id) = (SELECT bits, addr, pool_id FROM pick) RETURNING bits, addr, pool_id)
	SELECT 0, bits, addr, pool_id FROM taken
	UNION ALL (SELECT 1, bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM pick) AND (addr, pool_id) > ((SELECT addr FROM pick), (SELECT pool_id FROM pick))
		ORDER BY addr, pool_id LIMIT 1)
	UNION ALL (SELECT 2, bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits < (SELECT bits FROM pick) ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1)`

// takeNoting runs takeWithNext and keeps the candidate it returns.
func (t *tx) takeNoting(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	rows, err := t.query(ctx, takeWithNext, regionID, family, maxBits)
	if err != nil {
		return registry.FreePrefix{}, false, err
	}
	f, found, next, err := readTakeWithNext(rows, nextKey{regionID, family, maxBits})
	if err != nil {
		return registry.FreePrefix{}, false, err
	}
	if t.cand != nil {
		next.valid = true
		next.skip = t.cand.skip
		*t.cand = next
	}
	return f, found, nil
}
