package main

import (
	"os"
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

// TestRecordControlCharacters: a raw control character, DEL, bidi
// override or non-UTF-8 byte in a record's name or data, a zone's name or
// a zone file is refused (exit 2 naming the field or line, nothing
// stored); the same byte written as an RFC 1035 escape (\027) is valid,
// stored and listed escaped, and served as the byte.
func TestRecordControlCharacters(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--allow-transfer", "127.0.0.1")
	before := mustCLI(t, db, "record", "list", "example.net", "--json")
	zoneFile := func(body string) string {
		f := filepath.Join(t.TempDir(), "z.zone")
		if err := os.WriteFile(f, []byte("$ORIGIN example.net.\n"+body), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, c := range []struct {
		name  string
		args  []string
		words []string
	}{
		{"ESC in a record's name", []string{"record", "add", "example.net", "a\x1b[2Jb", "TXT", "x"}, []string{"name: control character U+001B"}},
		{"a bidi override in a record's name", []string{"record", "add", "example.net", "c\u202ed", "A", "192.0.2.1"}, []string{"name: control character U+202E"}},
		{"bytes not UTF-8 in a record's name", []string{"record", "add", "example.net", "c\xffd", "A", "192.0.2.1"}, []string{"name: not valid UTF-8"}},
		{"CR in TXT data", []string{"record", "add", "example.net", "t", "TXT", "a\rb"}, []string{"data: control character U+000D", `write it as \013 inside a quoted string`}},
		{"DEL in TXT data", []string{"record", "add", "example.net", "t", "TXT", "a\x7fb"}, []string{"data: control character U+007F"}},
		{"a C1 control in TXT data", []string{"record", "add", "example.net", "t", "TXT", "a\u009bb"}, []string{"data: control character U+009B"}},
		{"a bidi override in TXT data", []string{"record", "add", "example.net", "t", "TXT", "a\u202eb"}, []string{"data: control character U+202E"}},
		{"ESC in a CNAME target", []string{"record", "add", "example.net", "t", "CNAME", "x\x1by.example.org."}, []string{"data: control character U+001B"}},
		{"ESC in a zone's name", []string{"zone", "add", "ex\x1bample.org"}, []string{"name: control character U+001B"}},
		{"ESC in a zone file's TXT", []string{"zone", "import", "example.net", zoneFile("ok 300 IN A 192.0.2.7\nt 300 IN TXT \"a\x1bb\"\n")}, []string{"line 3: control character U+001B", `write it as \027`}},
		{"ESC in a zone file's owner", []string{"zone", "import", "example.net", zoneFile("a\x1bb 300 IN A 192.0.2.7\n")}, []string{"line 2: control character U+001B"}},
		{"a bidi override in a zone file", []string{"zone", "import", "example.net", zoneFile("t 300 IN TXT \"\u202e\"\n")}, []string{"line 2: control character U+202E"}},
	} {
		r := cli(t, db, c.args...)
		if r.code != exitUsage {
			t.Errorf("%s: exit %d, want %d:\n%s", c.name, r.code, exitUsage, r)
		}
		for _, w := range c.words {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", c.name, w, r)
			}
		}
	}
	if after := mustCLI(t, db, "record", "list", "example.net", "--json"); after != before {
		t.Fatalf("refused records changed the zone:\n%s\n%s", before, after)
	}
	if out := mustCLI(t, db, "zone", "list"); strings.Contains(out, "ample.org") {
		t.Fatalf("a refused zone was stored:\n%s", out)
	}

	// Escaped forms are DNS text as RFC 1035 §5.1 writes it: accepted, by
	// the CLI and in a zone file (tabs and CRLF line ends too).
	mustCLI(t, db, "record", "add", "example.net", `esc\027x`, "TXT", `"a\027b"`) // unquoted, TXT is taken as written
	mustCLI(t, db, "zone", "import", "example.net", zoneFile("imp\t300\tIN\tTXT\t\"c\\027d\"\r\n"))
	for _, args := range [][]string{{"record", "list", "example.net"}, {"record", "list", "example.net", "--json"}, {"zone", "export", "example.net"}} {
		out := mustCLI(t, db, args...)
		if strings.ContainsAny(out, "\x1b\r") {
			t.Errorf("cadastre %s prints a raw control character:\n%q", strings.Join(args, " "), out)
		}
		for _, w := range []string{`esc\\027x.example.net.`, `a\\027b`, `c\\027d`} {
			if args[len(args)-1] != "--json" {
				w = strings.ReplaceAll(w, `\\`, `\`)
			}
			if !strings.Contains(out, w) {
				t.Errorf("cadastre %s does not show %q:\n%s", strings.Join(args, " "), w, out)
			}
		}
	}
	addr := startDNS(t, db)
	soaSerial(t, addr, "example.net.", func(uint32) bool { return true })
	m := new(dns.Msg)
	m.SetQuestion(`esc\027x.example.net.`, dns.TypeTXT)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	// miekg/dns keeps a TXT string in presentation form: the byte 27
	// reads \027.
	if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != `a\027b` {
		t.Errorf("TXT at the escaped name: %v, want the string a ESC b", r)
	}
}
