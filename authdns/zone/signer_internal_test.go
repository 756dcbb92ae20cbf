package zone

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/miekg/dns"
)

// signerCases are sets of every kind a zone signs (the records of
// assignments, static records, the apex's, NSEC3 links), and the odd
// ones: names in upper case, escaped or wildcard, records repeated or out
// of order, TTLs that differ in one set.
func signerCases(t testing.TB, rng *rand.Rand) [][]dns.RR {
	t.Helper()
	mk := func(s ...string) []dns.RR {
		var set []dns.RR
		for _, x := range s {
			rr, err := dns.NewRR(x)
			if err != nil {
				t.Fatalf("%s: %v", x, err)
			}
			set = append(set, rr)
		}
		return set
	}
	sets := [][]dns.RR{
		mk("host.Cloud.Example. 300 IN A 10.1.2.3"),
		mk("host.cloud.example. 300 IN AAAA fd00::1"),
		mk("*.wild.cloud.example. 300 IN A 10.1.2.3"),
		mk("a\\.b.cloud.example. 300 IN A 10.1.2.3"),
		mk("\\065bc.cloud.example. 300 IN A 10.1.2.3"),
		mk("x.cloud.example. 300 IN A 10.0.0.9", "x.cloud.example. 300 IN A 10.0.0.1", "x.cloud.example. 300 IN A 10.0.0.9"),
		mk("x.cloud.example. 300 IN AAAA fd00::2", "x.cloud.example. 60 IN AAAA fd00::1"),
		mk("5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.a.9.8.7.6.5.4.3.2.1.D.F.ip6.arpa. 3600 IN PTR Host.Cloud.Example."),
		mk("3.2.1.10.in-addr.arpa. 3600 IN PTR we\\.ird.cloud.example."),
		mk("cloud.example. 3600 IN NS ns1.Example.net.", "cloud.example. 3600 IN NS ns2.example.net."),
		mk("cloud.example. 3600 IN SOA ns1.example.net. Hostmaster.example.net. 2026120501 7200 3600 1209600 300"),
		mk("cloud.example. 3600 IN MX 10 Mail.cloud.example.", "cloud.example. 3600 IN MX 5 mx.cloud.example."),
		mk(`cloud.example. 3600 IN TXT "v=spf1 -all" "two strings"`, `cloud.example. 3600 IN TXT "Another"`),
		mk("_sip._tcp.cloud.example. 3600 IN SRV 10 20 5060 SIP.cloud.example."),
		mk("www.cloud.example. 3600 IN CNAME Host.cloud.example."),
		mk("old.cloud.example. 3600 IN DNAME New.cloud.example."),
		mk("cloud.example. 3600 IN CAA 0 issue \"letsencrypt.org\""),
		mk("kid.cloud.example. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
		mk("cloud.example. 0 IN NSEC3PARAM 1 0 0 -"),
		mk("cloud.example. 3600 IN DNSKEY 257 3 13 kXKkvWU3vGYfTJGl3qBd4qhiWp5aRs7YtkCJxD2d+t7KXqwahww5IgJtxJT2yFItlggazyfXqJEVOmMJ3qT0tQ=="),
		mk("cloud.example. 3600 IN CDS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"),
		mk("cloud.example. 3600 IN CDNSKEY 257 3 13 kXKkvWU3vGYfTJGl3qBd4qhiWp5aRs7YtkCJxD2d+t7KXqwahww5IgJtxJT2yFItlggazyfXqJEVOmMJ3qT0tQ=="),
		mk("uc.cloud.example. 300 IN NSEC3 1 0 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM A RRSIG"),
		mk("uc.cloud.example. 300 IN NSEC3 1 1 10 AABBCCDD 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A NS SOA MX TXT AAAA RRSIG DNSKEY NSEC3PARAM CAA TYPE65534"),
		mk("uc.cloud.example. 300 IN NSEC3 1 0 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM"),
	}
	// Records of a zone of assignments, NSEC3 links with the bitmaps a
	// chain has, at random.
	zone := "cloud.example."
	for range 200 {
		name := fmt.Sprintf("h%d.r%d.%s", rng.IntN(1e6), rng.IntN(60), zone)
		switch rng.IntN(4) {
		case 0:
			sets = append(sets, mk(fmt.Sprintf("%s 300 IN A 10.%d.%d.%d", name, rng.IntN(256), rng.IntN(256), rng.IntN(256))))
		case 1:
			sets = append(sets, mk(fmt.Sprintf("%s 300 IN AAAA fd00:%x::%x", name, rng.IntN(1<<16), rng.IntN(1<<16))))
		case 2:
			sets = append(sets, mk(fmt.Sprintf("%d.%d.10.in-addr.arpa. 3600 IN PTR %s", rng.IntN(256), rng.IntN(256), name)))
		case 3:
			h := nsec3Hash(name)
			types := [][]uint16{{dns.TypeA, dns.TypeRRSIG}, {dns.TypeAAAA, dns.TypeRRSIG}, nil, {dns.TypeNS, dns.TypeDS, dns.TypeRRSIG},
				{dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeDNSKEY, dns.TypeNSEC3PARAM, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeCAA}}[rng.IntN(5)]
			sets = append(sets, []dns.RR{&dns.NSEC3{Hdr: dns.RR_Header{Name: h + "." + zone, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: 300},
				Hash: dns.SHA1, HashLength: 20, NextDomain: nsec3Hash(name + "x"), TypeBitMap: types}})
		}
	}
	return sets
}

// The precomputed signatures setSigner makes are miekg/dns's, byte for
// byte (both algorithms sign deterministically here), and miekg/dns
// verifies them.
func TestSetSignerAsMiekg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := signerCases(t, rng)
	for _, alg := range []Algorithm{ECDSAP256, Ed25519} {
		for _, zone := range []string{"Cloud.example.", "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa.", "we\\.ird.example."} {
			dk, priv, err := NewKey(dns.CanonicalName(zone), CSK, alg)
			if err != nil {
				t.Fatal(err)
			}
			dk.Hdr.Ttl = 3600
			k := activeKey{Key: Key{Algorithm: alg, Tag: dk.KeyTag(), Role: CSK}, dnskey: dk, signer: priv}
			var w setSigner // reused across sets, as a part of signZone does
			for _, set := range sets {
				inc, exp := uint32(1_700_000_000), uint32(2_000_000_000)
				got, err := w.sign(set, zone, k, inc, exp)
				if err != nil {
					t.Fatalf("%v %v: %v", alg, set, err)
				}
				want, err := signRaw(set, zone, k, inc, exp)
				if err != nil {
					t.Fatalf("%v %v: miekg: %v", alg, set, err)
				}
				if got != want {
					t.Fatalf("alg %v zone %s set %v:\nsetSigner %+v\nmiekg     %+v", alg, zone, set, got, want)
				}
				if !dns.IsSubDomain(dns.CanonicalName(zone), dns.CanonicalName(set[0].Header().Name)) {
					continue // miekg/dns verifies only a zone's own sets
				}
				if err := got.rrsig(set[0].Header(), zone).Verify(dk, set); err != nil {
					t.Fatalf("alg %v %v: miekg/dns does not verify it: %v", alg, set, err)
				}
			}
		}
	}
}

// BenchmarkSign is the precomputed signature of one set, as a start-up
// makes millions of them: setSigner against miekg/dns's RRSIG.Sign and
// toRaw (signRaw, what sign called before).
func BenchmarkSign(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := signerCases(b, rng)
	var aaaa, link [][]dns.RR
	for _, s := range all {
		switch s[0].Header().Rrtype {
		case dns.TypeAAAA, dns.TypeA:
			aaaa = append(aaaa, s)
		case dns.TypeNSEC3:
			link = append(link, s)
		}
	}
	dk, priv, err := NewKey("cloud.example.", CSK, ECDSAP256)
	if err != nil {
		b.Fatal(err)
	}
	k := activeKey{Key: Key{Algorithm: ECDSAP256, Tag: dk.KeyTag(), Role: CSK}, dnskey: dk, signer: priv}
	for _, c := range []struct {
		name string
		sets [][]dns.RR
	}{{"address", aaaa}, {"nsec3", link}} {
		b.Run(c.name+"/miekg", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := signRaw(c.sets[i%len(c.sets)], "cloud.example.", k, 1, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/setSigner", func(b *testing.B) {
			var w setSigner
			for i := 0; b.Loop(); i++ {
				if _, err := w.sign(c.sets[i%len(c.sets)], "cloud.example.", k, 1, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
