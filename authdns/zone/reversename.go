package zone

import "net/netip"

// ReversePrefix reads the address space that name, a name in reverse
// zone z, stands for: a whole address at the leaves (5.0.0.10.in-addr.arpa.
// is 10.0.0.5/32), a shorter prefix above them (0.0.10.in-addr.arpa. is
// 10.0.0.0/24). false for a name that is not one (a label that is not an
// octet or a nibble) or a zone that is not a reverse zone. The name rules
// of tenants read it: a record there answers for the addresses of that
// space (issue 10).
func ReversePrefix(z Zone, name string) (netip.Prefix, bool) {
	if z.Kind != Reverse || !z.Prefix.IsValid() {
		return netip.Prefix{}, false
	}
	return reversePrefix(&z, name)
}
