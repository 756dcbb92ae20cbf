package geo

import (
	"encoding/binary"
	"iter"
	"net/netip"
)

// flat4 is the IPv4 half of a Table's ranked bart table flattened for
// look-ups: the disjoint address ranges that each have one answer (the
// slot of the longest match there, or none), cut at every /16 boundary,
// sorted, with an index by the first 16 bits. A look-up is one read in the
// 256 KiB index and a binary search among the few ranges of one /16
// (2-byte starts: one or two cache lines), where bart walks up to four
// trie nodes; that is what puts IPv4 look-ups at several times the speed
// of an MMDB reader. It costs 6 bytes a range. bart stays the table of
// record: the build, LookupAll and Walk use it; flat6 is the IPv6 half.
type flat4 struct {
	first [1<<16 + 1]uint32 // first[h]: the first range of /16 number h
	low   []uint16          // each range's start, less its /16
	id    []uint32          // each range's answer: an index into ans, 0 for none
	// ans is each distinct answer, made ready once (its Prefix holds
	// only the length); ans[0] is unused.
	ans []Answer
}

// newFlat4 flattens the IPv4 prefixes of a longest-prefix-match table,
// given in CIDR order (each prefix before the prefixes inside it); answer
// makes the answer of a slot.
func newFlat4(sorted iter.Seq2[netip.Prefix, slot], answer func(slot) Answer) *flat4 {
	f := &flat4{ans: []Answer{{}}}
	ids := map[slot]uint32{}
	// The ranges, by a sweep with the stack of open prefixes: a prefix's
	// answer holds from its start, and again after each prefix nested in
	// it, to its end. Addresses are uint64 so that the end of
	// 255.255.255.255/32 is 1<<32.
	type open struct {
		end uint64
		id  uint32
	}
	var stack []open
	var starts []uint64
	var rid []uint32
	cur := uint64(0)
	emit := func(limit uint64) {
		if limit <= cur {
			return
		}
		var id uint32
		if len(stack) > 0 {
			id = stack[len(stack)-1].id
		}
		if n := len(rid); n == 0 || rid[n-1] != id {
			starts, rid = append(starts, cur), append(rid, id)
		}
		cur = limit
	}
	for p, s := range sorted {
		b := p.Addr().As4()
		start := uint64(binary.BigEndian.Uint32(b[:]))
		for len(stack) > 0 && stack[len(stack)-1].end <= start {
			emit(stack[len(stack)-1].end)
			stack = stack[:len(stack)-1]
		}
		emit(start)
		id, ok := ids[s]
		if !ok {
			id = uint32(len(f.ans))
			ids[s] = id
			f.ans = append(f.ans, answer(s))
		}
		stack = append(stack, open{start + 1<<(32-p.Bits()), id})
	}
	for len(stack) > 0 {
		emit(stack[len(stack)-1].end)
		stack = stack[:len(stack)-1]
	}
	emit(1 << 32)

	// Cut at each /16: every /16 then starts with a range of its own.
	f.low = make([]uint16, 0, len(starts)+len(starts)/4)
	f.id = make([]uint32, 0, cap(f.low))
	for i, s := range starts {
		end := uint64(1 << 32)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		for h := s >> 16; h <= (end-1)>>16; h++ {
			st := max(s, h<<16)
			if st == h<<16 {
				f.first[h] = uint32(len(f.low))
			}
			f.low = append(f.low, uint16(st))
			f.id = append(f.id, rid[i])
		}
	}
	f.first[1<<16] = uint32(len(f.low))
	return f
}

// lookup is the answer for the IPv4 address a: an index into f.ans, or 0.
func (f *flat4) lookup(a netip.Addr) uint32 {
	b := a.As4()
	x := binary.BigEndian.Uint32(b[:])
	h := x >> 16
	lo, hi := f.first[h], f.first[h+1]
	// The last range of the /16 starting at or before x; the first one
	// starts at the /16's first address.
	k := uint16(x)
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if f.low[m] <= k {
			lo = m
		} else {
			hi = m
		}
	}
	return f.id[lo]
}

// prefix4 is the prefix of length bits around the IPv4 address a: what
// a.Prefix(bits) gives, without its checks (a is valid, bits <= 32).
func prefix4(a netip.Addr, bits int) netip.Prefix {
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:]) &^ (1<<(32-bits) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.PrefixFrom(netip.AddrFrom4(b), bits)
}
