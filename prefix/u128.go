package prefix

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit integer; IPv4 uses the low 32 bits.
type u128 struct{ hi, lo uint64 }

func toU(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func toAddr(u u128, fb int) netip.Addr {
	if fb == 32 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

// lowMask has the low k bits set (0 <= k <= 128).
func lowMask(k int) u128 {
	switch {
	case k <= 0:
		return u128{}
	case k >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case k >= 64:
		return u128{1<<(k-64) - 1, ^uint64(0)}
	}
	return u128{0, 1<<k - 1}
}

// hostMask has the host bits of a /bits in a family of width fb set.
func hostMask(fb, bits int) u128 { return lowMask(fb - bits) }

// familyMax is the highest address of a family of width fb.
func familyMax(fb int) u128 { return lowMask(fb) }

// bitAt has only network bit i set (0 is the most significant bit of the
// family).
func bitAt(fb, i int) u128 {
	k := fb - 1 - i
	if k >= 64 {
		return u128{hi: 1 << (k - 64)}
	}
	return u128{lo: 1 << k}
}

func (u u128) or(v u128) u128  { return u128{u.hi | v.hi, u.lo | v.lo} }
func (u u128) and(v u128) u128 { return u128{u.hi & v.hi, u.lo & v.lo} }

// bitLen is the number of bits u needs (0 for 0).
func bitLen(u u128) int {
	if u.hi != 0 {
		return 64 + bits.Len64(u.hi)
	}
	return bits.Len64(u.lo)
}
func (u u128) xor(v u128) u128 { return u128{u.hi ^ v.hi, u.lo ^ v.lo} }

func (u u128) add1() u128 {
	lo, c := bits.Add64(u.lo, 1, 0)
	return u128{u.hi + c, lo}
}

func (u u128) sub(v u128) u128 {
	lo, b := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, b)
	return u128{hi, lo}
}

func (u u128) cmp(v u128) int { return Count(u).Cmp(Count(v)) }

func (u u128) less(v u128) bool { return u.cmp(v) < 0 }

// trailingZeros counts zero bits from the least significant end (128 for 0).
func (u u128) trailingZeros() int {
	if u.lo != 0 {
		return bits.TrailingZeros64(u.lo)
	}
	return 64 + bits.TrailingZeros64(u.hi)
}
