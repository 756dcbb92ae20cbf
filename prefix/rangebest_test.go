package prefix

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// RangeBest must pick what a search of Range's prefixes picks: the most
// bits at most maxBits, the lowest address among those.
func TestRangeBest(t *testing.T) {
	ranges := [][2]string{
		{"10.0.0.0", "10.0.0.255"},
		{"10.0.0.1", "10.0.0.255"},
		{"10.0.0.3", "10.0.0.254"},
		{"10.0.0.7", "10.0.0.7"},
		{"0.0.0.0", "255.255.255.255"},
		{"10.0.0.5", "10.0.1.17"},
		{"2001:db8::1", "2001:db8::ffff:ffff"},
		{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, r := range ranges {
		first, last := netip.MustParseAddr(r[0]), netip.MustParseAddr(r[1])
		all := Range(first, last)
		for maxBits := 0; maxBits <= first.BitLen(); maxBits++ {
			var want netip.Prefix
			for _, p := range all {
				if p.Bits() <= maxBits && (!want.IsValid() || p.Bits() > want.Bits()) {
					want = p
				}
			}
			got, ok := RangeBest(first, last, maxBits)
			if ok != want.IsValid() || got != want {
				t.Errorf("RangeBest(%s, %s, %d) = %s, %v; want %s", first, last, maxBits, got, ok, want)
			}
		}
	}
	if _, ok := RangeBest(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), 32); ok {
		t.Error("an empty range has a best prefix")
	}
}

func ExampleRangeBest() {
	// A /24 whose first 5 addresses are used: the rest is .5/32, .6/31,
	// .8/29 and up; a request for a /30 takes the /29 at .8.
	p, _ := RangeBest(netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("192.0.2.255"), 30)
	fmt.Println(p)
	// Output: 192.0.2.8/29
}

// TestRangeBestPoolTails: RangeBest's O(1) answer for a range that ends
// where an aligned block holding it ends (a pool's tail, as
// store/sqlite's frontier asks) is a search's, for random pools of both
// families, at the start and the top of the space.
func TestRangeBestPoolTails(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 16))
	for i := range 5000 {
		fb := 32
		var b [16]byte
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if i%2 == 1 {
			fb = 128
		}
		switch i % 8 {
		case 2, 3:
			clear(b[:]) // the family's first addresses
		case 4, 5:
			for j := range b {
				b[j] = 0xff // its last
			}
		}
		a := netip.AddrFrom16(b)
		if fb == 32 {
			a = netip.AddrFrom4([4]byte(b[:4]))
		}
		pool := netip.PrefixFrom(a, rng.IntN(fb+1)).Masked()
		last := Last(pool)
		lo := pool.Addr()
		for range rng.IntN(fb) {
			if n := lo.Next(); n.IsValid() && !last.Less(n) && rng.IntN(3) > 0 {
				lo = n
			}
		}
		if rng.IntN(2) == 0 {
			// Somewhere inside, not only near the start.
			off := Range(lo, last)
			lo = off[rng.IntN(len(off))].Addr()
		}
		all := Range(lo, last)
		for maxBits := -1; maxBits <= fb; maxBits++ {
			var want netip.Prefix
			for _, p := range all {
				if p.Bits() <= maxBits && (!want.IsValid() || p.Bits() > want.Bits()) {
					want = p
				}
			}
			if got, ok := RangeBest(lo, last, maxBits); ok != want.IsValid() || got != want {
				t.Fatalf("RangeBest(%s, %s, %d) = %s, %v; want %s", lo, last, maxBits, got, ok, want)
			}
		}
	}
}
