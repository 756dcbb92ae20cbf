package prefix

import (
	"errors"
	"net/netip"
	"testing"
)

func TestEmbedded(t *testing.T) {
	ma := netip.MustParseAddr
	mp := netip.MustParsePrefix
	tests := []struct {
		name string
		addr string
		want Transition // Kind "" for not a transition address
	}{
		{
			// The example address commonly used to explain RFC 4380 §4.
			name: "teredo: server, cone flag, port 40000 and client 192.0.2.45 de-obfuscated",
			addr: "2001:0:4136:e378:8000:63bf:3fff:fdd2",
			want: Transition{Kind: KindTeredo, Prefix: mp("2001::/32"), IPv4: ma("192.0.2.45"), Server: ma("65.54.227.120"), Port: 40000, Flags: 0x8000},
		},
		{
			name: "teredo: RFC 5991 random flag bits kept as found, no cone",
			addr: "2001:0:c000:201:3cf:efff:62c3:fffe",
			want: Transition{Kind: KindTeredo, Prefix: mp("2001::/32"), IPv4: ma("157.60.0.1"), Server: ma("192.0.2.1"), Port: 4096, Flags: 0x03cf},
		},
		{
			name: "teredo: a zone is ignored",
			addr: "2001:0:4136:e378:8000:63bf:3fff:fdd2%eth0",
			want: Transition{Kind: KindTeredo, Prefix: mp("2001::/32"), IPv4: ma("192.0.2.45"), Server: ma("65.54.227.120"), Port: 40000, Flags: 0x8000},
		},
		{
			// RFC 3056 §2: the site prefix is 2002:V4ADDR::/48.
			name: "6to4: the site's IPv4 is bits 16-47 and the prefix its /48",
			addr: "2002:c000:204:1::1",
			want: Transition{Kind: Kind6to4, Prefix: mp("2002:c000:204::/48"), IPv4: ma("192.0.2.4")},
		},
		{
			// RFC 6052 §2.4, last row of the table.
			name: "nat64: well-known prefix 64:ff9b::/96",
			addr: "64:ff9b::192.0.2.33",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b::/96"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "nat64: local-use 64:ff9b:1::/96 is read as /96",
			addr: "64:ff9b:1::198.51.100.7",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b:1::/96"), IPv4: ma("198.51.100.7")},
		},
		{
			name: "nat64: local-use /48 embedding (RFC 6052 §2.4 row 3 layout)",
			addr: "64:ff9b:1:c000:2:2100::",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b:1::/48"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "nat64: local-use /56 embedding",
			addr: "64:ff9b:1:3c0:0:221::",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b:1:300::/56"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "nat64: local-use /64 embedding",
			addr: "64:ff9b:1:344:c0:2:2100:0",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b:1:344::/64"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "nat64: local-use /96 under a subnet",
			addr: "64:ff9b:1:344::192.0.2.33",
			want: Transition{Kind: KindNAT64, Prefix: mp("64:ff9b:1:344::/96"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "nat64: bits 64-71 set is not an RFC 6052 address",
			addr: "64:ff9b::ff00:0:c000:221",
		},
		{
			name: "ipv4-mapped",
			addr: "::ffff:203.0.113.9",
			want: Transition{Kind: KindIPv4Mapped, Prefix: mp("::ffff:0:0/96"), IPv4: ma("203.0.113.9")},
		},
		{
			name: "ipv4-compatible (deprecated)",
			addr: "::198.51.100.1",
			want: Transition{Kind: KindIPv4Compatible, Prefix: mp("::/96"), IPv4: ma("198.51.100.1")},
		},
		{name: "unspecified :: is not ipv4-compatible", addr: "::"},
		{name: "loopback ::1 is not ipv4-compatible", addr: "::1"},
		{
			// RFC 5214 §6.1: 0200:5efe for a globally unique IPv4 address.
			name: "isatap: universal interface identifier",
			addr: "2001:db8:1:2:200:5efe:c000:221",
			want: Transition{Kind: KindISATAP, Prefix: mp("2001:db8:1:2::/64"), IPv4: ma("192.0.2.33")},
		},
		{
			name: "isatap: local interface identifier with a private IPv4",
			addr: "fe80::5efe:10.1.2.3",
			want: Transition{Kind: KindISATAP, Prefix: mp("fe80::/64"), IPv4: ma("10.1.2.3")},
		},
		{name: "isatap: other u/g bits are not ISATAP", addr: "2001:db8::100:5efe:c000:221"},
		{name: "ordinary global IPv6 carries nothing", addr: "2001:db8::1"},
		{name: "IPv4 carries nothing", addr: "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Embedded(ma(tt.addr))
			if ok != (tt.want.Kind != "") || got != tt.want {
				t.Fatalf("Embedded(%s) = %+v, %v; want %+v", tt.addr, got, ok, tt.want)
			}
		})
	}
}

func TestTransitionString(t *testing.T) {
	tr, _ := Embedded(netip.MustParseAddr("2001:0:4136:e378:8000:63bf:3fff:fdd2"))
	if got, want := tr.String(), "teredo client 192.0.2.45:40000 via server 65.54.227.120 (cone)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	tr, _ = Embedded(netip.MustParseAddr("2002:c000:204::1"))
	if got, want := tr.String(), "6to4 192.0.2.4 in 2002:c000:204::/48"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !(Transition{Kind: KindTeredo, Flags: TeredoCone}).Cone() || (Transition{Kind: KindNAT64, Flags: TeredoCone}).Cone() {
		t.Error("Cone is the Teredo cone bit only")
	}
}

// TestNAT64RFC6052Examples checks every row of the table in RFC 6052 §2.4,
// both ways.
func TestNAT64RFC6052Examples(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.33")
	rows := []struct{ prefix, addr string }{
		{"2001:db8::/32", "2001:db8:c000:221::"},
		{"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
		{"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
		{"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
		{"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
		{"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
		{"64:ff9b::/96", "64:ff9b::192.0.2.33"},
	}
	for _, r := range rows {
		p, a := netip.MustParsePrefix(r.prefix), netip.MustParseAddr(r.addr)
		got, err := NAT64Embed(p, v4)
		if err != nil || got != a {
			t.Errorf("NAT64Embed(%v, %v) = %v, %v; want %v", p, v4, got, err, a)
		}
		back, ok := NAT64Extract(a, p)
		if !ok || back != v4 {
			t.Errorf("NAT64Extract(%v, %v) = %v, %v; want %v", a, p, back, ok, v4)
		}
	}
}

func TestNAT64Rejects(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.33")
	for _, p := range []string{"2001:db8::/33", "2001:db8::/128", "2001:db8:0:0:ff00::/72", "10.0.0.0/8"} {
		if _, err := NAT64Embed(netip.MustParsePrefix(p), v4); !errors.Is(err, ErrInvalid) {
			t.Errorf("NAT64Embed(%s) error %v, want ErrInvalid", p, err)
		}
	}
	if _, err := NAT64Embed(netip.MustParsePrefix("64:ff9b::/96"), netip.MustParseAddr("2001:db8::1")); !errors.Is(err, ErrInvalid) {
		t.Errorf("NAT64Embed of an IPv6 address: error %v, want ErrInvalid", err)
	}
	if _, ok := NAT64Extract(netip.MustParseAddr("2001:db9::1"), netip.MustParsePrefix("2001:db8::/32")); ok {
		t.Error("NAT64Extract outside the prefix succeeded")
	}
	if _, ok := NAT64Extract(netip.MustParseAddr("2001:db8::1"), netip.MustParsePrefix("2001:db8::/33")); ok {
		t.Error("NAT64Extract with a /33 succeeded")
	}
}

// TestNAT64RoundTrip embeds every length at a few addresses and checks that
// extraction gives the address back.
func TestNAT64RoundTrip(t *testing.T) {
	for _, bits := range NAT64Lengths {
		p := netip.PrefixFrom(netip.MustParseAddr("2001:db8:aaaa:bb00::"), bits).Masked()
		for _, s := range []string{"0.0.0.0", "255.255.255.255", "192.0.2.33", "1.2.3.4"} {
			v4 := netip.MustParseAddr(s)
			a, err := NAT64Embed(p, v4)
			if err != nil {
				t.Fatal(err)
			}
			if back, ok := NAT64Extract(a, p); !ok || back != v4 {
				t.Errorf("/%d: %v -> %v -> %v, %v", bits, v4, a, back, ok)
			}
		}
	}
}

// FuzzEmbedded checks that Embedded never panics, that what it decodes is
// well formed, and that it agrees with the encoders: a Teredo or 6to4
// address re-encodes from its parts, and a NAT64 one re-embeds.
func FuzzEmbedded(f *testing.F) {
	for _, s := range []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2002:c000:204::1", "64:ff9b::192.0.2.33", "64:ff9b:1:3c0:0:221::", "::ffff:1.2.3.4", "::1.2.3.4", "fe80::5efe:10.1.2.3", "::", "192.0.2.1"} {
		a := netip.MustParseAddr(s)
		f.Add(a.AsSlice())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, ok := netip.AddrFromSlice(raw)
		if !ok {
			return
		}
		tr, ok := Embedded(a)
		if !ok {
			if tr != (Transition{}) {
				t.Fatalf("Embedded(%v) = %+v with ok false", a, tr)
			}
			return
		}
		if !a.Is6() || !tr.IPv4.Is4() || !tr.Prefix.IsValid() || !tr.Prefix.Contains(a) || tr.Prefix.Masked() != tr.Prefix {
			t.Fatalf("Embedded(%v) = %+v: malformed", a, tr)
		}
		b := a.As16()
		switch tr.Kind {
		case KindTeredo:
			c, s := tr.IPv4.As4(), tr.Server.As4()
			want := [16]byte{0x20, 0x01, 0, 0, s[0], s[1], s[2], s[3], byte(tr.Flags >> 8), byte(tr.Flags), ^byte(tr.Port >> 8), ^byte(tr.Port), ^c[0], ^c[1], ^c[2], ^c[3]}
			if want != b {
				t.Fatalf("Teredo %v does not re-encode: %+v", a, tr)
			}
		case Kind6to4:
			if tr.Prefix.Bits() != 48 || tr.Prefix.Addr().As16()[2] != tr.IPv4.As4()[0] {
				t.Fatalf("6to4 %v: %+v", a, tr)
			}
		case KindNAT64:
			e, err := NAT64Embed(tr.Prefix, tr.IPv4)
			if err != nil {
				t.Fatalf("NAT64 %v: %+v does not re-embed: %v", a, tr, err)
			}
			if back, ok := NAT64Extract(e, tr.Prefix); !ok || back != tr.IPv4 {
				t.Fatalf("NAT64 %v: %+v round-trips to %v", a, tr, back)
			}
		case KindIPv4Mapped, KindIPv4Compatible, KindISATAP:
			if tr.IPv4.As4() != [4]byte(b[12:]) {
				t.Fatalf("%s %v: %+v", tr.Kind, a, tr)
			}
		default:
			t.Fatalf("Embedded(%v): unknown kind %q", a, tr.Kind)
		}
	})
}
