package server_test

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// The UDP fast path (packed answers kept per snapshot) answers exactly
// what the full path does, for first and repeated questions, whatever the
// asker's spelling of the name, ID, RD and CD bits, EDNS and size.
func TestFastPathAnswersAsTheFullPath(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	type q struct {
		name  string
		qtype uint16
	}
	qs := []q{
		{"vm1." + fwdZone, dns.TypeA}, {"VM1.Example.TEST.", dns.TypeAAAA}, {"nope." + fwdZone, dns.TypeA},
		{"www." + fwdZone, dns.TypeTXT}, {fwdZone, dns.TypeDNSKEY}, {fwdZone, dns.TypeANY}, {"example.org.", dns.TypeA},
		{"ip-fd12-3456-789a-1--99." + dynZone, dns.TypeAAAA}, {"9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + v6Zone, dns.TypePTR},
		{"x." + dynZone, dns.TypeA}, {v4Zone, dns.TypeSOA},
	}
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, UDPSize: 65535}
	before := e.srv.FastAnswers()
	for round := range 2 { // misses, then hits
		for _, x := range qs {
			for _, edns := range []int{0, 512, 1232, 4096} {
				for _, do := range []bool{false, true} {
					if edns == 0 && do {
						continue
					}
					m := new(dns.Msg)
					m.SetQuestion(x.name, x.qtype)
					m.Id = uint16(round*1000 + edns + len(x.name))
					m.RecursionDesired = round == 1
					m.CheckingDisabled = do
					if edns > 0 {
						m.SetEdns0(uint16(edns), do)
					}
					got, _, err := c.Exchange(m, e.addr)
					if err != nil {
						t.Fatalf("%s %s: %v", x.name, dns.TypeToString[x.qtype], err)
					}
					want := e.srv.Respond(m, false)
					if got.String() != want.String() {
						t.Fatalf("round %d, %s %s EDNS %d DO %v:\n--- UDP\n%v\n--- full path\n%v", round, x.name, dns.TypeToString[x.qtype], edns, do, got, want)
					}
				}
			}
		}
	}
	if n := e.srv.FastAnswers() - before; n < uint64(len(qs)*7) {
		t.Fatalf("%d fast answers, want at least %d", n, len(qs)*7)
	}
	// A change is served at once: the snapshot, and its answers, are new.
	if r := e.query("udp", "fresh."+fwdZone, dns.TypeA, true); r.Rcode != dns.RcodeNameError {
		t.Fatalf("fresh before it is assigned: %v", r)
	}
	a := e.alloc(4, "fresh."+fwdZone)
	e.waitFor("fresh name", func() bool {
		r := e.query("udp", "fresh."+fwdZone, dns.TypeA, true)
		return len(r.Answer) == 2 && r.Answer[0].(*dns.A).A.String() == a.String()
	})
}
