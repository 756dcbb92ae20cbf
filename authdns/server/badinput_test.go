package server_test

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// rawUDP sends b and returns the reply, or nil when the server stays silent.
func rawUDP(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func header(id uint16, bits uint16, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], bits)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	return b
}

func packQ(t *testing.T, edit func(m *dns.Msg)) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www."+fwdZone, dns.TypeA)
	edit(m)
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	question := func(name string) []byte { // hand-made question, any bytes
		return append([]byte(name), 0, 1, 0, 1)
	}
	longName := strings.Repeat("\x01a", 126) + "\x00" // 127 labels, 253 bytes: legal
	cases := []struct {
		name  string
		pkt   []byte
		rcode int // -1: no reply
	}{
		{"empty packet is dropped", nil, -1},
		{"short header is dropped", []byte{1, 2, 3}, -1},
		{"a response is dropped", append(header(7, 1<<15, 1, 0, 0, 0), question("\x00")...), -1},
		{"no question is FORMERR", header(7, 0, 0, 0, 0, 0), dns.RcodeFormatError},
		{"two questions are FORMERR", append(append(header(7, 0, 2, 0, 0, 0), question("\x00")...), question("\x00")...), dns.RcodeFormatError},
		{"a truncated question is FORMERR", append(header(7, 0, 1, 0, 0, 0), 3, 'w', 'w'), dns.RcodeFormatError},
		{"a compression loop is FORMERR", append(header(7, 0, 1, 0, 0, 0), 0xc0, 12, 0, 1, 0, 1), dns.RcodeFormatError},
		{"a pointer forward is FORMERR", append(header(7, 0, 1, 0, 0, 0), 0xc0, 40, 0, 1, 0, 1), dns.RcodeFormatError},
		{"a label over 63 bytes is FORMERR", append(header(7, 0, 1, 0, 0, 0), question("\x40"+strings.Repeat("a", 64)+"\x00")...), dns.RcodeFormatError},
		{"127 labels outside our zones are REFUSED", append(header(7, 0, 1, 0, 0, 0), question(longName)...), dns.RcodeRefused},
		// RFC 2136 §3.1.1: a zone section whose type is not SOA is FORMERR.
		{"UPDATE whose zone type is not SOA is FORMERR", append(header(7, 5<<11, 1, 0, 0, 0), question("\x00")...), dns.RcodeFormatError},
		{"UPDATE of a zone not served here is NOTAUTH", append(header(7, 5<<11, 1, 0, 0, 0), append([]byte("\x00"), 0, 6, 0, 1)...), dns.RcodeNotAuth},
		{"an unassigned opcode is NOTIMP", append(header(7, 3<<11, 1, 0, 0, 0), question("\x00")...), dns.RcodeNotImplemented},
		{"NOTIFY to a primary is REFUSED", packQ(t, func(m *dns.Msg) { m.SetNotify(fwdZone) }), dns.RcodeRefused},
		{"CHAOS class is REFUSED", packQ(t, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), dns.RcodeRefused},
		{"class ANY is REFUSED", packQ(t, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY }), dns.RcodeRefused},
		{"an unknown class is REFUSED", packQ(t, func(m *dns.Msg) { m.Question[0].Qclass = 4242 }), dns.RcodeRefused},
		{"a meta type is NOTIMP", packQ(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeMAILB }), dns.RcodeNotImplemented},
		{"qtype OPT is NOTIMP", packQ(t, func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeOPT }), dns.RcodeNotImplemented},
		{"an unknown type is answered", packQ(t, func(m *dns.Msg) { m.Question[0].Qtype = 65280 }), dns.RcodeSuccess},
		{"EDNS version 1 is BADVERS", packQ(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
		{"two OPT records are FORMERR", packQ(t, func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) }), dns.RcodeFormatError},
		{"AXFR over UDP is REFUSED", packQ(t, func(m *dns.Msg) { m.SetAxfr(fwdZone) }), dns.RcodeRefused},
		{"another zone is REFUSED", packQ(t, func(m *dns.Msg) { m.SetQuestion("example.com.", dns.TypeA) }), dns.RcodeRefused},
		{"a tiny EDNS buffer still gets an answer", packQ(t, func(m *dns.Msg) { m.SetEdns0(1, true) }), dns.RcodeSuccess},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reply := rawUDP(t, e.addr, c.pkt)
			if c.rcode < 0 {
				if reply != nil {
					t.Fatalf("got a reply of %d bytes, want silence", len(reply))
				}
				return
			}
			if reply == nil {
				t.Fatal("no reply")
			}
			r := new(dns.Msg)
			if err := r.Unpack(reply); err != nil {
				t.Fatalf("unparseable reply: %v", err)
			}
			if r.Rcode != c.rcode || r.Id != binary.BigEndian.Uint16(append(c.pkt, 0, 0)[:2]) && len(c.pkt) >= 2 {
				t.Fatalf("rcode %s, want %s\n%v", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode], r)
			}
			if r.RecursionAvailable {
				t.Fatal("RA set")
			}
		})
	}

	t.Run("a stranger's AXFR is REFUSED over TCP", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr(fwdZone)
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
		r, _, err := c.Exchange(m, e.addr)
		if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Fatalf("stranger AXFR: %v %v", r, err)
		}
	})

	t.Run("an AXFR with a wrong TSIG secret is NOTAUTH", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetAxfr(fwdZone)
		m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
		c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{tsigName: "d3Jvbmctc2VjcmV0"}}
		r, _, _ := c.Exchange(m, e.addr)
		if r == nil || r.Rcode != dns.RcodeNotAuth || len(r.Answer) != 0 {
			t.Fatalf("bad TSIG AXFR: %v", r)
		}
	})

	t.Run("a NOTIFY storm is refused and the server keeps answering", func(t *testing.T) {
		c, err := net.Dial("udp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pkt := packQ(t, func(m *dns.Msg) { m.SetNotify(fwdZone) })
		for range 5000 {
			c.Write(pkt)
		}
		// Queries sent during the storm may be dropped with it; after
		// it, answers come.
		q := packQ(t, func(m *dns.Msg) {})
		for try := 0; ; try++ {
			if reply := rawUDP(t, e.addr, q); reply != nil {
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil || len(r.Answer) != 1 {
					t.Fatalf("after the storm: %v %v", r, err)
				}
				break
			}
			if try == 20 {
				t.Fatal("no answer after the storm")
			}
		}
	})

	t.Run("garbage over TCP closes the connection, not the server", func(t *testing.T) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0xff, 0xff, 1, 2, 3}) // claims 65535 bytes, sends 3
		c.Close()
		c, err = net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0, 3, 1, 2, 3}) // a 3-byte message
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(make([]byte, 100))
		c.Close()
		if r := e.query("tcp", "www."+fwdZone, dns.TypeA, false); len(r.Answer) != 1 {
			t.Fatalf("after garbage: %v", r)
		}
	})
}

func TestTransfers(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	first := e.axfr(fwdZone)
	if !strings.Contains(first, "vm1.example.test.") || !strings.Contains(first, "NSEC3PARAM") {
		t.Fatalf("AXFR:\n%s", first)
	}
	// The server remembers each secondary's last full transfer (the web
	// UI's DNS page shows it): here the AXFR just sent under the TSIG key.
	found := func(got []server.Transfer) bool {
		for _, tr := range got {
			if tr.Secondary.String() == "127.0.0.1" && tr.Kind == "AXFR" && tr.Key == tsigName && tr.Serial != 0 && !tr.At.IsZero() {
				return true
			}
		}
		return false
	}
	var got []server.Transfer
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got = e.srv.Transfers(fwdZone); found(got) || time.Now().After(deadline) {
			break
		}
	}
	if !found(got) {
		t.Fatalf("recorded transfers %+v, want the AXFR from 127.0.0.1 under %s", got, tsigName)
	}
	serial := e.srv.Serial(fwdZone)
	e.alloc(4, "ixfr."+fwdZone)
	e.waitFor("the new serial", func() bool { return e.srv.Serial(fwdZone) != serial })

	m := new(dns.Msg)
	m.SetIxfr(fwdZone, serial, "ns1.example.test.", "hostmaster.example.test.")
	m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
	ch, err := tr.In(m, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	// RFC 1995 §4: new SOA, old SOA, deletions, new SOA, additions, new SOA.
	if len(rrs) < 5 || rrs[1].(*dns.SOA).Serial != serial || rrs[0].(*dns.SOA).Serial == serial {
		t.Fatalf("IXFR is not incremental: %d records\n%v", len(rrs), rrs)
	}
	added := false
	for _, rr := range rrs {
		if rr.Header().Name == "ixfr."+fwdZone && rr.Header().Rrtype == dns.TypeA {
			added = true
		}
	}
	if !added || len(rrs) > 40 {
		t.Fatalf("IXFR does not add just the new name (%d records):\n%v", len(rrs), rrs)
	}

	// A serial the journal never had falls back to AXFR (RFC 1995 §4).
	m = new(dns.Msg)
	m.SetIxfr(fwdZone, serial-1000, "ns1.example.test.", "hostmaster.example.test.")
	m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	tr = &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
	ch, err = tr.In(m, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		n += len(env.RR)
	}
	if n < 20 {
		t.Fatalf("AXFR fallback gave %d records", n)
	}

	if other := e.srv.Transfers("nowhere.test."); len(other) != 0 {
		t.Errorf("a zone never transferred lists %v", other)
	}
}

// TestErrorRepliesKeepQuestionAndOPT: an error reply carries the
// request's question and an OPT record when the request had one, and
// never RA or AD (whatever the request's header said); qtype NXNAME is
// FORMERR (RFC 9824 §3.5).
func TestErrorRepliesKeepQuestionAndOPT(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	const ra, ad, cd = 1 << 7, 1 << 5, 1 << 4
	q := append([]byte("\x03www\x07example\x04test\x00"), 0, 1, 0, 1)
	opt := []byte{0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0} // root, OPT, 1232, DO
	for _, c := range []struct {
		name     string
		pkt      []byte
		rcode    int
		question bool
		opt      bool
	}{
		{"an unassigned opcode is NOTIMP with question and OPT", append(append(header(9, 3<<11|ra|ad|cd, 1, 0, 0, 1), q...), opt...), dns.RcodeNotImplemented, true, true},
		{"UPDATE whose zone type is not SOA is FORMERR with the question", append(header(9, 5<<11|ra|ad, 1, 0, 0, 0), q...), dns.RcodeFormatError, true, false},
		{"a header-only query is FORMERR with OPT", append(header(9, ra|ad, 0, 0, 0, 1), opt...), dns.RcodeFormatError, false, true},
		{"two questions are FORMERR with OPT", append(append(append(header(9, ad, 2, 0, 0, 1), q...), q...), opt...), dns.RcodeFormatError, true, true},
		{"qtype NXNAME is FORMERR", append(append(header(9, ra|ad, 1, 0, 0, 1), append([]byte("\x03www\x07example\x04test\x00"), 0, 128, 0, 1)...), opt...), dns.RcodeFormatError, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, net := range []string{"udp", "tcp"} {
				var reply []byte
				if net == "udp" {
					reply = rawUDP(t, e.addr, c.pkt)
				} else {
					reply = rawTCP(t, e.addr, c.pkt)
				}
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatalf("%s: reply %v", net, err)
				}
				if r.Rcode != c.rcode || r.Id != 9 || r.RecursionAvailable || r.AuthenticatedData {
					t.Fatalf("%s: rcode %s, want %s, no RA, no AD:\n%v", net, dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode], r)
				}
				if c.question && (len(r.Question) != 1 || r.Question[0].Name != "www."+fwdZone) {
					t.Fatalf("%s: question not kept:\n%v", net, r)
				}
				if c.opt != (r.IsEdns0() != nil) {
					t.Fatalf("%s: OPT in reply %v, want %v:\n%v", net, r.IsEdns0() != nil, c.opt, r)
				}
			}
		})
	}
}
