package prefix

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var mp = netip.MustParsePrefix
var ma = netip.MustParseAddr

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // canonical prefix, or "" when an error is expected
		errHas   string
	}{
		{"IPv4 network accepted", "191.232.0.0/24", "191.232.0.0/24", ""},
		{"IPv6 network accepted", "2001:db8::/32", "2001:db8::/32", ""},
		{"IPv6 written long is canonicalised", "2001:0db8:0000::/48", "2001:db8::/48", ""},
		{"single IPv4 address as /32 accepted", "192.0.2.1/32", "192.0.2.1/32", ""},
		{"default routes accepted", "::/0", "::/0", ""},
		{"host bits set is an error with a suggestion", "191.232.0.1/24", "", "191.232.0.1/24: host bits set (did you mean 191.232.0.0/24?)"},
		{"IPv6 host bits set is an error", "2001:db8::1/64", "", "host bits set (did you mean 2001:db8::/64?)"},
		{"zone is rejected", "fe80::1%eth0/64", "", "zone not allowed"},
		{"IPv4-mapped IPv6 names the IPv4 form", "::ffff:192.0.2.0/120", "", "write the IPv4 form 192.0.2.0/24"},
		{"leading zero octet is rejected", "010.0.0.0/8", "", "leading zero"},
		{"leading zero length is rejected", "10.0.0.0/08", "", "bad bits"},
		{"leading space is rejected", " 10.0.0.0/8", "", "surrounding spaces"},
		{"trailing newline is rejected", "10.0.0.0/8\n", "", "surrounding spaces"},
		{"empty string is rejected", "", "", "empty prefix"},
		{"bare address is rejected with a hint", "192.0.2.1", "", "missing /length (for one address write 192.0.2.1/32)"},
		{"length beyond family is rejected", "10.0.0.0/33", "", "out of range"},
		{"garbage is rejected and quoted", "ten/8", "", `"ten/8"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if tt.want != "" {
				if err != nil || p.String() != tt.want {
					t.Fatalf("Parse(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse(%q) = %v; want error containing %q", tt.in, p, tt.errHas)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("Parse(%q) error %q; want it to contain %q", tt.in, err, tt.errHas)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error does not match ErrInvalid", tt.in)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		name, in, want, errHas string
	}{
		{"IPv4 accepted", "192.0.2.1", "192.0.2.1", ""},
		{"IPv6 accepted", "2001:db8::1", "2001:db8::1", ""},
		{"zone rejected", "fe80::1%eth0", "", "zone not allowed"},
		{"IPv4-mapped rejected with IPv4 form", "::ffff:192.0.2.1", "", "write the IPv4 form 192.0.2.1"},
		{"empty rejected", "", "", "empty address"},
		{"spaces rejected", "192.0.2.1 ", "", "surrounding spaces"},
		{"prefix is not an address", "192.0.2.0/24", "", "192.0.2.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddr(tt.in)
			if tt.want != "" {
				if err != nil || a.String() != tt.want {
					t.Fatalf("ParseAddr(%q) = %v, %v; want %s", tt.in, a, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAddr(%q) = %v, %v; want ErrInvalid containing %q", tt.in, a, err, tt.errHas)
			}
		})
	}
}

func TestParsePrefixOrAddr(t *testing.T) {
	tests := []struct {
		name, in, want string
		isAddr, ok     bool
	}{
		{"IPv4 address becomes /32", "192.0.2.7", "192.0.2.7/32", true, true},
		{"IPv6 address becomes /128", "2001:db8::7", "2001:db8::7/128", true, true},
		{"prefix stays a prefix", "192.0.2.0/24", "192.0.2.0/24", false, true},
		{"explicit /32 is not an address", "192.0.2.7/32", "192.0.2.7/32", false, true},
		{"host bits still an error", "192.0.2.7/24", "", false, false},
		{"mapped address still an error", "::ffff:1.2.3.4", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, isAddr, err := ParsePrefixOrAddr(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParsePrefixOrAddr(%q) err = %v; want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && (p.String() != tt.want || isAddr != tt.isAddr) {
				t.Errorf("ParsePrefixOrAddr(%q) = %v, %v; want %s, %v", tt.in, p, isAddr, tt.want, tt.isAddr)
			}
		})
	}
}

func TestBasics(t *testing.T) {
	tests := []struct {
		name          string
		p             string
		last          string
		family, fbits int
		size          string
		parent, buddy string
		lo, hi        string
	}{
		{"IPv4 /24", "192.0.2.0/24", "192.0.2.255", 4, 32, "256", "192.0.2.0/23", "192.0.3.0/24", "192.0.2.0/25", "192.0.2.128/25"},
		{"IPv4 upper half has lower buddy", "192.0.3.0/24", "192.0.3.255", 4, 32, "256", "192.0.2.0/23", "192.0.2.0/24", "192.0.3.0/25", "192.0.3.128/25"},
		{"IPv4 /32 has no halves", "192.0.2.1/32", "192.0.2.1", 4, 32, "1", "192.0.2.0/31", "192.0.2.0/32", "", ""},
		{"IPv4 /0", "0.0.0.0/0", "255.255.255.255", 4, 32, "4294967296", "0.0.0.0/0", "", "0.0.0.0/1", "128.0.0.0/1"},
		{"IPv6 /64", "2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", 6, 128, "18446744073709551616", "2001:db8::/63", "2001:db8:0:1::/64", "2001:db8::/65", "2001:db8:0:0:8000::/65"},
		{"IPv6 /32", "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 6, 128, "79228162514264337593543950336", "2001:db8::/31", "2001:db9::/32", "2001:db8::/33", "2001:db8:8000::/33"},
		{"IPv6 /0 saturates", "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 6, 128, "340282366920938463463374607431768211455", "::/0", "", "::/1", "8000::/1"},
		{"IPv6 /128", "2001:db8::1/128", "2001:db8::1", 6, 128, "1", "2001:db8::/127", "2001:db8::/128", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mp(tt.p)
			if got := Last(p).String(); got != tt.last {
				t.Errorf("Last = %s; want %s", got, tt.last)
			}
			if Family(p) != tt.family || FamilyBits(p) != tt.fbits {
				t.Errorf("Family, FamilyBits = %d, %d; want %d, %d", Family(p), FamilyBits(p), tt.family, tt.fbits)
			}
			if got := Size(p).String(); got != tt.size {
				t.Errorf("Size = %s; want %s", got, tt.size)
			}
			if got := Parent(p).String(); got != tt.parent {
				t.Errorf("Parent = %s; want %s", got, tt.parent)
			}
			b, ok := Buddy(p)
			if ok != (tt.buddy != "") || (ok && b.String() != tt.buddy) {
				t.Errorf("Buddy = %v, %v; want %q", b, ok, tt.buddy)
			}
			lo, hi, ok := Halves(p)
			if ok != (tt.lo != "") || (ok && (lo.String() != tt.lo || hi.String() != tt.hi)) {
				t.Errorf("Halves = %v, %v, %v; want %q %q", lo, hi, ok, tt.lo, tt.hi)
			}
		})
	}
}

func TestInvalidPrefixIsHarmless(t *testing.T) {
	var z netip.Prefix
	if Last(z).IsValid() || Family(z) != 0 || FamilyBits(z) != 0 || !Size(z).IsZero() {
		t.Error("zero prefix should give zero results")
	}
	if _, ok := Buddy(z); ok {
		t.Error("Buddy of zero prefix ok")
	}
	if _, _, ok := Halves(z); ok {
		t.Error("Halves of zero prefix ok")
	}
	if _, _, ok := Split(z, 3); ok {
		t.Error("Split of zero prefix ok")
	}
	if Covers(z, z) {
		t.Error("zero prefix covers itself")
	}
	if got := Aggregate([]netip.Prefix{z}); len(got) != 0 {
		t.Errorf("Aggregate of zero prefix = %v", got)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		free string
		bits int
		take string
		rest []string
		ok   bool
	}{
		{"taking a /26 from a /24 leaves a /25 then a /26", "10.0.0.0/24", 26, "10.0.0.0/26", []string{"10.0.0.128/25", "10.0.0.64/26"}, true},
		{"taking the whole prefix leaves nothing", "10.0.0.0/24", 24, "10.0.0.0/24", []string{}, true},
		{"taking one address from a /30", "10.0.0.4/30", 32, "10.0.0.4/32", []string{"10.0.0.6/31", "10.0.0.5/32"}, true},
		{"IPv6 /64 from a /62", "2001:db8::/62", 64, "2001:db8::/64", []string{"2001:db8:0:2::/63", "2001:db8:0:1::/64"}, true},
		{"shorter than free is refused", "10.0.0.0/24", 23, "", nil, false},
		{"longer than the family is refused", "10.0.0.0/24", 33, "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			take, rest, ok := Split(mp(tt.free), tt.bits)
			if ok != tt.ok {
				t.Fatalf("ok = %v; want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			if take.String() != tt.take || !slices.Equal(strs(rest), tt.rest) {
				t.Errorf("Split = %v, %v; want %s, %v", take, rest, tt.take, tt.rest)
			}
		})
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		name        string
		first, last string
		want        []string
	}{
		{"aligned /24 is one prefix", "192.0.2.0", "192.0.2.255", []string{"192.0.2.0/24"}},
		{"one address", "192.0.2.9", "192.0.2.9", []string{"192.0.2.9/32"}},
		{"unaligned range", "192.0.2.1", "192.0.2.6", []string{"192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/31", "192.0.2.6/32"}},
		{"whole IPv4 space", "0.0.0.0", "255.255.255.255", []string{"0.0.0.0/0"}},
		{"top of IPv4 space does not wrap", "255.255.255.254", "255.255.255.255", []string{"255.255.255.254/31"}},
		{"whole IPv6 space", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", []string{"::/0"}},
		{"IPv6 across the 64-bit boundary", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", []string{"2001:db8::ffff:ffff:ffff:ffff/128", "2001:db8:0:1::/128"}},
		{"reversed range is empty", "192.0.2.6", "192.0.2.1", nil},
		{"mixed families is empty", "192.0.2.1", "2001:db8::1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strs(Range(ma(tt.first), ma(tt.last)))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Range = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"buddies merge", []string{"10.0.1.0/24", "10.0.0.0/24"}, []string{"10.0.0.0/23"}},
		{"adjacent non-buddies stay two", []string{"10.0.1.0/24", "10.0.2.0/24"}, []string{"10.0.1.0/24", "10.0.2.0/24"}},
		{"contained prefix disappears", []string{"10.0.0.0/8", "10.1.2.0/24"}, []string{"10.0.0.0/8"}},
		{"duplicates collapse", []string{"10.0.0.0/24", "10.0.0.0/24"}, []string{"10.0.0.0/24"}},
		{"IPv4 sorts before IPv6", []string{"2001:db8::/33", "2001:db8:8000::/33", "192.0.2.0/25", "192.0.2.128/25"}, []string{"192.0.2.0/24", "2001:db8::/32"}},
		{"top of space merges without wrapping", []string{"255.255.255.255/32", "255.255.255.254/32", "0.0.0.0/32"}, []string{"0.0.0.0/32", "255.255.255.254/31"}},
		{"both halves of IPv6 space make ::/0", []string{"8000::/1", "::/1"}, []string{"::/0"}},
		{"empty in, empty out", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []netip.Prefix
			for _, s := range tt.in {
				in = append(in, mp(s))
			}
			got := strs(Aggregate(in))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Aggregate = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	// Each element must sort strictly before the next.
	order := []string{"0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/24", "10.0.1.0/24", "255.255.255.255/32", "::/0", "::1/128", "2001:db8::/32", "2001:db8::/48"}
	for i := 0; i+1 < len(order); i++ {
		a, b := mp(order[i]), mp(order[i+1])
		if Compare(a, b) >= 0 || Compare(b, a) <= 0 {
			t.Errorf("want %s before %s", a, b)
		}
	}
	if Compare(mp("10.0.0.0/8"), mp("10.0.0.0/8")) != 0 {
		t.Error("equal prefixes should compare 0")
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		name         string
		outer, inner string
		want         bool
	}{
		{"prefix covers itself", "10.0.0.0/8", "10.0.0.0/8", true},
		{"shorter covers longer inside", "10.0.0.0/8", "10.1.0.0/16", true},
		{"longer does not cover shorter", "10.1.0.0/16", "10.0.0.0/8", false},
		{"disjoint does not cover", "10.0.0.0/8", "11.0.0.0/16", false},
		{"IPv4 /0 does not cover IPv6", "0.0.0.0/0", "::/0", false},
		{"IPv6 /0 does not cover IPv4", "::/0", "10.0.0.0/8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covers(mp(tt.outer), mp(tt.inner)); got != tt.want {
				t.Errorf("Covers(%s, %s) = %v; want %v", tt.outer, tt.inner, got, tt.want)
			}
		})
	}
}

func strs(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// --- Property tests against a brute-force model -------------------------
//
// The model for IPv4 is a bitmap of the 256 addresses of one /24; two
// bases are used, one of them at the very top of the address space where
// off-by-one arithmetic would wrap.

var modelBases = []netip.Prefix{mp("198.51.100.0/24"), mp("255.255.255.0/24")}

type bitmap [256]bool

func addrAt(base netip.Prefix, i int) netip.Addr {
	b := base.Addr().As4()
	b[3] = byte(i)
	return netip.AddrFrom4(b)
}

func (m *bitmap) mark(base, p netip.Prefix) {
	for i := range 256 {
		if p.Contains(addrAt(base, i)) {
			m[i] = true
		}
	}
}

// within reports whether every address of p is set in m.
func (m *bitmap) within(base, p netip.Prefix) bool {
	if !Covers(base, p) {
		return false
	}
	for i := range 256 {
		if p.Contains(addrAt(base, i)) && !m[i] {
			return false
		}
	}
	return true
}

// checkCover verifies got is sorted, disjoint, aligned, covers exactly
// want, and is minimal: no prefix's parent also lies inside want, which for
// a set of disjoint aligned prefixes means no two could be merged.
func checkCover(t *testing.T, base netip.Prefix, got []netip.Prefix, want *bitmap, what string) {
	t.Helper()
	var have bitmap
	for i, p := range got {
		if p.Masked() != p {
			t.Fatalf("%s: %v not aligned", what, p)
		}
		if i > 0 && !Last(got[i-1]).Less(p.Addr()) {
			t.Fatalf("%s: %v and %v out of order or overlapping", what, got[i-1], p)
		}
		if p.Bits() > 0 && want.within(base, Parent(p)) {
			t.Fatalf("%s: %v not maximal: its parent %v is wholly inside", what, p, Parent(p))
		}
		have.mark(base, p)
	}
	if have != *want {
		t.Fatalf("%s: %v covers a different set of addresses", what, got)
	}
}

func TestRangeMatchesModel(t *testing.T) {
	for _, base := range modelBases {
		for first := range 256 {
			for last := first; last < 256; last++ {
				var want bitmap
				for i := first; i <= last; i++ {
					want[i] = true
				}
				got := Range(addrAt(base, first), addrAt(base, last))
				checkCover(t, base, got, &want, "Range")
			}
		}
	}
}

func randPrefixIn(r *rand.Rand, base netip.Prefix) netip.Prefix {
	bits := base.Bits() + r.IntN(FamilyBits(base)-base.Bits()+1)
	return netip.PrefixFrom(addrAt(base, r.IntN(256)), bits).Masked()
}

func TestAggregateMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, base := range modelBases {
		for range 3000 {
			n := r.IntN(12)
			var in []netip.Prefix
			var want bitmap
			for range n {
				p := randPrefixIn(r, base)
				in = append(in, p)
				want.mark(base, p)
			}
			orig := slices.Clone(in)
			got := Aggregate(in)
			checkCover(t, base, got, &want, "Aggregate")
			if !slices.Equal(in, orig) {
				t.Fatal("Aggregate modified its input")
			}
		}
	}
}

func TestSplitAndBuddyMatchModel(t *testing.T) {
	for _, base := range modelBases {
		for bits := 24; bits <= 32; bits++ {
			for i := 0; i < 256; i += 1 << (32 - bits) {
				free := netip.PrefixFrom(addrAt(base, i), bits)
				var freeSet bitmap
				freeSet.mark(base, free)

				for want := bits; want <= 32; want++ {
					take, rest, ok := Split(free, want)
					if !ok || take.Bits() != want || take.Addr() != free.Addr() {
						t.Fatalf("Split(%v, %d) = %v, %v; want the lowest /%d", free, want, take, ok, want)
					}
					var got bitmap
					got.mark(base, take)
					for j, p := range rest {
						if p.Masked() != p || p.Bits() != bits+1+j {
							t.Fatalf("Split(%v, %d): rest[%d] = %v; want aligned /%d", free, want, j, p, bits+1+j)
						}
						for k := range 256 {
							if got[k] && p.Contains(addrAt(base, k)) {
								t.Fatalf("Split(%v, %d): %v overlaps", free, want, p)
							}
						}
						got.mark(base, p)
					}
					if got != freeSet {
						t.Fatalf("Split(%v, %d) = %v + %v does not cover exactly", free, want, take, rest)
					}
				}

				b, ok := Buddy(free)
				if !ok {
					t.Fatalf("Buddy(%v) not ok", free)
				}
				var pair, parent bitmap
				pair.mark(base, free)
				pair.mark(base, b)
				parent.mark(base, Parent(free))
				if b == free || b.Bits() != free.Bits() || Parent(b) != Parent(free) || pair != parent {
					t.Fatalf("Buddy(%v) = %v: not the other half of %v", free, b, Parent(free))
				}
				if lo, hi, ok := Halves(Parent(free)); !ok || !(lo == free && hi == b || lo == b && hi == free) {
					t.Fatalf("Halves(%v) = %v, %v; want %v and %v", Parent(free), lo, hi, free, b)
				}
			}
		}
	}
}

func randIPv6(r *rand.Rand) netip.Addr {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// Keep clear of ::ffff:0:0/96 so failures print as plain IPv6.
	b[0] |= 0x20
	return netip.AddrFrom16(b)
}

func TestIPv6Properties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		// Range: contiguous, exact, maximal, total size right.
		a, b := randIPv6(r), randIPv6(r)
		if r.IntN(2) == 0 {
			// Nearby ends exercise the small cases; far ends the large.
			b = a
			for range r.IntN(300) {
				b = b.Next()
			}
		}
		if b.Less(a) {
			a, b = b, a
		}
		got := Range(a, b)
		if got[0].Addr() != a || Last(got[len(got)-1]) != b {
			t.Fatalf("Range(%v, %v) = %v: wrong ends", a, b, got)
		}
		for i, p := range got {
			if p.Masked() != p {
				t.Fatalf("Range(%v, %v): %v not aligned", a, b, p)
			}
			if i > 0 && Last(got[i-1]).Next() != p.Addr() {
				t.Fatalf("Range(%v, %v): gap or overlap before %v", a, b, p)
			}
			par := Parent(p)
			if !par.Addr().Less(a) && !b.Less(Last(par)) {
				t.Fatalf("Range(%v, %v): %v not maximal", a, b, p)
			}
		}

		// Split: sizes add up, pieces are disjoint and inside free.
		free := netip.PrefixFrom(randIPv6(r), r.IntN(129)).Masked()
		want := free.Bits() + r.IntN(129-free.Bits())
		take, rest, ok := Split(free, want)
		if !ok {
			t.Fatalf("Split(%v, %d) not ok", free, want)
		}
		total := Size(take)
		pieces := append([]netip.Prefix{take}, rest...)
		for _, p := range rest {
			total = total.Add(Size(p))
		}
		if total != Size(free) {
			t.Fatalf("Split(%v, %d): sizes add to %v; want %v", free, want, total, Size(free))
		}
		for i, p := range pieces {
			if !Covers(free, p) {
				t.Fatalf("Split(%v, %d): %v outside", free, want, p)
			}
			for _, q := range pieces[i+1:] {
				if p.Overlaps(q) {
					t.Fatalf("Split(%v, %d): %v overlaps %v", free, want, p, q)
				}
			}
		}
		// Aggregating the pieces gives back free.
		if agg := Aggregate(pieces); len(agg) != 1 || agg[0] != free {
			t.Fatalf("Aggregate(Split(%v, %d)) = %v", free, want, agg)
		}
		// Buddy: same parent, disjoint, aggregate to parent.
		if bd, ok := Buddy(free); ok {
			if agg := Aggregate([]netip.Prefix{bd, free}); len(agg) != 1 || agg[0] != Parent(free) {
				t.Fatalf("Buddy(%v) = %v does not merge to the parent", free, bd)
			}
		}
	}
}
