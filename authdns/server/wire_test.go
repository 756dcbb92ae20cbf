package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// setCounts counts the records of each RRset (signatures apart) in rrs.
func setCounts(rrs []dns.RR) map[string]int {
	n := map[string]int{}
	for _, rr := range rrs {
		k := strings.ToLower(rr.Header().Name) + "/" + dns.TypeToString[rr.Header().Rrtype]
		if s, ok := rr.(*dns.RRSIG); ok {
			k += "/" + dns.TypeToString[s.TypeCovered]
		}
		n[k]++
	}
	return n
}

// TestRepliesCompressedAndWholeSets: every reply is name-compressed
// (whatever its size), and a UDP reply that does not fit drops whole
// RRsets, signatures with their set, and sets TC: no set is ever cut.
func TestRepliesCompressedAndWholeSets(t *testing.T) {
	e := newEnv(t, true)
	for i := range 30 {
		if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "big", "TXT", fmt.Sprintf(`"record %02d of a set too large for 512 bytes"`, i), 0); err != nil {
			t.Fatal(err)
		}
	}
	e.start(server.Options{})
	for _, c := range []struct {
		name  string
		qtype uint16
		do    bool
	}{
		{"www." + fwdZone, dns.TypeA, false},
		{"www." + fwdZone, dns.TypeA, true},
		{"nope." + fwdZone, dns.TypeA, true},
		{fwdZone, dns.TypeDNSKEY, true},
		{fwdZone, dns.TypeMX, false},
		{"big." + fwdZone, dns.TypeTXT, false},
		{"big." + fwdZone, dns.TypeTXT, true},
	} {
		for _, size := range []uint16{0, 512, 1232} {
			t.Run(fmt.Sprintf("%s %s do=%v size=%d", c.name, dns.TypeToString[c.qtype], c.do, size), func(t *testing.T) {
				q := new(dns.Msg)
				q.SetQuestion(c.name, c.qtype)
				if size > 0 || c.do {
					q.SetEdns0(max(size, 512), c.do)
				}
				wire, _ := q.Pack()
				reply := rawUDP(t, e.addr, wire)
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatal(err)
				}
				r.Compress = true
				if packed, _ := r.Pack(); len(reply) > len(packed) {
					t.Fatalf("reply of %d bytes, %d compressed", len(reply), len(packed))
				}
				whole := e.query("tcp", c.name, c.qtype, c.do)
				all := setCounts(append(append(whole.Answer, whole.Ns...), whole.Extra...))
				got := setCounts(append(append(r.Answer, r.Ns...), r.Extra...))
				for k, n := range got {
					if k != "./OPT" && n != all[k] {
						t.Fatalf("set %s: %d records over UDP, %d over TCP (a cut set)\n%v", k, n, all[k], r)
					}
				}
				if len(r.Answer)+len(r.Ns) < len(whole.Answer)+len(whole.Ns) && !r.Truncated {
					t.Fatalf("sets dropped without TC:\n%v", r)
				}
			})
		}
	}
}
