package zone

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// TestPackRRDoesNotWriteIntoTheRecord: records of a published snapshot
// are shared with the goroutines answering queries, so packing one for
// the content hash or the journal must leave it as it was (dns.PackRR
// set its Rdlength: a data race under go test -race), and give the same
// wire form dns.PackRR gives.
func TestPackRRDoesNotWriteIntoTheRecord(t *testing.T) {
	for _, rr := range []dns.RR{
		&dns.A{Hdr: dns.RR_Header{Name: "www.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")},
		&dns.TXT{Hdr: dns.RR_Header{Name: "t.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"a", "bc"}},
		&dns.NS{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "ns.example."},
	} {
		before := *rr.Header()
		w, _, err := packRR(rr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *rr.Header() != before {
			t.Errorf("%s: header %+v after packing, was %+v", rr, *rr.Header(), before)
		}
		c := dns.Copy(rr)
		buf := make([]byte, 512)
		off, err := dns.PackRR(c, buf, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if w != string(buf[:off]) {
			t.Errorf("%s: packed %x, dns.PackRR gives %x", rr, w, buf[:off])
		}
	}
}
