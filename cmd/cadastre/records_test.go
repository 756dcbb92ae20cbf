package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestRecordData(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--allow-transfer", "127.0.0.1")
	mustCLI(t, db, "record", "add", "example.net", "www", "A", "192.0.2.10")
	for _, c := range []struct {
		args []string
		out  string
	}{
		{[]string{"www2", "CNAME", "www"}, "CNAME www.example.net."},
		{[]string{"old", "DNAME", "example.org."}, "DNAME example.org."},
		{[]string{"@", "TXT", "v=spf1 -all"}, `TXT "v=spf1 -all"`},
		{[]string{"two", "TXT", "a b", "c"}, `TXT "a b" "c"`},
		{[]string{"quoted", "TXT", `"x y" "z"`}, `TXT "x y" "z"`},
		{[]string{"sip", "NAPTR", `100 10 "U" "E2U+sip" "!^.*$!sip:info@example.net!" .`}, `NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.net!" .`},
	} {
		if out := mustCLI(t, db, append([]string{"record", "add", "example.net"}, c.args...)...); !strings.Contains(out, c.out) {
			t.Errorf("record add %v: %q, want %q", c.args, out, c.out)
		}
	}
	before := mustCLI(t, db, "record", "list", "example.net", "--json")
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"@", "CNAME", "www.example.net."}, exitUsage, "not at a zone's apex"},
		{[]string{"ns1", "CNAME", "www.example.net."}, exitUsage, "name server of the zone"},
		{[]string{"www", "CNAME", "x.example.org."}, exitConflict, "already has A data"},
		{[]string{"www2", "TXT", "hello"}, exitConflict, "has a CNAME"},
		{[]string{"www2", "CNAME", "x.example.org."}, exitConflict, "has a CNAME"},
		{[]string{"x.old", "A", "192.0.2.1"}, exitConflict, "below the DNAME at old.example.net."},
		{[]string{"example.net.", "DNAME", "example.com."}, exitConflict, "lies below it"},
		{[]string{"bad", "NAPTR", `100 10 "U" "E2U+sip" "foo" .`}, exitUsage, "NAPTR regexp"},
		{[]string{"bad", "NAPTR", `100 10 "U" "E2U+sip" "!a!b!" sip.example.net.`}, exitUsage, "both set"},
		{[]string{"bad", "NAPTR", `100 10 "U!" "E2U+sip" "" sip.example.net.`}, exitUsage, "NAPTR flags"},
		{[]string{"bad", "TXT", "a\x01b"}, exitUsage, "control character"},
		{[]string{"bad", "MX", "mail.example.net."}, exitUsage, "record bad.example.net. MX"},
		{[]string{"bad", "A", "192.0.2.300"}, exitUsage, "bad.example.net. A"},
	} {
		if r := cli(t, db, append([]string{"record", "add", "example.net"}, c.args...)...); r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("want exit %d saying %q:\n%s", c.code, c.says, r)
		}
	}
	if after := mustCLI(t, db, "record", "list", "example.net", "--json"); after != before {
		t.Fatalf("refused records changed the zone:\n%s\n%s", before, after)
	}

	addr := startDNS(t, db)
	soaSerial(t, addr, "example.net.", func(uint32) bool { return true })
	c := &dns.Client{Timeout: 2 * time.Second}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The alias and what it names, in one answer.
	if r := ask("www2.example.net.", dns.TypeA); len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeCNAME || r.Answer[1].(*dns.A).A.String() != "192.0.2.10" {
		t.Errorf("A www2 (CNAME): %v", r)
	}
	// Below the DNAME: the DNAME and a synthesised CNAME (RFC 6672 §3.1).
	r := ask("a.b.old.example.net.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeDNAME || r.Answer[1].(*dns.CNAME).Target != "a.b.example.org." {
		t.Errorf("A below DNAME: %v", r)
	}
	// TXT strings as written: one string, and two.
	if r := ask("example.net.", dns.TypeTXT); len(r.Answer) != 1 || len(r.Answer[0].(*dns.TXT).Txt) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "v=spf1 -all" {
		t.Errorf("TXT apex: %v", r)
	}
	if r := ask("two.example.net.", dns.TypeTXT); len(r.Answer) != 1 || len(r.Answer[0].(*dns.TXT).Txt) != 2 {
		t.Errorf("TXT two: %v", r)
	}
	// Checkers nobody here wrote accept the transfer.
	checkZones(t, addr, "example.net.")
}
