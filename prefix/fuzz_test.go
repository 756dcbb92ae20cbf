package prefix

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that whatever Parse accepts is canonical enough to
// store: it has no host bits, no zone, is not IPv4-mapped, and round-trips
// through String; and that every rejection matches ErrInvalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"191.232.0.0/24", "191.232.0.1/24", "2001:db8::/32", "::/0", "0.0.0.0/0", "fe80::1%eth0/64", "::ffff:192.0.2.0/120", "::1.2.3.4/128", "010.0.0.0/8", " 10.0.0.0/8", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not match ErrInvalid", s, err)
			}
			return
		}
		if p.Masked() != p {
			t.Fatalf("Parse(%q) = %v has host bits set", s, p)
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("Parse(%q) = %v has a zone or is IPv4-mapped", s, p)
		}
		if strings.TrimSpace(s) != s {
			t.Fatalf("Parse(%q) accepted surrounding spaces", s)
		}
		back, err := Parse(p.String())
		if err != nil || back != p {
			t.Fatalf("Parse(%q) = %v, which re-parses as %v, %v", s, p, back, err)
		}
		q, isAddr, err := ParsePrefixOrAddr(s)
		if err != nil || q != p || isAddr {
			t.Fatalf("ParsePrefixOrAddr(%q) = %v, %v, %v; want %v", s, q, isAddr, err, p)
		}
	})
}
