package server

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// appendSynthRR compresses a PTR's target against the question's name
// as miekg/dns does: the longest suffix the question spells the same
// way (case counts) becomes a pointer; the RRSIG's signer never does.
func TestAppendSynthRRCompressesAsMiekg(t *testing.T) {
	for _, c := range []struct{ qname, target string }{
		{"5.4.example.test.", "host.example.test."},
		{"5.4.example.test.", "5.4.example.test."},
		{"5.4.example.test.", "4.example.test."},
		{"5.4.example.test.", "other.org."},
		{"5.4.example.test.", "test."},
		{"5.4.Example.test.", "host.example.test."},
		{"a.b.", "c.a.b."},
	} {
		ptr := &dns.PTR{Hdr: dns.RR_Header{Name: c.qname, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 60}, Ptr: c.target}
		sig := &dns.RRSIG{Hdr: dns.RR_Header{Name: c.qname, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 60}, TypeCovered: dns.TypePTR,
			Algorithm: dns.ED25519, Labels: 4, OrigTtl: 60, Expiration: 2, Inception: 1, KeyTag: 7, SignerName: "example.test.", Signature: "AAECAw=="}
		m := new(dns.Msg)
		m.SetQuestion(c.qname, dns.TypePTR)
		m.Response, m.Compress = true, true
		m.Answer = []dns.RR{ptr, sig}
		want, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		q, _ := m.Copy().Pack()
		qend := 12 + len(c.qname) + 1
		got := append([]byte(nil), q[:qend+4]...)
		for _, rr := range m.Answer {
			var ok bool
			if got, ok = appendSynthRR(got, rr, q[12:qend]); !ok {
				t.Fatalf("%s -> %s: not packed", c.qname, c.target)
			}
		}
		// The header's counts are the caller's to write.
		got = append(append([]byte(nil), want[:12]...), got[12:]...)
		if !bytes.Equal(got, want) {
			t.Errorf("%s -> %s:\ngot  %x\nwant %x", c.qname, c.target, got, want)
		}
	}
}
