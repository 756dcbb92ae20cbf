package postgres

import (
	"bytes"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
)

// PROTOTYPE (not for merge): a take answered from the free prefixes this
// batch queued and has not sent, without a statement. It does NOT check
// the rows of free already in the database (a smaller or lower one there
// would be the right answer): it measures what skipping the take's round
// trip would give, in a benchmark whose free space is one buddy split.
func (t *tx) takeQueued(regionID int64, family, maxBits int) (registry.FreePrefix, bool) {
	if !t.memTake || t.pending == nil || len(t.readers) > 0 {
		return registry.FreePrefix{}, false
	}
	bestQ, bestK := -1, -1
	var bBits int16
	var bAddr []byte
	var bPool int64
	better := func(bits int16, addr []byte, pool int64) bool {
		if bestQ < 0 || bits > bBits {
			return true
		}
		if bits < bBits {
			return false
		}
		if c := bytes.Compare(addr, bAddr); c != 0 {
			return c < 0
		}
		return pool < bPool
	}
	for qi, q := range t.pending.QueuedQueries {
		a := q.Arguments
		switch q.SQL {
		case insertFree:
			if a[0].(int64) != regionID || a[1].(int) != family || a[2].(int) > maxBits {
				continue
			}
			if bits := int16(a[2].(int)); better(bits, a[3].([]byte), a[4].(int64)) {
				bestQ, bestK, bBits, bAddr, bPool = qi, -1, bits, a[3].([]byte), a[4].(int64)
			}
		case insertFrees:
			rs, fs, bs, as, ps := a[0].([]int64), a[1].([]int16), a[2].([]int16), a[3].([][]byte), a[4].([]int64)
			for k := range rs {
				if rs[k] != regionID || int(fs[k]) != family || int(bs[k]) > maxBits {
					continue
				}
				if better(bs[k], as[k], ps[k]) {
					bestQ, bestK, bBits, bAddr, bPool = qi, k, bs[k], as[k], ps[k]
				}
			}
		}
	}
	if bestQ < 0 {
		return registry.FreePrefix{}, false
	}
	ip, ok := netip.AddrFromSlice(bAddr)
	if !ok {
		return registry.FreePrefix{}, false
	}
	f := registry.FreePrefix{Prefix: netip.PrefixFrom(ip, int(bBits)), PoolID: bPool, RegionID: regionID}
	q := t.pending.QueuedQueries[bestQ]
	if bestK < 0 {
		t.pending.QueuedQueries = append(t.pending.QueuedQueries[:bestQ], t.pending.QueuedQueries[bestQ+1:]...)
		if bestQ < t.carried {
			t.carried--
		}
		return f, true
	}
	a := q.Arguments
	cut := func(k int) {
		a[0] = del(a[0].([]int64), k)
		a[1] = del(a[1].([]int16), k)
		a[2] = del(a[2].([]int16), k)
		a[3] = del(a[3].([][]byte), k)
		a[4] = del(a[4].([]int64), k)
	}
	cut(bestK)
	if len(a[0].([]int64)) == 0 {
		t.pending.QueuedQueries = append(t.pending.QueuedQueries[:bestQ], t.pending.QueuedQueries[bestQ+1:]...)
		if bestQ < t.carried {
			t.carried--
		}
	}
	return f, true
}

func del[T any](s []T, k int) []T {
	out := make([]T, 0, len(s)-1)
	out = append(out, s[:k]...)
	return append(out, s[k+1:]...)
}
