package prefix

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Count is an unsigned number of addresses, up to 2^128 - 1. It is a small
// comparable value like netip.Addr. Arithmetic saturates instead of wrapping
// or panicking: Add and Mul stop at MaxCount, Sub stops at zero. The one
// count that does not fit, the 2^128 addresses of ::/0, is reported as
// MaxCount (one short); Pow2(128) does the same.
type Count struct {
	hi, lo uint64
}

// MaxCount is the largest Count, 2^128 - 1.
var MaxCount = Count{math.MaxUint64, math.MaxUint64}

// CountOf returns n as a Count.
func CountOf(n uint64) Count { return Count{lo: n} }

// Pow2 returns 2^n for 0 <= n <= 128; Pow2(128) saturates to MaxCount.
// It panics when n is out of range, which is a programming error.
func Pow2(n int) Count {
	switch {
	case n < 0 || n > 128:
		panic(fmt.Sprintf("prefix.Pow2(%d): exponent out of range 0..128", n))
	case n == 128:
		return MaxCount
	case n >= 64:
		return Count{hi: 1 << (n - 64)}
	default:
		return Count{lo: 1 << n}
	}
}

// Add returns c + d, saturating at MaxCount.
func (c Count) Add(d Count) Count {
	lo, carry := bits.Add64(c.lo, d.lo, 0)
	hi, carry := bits.Add64(c.hi, d.hi, carry)
	if carry != 0 {
		return MaxCount
	}
	return Count{hi, lo}
}

// Sub returns c - d, saturating at zero when d > c.
func (c Count) Sub(d Count) Count {
	lo, borrow := bits.Sub64(c.lo, d.lo, 0)
	hi, borrow := bits.Sub64(c.hi, d.hi, borrow)
	if borrow != 0 {
		return Count{}
	}
	return Count{hi, lo}
}

// Mul returns c * n, saturating at MaxCount.
func (c Count) Mul(n uint64) Count {
	hiHi, hiLo := bits.Mul64(c.hi, n)
	loHi, loLo := bits.Mul64(c.lo, n)
	hi, carry := bits.Add64(hiLo, loHi, 0)
	if hiHi != 0 || carry != 0 {
		return MaxCount
	}
	return Count{hi, loLo}
}

// Cmp returns -1, 0 or +1 as c is less than, equal to or greater than d.
func (c Count) Cmp(d Count) int {
	switch {
	case c.hi < d.hi:
		return -1
	case c.hi > d.hi:
		return 1
	case c.lo < d.lo:
		return -1
	case c.lo > d.lo:
		return 1
	}
	return 0
}

// IsZero reports whether c is zero.
func (c Count) IsZero() bool { return c.hi == 0 && c.lo == 0 }

// Uint64 returns c as a uint64; ok is false (and n is math.MaxUint64) when c
// does not fit.
func (c Count) Uint64() (n uint64, ok bool) {
	if c.hi != 0 {
		return math.MaxUint64, false
	}
	return c.lo, true
}

// Float64 returns c as the nearest float64 (exact up to 2^53).
func (c Count) Float64() float64 {
	return float64(c.hi)*(1<<64) + float64(c.lo)
}

// String returns c in exact decimal.
func (c Count) String() string {
	if c.hi == 0 {
		return strconv.FormatUint(c.lo, 10)
	}
	// Divide by 10^19, the largest power of ten below 2^64, at most twice.
	const chunk = 10_000_000_000_000_000_000
	var parts []uint64
	hi, lo := c.hi, c.lo
	for hi != 0 {
		qhi := hi / chunk
		qlo, r := bits.Div64(hi%chunk, lo, chunk)
		parts = append(parts, r)
		hi, lo = qhi, qlo
	}
	s := strconv.FormatUint(lo, 10)
	for i := len(parts) - 1; i >= 0; i-- {
		d := strconv.FormatUint(parts[i], 10)
		s += "0000000000000000000"[len(d):] + d
	}
	return s
}

// ParseCount parses an exact decimal count: digits only, no sign, no leading
// zeros, at most 2^128 - 1.
func ParseCount(s string) (Count, error) {
	if s == "" {
		return Count{}, errors.New("empty count")
	}
	if len(s) > 1 && s[0] == '0' {
		return Count{}, fmt.Errorf("count %q: leading zero", s)
	}
	var c Count
	for i := 0; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' {
			return Count{}, fmt.Errorf("count %q: not a decimal integer", s)
		}
		// c = c*10 + d, detecting overflow rather than saturating.
		hiHi, hiLo := bits.Mul64(c.hi, 10)
		loHi, loLo := bits.Mul64(c.lo, 10)
		hi, carry := bits.Add64(hiLo, loHi, 0)
		if hiHi != 0 || carry != 0 {
			return Count{}, fmt.Errorf("count %q: larger than 2^128-1", s)
		}
		lo, carry := bits.Add64(loLo, uint64(d-'0'), 0)
		hi, carry = bits.Add64(hi, 0, carry)
		if carry != 0 {
			return Count{}, fmt.Errorf("count %q: larger than 2^128-1", s)
		}
		c = Count{hi, lo}
	}
	return c, nil
}

// MarshalText implements encoding.TextMarshaler with the exact decimal.
func (c Count) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseCount.
func (c *Count) UnmarshalText(b []byte) error {
	v, err := ParseCount(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// maxSafe is 2^53, the largest integer every JSON reader (a float64)
// holds exactly, and the next one too.
const maxSafe = 1 << 53

// MarshalJSON encodes c as a JSON integer up to 2^53 and as its exact
// decimal in a JSON string above, so that no reader's float64 rounds it
// (an IPv6 /32's 2^96 is "79228162514264337593543950336"). The API, the
// CLI's --json and the audit's geo.Count share this one convention.
func (c Count) MarshalJSON() ([]byte, error) {
	if v, ok := c.Uint64(); ok && v <= maxSafe {
		return []byte(c.String()), nil
	}
	return []byte(`"` + c.String() + `"`), nil
}

// Rsh returns c / 2^n, rounded down: a count of addresses in prefixes
// of n host bits (an IPv6 count in /64s is c.Rsh(64)).
func (c Count) Rsh(n int) Count {
	switch {
	case n <= 0:
		return c
	case n >= 128:
		return Count{}
	case n >= 64:
		return Count{lo: c.hi >> (n - 64)}
	}
	return Count{hi: c.hi >> n, lo: c.lo>>n | c.hi<<(64-n)}
}

// UnmarshalJSON accepts an exact JSON integer, or the same digits in a JSON
// string for clients whose numbers are float64. null leaves c unchanged.
func (c *Count) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return c.UnmarshalText([]byte(s))
}
