package geo

import (
	"encoding/binary"
	"iter"
	"math"
	"net/netip"
)

// flat6 is the IPv6 half of a Table's ranked bart table flattened for
// look-ups, as flat4 is the IPv4 half: the disjoint address ranges that
// each have one answer (the slot of the longest match there, or none),
// sorted, adjacent ranges with the same answer merged.
//
// A range is keyed by the upper 64 bits of its start: every network of
// the real databases is a /64 or shorter. A /64 inside which some range
// starts (a register or feed entry longer than /64) is a range of its
// own whose answer points into a small second table of starts by the
// lower 64 bits.
//
// The keys are searched through a static B+tree laid out for the cache:
// the ranges in nodes of 21 keys and their 21 answers, 256 bytes (four
// cache lines, fetched together); above them levels of every 8th key of
// the level below, each window of 8 keys one cache line scanned without
// branches. Only the node and the largest level above it (8 bytes a
// node) are likely cache misses, where bart walks up to eight trie nodes
// and an MMDB reader a bit at a time. On a 2-vCPU VM, 64-byte nodes of 5
// ranges took 190 ns a look-up, 128-byte nodes of 10 140 ns, 256-byte
// nodes 125 ns, 512-byte nodes 145 ns; 2 MiB pages made no difference.
// An answer id is the location's index<<8 | the prefix length (Answer is
// 120 bytes; the few hundred distinct source and location pairs of a
// country database stay in the cache where the thousands of pairs with a
// length would not). It costs 12.2 bytes a range and 0.5 for the levels.
type flat6 struct {
	nodes []node6
	// levels[0] is the first key of each node, levels[k+1] every 8th key
	// of levels[k]; each padded with math.MaxUint64 to a whole window.
	levels [][]uint64
	size   []int // the unpadded length of each level
	// The ranges that start inside the /64 of an answer fine6|n, by the
	// lower 64 bits: fineLo[fineAt[n]:fineAt[n+1]], the first one at 0.
	fineAt []uint32
	fineLo []uint64
	fineID []uint32
	// ans is each distinct answer but for the prefix length (its Prefix
	// is zero); ans[0] is unused. An answer id is its index<<8 | bits.
	ans []Answer
}

// node6 is fanout6n ranges: their keys, ascending (a node not full is padded
// with math.MaxUint64 and the last answer), and their answers.
type node6 struct {
	key [fanout6n]uint64
	id  [fanout6n]uint32
	_   uint32
}

const (
	fanout6  = 8  // keys of a window in the levels above the nodes
	fanout6n = 21 // ranges of a node
	fine6    = 1 << 31
	maxAns6  = 1<<23 - 1 // distinct answers an id can hold
)

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

func (x u128) next() u128 {
	if x.lo == math.MaxUint64 {
		return u128{x.hi + 1, 0}
	}
	return u128{x.hi, x.lo + 1}
}

func (x u128) prev() u128 {
	if x.lo == 0 {
		return u128{x.hi - 1, math.MaxUint64}
	}
	return u128{x.hi, x.lo - 1}
}

func addr128(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// last128 is the last address of p.
func last128(p netip.Prefix) u128 {
	x := addr128(p.Addr())
	switch b := p.Bits(); {
	case b == 0:
		return u128{math.MaxUint64, math.MaxUint64}
	case b <= 64:
		return u128{x.hi | math.MaxUint64>>b, math.MaxUint64}
	default:
		return u128{x.hi, x.lo | math.MaxUint64>>(b-64)}
	}
}

// newFlat6 flattens the IPv6 prefixes of a longest-prefix-match table,
// given in CIDR order (each prefix before the prefixes inside it); answer
// makes the answer of a slot.
//
// It fails, returning nil, only for more than maxAns6 distinct source and
// location pairs.
func newFlat6(sorted iter.Seq2[netip.Prefix, slot], answer func(slot) Answer) *flat6 {
	f := &flat6{ans: []Answer{{}}}
	ids := map[slot]uint32{}
	base := map[Answer]uint32{}

	// The ranges over the whole space, by a sweep with the stack of open
	// prefixes (as newFlat4), with inclusive ends so that nothing
	// overflows at the top of the space.
	type open struct {
		last u128
		id   uint32
	}
	var stack []open
	var starts []u128
	var rid []uint32
	cur, done := u128{}, false
	emit := func(last u128) { // [cur, last] takes the answer of the stack top
		if done || last.less(cur) {
			return
		}
		var id uint32
		if len(stack) > 0 {
			id = stack[len(stack)-1].id
		}
		if n := len(rid); n == 0 || rid[n-1] != id {
			starts, rid = append(starts, cur), append(rid, id)
		}
		if last == (u128{math.MaxUint64, math.MaxUint64}) {
			done = true
		} else {
			cur = last.next()
		}
	}
	for p, s := range sorted {
		start := addr128(p.Addr())
		for len(stack) > 0 && stack[len(stack)-1].last.less(start) {
			emit(stack[len(stack)-1].last)
			stack = stack[:len(stack)-1]
		}
		if cur.less(start) {
			emit(start.prev())
		}
		id, ok := ids[s]
		if !ok {
			ans := answer(s)
			ans.Prefix = netip.Prefix{}
			n, ok := base[ans]
			if !ok {
				if len(f.ans) > maxAns6 {
					return nil
				}
				n = uint32(len(f.ans))
				base[ans] = n
				f.ans = append(f.ans, ans)
			}
			id = n<<8 | uint32(p.Bits())
			ids[s] = id
		}
		stack = append(stack, open{last128(p), id})
	}
	for len(stack) > 0 {
		emit(stack[len(stack)-1].last)
		stack = stack[:len(stack)-1]
	}
	emit(u128{math.MaxUint64, math.MaxUint64})

	// Key the ranges by the upper 64 bits of their starts, a /64 with
	// starts inside it sending the look-up to the fine table.
	var keys []uint64
	var kid []uint32
	add := func(k uint64, id uint32) {
		if n := len(kid); n > 0 && kid[n-1] == id && id&fine6 == 0 {
			return
		}
		keys, kid = append(keys, k), append(kid, id)
	}
	for i := 0; i < len(starts); {
		h := starts[i].hi
		j := i + 1
		for j < len(starts) && starts[j].hi == h {
			j++
		}
		if j == i+1 && starts[i].lo == 0 {
			add(h, rid[i])
		} else {
			f.fineAt = append(f.fineAt, uint32(len(f.fineLo)))
			first := rid[i]
			if starts[i].lo != 0 {
				first = rid[i-1] // i > 0: the first range starts at ::
			}
			f.fineLo, f.fineID = append(f.fineLo, 0), append(f.fineID, first)
			for k := i; k < j; k++ {
				if starts[k].lo != 0 {
					f.fineLo, f.fineID = append(f.fineLo, starts[k].lo), append(f.fineID, rid[k])
				}
			}
			add(h, fine6|uint32(len(f.fineAt)-1))
			// The last range goes on past this /64 unless the next
			// starts in the /64 after it (which then sees it as its first).
			if h != math.MaxUint64 && (j == len(starts) || starts[j].hi > h+1) {
				add(h+1, rid[j-1])
			}
		}
		i = j
	}
	f.fineAt = append(f.fineAt, uint32(len(f.fineLo)))

	// The nodes, and the levels of the static B+tree above them.
	f.nodes = make([]node6, (len(keys)+fanout6n-1)/fanout6n)
	up := make([]uint64, 0, len(f.nodes)+fanout6)
	for i := range f.nodes {
		nd := &f.nodes[i]
		for j := range fanout6n {
			k := min(i*fanout6n+j, len(keys)-1)
			nd.key[j], nd.id[j] = keys[k], kid[k]
			if k < i*fanout6n+j {
				nd.key[j] = math.MaxUint64
			}
		}
		up = append(up, nd.key[0])
	}
	keys = up
	for {
		f.size = append(f.size, len(keys))
		for len(keys)%fanout6 != 0 {
			keys = append(keys, math.MaxUint64)
		}
		f.levels = append(f.levels, keys)
		if len(keys) == fanout6 {
			break
		}
		up := make([]uint64, 0, len(keys)/fanout6+fanout6)
		for j := 0; j < len(keys); j += fanout6 {
			up = append(up, keys[j])
		}
		keys = up
	}
	return f
}

// lookup is the answer for the IPv6 address a: an answer id (an index
// into f.ans<<8 | the prefix length), or 0.
func (f *flat6) lookup(a netip.Addr) uint32 {
	b := a.As16()
	x := binary.BigEndian.Uint64(b[:8])
	// At each level, from the top, the last key at or before x in the
	// window under the key found a level up; the first key of every
	// level is 0.
	pos := 0
	for k := len(f.levels) - 1; k >= 0; k-- {
		w := (*[fanout6]uint64)(f.levels[k][pos*fanout6:])
		c := le(w[0], x) + le(w[1], x) + le(w[2], x) + le(w[3], x) +
			le(w[4], x) + le(w[5], x) + le(w[6], x) + le(w[7], x)
		pos = min(pos*fanout6+c-1, f.size[k]-1)
	}
	nd := &f.nodes[pos]
	c := 0
	for _, k := range nd.key[1:] {
		c += le(k, x)
	}
	id := nd.id[c]
	if id&fine6 == 0 {
		return id
	}
	n := id &^ fine6
	lo, hi := f.fineAt[n], f.fineAt[n+1]
	y := binary.BigEndian.Uint64(b[8:])
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if f.fineLo[m] <= y {
			lo = m
		} else {
			hi = m
		}
	}
	return f.fineID[lo]
}

// le is x <= y as 0 or 1, without a branch.
func le(x, y uint64) int {
	if x <= y {
		return 1
	}
	return 0
}

// prefix6 is the prefix of length bits around the IPv6 address a: what
// a.Prefix(bits) gives, without its checks (a is valid, without a zone,
// bits <= 128).
func prefix6(a netip.Addr, bits int) netip.Prefix {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	switch {
	case bits == 0:
		hi, lo = 0, 0
	case bits <= 64:
		hi, lo = hi&^(math.MaxUint64>>bits), 0
	case bits < 128:
		lo &^= math.MaxUint64 >> (bits - 64)
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.PrefixFrom(netip.AddrFrom16(b), bits)
}
