package zone

import (
	"bytes"
	"crypto"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// signOne makes what miekg/dns makes: the same Ed25519 signature (it is
// deterministic), and ECDSA signatures that miekg/dns verifies (many, so
// that r and s of every length turn up); sets it does not handle go to
// miekg/dns.
func TestSignOneAsMiekg(t *testing.T) {
	rev := "1.0.0.0.a.9.8.7.6.5.4.3.2.1.D.F.ip6.arpa."
	sets := [][]dns.RR{
		{&dns.PTR{Hdr: dns.RR_Header{Name: "5.0.0.0." + rev, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 3600}, Ptr: "IP-fd12--5.Dyn.Test."}},
		{&dns.AAAA{Hdr: dns.RR_Header{Name: "ip-fd12--5.dyn.test.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: net.ParseIP("fd12::5")}},
		{&dns.A{Hdr: dns.RR_Header{Name: "ip-10-1-2-3.dyn.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("10.1.2.3")}},
		{&dns.NSEC{Hdr: dns.RR_Header{Name: "x.dyn.test.", Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 60}, NextDomain: "\\000.x.dyn.test.", TypeBitMap: []uint16{dns.TypeNSEC, dns.TypeRRSIG, 128}}},
	}
	for _, alg := range []uint8{dns.ED25519, dns.ECDSAP256SHA256} {
		for i, set := range sets {
			zone := "Dyn.test."
			if i == 0 {
				zone = rev
			}
			dk := &dns.DNSKEY{Hdr: dns.RR_Header{Name: dns.CanonicalName(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: alg}
			priv, err := dk.Generate(256)
			if err != nil {
				t.Fatal(err)
			}
			k := priv.(crypto.Signer)
			for range 50 {
				mk := func() *dns.RRSIG {
					return &dns.RRSIG{Hdr: dns.RR_Header{Ttl: set[0].Header().Ttl}, Algorithm: alg, KeyTag: dk.KeyTag(), SignerName: zone, Inception: 1000, Expiration: 2000000000}
				}
				ours, theirs := mk(), mk()
				if err := signOne(ours, k, set); err != nil {
					t.Fatal(err)
				}
				if err := theirs.Sign(k, set); err != nil {
					t.Fatal(err)
				}
				if err := ours.Verify(dk, set); err != nil {
					t.Fatalf("alg %d %v: miekg/dns does not verify signOne's signature: %v", alg, set[0], err)
				}
				if alg != dns.ED25519 {
					ours.Signature, theirs.Signature = "random", "random"
				}
				if ours.String() != theirs.String() {
					t.Fatalf("alg %d:\nsignOne %v\nmiekg   %v", alg, ours, theirs)
				}
			}
		}
	}
}

func TestRawECDSA(t *testing.T) {
	r := append([]byte{0x00, 0x80}, bytes.Repeat([]byte{1}, 31)...) // 33 bytes, sign byte
	s := bytes.Repeat([]byte{2}, 30)                                // short
	der := append([]byte{0x30, byte(4 + len(r) + len(s)), 0x02, byte(len(r))}, r...)
	der = append(append(der, 0x02, byte(len(s))), s...)
	got := make([]byte, 64)
	if !rawECDSA(got, der) {
		t.Fatalf("rawECDSA(%x) refused", der)
	}
	want := append(append(append([]byte{0x80}, bytes.Repeat([]byte{1}, 31)...), 0, 0), s...)
	if !bytes.Equal(got, want) {
		t.Fatalf("rawECDSA\n%x\nwant\n%x", got, want)
	}
	for _, bad := range [][]byte{nil, der[:len(der)-1], append(der[:1:1], der[1]+1), append(append([]byte{}, der...), 0)} {
		if rawECDSA(make([]byte, 64), bad) {
			t.Fatalf("rawECDSA(%x) accepted", bad)
		}
	}
}

// A template names an address with ':' and '.' as '-', and reads the
// name back to the same address.
func TestTemplateName(t *testing.T) {
	tmpl, err := ParseTemplate("ip-{addr}.dyn.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ addr, name string }{
		{"fd12:3456:789a:1::5", "ip-fd12-3456-789a-1--5.dyn.test."},
		{"10.1.2.3", "ip-10-1-2-3.dyn.test."},
		{"2001:db8::", "ip-2001-db8--.dyn.test."},
	} {
		a := netip.MustParseAddr(c.addr)
		if got := tmpl.Name(a); got != c.name {
			t.Errorf("Name(%s) = %q, want %q", c.addr, got, c.name)
		}
		if back, ok := tmpl.Addr(c.name); !ok || back != a {
			t.Errorf("Addr(%q) = %v %v, want %s", c.name, back, ok, a)
		}
	}
}

// reversePrefix reads an ip6.arpa name below a zone: whole addresses,
// shorter prefixes, and refuses what is not one hex digit a label.
func TestReversePrefixIPv6(t *testing.T) {
	z := &Zone{Name: "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa.", Prefix: netip.MustParsePrefix("fd12:3456:789a:1::/64")}
	for _, c := range []struct {
		name string
		want string // "" for refused
	}{
		{"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + z.Name, "fd12:3456:789a:1::5/128"},
		{"f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.0." + z.Name, "fd12:3456:789a:1:123:4567:89ab:cdef/128"},
		{"0.0.8." + z.Name, "fd12:3456:789a:1:8000::/76"},
		{"8." + z.Name, "fd12:3456:789a:1:8000::/68"},
		{"0.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + z.Name, ""}, // 17 labels: past /128
		{"05.0." + z.Name, ""},
		{"A." + z.Name, ""},
		{"5..0." + z.Name, ""},
		{"g." + z.Name, ""},
		{z.Name, "fd12:3456:789a:1::/64"}, // the apex is the zone's own prefix (an address in a /128 zone)
	} {
		p, ok := reversePrefix(z, c.name)
		got := ""
		if ok {
			got = p.String()
		}
		if got != c.want {
			t.Errorf("reversePrefix(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
