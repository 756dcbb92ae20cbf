package prefix

import (
	"fmt"
	"net/netip"
)

// Transition kinds: the forms of IPv6 address that carry an IPv4 address.
// The words match Special.Kind where the form has a special-purpose block.
const (
	KindTeredo         = "teredo"          // RFC 4380, 2001::/32
	Kind6to4           = "6to4"            // RFC 3056, 2002::/16
	KindNAT64          = "nat64"           // RFC 6052 and RFC 8215
	KindIPv4Mapped     = "ipv4-mapped"     // RFC 4291 §2.5.5.2, ::ffff:0:0/96
	KindIPv4Compatible = "ipv4-compatible" // RFC 4291 §2.5.5.1, ::/96, deprecated
	KindISATAP         = "isatap"          // RFC 5214 interface identifier
)

// Transition is what an IPv6 transition address carries, decoded.
// It is a plain comparable value.
type Transition struct {
	// Kind is one of KindTeredo, Kind6to4, KindNAT64, KindIPv4Mapped,
	// KindIPv4Compatible or KindISATAP.
	Kind string `json:"kind"`
	// Prefix is the prefix the form was read from: 2001::/32, the 6to4
	// site's 2002:V4ADDR::/48, the NAT64 prefix with the length that was
	// used, ::ffff:0:0/96, ::/96, or the ISATAP link's /64.
	Prefix netip.Prefix `json:"prefix"`
	// IPv4 is the embedded IPv4 address that locates the host: the Teredo
	// client's public (NAT) address, the 6to4 site's address, the IPv4
	// host behind the NAT64 translator, the mapped or compatible address,
	// or the ISATAP node's address (often private).
	IPv4 netip.Addr `json:"ipv4"`
	// Server is the Teredo server's IPv4 address; zero for other kinds.
	Server netip.Addr `json:"server,omitzero"`
	// Port is the Teredo client's public UDP port, de-obfuscated; zero
	// for other kinds.
	Port uint16 `json:"port,omitempty"`
	// Flags is the Teredo flags field as found (RFC 4380 §4, RFC 5991
	// §3: "CRAAAAUG AAAAAAAA"); zero for other kinds. See Cone.
	Flags uint16 `json:"flags,omitempty"`
}

// TeredoCone is the cone bit of the Teredo flags (RFC 4380 §4). RFC 5991
// §3 has clients send it as zero, so its absence proves nothing.
const TeredoCone uint16 = 0x8000

// Cone reports whether a Teredo address says its client is behind a cone
// NAT. It is false for other kinds.
func (t Transition) Cone() bool { return t.Kind == KindTeredo && t.Flags&TeredoCone != 0 }

// String describes t in one line, as
// "teredo client 192.0.2.45:40000 via server 65.54.227.120 (cone)".
func (t Transition) String() string {
	switch t.Kind {
	case "":
		return ""
	case KindTeredo:
		s := fmt.Sprintf("teredo client %v via server %v", netip.AddrPortFrom(t.IPv4, t.Port), t.Server)
		if t.Cone() {
			s += " (cone)"
		}
		return s
	default:
		return fmt.Sprintf("%s %v in %v", t.Kind, t.IPv4, t.Prefix)
	}
}

var (
	teredoPrefix = netip.MustParsePrefix("2001::/32")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	nat64WKP     = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local   = netip.MustParsePrefix("64:ff9b:1::/48")
	v4Mapped     = netip.MustParsePrefix("::ffff:0:0/96")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// Embedded decodes the IPv4 address that an IPv6 transition address
// carries. ok is false for IPv4 addresses and for IPv6 addresses of no
// transition form. A zone on a is ignored. The forms, tried in this order:
//
//   - Teredo (RFC 4380 §4), 2001::/32: server IPv4 in bits 32-63, flags
//     in 64-79, client port XOR 0xffff in 80-95, client IPv4 XOR
//     0xffffffff in 96-127.
//   - 6to4 (RFC 3056 §2), 2002::/16: the site's IPv4 in bits 16-47.
//   - NAT64: the well-known prefix 64:ff9b::/96 (RFC 6052 §2.1) and the
//     local-use 64:ff9b:1::/48 (RFC 8215). The length of a local-use
//     prefix is the operator's choice and is not written in the address,
//     so Embedded guesses it: 64:ff9b:1::/96 when bits 48-95 are zero,
//     else the shortest RFC 6052 length (/48, /56, /64) whose suffix bits
//     are zero, else /96. A caller that knows its translator's prefix
//     uses NAT64Extract instead. Bits 64-71 (RFC 6052 §2.2) must be zero.
//   - IPv4-mapped (RFC 4291 §2.5.5.2), ::ffff:0:0/96.
//   - IPv4-compatible (RFC 4291 §2.5.5.1, deprecated), ::/96, except
//     where the embedded address is in 0.0.0.0/8: that excludes :: and
//     ::1, which are not IPv4 hosts.
//   - ISATAP (RFC 5214 §6.1): any address whose interface identifier is
//     0000:5efe:a.b.c.d or 0200:5efe:a.b.c.d.
func Embedded(a netip.Addr) (Transition, bool) {
	if !a.Is6() {
		return Transition{}, false
	}
	a = a.WithZone("")
	b := a.As16()
	switch {
	case teredoPrefix.Contains(a):
		return Transition{
			Kind:   KindTeredo,
			Prefix: teredoPrefix,
			IPv4:   v4at(b, 12, 0xff),
			Server: v4at(b, 4, 0),
			Flags:  uint16(b[8])<<8 | uint16(b[9]),
			Port:   ^(uint16(b[10])<<8 | uint16(b[11])),
		}, true
	case sixToFour.Contains(a):
		return Transition{Kind: Kind6to4, Prefix: netip.PrefixFrom(a, 48).Masked(), IPv4: v4at(b, 2, 0)}, true
	case nat64WKP.Contains(a):
		v4, ok := NAT64Extract(a, nat64WKP)
		return Transition{Kind: KindNAT64, Prefix: nat64WKP, IPv4: v4}, ok
	case nat64Local.Contains(a):
		bits := guessNAT64Bits(b)
		p := netip.PrefixFrom(a, bits).Masked()
		v4, ok := NAT64Extract(a, p)
		if !ok {
			return Transition{}, false
		}
		return Transition{Kind: KindNAT64, Prefix: p, IPv4: v4}, true
	case v4Mapped.Contains(a):
		return Transition{Kind: KindIPv4Mapped, Prefix: v4Mapped, IPv4: v4at(b, 12, 0)}, true
	case v4Compatible.Contains(a):
		if b[12] == 0 {
			return Transition{}, false
		}
		return Transition{Kind: KindIPv4Compatible, Prefix: v4Compatible, IPv4: v4at(b, 12, 0)}, true
	case (b[8] == 0x00 || b[8] == 0x02) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe:
		return Transition{Kind: KindISATAP, Prefix: netip.PrefixFrom(a, 64).Masked(), IPv4: v4at(b, 12, 0)}, true
	}
	return Transition{}, false
}

// v4at reads the IPv4 address at b[i:i+4], each byte XOR x.
func v4at(b [16]byte, i int, x byte) netip.Addr {
	return netip.AddrFrom4([4]byte{b[i] ^ x, b[i+1] ^ x, b[i+2] ^ x, b[i+3] ^ x})
}

// guessNAT64Bits picks the length of a local-use NAT64 prefix; see Embedded.
func guessNAT64Bits(b [16]byte) int {
	if allZero(b[6:12]) {
		return 96
	}
	for _, bits := range []int{48, 56, 64} {
		if allZero(b[nat64SuffixStart(bits):]) {
			return bits
		}
	}
	return 96
}

// nat64SuffixStart is the first byte after the embedded IPv4 address
// for an RFC 6052 prefix length below 96.
func nat64SuffixStart(bits int) int {
	// The 32 IPv4 bits follow the prefix, skipping byte 8 (bits 64-71).
	end := bits/8 + 4
	if bits/8 <= 8 {
		end++
	}
	return end
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// NAT64Lengths are the prefix lengths RFC 6052 §2.2 allows for an
// IPv4-embedded IPv6 address.
var NAT64Lengths = [...]int{32, 40, 48, 56, 64, 96}

func nat64Length(bits int) bool {
	for _, n := range NAT64Lengths {
		if n == bits {
			return true
		}
	}
	return false
}

// NAT64Embed returns the IPv4-embedded IPv6 address of v4 under the NAT64
// prefix p (RFC 6052 §2.2): the IPv4 bits follow the prefix, skipping bits
// 64-71, and the suffix is zero. p must be an IPv6 prefix of length 32, 40,
// 48, 56, 64 or 96 with bits 64-71 zero, and v4 an IPv4 address.
func NAT64Embed(p netip.Prefix, v4 netip.Addr) (netip.Addr, error) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || !nat64Length(p.Bits()) {
		return netip.Addr{}, fmt.Errorf("nat64 prefix %v: RFC 6052 §2.2 allows IPv6 /32, /40, /48, /56, /64 or /96: %w", p, ErrInvalid)
	}
	if !v4.Is4() {
		return netip.Addr{}, fmt.Errorf("nat64 embed %v: not an IPv4 address: %w", v4, ErrInvalid)
	}
	b := p.Masked().Addr().As16()
	if b[8] != 0 {
		return netip.Addr{}, fmt.Errorf("nat64 prefix %v: bits 64-71 must be zero (RFC 6052 §2.2): %w", p, ErrInvalid)
	}
	v := v4.As4()
	i := p.Bits() / 8
	for _, c := range v {
		if i == 8 {
			i++
		}
		b[i] = c
		i++
	}
	return netip.AddrFrom16(b), nil
}

// NAT64Extract returns the IPv4 address embedded in a under the NAT64
// prefix p (RFC 6052 §2.2). ok is false when a is not in p, p's length is
// not one RFC 6052 allows, or bits 64-71 of a are not zero. Suffix bits
// are ignored, as RFC 6052 §2.2 tells translators to.
func NAT64Extract(a netip.Addr, p netip.Prefix) (v4 netip.Addr, ok bool) {
	a = a.WithZone("")
	if !a.Is6() || !p.IsValid() || !nat64Length(p.Bits()) || !p.Contains(a) {
		return netip.Addr{}, false
	}
	b := a.As16()
	if b[8] != 0 {
		return netip.Addr{}, false
	}
	var v [4]byte
	i := p.Bits() / 8
	for k := range v {
		if i == 8 {
			i++
		}
		v[k] = b[i]
		i++
	}
	return netip.AddrFrom4(v), true
}
