// Package prefix holds IP prefix arithmetic on net/netip values: strict
// parsing at the edge (Parse, ParseAddr), sizes as exact 128-bit counts
// (Count), buddy-style splitting for allocators (Parent, Buddy, Halves,
// Split), range and aggregation conversions (Range, Aggregate), ordering
// (Compare, Covers), and the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (Lookup, Overlapping, GloballyReachable, IsPrivate).
//
// It knows nothing of storage, HTTP, regions or pools: it takes and returns
// netip values and nothing else. Functions other than the parsers assume
// valid prefixes; given an invalid (zero) netip.Prefix they return zero
// values or ok=false rather than panic.
package prefix

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ErrInvalid is matched, with errors.Is, by every error Parse, ParseAddr and
// ParsePrefixOrAddr return, so callers can map them to one exit code or
// HTTP status.
var ErrInvalid = errors.New("invalid prefix or address")

// parseError carries an operator-facing message that names the value and
// the rule, and matches ErrInvalid.
type parseError struct{ msg string }

func (e *parseError) Error() string        { return e.msg }
func (e *parseError) Is(target error) bool { return target == ErrInvalid }

func errorf(format string, args ...any) error {
	return &parseError{fmt.Sprintf(format, args...)}
}

// checkEdge rejects the problems common to addresses and prefixes that
// net/netip either accepts or reports less helpfully.
func checkEdge(s, what string) error {
	if s == "" {
		return errorf("empty %s", what)
	}
	if strings.TrimSpace(s) != s {
		return errorf("%s %q: surrounding spaces", what, s)
	}
	if strings.ContainsRune(s, '%') {
		return errorf("%s %q: zone not allowed (an IPv6 zone names a local interface, not address space)", what, s)
	}
	return nil
}

// Parse parses a CIDR prefix strictly. It rejects the empty string,
// surrounding spaces, IPv6 zones, IPv4-mapped IPv6 prefixes (saying which
// IPv4 prefix to write instead) and anything net/netip.ParsePrefix rejects
// (such as leading zeros). A prefix with host bits set is an error, never
// silently masked: "191.232.0.1/24: host bits set (did you mean
// 191.232.0.0/24?)".
func Parse(s string) (netip.Prefix, error) {
	if err := checkEdge(s, "prefix"); err != nil {
		return netip.Prefix{}, err
	}
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil && !a.Is4In6() {
			return netip.Prefix{}, errorf("prefix %q: missing /length (for one address write %s/%d)", s, s, a.BitLen())
		}
		return netip.Prefix{}, errorf("prefix %q: missing /length", s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errorf("prefix %q: %v", s, unwrapNetip(err))
	}
	a := p.Addr()
	// Only a prefix of /96 or longer can start inside ::ffff:0:0/96 without
	// host bits, so shorter ones fall through to the host-bits rule.
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.Prefix{}, errorf("prefix %q: IPv4-mapped IPv6 prefix (write the IPv4 form %s/%d)", s, a.Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, errorf("%s: host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}

// unwrapNetip strips net/netip's own quoting of the input, which we already
// print, leaving just its reason.
func unwrapNetip(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	if i := strings.LastIndex(msg, "\": "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// ParseAddr parses one IP address strictly: no empty string, no surrounding
// spaces, no IPv6 zone, no IPv4-mapped IPv6 form (::ffff:192.0.2.1 must be
// written 192.0.2.1), and nothing net/netip.ParseAddr rejects.
func ParseAddr(s string) (netip.Addr, error) {
	if err := checkEdge(s, "address"); err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errorf("address %q: %v", s, unwrapNetip(err))
	}
	if a.Is4In6() {
		return netip.Addr{}, errorf("address %q: IPv4-mapped IPv6 address (write the IPv4 form %s)", s, a.Unmap())
	}
	return a, nil
}

// ParsePrefixOrAddr parses either a prefix (as Parse) or a single address
// (as ParseAddr). An address becomes its /32 or /128 and isAddr is true.
func ParsePrefixOrAddr(s string) (p netip.Prefix, isAddr bool, err error) {
	if strings.Contains(s, "/") {
		p, err = Parse(s)
		return p, false, err
	}
	a, err := ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false, err
	}
	return netip.PrefixFrom(a, a.BitLen()), true, nil
}

// FamilyBits returns the address width of p's family: 32 for IPv4, 128 for
// IPv6, 0 for an invalid prefix.
func FamilyBits(p netip.Prefix) int { return p.Addr().BitLen() }

// Family returns 4 for an IPv4 prefix, 6 for IPv6, 0 for an invalid prefix.
func Family(p netip.Prefix) int {
	switch {
	case !p.IsValid():
		return 0
	case p.Addr().Is4():
		return 4
	}
	return 6
}

// Size returns the number of addresses in p. The 2^128 addresses of ::/0
// saturate to MaxCount (see Count). An invalid prefix has size zero.
func Size(p netip.Prefix) Count {
	if !p.IsValid() {
		return Count{}
	}
	return Pow2(FamilyBits(p) - p.Bits())
}

// Last returns the last address in p (host bits all ones). It returns the
// zero Addr for an invalid prefix.
func Last(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	fb := FamilyBits(p)
	return toAddr(toU(p.Addr()).or(hostMask(fb, p.Bits())), fb)
}

// Parent returns the prefix one bit shorter that contains p, or p itself
// (masked) at /0.
func Parent(p netip.Prefix) netip.Prefix {
	if !p.IsValid() || p.Bits() == 0 {
		return p.Masked()
	}
	return netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()
}

// Buddy returns the other half of p's parent: the prefix of the same length
// that differs from p only in its last network bit. ok is false for /0 and
// for an invalid prefix.
func Buddy(p netip.Prefix) (netip.Prefix, bool) {
	if !p.IsValid() || p.Bits() == 0 {
		return netip.Prefix{}, false
	}
	fb := FamilyBits(p)
	u := toU(p.Masked().Addr()).xor(bitAt(fb, p.Bits()-1))
	return netip.PrefixFrom(toAddr(u, fb), p.Bits()), true
}

// Halves splits p into its lower and upper halves, each one bit longer. ok
// is false when p is a single address (/32 or /128) or invalid.
func Halves(p netip.Prefix) (lo, hi netip.Prefix, ok bool) {
	fb := FamilyBits(p)
	if !p.IsValid() || p.Bits() == fb {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	base := toU(p.Masked().Addr())
	lo = netip.PrefixFrom(toAddr(base, fb), p.Bits()+1)
	hi = netip.PrefixFrom(toAddr(base.or(bitAt(fb, p.Bits())), fb), p.Bits()+1)
	return lo, hi, true
}

// Split takes the lowest /bits out of free and returns it as take, with the
// rest of free as maximal aligned prefixes: the upper half at each level
// from free.Bits()+1 down to bits, ordered from the shortest (largest)
// prefix to the longest. take plus rest cover free exactly, without
// overlap; rest is empty when bits == free.Bits(). ok is false when bits is
// shorter than free.Bits(), longer than the family width, or free is invalid.
func Split(free netip.Prefix, bits int) (take netip.Prefix, rest []netip.Prefix, ok bool) {
	fb := FamilyBits(free)
	if !free.IsValid() || bits < free.Bits() || bits > fb {
		return netip.Prefix{}, nil, false
	}
	base := toU(free.Masked().Addr())
	rest = make([]netip.Prefix, 0, bits-free.Bits())
	for b := free.Bits() + 1; b <= bits; b++ {
		rest = append(rest, netip.PrefixFrom(toAddr(base.or(bitAt(fb, b-1)), fb), b))
	}
	return netip.PrefixFrom(toAddr(base, fb), bits), rest, true
}

// Range returns the minimal list of prefixes that exactly covers the
// addresses first through last inclusive, in address order. It returns nil
// when the addresses are invalid, of different families, or first > last.
func Range(first, last netip.Addr) []netip.Prefix {
	if !first.IsValid() || !last.IsValid() || first.BitLen() != last.BitLen() || last.Less(first) {
		return nil
	}
	// Zones have no place in address space; drop them rather than fail.
	first, last = first.WithZone(""), last.WithZone("")
	return appendRange(nil, toU(first), toU(last), first.BitLen())
}

// appendRange appends the CIDR cover of [lo, hi] (lo <= hi) in a family of
// width fb.
func appendRange(out []netip.Prefix, lo, hi u128, fb int) []netip.Prefix {
	for {
		// The largest block starting at lo is limited by lo's alignment
		// and by how many addresses remain up to hi.
		k := min(lo.trailingZeros(), fb)
		span := hi.sub(lo) // remaining addresses minus one
		for k > 0 && span.less(lowMask(k)) {
			k--
		}
		out = append(out, netip.PrefixFrom(toAddr(lo, fb), fb-k))
		end := lo.or(lowMask(k))
		if end == hi {
			return out
		}
		lo = end.add1()
	}
}

// Aggregate returns the minimal list of prefixes covering exactly the union
// of ps: overlapping and adjacent prefixes are merged, and the result is
// sorted by Compare (IPv4 first). Host bits in the inputs are ignored and
// invalid prefixes skipped. ps is not modified.
func Aggregate(ps []netip.Prefix) []netip.Prefix {
	type span struct {
		fb     int
		lo, hi u128
	}
	spans := make([]span, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		fb := FamilyBits(p)
		lo := toU(p.Masked().Addr())
		spans = append(spans, span{fb, lo, lo.or(hostMask(fb, p.Bits()))})
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.fb != b.fb {
			return a.fb - b.fb
		}
		return a.lo.cmp(b.lo)
	})
	var out []netip.Prefix
	for i := 0; i < len(spans); {
		cur := spans[i]
		j := i + 1
		for ; j < len(spans) && spans[j].fb == cur.fb; j++ {
			// Merge when the next span starts at or before cur.hi+1;
			// cur.hi at the top of the family swallows everything after.
			if cur.hi != familyMax(cur.fb) && cur.hi.add1().less(spans[j].lo) {
				break
			}
			if cur.hi.less(spans[j].hi) {
				cur.hi = spans[j].hi
			}
		}
		out = appendRange(out, cur.lo, cur.hi, cur.fb)
		i = j
	}
	return out
}

// Compare orders prefixes: IPv4 before IPv6, then by address, then shorter
// prefix first. It is suitable for slices.SortFunc. Note it differs from
// netip.Prefix.Compare, which puts length before address.
func Compare(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Covers reports whether outer contains every address of inner. Prefixes of
// different families, and invalid prefixes, never cover each other.
func Covers(outer, inner netip.Prefix) bool {
	return outer.IsValid() && inner.IsValid() &&
		outer.Addr().BitLen() == inner.Addr().BitLen() &&
		outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// RangeBest returns, of Range(first, last), the prefix a buddy allocator
// takes for a request of maxBits: the longest (most bits) no shorter than
// maxBits allows, i.e. with at most maxBits bits, and of those the lowest.
// ok is false when none fits. It allocates nothing: a store that keeps a
// pool's unused tail as a range rather than as rows (store/sqlite's
// frontier) asks it on every allocation.
func RangeBest(first, last netip.Addr, maxBits int) (best netip.Prefix, ok bool) {
	if !first.IsValid() || !last.IsValid() || first.BitLen() != last.BitLen() || last.Less(first) {
		return netip.Prefix{}, false
	}
	first, last = first.WithZone(""), last.WithZone("")
	fb := first.BitLen()
	if maxBits < 0 {
		return netip.Prefix{}, false
	}
	lo, hi := toU(first), toU(last)
	need := fb - min(maxBits, fb) // host bits a fitting prefix has at least
	// A range that ends where an aligned block holding it ends (a pool's
	// tail) is a run of growing prefixes, each as long as its start's
	// alignment allows: the first that fits is the answer, and it starts
	// at the first multiple of 2^need from first on. O(1), not a walk.
	if l := bitLen(hi.sub(lo)); hi.and(lowMask(l)) == lowMask(l) {
		cur := lo
		if m := lowMask(need); lo.and(m) != (u128{}) {
			if lo.or(m) == familyMax(fb) {
				return netip.Prefix{}, false
			}
			cur = lo.or(m).add1()
		}
		if hi.less(cur) {
			return netip.Prefix{}, false
		}
		k := min(cur.trailingZeros(), fb)
		for span := hi.sub(cur); k > 0 && span.less(lowMask(k)); k-- {
		}
		if k < need {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(toAddr(cur, fb), fb-k), true
	}
	for {
		k := min(lo.trailingZeros(), fb)
		span := hi.sub(lo)
		for k > 0 && span.less(lowMask(k)) {
			k--
		}
		if bits := fb - k; bits <= maxBits && (!ok || bits > best.Bits()) {
			best, ok = netip.PrefixFrom(toAddr(lo, fb), bits), true
			if bits == maxBits {
				return best, true // none longer fits; later ones lie higher
			}
		}
		end := lo.or(lowMask(k))
		if end == hi {
			return best, ok
		}
		lo = end.add1()
	}
}
