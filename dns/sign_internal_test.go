package authdns

import (
	"bytes"
	"crypto"
	"net"
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
	got := rawECDSA(der)
	want := append(append(append([]byte{0x80}, bytes.Repeat([]byte{1}, 31)...), 0, 0), s...)
	if !bytes.Equal(got, want) {
		t.Fatalf("rawECDSA\n%x\nwant\n%x", got, want)
	}
	for _, bad := range [][]byte{nil, der[:len(der)-1], append(der[:1:1], der[1]+1), append(append([]byte{}, der...), 0)} {
		if rawECDSA(bad) != nil {
			t.Fatalf("rawECDSA(%x) accepted", bad)
		}
	}
}
