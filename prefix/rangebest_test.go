package prefix

import (
	"fmt"
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
