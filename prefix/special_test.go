package prefix

import (
	"net/netip"
	"testing"
)

func TestSpecialTableIsWellFormed(t *testing.T) {
	seen := map[netip.Prefix]bool{}
	for _, s := range Specials() {
		if seen[s.Prefix] {
			t.Errorf("%v listed twice", s.Prefix)
		}
		seen[s.Prefix] = true
		if s.Name == "" || s.RFC == "" || s.Kind == "" {
			t.Errorf("%v: missing name, RFC or kind", s.Prefix)
		}
		if p, err := Parse(s.Prefix.String()); err != nil && s.Kind != "ipv4-mapped" {
			t.Errorf("%v does not pass Parse: %v", s.Prefix, err)
		} else if err == nil && p != s.Prefix {
			t.Errorf("%v parses as %v", s.Prefix, p)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name, addr string
		prefix     string // "" for not special
		kind       string
		global     bool
	}{
		{"ordinary IPv4 is not special", "8.8.8.8", "", "", false},
		{"ordinary IPv6 is not special", "2a00:1450::1", "", "", false},
		{"RFC 1918 10/8", "10.1.2.3", "10.0.0.0/8", "private", false},
		{"172.16/12 lower edge", "172.16.0.0", "172.16.0.0/12", "private", false},
		{"172.16/12 upper edge", "172.31.255.255", "172.16.0.0/12", "private", false},
		{"just above 172.16/12 is ordinary", "172.32.0.0", "", "", false},
		{"CGN shared space", "100.64.0.1", "100.64.0.0/10", "shared", false},
		{"0.0.0.0 is this host, the most specific", "0.0.0.0", "0.0.0.0/32", "this-network", false},
		{"0.1.2.3 is this network", "0.1.2.3", "0.0.0.0/8", "this-network", false},
		{"PCP anycast inside 192.0.0.0/24 is reachable", "192.0.0.9", "192.0.0.9/32", "anycast", true},
		{"rest of 192.0.0.0/24 is IETF protocol", "192.0.0.100", "192.0.0.0/24", "ietf-protocol", false},
		{"service continuity /29", "192.0.0.3", "192.0.0.0/29", "service-continuity", false},
		{"NAT64 discovery", "192.0.0.170", "192.0.0.170/32", "nat64", false},
		{"deprecated 6to4 relay is N/A, so reachable", "192.88.99.1", "192.88.99.0/24", "6to4", true},
		{"6a44 relay anycast is not", "192.88.99.2", "192.88.99.2/32", "6a44", false},
		{"AS112 direct delegation", "192.175.48.1", "192.175.48.0/24", "as112", true},
		{"benchmarking spans a /15", "198.19.255.255", "198.18.0.0/15", "benchmarking", false},
		{"multicast", "239.1.1.1", "224.0.0.0/4", "multicast", false},
		{"class E", "250.0.0.1", "240.0.0.0/4", "reserved", false},
		{"limited broadcast beats class E", "255.255.255.255", "255.255.255.255/32", "limited-broadcast", false},
		{"IPv6 loopback", "::1", "::1/128", "loopback", false},
		{"IPv6 unspecified", "::", "::/128", "unspecified", false},
		{"IPv4-compatible (deprecated)", "::10.0.0.1", "::/96", "ipv4-compatible", false},
		{"IPv4-mapped", "::ffff:10.0.0.1", "::ffff:0.0.0.0/96", "ipv4-mapped", false},
		{"NAT64 well-known prefix is reachable", "64:ff9b::808:808", "64:ff9b::/96", "nat64", true},
		{"local-use NAT64 is not", "64:ff9b:1::1", "64:ff9b:1::/48", "nat64", false},
		{"discard-only", "100::1", "100::/64", "discard-only", false},
		{"dummy prefix", "100:0:0:1::1", "100:0:0:1::/64", "dummy", false},
		{"Teredo is N/A, so reachable", "2001::1", "2001::/32", "teredo", true},
		{"PCP anycast IPv6", "2001:1::1", "2001:1::1/128", "anycast", true},
		{"SRP anycast", "2001:1::3", "2001:1::3/128", "anycast", true},
		{"2001:1::4 falls back to the IETF block", "2001:1::4", "2001::/23", "ietf-protocol", false},
		{"benchmarking IPv6", "2001:2::1", "2001:2::/48", "benchmarking", false},
		{"AMT IPv6", "2001:3::1", "2001:3::/32", "amt", true},
		{"ORCHIDv2", "2001:20::1", "2001:20::/28", "orchid", true},
		{"drone remote ID", "2001:30::1", "2001:30::/28", "drone-remote-id", true},
		{"end of IETF block", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "2001::/23", "ietf-protocol", false},
		{"just past the IETF block is ordinary", "2001:200::1", "", "", false},
		{"IPv6 documentation", "2001:db8::1", "2001:db8::/32", "documentation", false},
		{"new IPv6 documentation", "3fff:fff::1", "3fff::/20", "documentation", false},
		{"6to4", "2002:c000:201::1", "2002::/16", "6to4", true},
		{"SRv6 SIDs", "5f00::1", "5f00::/16", "srv6-sids", false},
		{"ULA", "fd12:3456::1", "fc00::/7", "ula", false},
		{"link-local with zone", "fe80::1%eth0", "fe80::/10", "link-local", false},
		{"IPv6 multicast", "ff02::1", "ff00::/8", "multicast", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := Lookup(ma(tt.addr))
			if tt.prefix == "" {
				if ok {
					t.Fatalf("Lookup(%s) = %+v; want not special", tt.addr, s)
				}
				return
			}
			if !ok || s.Prefix.String() != tt.prefix || s.Kind != tt.kind || s.GloballyReachable != tt.global {
				t.Fatalf("Lookup(%s) = %+v, %v; want %s %s global=%v", tt.addr, s, ok, tt.prefix, tt.kind, tt.global)
			}
		})
	}
}

func TestOverlapping(t *testing.T) {
	tests := []struct {
		name, p string
		want    []string
	}{
		{"ordinary space overlaps nothing", "8.0.0.0/8", nil},
		{"a /30 in 192.0.0.0/24 lists the block then the /29", "192.0.0.4/30", []string{"192.0.0.0/24", "192.0.0.0/29"}},
		{"a covering prefix lists every entry inside, most specific last", "192.0.0.0/28", []string{"192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32"}},
		{"a /31 inside 6to4 relay", "192.88.99.2/31", []string{"192.88.99.0/24", "192.88.99.2/32"}},
		{"IPv6 anycast address", "2001:1::1/128", []string{"2001::/23", "2001:1::1/128"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range Overlapping(mp(tt.p)) {
				got = append(got, s.Prefix.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Overlapping(%s) = %v; want %v", tt.p, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Overlapping(%s) = %v; want %v", tt.p, got, tt.want)
				}
			}
		})
	}
}

func TestGloballyReachable(t *testing.T) {
	tests := []struct {
		name, p string
		want    bool
	}{
		{"ordinary IPv4 block", "191.232.0.0/16", true},
		{"ordinary IPv6 block", "2a01:110::/31", true},
		{"whole IPv4 space is not", "0.0.0.0/0", false},
		{"whole IPv6 space is not", "::/0", false},
		{"a block containing RFC 1918 is not", "8.0.0.0/5", false},
		{"PCP anycast inside an unreachable block is", "192.0.0.9/32", true},
		{"the IETF block as a whole is not", "192.0.0.0/24", false},
		{"a /31 pairing TURN anycast with an IETF address is not", "192.0.0.10/31", false},
		{"deprecated 6to4 relay address without 6a44 is", "192.88.99.1/32", true},
		{"deprecated 6to4 relay /24 contains 6a44, so is not", "192.88.99.0/24", false},
		{"AMT inside 2001::/23 is", "2001:3::/32", true},
		{"AS112-v6 inside 2001::/23 is", "2001:4:112::/48", true},
		{"IETF block 2001::/23 is not", "2001::/23", false},
		{"Teredo is N/A, so is", "2001::/32", true},
		{"6to4 is N/A, so is", "2002::/16", true},
		{"NAT64 well-known prefix is", "64:ff9b::/96", true},
		{"local-use NAT64 is not", "64:ff9b:1::/48", false},
		{"documentation is not", "2001:db8:1::/48", false},
		{"SRv6 SIDs are not", "5f00:1::/32", false},
		{"multicast is not", "233.252.0.0/24", false},
		{"ULA is not", "fd00::/8", false},
		{"invalid prefix is not", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p netip.Prefix
			if tt.p != "" {
				p = mp(tt.p)
			}
			if got := GloballyReachable(p); got != tt.want {
				t.Errorf("GloballyReachable(%s) = %v; want %v", tt.p, got, tt.want)
			}
		})
	}
}

// TestGloballyReachableMatchesLookup checks the prefix rule against the
// per-address rule on every address of some small mixed blocks.
func TestGloballyReachableMatchesLookup(t *testing.T) {
	for _, base := range []string{"192.0.0.0/24", "192.88.99.0/24", "192.52.193.0/24", "198.51.100.0/24"} {
		b := mp(base)
		for bits := 24; bits <= 32; bits++ {
			for i := 0; i < 256; i += 1 << (32 - bits) {
				p := netip.PrefixFrom(addrAt(b, i), bits)
				want := true
				for a := p.Addr(); p.Contains(a); a = a.Next() {
					if s, ok := Lookup(a); ok && !s.GloballyReachable {
						want = false
						break
					}
				}
				if got := GloballyReachable(p); got != want {
					t.Fatalf("GloballyReachable(%v) = %v; per-address rule says %v", p, got, want)
				}
			}
		}
	}
}

func TestIsPrivate(t *testing.T) {
	tests := []struct {
		name, p string
		want    bool
	}{
		{"10/8 itself", "10.0.0.0/8", true},
		{"inside 172.16/12", "172.20.0.0/16", true},
		{"192.168 /24", "192.168.1.0/24", true},
		{"CGN shared space counts", "100.64.0.0/10", true},
		{"ULA counts", "fd12:3456:789a::/48", true},
		{"straddling 172.16/12 does not", "172.0.0.0/10", false},
		{"a prefix containing 10/8 does not", "8.0.0.0/6", false},
		{"link-local is not private", "169.254.0.0/16", false},
		{"documentation is not private", "192.0.2.0/24", false},
		{"global unicast is not", "2001:4860::/32", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPrivate(mp(tt.p)); got != tt.want {
				t.Errorf("IsPrivate(%s) = %v; want %v", tt.p, got, tt.want)
			}
		})
	}
}
