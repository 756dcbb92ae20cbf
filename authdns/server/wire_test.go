package server_test

import (
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
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

// TestNSIDAndSeveralListenAddresses: the server answers on every listen
// address, UDP and TCP, and sends its NSID (RFC 5001) only to an asker
// that asks for it; dig and kdig read it.
func TestNSIDAndSeveralListenAddresses(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{AlsoListen: []string{"127.0.0.1:0", "[::1]:0"}, NSID: []byte("ns1.cadastre")})
	addrs := e.srv.Addrs()
	if len(addrs) != 3 || addrs[0] != e.addr {
		t.Fatalf("Addrs = %v", addrs)
	}
	for _, a := range addrs {
		for _, network := range []string{"udp", "tcp"} {
			q := new(dns.Msg)
			q.SetQuestion("www."+fwdZone, dns.TypeA)
			r, _, err := (&dns.Client{Net: network}).Exchange(q, a)
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("%s %s: %v %v", network, a, r, err)
			}
			if r.IsEdns0() != nil {
				t.Fatalf("%s %s: OPT in the reply to a query without: %v", network, a, r)
			}
			q.SetEdns0(1232, false)
			if r, _, err = (&dns.Client{Net: network}).Exchange(q, a); err != nil || len(r.IsEdns0().Option) != 0 {
				t.Fatalf("%s %s: NSID sent unasked: %v %v", network, a, r, err)
			}
			q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
			r, _, err = (&dns.Client{Net: network}).Exchange(q, a)
			if err != nil || len(r.Answer) != 1 || len(r.IsEdns0().Option) != 1 {
				t.Fatalf("%s %s with NSID: %v %v", network, a, r, err)
			}
			if n, ok := r.IsEdns0().Option[0].(*dns.EDNS0_NSID); !ok || n.Nsid != hex.EncodeToString([]byte("ns1.cadastre")) {
				t.Fatalf("%s %s: NSID %v", network, a, r.IsEdns0().Option[0])
			}
		}
	}
	host, port, _ := net.SplitHostPort(e.addr)
	for _, prog := range []string{"dig", "kdig"} {
		out, _ := exec.Command(tool(t, prog), "@"+host, "-p", port, "+nsid", "+retry=0", "www."+fwdZone, "A").CombinedOutput()
		if !strings.Contains(string(out), "ns1.cadastre") {
			t.Fatalf("%s +nsid:\n%s", prog, out)
		}
	}
}
