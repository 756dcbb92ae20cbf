package prefix

import (
	"net/netip"
	"slices"
)

// Special is one entry of the IANA IPv4 or IPv6 Special-Purpose Address
// Registry (RFC 6890, RFC 8190 and later updates), or one of the few
// blocks this package adds to them (see Specials).
type Special struct {
	// Prefix is the address block.
	Prefix netip.Prefix
	// Name is the registry's name for the block.
	Name string
	// RFC is the defining document, as "RFC 1918" or "RFC 7723".
	RFC string
	// Kind is a short word for the purpose: "private", "shared",
	// "loopback", "link-local", "documentation", "benchmarking", "ula",
	// "multicast", "reserved", "this-network", "unspecified",
	// "limited-broadcast", "ietf-protocol", "service-continuity",
	// "anycast", "discard-only", "teredo", "6to4", "6a44", "nat64",
	// "ipv4-mapped", "ipv4-compatible", "orchid", "drone-remote-id",
	// "amt", "as112", "dummy" or "srv6-sids".
	Kind string
	// GloballyReachable is the registry's "Globally Reachable" column.
	// Where the registry says "N/A" (6to4, Teredo) or gives no value
	// (the deprecated 192.88.99.0/24 and 2001:10::/28 rows) it is true:
	// it is false only where the registry says False, and for the blocks
	// this package adds.
	GloballyReachable bool
}

// specials is the table, in registry order (IPv4 then IPv6). Registry
// snapshot: IPv4 as of 2020-09, IPv6 as of 2025 (RFC 9602 SRv6 SIDs,
// RFC 9637 3fff::/20, RFC 9665 SRP anycast, RFC 9780 dummy prefix).
var specials = []Special{
	// IANA IPv4 Special-Purpose Address Registry.
	{mp4("0.0.0.0/8"), `"This network"`, "RFC 791", "this-network", false},
	{mp4("0.0.0.0/32"), `"This host on this network"`, "RFC 1122", "this-network", false},
	{mp4("10.0.0.0/8"), "Private-Use", "RFC 1918", "private", false},
	{mp4("100.64.0.0/10"), "Shared Address Space", "RFC 6598", "shared", false},
	{mp4("127.0.0.0/8"), "Loopback", "RFC 1122", "loopback", false},
	{mp4("169.254.0.0/16"), "Link Local", "RFC 3927", "link-local", false},
	{mp4("172.16.0.0/12"), "Private-Use", "RFC 1918", "private", false},
	{mp4("192.0.0.0/24"), "IETF Protocol Assignments", "RFC 6890", "ietf-protocol", false},
	{mp4("192.0.0.0/29"), "IPv4 Service Continuity Prefix", "RFC 7335", "service-continuity", false},
	{mp4("192.0.0.8/32"), "IPv4 dummy address", "RFC 7600", "dummy", false},
	{mp4("192.0.0.9/32"), "Port Control Protocol Anycast", "RFC 7723", "anycast", true},
	{mp4("192.0.0.10/32"), "Traversal Using Relays around NAT Anycast", "RFC 8155", "anycast", true},
	{mp4("192.0.0.170/32"), "NAT64/DNS64 Discovery", "RFC 8880", "nat64", false},
	{mp4("192.0.0.171/32"), "NAT64/DNS64 Discovery", "RFC 8880", "nat64", false},
	{mp4("192.0.2.0/24"), "Documentation (TEST-NET-1)", "RFC 5737", "documentation", false},
	{mp4("192.31.196.0/24"), "AS112-v4", "RFC 7535", "as112", true},
	{mp4("192.52.193.0/24"), "AMT", "RFC 7450", "amt", true},
	{mp4("192.88.99.0/24"), "Deprecated (6to4 Relay Anycast)", "RFC 7526", "6to4", true},
	{mp4("192.88.99.2/32"), "6a44-relay anycast address", "RFC 6751", "6a44", false},
	{mp4("192.168.0.0/16"), "Private-Use", "RFC 1918", "private", false},
	{mp4("192.175.48.0/24"), "Direct Delegation AS112 Service", "RFC 7534", "as112", true},
	{mp4("198.18.0.0/15"), "Benchmarking", "RFC 2544", "benchmarking", false},
	{mp4("198.51.100.0/24"), "Documentation (TEST-NET-2)", "RFC 5737", "documentation", false},
	{mp4("203.0.113.0/24"), "Documentation (TEST-NET-3)", "RFC 5737", "documentation", false},
	{mp4("240.0.0.0/4"), "Reserved", "RFC 1112", "reserved", false},
	{mp4("255.255.255.255/32"), "Limited Broadcast", "RFC 919", "limited-broadcast", false},
	// Added: multicast is in its own IANA registry, not the special-purpose
	// one, and is never assignable unicast space.
	{mp4("224.0.0.0/4"), "Multicast", "RFC 5771", "multicast", false},

	// IANA IPv6 Special-Purpose Address Registry.
	{mp6("::1/128"), "Loopback Address", "RFC 4291", "loopback", false},
	{mp6("::/128"), "Unspecified Address", "RFC 4291", "unspecified", false},
	{mp6("::ffff:0:0/96"), "IPv4-mapped Address", "RFC 4291", "ipv4-mapped", false},
	{mp6("64:ff9b::/96"), "IPv4-IPv6 Translat.", "RFC 6052", "nat64", true},
	{mp6("64:ff9b:1::/48"), "IPv4-IPv6 Translat.", "RFC 8215", "nat64", false},
	{mp6("100::/64"), "Discard-Only Address Block", "RFC 6666", "discard-only", false},
	{mp6("100:0:0:1::/64"), "Dummy IPv6 Prefix", "RFC 9780", "dummy", false},
	{mp6("2001::/23"), "IETF Protocol Assignments", "RFC 2928", "ietf-protocol", false},
	{mp6("2001::/32"), "TEREDO", "RFC 4380", "teredo", true},
	{mp6("2001:1::1/128"), "Port Control Protocol Anycast", "RFC 7723", "anycast", true},
	{mp6("2001:1::2/128"), "Traversal Using Relays around NAT Anycast", "RFC 8155", "anycast", true},
	{mp6("2001:1::3/128"), "DNS-SD Service Registration Protocol Anycast", "RFC 9665", "anycast", true},
	{mp6("2001:2::/48"), "Benchmarking", "RFC 5180", "benchmarking", false},
	{mp6("2001:3::/32"), "AMT", "RFC 7450", "amt", true},
	{mp6("2001:4:112::/48"), "AS112-v6", "RFC 7535", "as112", true},
	{mp6("2001:10::/28"), "Deprecated (previously ORCHID)", "RFC 4843", "orchid", true},
	{mp6("2001:20::/28"), "ORCHIDv2", "RFC 7343", "orchid", true},
	{mp6("2001:30::/28"), "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", "drone-remote-id", true},
	{mp6("2001:db8::/32"), "Documentation", "RFC 3849", "documentation", false},
	{mp6("2002::/16"), "6to4", "RFC 3056", "6to4", true},
	{mp6("2620:4f:8000::/48"), "Direct Delegation AS112 Service", "RFC 7534", "as112", true},
	{mp6("3fff::/20"), "Documentation", "RFC 9637", "documentation", false},
	{mp6("5f00::/16"), "Segment Routing (SRv6) SIDs", "RFC 9602", "srv6-sids", false},
	{mp6("fc00::/7"), "Unique-Local", "RFC 4193", "ula", false},
	{mp6("fe80::/10"), "Link-Local Unicast", "RFC 4291", "link-local", false},
	// Added: deprecated by RFC 4291 §2.5.5.1 and dropped from the
	// registry, but still seen in old configurations.
	{mp6("::/96"), "IPv4-Compatible IPv6 Address (deprecated)", "RFC 4291", "ipv4-compatible", false},
	// Added: multicast, from the IPv6 multicast registry.
	{mp6("ff00::/8"), "Multicast", "RFC 4291", "multicast", false},
}

func mp4(s string) netip.Prefix { return mustFamily(s, true) }
func mp6(s string) netip.Prefix { return mustFamily(s, false) }

// mustFamily parses a table literal, failing loudly at init if a typo
// gives a wrong family or host bits.
func mustFamily(s string, is4 bool) netip.Prefix {
	p := netip.MustParsePrefix(s)
	if p.Addr().Is4() != is4 || p.Masked() != p {
		panic("prefix: bad special-purpose table entry " + s)
	}
	return p
}

// privates are the blocks IsPrivate accepts.
var privates = []netip.Prefix{
	mp4("10.0.0.0/8"), mp4("172.16.0.0/12"), mp4("192.168.0.0/16"),
	mp4("100.64.0.0/10"), mp6("fc00::/7"),
}

// Specials returns a copy of the whole table: every entry of both IANA
// special-purpose registries, plus three blocks the registries leave to
// others and that an address manager must never treat as ordinary global
// unicast: 224.0.0.0/4 and ff00::/8 (multicast) and ::/96 (deprecated
// IPv4-compatible). IPv4 entries come first.
func Specials() []Special { return slices.Clone(specials) }

// Lookup returns the most specific special-purpose entry containing a; ok
// is false for an ordinary global unicast address. A zone on a is ignored.
func Lookup(a netip.Addr) (Special, bool) {
	a = a.WithZone("")
	var best Special
	found := false
	for _, s := range specials {
		if s.Prefix.Contains(a) && (!found || s.Prefix.Bits() > best.Prefix.Bits()) {
			best, found = s, true
		}
	}
	return best, found
}

// Overlapping returns every special-purpose entry that overlaps p, ordered
// from the least specific (shortest) to the most specific (longest), so the
// last element, if any, is the best description of p's space.
func Overlapping(p netip.Prefix) []Special {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	var out []Special
	for _, s := range specials {
		if s.Prefix.Overlaps(p) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Special) int {
		if a.Prefix.Bits() != b.Prefix.Bits() {
			return a.Prefix.Bits() - b.Prefix.Bits()
		}
		return Compare(a.Prefix, b.Prefix)
	})
	return out
}

// GloballyReachable reports whether every address of p is globally
// reachable per the registries: for each address, the most specific entry
// containing it must have GloballyReachable true, or there must be none.
// So 192.0.0.9/32 (PCP anycast) is reachable although it lies in
// 192.0.0.0/24, which is not, and 192.0.0.0/24 as a whole is not. N/A in
// the registry counts as reachable (see Special.GloballyReachable). An
// invalid prefix is not reachable.
func GloballyReachable(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	p = p.Masked()
	for _, e := range specials {
		if e.GloballyReachable || !e.Prefix.Overlaps(p) {
			continue
		}
		// Prefixes either nest or are disjoint, so the overlap is the
		// smaller of the two. It is reachable only if entries more
		// specific than e cover all of it, taking those addresses away
		// from e.
		overlap := p
		if p.Bits() < e.Prefix.Bits() {
			overlap = e.Prefix
		}
		if !coveredByInner(overlap, e.Prefix) {
			return false
		}
	}
	return true
}

// coveredByInner reports whether entries strictly inside outer cover every
// address of x (x lies within outer).
func coveredByInner(x, outer netip.Prefix) bool {
	var parts []netip.Prefix
	for _, d := range specials {
		if d.Prefix == outer || !Covers(outer, d.Prefix) || !d.Prefix.Overlaps(x) {
			continue
		}
		if Covers(d.Prefix, x) {
			return true
		}
		parts = append(parts, d.Prefix)
	}
	agg := Aggregate(parts)
	return len(agg) == 1 && agg[0] == x
}

// IsPrivate reports whether p lies entirely in private space: RFC 1918
// (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), RFC 6598 shared address
// space (100.64.0.0/10) or RFC 4193 unique local addresses (fc00::/7).
func IsPrivate(p netip.Prefix) bool {
	for _, q := range privates {
		if Covers(q, p.Masked()) {
			return true
		}
	}
	return false
}
