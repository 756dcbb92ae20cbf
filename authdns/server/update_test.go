package server_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

const (
	acmeKey   = "acme.test."
	acmeName  = "_acme-challenge." + fwdZone
	otherName = "www2." + fwdZone
)

// updateEnv is a signed test register whose key acme.test. may change
// names under _acme-challenge.example.test., served on loopback.
func updateEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, true)
	_, secret, err := e.mgr.AddTSIG(e.ctx, acmeKey, "hmac-sha256", nil, acmeName)
	if err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	return e, base64.StdEncoding.EncodeToString(secret)
}

// nsupdate runs BIND's nsupdate with script against the server, with
// key ("ALG:NAME:SECRET", "" for none), and returns its output and
// whether it succeeded.
func (e *env) nsupdate(t *testing.T, key, script string) (string, bool) {
	t.Helper()
	bin := testenv.Program(t, "nsupdate", "bind9-dnsutils")
	host, port, _ := net.SplitHostPort(e.addr)
	var args []string
	if key != "" {
		args = append(args, "-y", key)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("server %s %s\nzone %s\n%s\nsend\n", host, port, fwdZone, script))
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (e *env) records(t *testing.T) int {
	t.Helper()
	rs, err := e.mgr.Records(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// TestNsupdateAddsAndRemovesTXT: BIND's nsupdate, with TSIG, adds a TXT
// that delv then validates, and removes it; the serial moves each time.
// An ungranted name, a failed prerequisite, an unsigned update and a key
// under the wrong algorithm change nothing.
func TestNsupdateAddsAndRemovesTXT(t *testing.T) {
	e, secret := updateEnv(t)
	key := "hmac-sha256:" + acmeKey + ":" + secret
	serial0 := e.srv.Serial(fwdZone)
	n0 := e.records(t)

	if out, ok := e.nsupdate(t, key, `update add `+acmeName+` 60 TXT "token one" "two"`); !ok {
		t.Fatalf("nsupdate add:\n%s", out)
	}
	r := e.query("udp", acmeName, dns.TypeTXT, false)
	if len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), `"token one" "two"`) {
		t.Fatalf("TXT after nsupdate add: %v", r)
	}
	serial1 := e.srv.Serial(fwdZone)
	if serial1 == serial0 {
		t.Fatalf("serial did not move after the update (%d)", serial0)
	}

	// delv validates the added record from the zone's DS.
	delv := tool(t, "delv")
	var anchors strings.Builder
	anchors.WriteString("trust-anchors {\n")
	ds, err := e.mgr.DS(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		fmt.Fprintf(&anchors, "  %s static-ds %d %d %d \"%s\";\n", d.Hdr.Name, d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest))
	}
	anchors.WriteString("};\n")
	file := filepath.Join(t.TempDir(), "anchors")
	if err := os.WriteFile(file, []byte(anchors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(e.addr)
	out, _ := exec.Command(delv, "@"+host, "-p", port, "-a", file, "+root="+fwdZone, acmeName, "TXT").CombinedOutput()
	if !bytes.Contains(out, []byte("; fully validated")) || !bytes.Contains(out, []byte(`"token one"`)) {
		t.Fatalf("delv %s TXT:\n%s", acmeName, out)
	}

	refusals := []struct {
		name, key, script, want string
	}{
		{"a name the key is not granted", key, `update add ` + otherName + ` 60 TXT "x"`, "REFUSED"},
		{"no TSIG at all", "", `update add ` + acmeName + ` 60 TXT "x"`, "REFUSED"},
		{"the key under another algorithm", "hmac-sha512:" + acmeKey + ":" + secret, `update add ` + acmeName + ` 60 TXT "x"`, "NOTAUTH"},
		{"a key the server does not know", "hmac-sha256:stranger.test.:" + secret, `update add ` + acmeName + ` 60 TXT "x"`, "NOTAUTH"},
		{"prerequisite: the set must not exist", key, "prereq nxrrset " + acmeName + " TXT\nupdate add " + acmeName + ` 60 TXT "x"`, "YXRRSET"},
		{"prerequisite: the name must exist", key, "prereq yxdomain nothere." + fwdZone + "\nupdate add " + acmeName + ` 60 TXT "x"`, "NXDOMAIN"},
		{"the zone's SOA", key, "update add " + fwdZone + " 60 TXT \"x\"", "REFUSED"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			out, ok := e.nsupdate(t, c.key, c.script)
			if ok || !strings.Contains(out, c.want) {
				t.Fatalf("nsupdate succeeded=%v, want a failure naming %s:\n%s", ok, c.want, out)
			}
			if n := e.records(t); n != n0+1 {
				t.Fatalf("%d static records, want %d: the refused update changed the zone", n, n0+1)
			}
			if s := e.srv.Serial(fwdZone); s != serial1 {
				t.Fatalf("serial %d after a refused update, want %d", s, serial1)
			}
		})
	}

	if out, ok := e.nsupdate(t, key, "prereq yxrrset "+acmeName+" TXT\nupdate delete "+acmeName+" TXT"); !ok {
		t.Fatalf("nsupdate delete:\n%s", out)
	}
	if r := e.query("udp", acmeName, dns.TypeTXT, false); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
		t.Fatalf("TXT after nsupdate delete: %v", r)
	}
	if n := e.records(t); n != n0 {
		t.Fatalf("%d static records after the delete, want %d", n, n0)
	}
	if s := e.srv.Serial(fwdZone); s == serial1 {
		t.Fatal("serial did not move after the delete")
	}
}

// TestUpdateRcodes: each refusal of RFC 2136 gets its RCODE, and changes
// nothing.
func TestUpdateRcodes(t *testing.T) {
	e, secret := updateEnv(t)
	if _, err := e.mgr.AddRecord(e.ctx, fwdZone, acmeName, "TXT", `"there"`, 0); err != nil {
		t.Fatal(err)
	}
	n0 := e.records(t)
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// del is a class ANY/NONE record with no data: dns.NewRR cannot write one.
	del := func(name string, class, t uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: t, Class: class}}
	}
	txt := func(data string) dns.RR { return rr(acmeName + " 60 IN TXT " + data) }
	for _, c := range []struct {
		name   string
		zone   string
		qtype  uint16
		pre    []dns.RR
		upd    []dns.RR
		signed bool
		want   int
	}{
		{"the zone section names no SOA", fwdZone, dns.TypeA, nil, []dns.RR{txt(`"x"`)}, true, dns.RcodeFormatError},
		// Unsigned: miekg/dns's client reads no signed NOTAUTH reply.
		{"a zone not served here", "other.test.", dns.TypeSOA, nil, []dns.RR{rr("a.other.test. 60 IN TXT x")}, false, dns.RcodeNotAuth},
		{"unsigned", fwdZone, dns.TypeSOA, nil, []dns.RR{txt(`"x"`)}, false, dns.RcodeRefused},
		{"a name outside the zone", fwdZone, dns.TypeSOA, nil, []dns.RR{rr("x.dyn.test. 60 IN TXT x")}, true, dns.RcodeNotZone},
		{"prerequisite: name in use, but absent", fwdZone, dns.TypeSOA, []dns.RR{del("nothere."+fwdZone, dns.ClassANY, dns.TypeANY)}, []dns.RR{txt(`"x"`)}, true, dns.RcodeNameError},
		{"prerequisite: name not in use, but present", fwdZone, dns.TypeSOA, []dns.RR{del(acmeName, dns.ClassNONE, dns.TypeANY)}, []dns.RR{txt(`"x"`)}, true, dns.RcodeYXDomain},
		{"prerequisite: set exists, but absent", fwdZone, dns.TypeSOA, []dns.RR{del(acmeName, dns.ClassANY, dns.TypeA)}, []dns.RR{txt(`"x"`)}, true, dns.RcodeNXRrset},
		{"prerequisite: set absent, but present", fwdZone, dns.TypeSOA, []dns.RR{del(acmeName, dns.ClassNONE, dns.TypeTXT)}, []dns.RR{txt(`"x"`)}, true, dns.RcodeYXRrset},
		{"prerequisite: set is exactly, but differs", fwdZone, dns.TypeSOA, []dns.RR{withTTL0(txt(`"elsewhere"`))}, []dns.RR{txt(`"x"`)}, true, dns.RcodeNXRrset},
		{"prerequisite: outside the zone", fwdZone, dns.TypeSOA, []dns.RR{del("a.dyn.test.", dns.ClassANY, dns.TypeANY)}, []dns.RR{txt(`"x"`)}, true, dns.RcodeNotZone},
		{"a DNSKEY", fwdZone, dns.TypeSOA, nil, []dns.RR{rr(acmeName + " 60 IN DNSKEY 257 3 13 AAAA")}, true, dns.RcodeRefused},
		{"a CNAME beside the TXT", fwdZone, dns.TypeSOA, nil, []dns.RR{rr(acmeName + " 60 IN CNAME www." + fwdZone)}, true, dns.RcodeRefused},
		{"a deletion of class ANY with a TTL", fwdZone, dns.TypeSOA, nil, []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: acmeName, Rrtype: dns.TypeTXT, Class: dns.ClassANY, Ttl: 5}}}, true, dns.RcodeFormatError},
		{"an addition of type ANY", fwdZone, dns.TypeSOA, nil, []dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: acmeName, Rrtype: dns.TypeANY, Class: dns.ClassINET, Ttl: 5}}}, true, dns.RcodeFormatError},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetUpdate(c.zone)
			m.Question[0].Qtype = c.qtype
			m.Answer, m.Ns = c.pre, c.upd
			cl := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
			if c.signed {
				cl.TsigSecret = map[string]string{acmeKey: secret}
				m.SetTsig(acmeKey, dns.HmacSHA256, 300, time.Now().Unix())
			}
			r, _, err := cl.Exchange(m, e.addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != c.want {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[c.want])
			}
			if r.Opcode != dns.OpcodeUpdate || len(r.Question) != 1 {
				t.Fatalf("reply does not echo the zone section: %v", r)
			}
			if n := e.records(t); n != n0 {
				t.Fatalf("%d static records, want %d: the refused update changed the zone", n, n0)
			}
		})
	}

	// One update, in order: the prerequisite holds, the TXT set is
	// replaced and an A added; all is one change, one new serial.
	serial := e.srv.Serial(fwdZone)
	m := new(dns.Msg)
	m.SetUpdate(fwdZone)
	m.Answer = []dns.RR{withTTL0(txt(`"there"`))}
	m.Ns = []dns.RR{del(acmeName, dns.ClassANY, dns.TypeTXT), txt(`"new"`), rr(acmeName + " 60 IN A 192.0.2.7"), txt(`"new"`)}
	m.SetTsig(acmeKey, dns.HmacSHA256, 300, time.Now().Unix())
	cl := &dns.Client{Net: "udp", Timeout: 5 * time.Second, TsigSecret: map[string]string{acmeKey: secret}}
	r, _, err := cl.Exchange(m, e.addr)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %v", r, err)
	}
	if r.IsTsig() == nil {
		t.Fatal("the reply to a signed update is not signed (RFC 8945 §5.3)")
	}
	if n := e.records(t); n != n0+1 {
		t.Fatalf("%d static records, want %d (TXT replaced, A added)", n, n0+1)
	}
	a := e.query("udp", acmeName, dns.TypeTXT, false)
	if len(a.Answer) != 1 || !strings.Contains(a.Answer[0].String(), `"new"`) {
		t.Fatalf("TXT after the update: %v", a)
	}
	if s := e.srv.Serial(fwdZone); s == serial {
		t.Fatal("serial did not move")
	}
}

func withTTL0(rr dns.RR) dns.RR {
	rr.Header().Ttl = 0
	return rr
}

// TestUpdateControlBytesStayEscaped: TXT can carry any byte (RFC 1035
// §3.3.14); one sent in an UPDATE (a control character, ESC) is stored
// and listed in its RFC 1035 escape (\027), never raw, and served as the
// byte it was.
func TestUpdateControlBytesStayEscaped(t *testing.T) {
	e, secret := updateEnv(t)
	key := "hmac-sha256:" + acmeKey + ":" + secret
	if out, ok := e.nsupdate(t, key, `update add `+acmeName+` 60 TXT "a\027[2Jb"`); !ok {
		t.Fatalf("nsupdate add:\n%s", out)
	}
	rs, err := e.mgr.Records(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rs {
		if strings.ContainsAny(r.Name+r.Data, "\x1b\r\n") {
			t.Errorf("record stored with a raw control character: %q %q", r.Name, r.Data)
		}
		if r.Name == acmeName && r.Data == `"a\027[2Jb"` {
			found = true
		}
	}
	if !found {
		t.Fatalf("the TXT is not stored escaped: %+v", rs)
	}
	r := e.query("udp", acmeName, dns.TypeTXT, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != `a\027[2Jb` {
		t.Fatalf("TXT served: %v", r)
	}
}
