package prefix

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestRangeBestRandom compares RangeBest with a search of Range over
// random ranges of both families, near the start and the top of the
// space and in between.
func TestRangeBestRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func(fam int, hi bool) netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		n := 4
		if fam == 6 {
			n = 16
		}
		switch rng.IntN(3) {
		case 0: // near the top
			for i := 0; i < n-1; i++ {
				b[i] = 0xff
			}
		case 1: // near the start
			for i := 0; i < n-1; i++ {
				b[i] = 0
			}
		}
		if fam == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	for range 20000 {
		fam := []int{4, 6}[rng.IntN(2)]
		a, b := addr(fam, false), addr(fam, true)
		if b.Less(a) {
			a, b = b, a
		}
		all := Range(a, b)
		for _, maxBits := range []int{rng.IntN(a.BitLen() + 1), a.BitLen(), a.BitLen() - 1} {
			var want netip.Prefix
			for _, p := range all {
				if p.Bits() <= maxBits && (!want.IsValid() || p.Bits() > want.Bits()) {
					want = p
				}
			}
			got, ok := RangeBest(a, b, maxBits)
			if ok != want.IsValid() || got != want {
				t.Fatalf("RangeBest(%s, %s, %d) = %s, %v; want %s", a, b, maxBits, got, ok, want)
			}
		}
	}
}
