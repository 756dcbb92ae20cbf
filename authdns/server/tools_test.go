package server_test

// Proof with real tools no one here wrote: unbound validating, delv,
// ldns-verify-zone and dnssec-verify over what AXFR gives. scripts/dns-tools
// installs them; without them the tests skip, unless $CI is set.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
)

// toolPackages are the Debian packages (scripts/dns-tools installs them)
// of the programs the DNS tests drive.
var toolPackages = map[string]string{
	"unbound":          "unbound",
	"delv":             "bind9-dnsutils",
	"dnssec-verify":    "bind9utils",
	"ldns-verify-zone": "ldnsutils",
	"kzonecheck":       "knot-dnssecutils",
	"named-checkzone":  "bind9utils",
	"knotd":            "knot",
	"knotc":            "knot",
	"dnsperf":          "dnsperf",
	"kdig":             "knot-dnsutils",
	"dig":              "bind9-dnsutils",
}

// tool finds a program; when it is missing the test skips, or fails
// under $CI (testenv).
func tool(t testing.TB, name string) string {
	t.Helper()
	pkg, ok := toolPackages[name]
	if !ok {
		t.Fatalf("tool %s: add its Debian package to toolPackages and scripts/dns-tools", name)
	}
	return testenv.Program(t, name, pkg)
}

// freePort finds a loopback port free for both UDP and TCP, below the
// kernel's ephemeral range (testenv.FreePort).
func freePort(t testing.TB) int {
	t.Helper()
	return testenv.FreePort(t, true)
}

// startProcess runs a daemon until the test ends.
func startProcess(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

// anchors lists the DS records of every signed zone, as trust anchors.
func (e *env) anchors() []string {
	e.t.Helper()
	zs, err := e.mgr.Zones(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, z := range zs {
		if !z.Config.Signed {
			continue
		}
		ds, err := e.mgr.DS(e.ctx, z.Name)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, d.String())
		}
	}
	return out
}

// startUnbound runs unbound as a validating resolver on loopback, sending
// our zones (and extra ones) to the server and trusting their DS records.
func (e *env) startUnbound(extra ...string) string {
	e.t.Helper()
	return e.startUnboundWith(e.anchors(), append([]string{fwdZone, dynZone, v4Zone, v4Zone2, v6Zone}, extra...))
}

// startUnboundWith runs unbound trusting only anchors (DS text) and
// sending the zones stubs to the server.
func (e *env) startUnboundWith(anchors, stubs []string) string {
	e.t.Helper()
	return e.startUnboundAt(e.addr, anchors, stubs)
}

// startUnboundAt is startUnboundWith sending the stubs to server (a
// secondary, say) instead.
func (e *env) startUnboundAt(server string, anchors, stubs []string) string {
	e.t.Helper()
	bin := tool(e.t, "unbound")
	dir := e.t.TempDir()
	port := freePort(e.t)
	_, sport, _ := net.SplitHostPort(server)
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  interface: 127.0.0.1
  port: %d
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  val-log-level: 2
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  module-config: "validator iterator"
  qname-minimisation: no
  aggressive-nsec: no
  num-threads: 1
  so-reuseport: no
  local-zone: "test." nodefault
  local-zone: "10.in-addr.arpa." nodefault
  local-zone: "d.f.ip6.arpa." nodefault
`, port, dir)
	for _, a := range anchors {
		fmt.Fprintf(&b, "  trust-anchor: %q\n", strings.ReplaceAll(a, "\t", " "))
	}
	for _, z := range stubs {
		fmt.Fprintf(&b, "stub-zone:\n  name: %q\n  stub-addr: 127.0.0.1@%s\n", z, sport)
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if out, err := exec.Command(strings.TrimSuffix(bin, "unbound")+"unbound-checkconf", conf).CombinedOutput(); err != nil {
		e.t.Fatalf("unbound-checkconf: %v\n%s\n%s", err, out, b.String())
	}
	startProcess(e.t, bin, "-d", "-c", conf)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		m := new(dns.Msg)
		m.SetQuestion(fwdZone, dns.TypeSOA)
		if _, _, err := c.Exchange(m, addr); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			e.t.Fatal("unbound did not start")
		}
	}
}

func resolve(t *testing.T, resolver, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 10 * time.Second}
	for deadline := time.Now().Add(time.Minute); ; {
		r, _, err := c.Exchange(m, resolver)
		if err == nil {
			return r
		}
		if !isTimeout(err) || time.Now().After(deadline) {
			t.Fatalf("resolve %s %s: %v", name, dns.TypeToString[qtype], err)
		}
		// No answer is not a wrong answer: on a loaded machine unbound
		// may still be resending to a server the scheduler starved
		// (backing off up to seconds). Ask again, as a stub resolver does;
		// what unbound answers is checked by the caller.
		t.Logf("resolve %s %s: %v; asking again", name, dns.TypeToString[qtype], err)
	}
}

// isTimeout says whether err is a network timeout: no answer in time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestUnboundValidates(t *testing.T) {
	tool(t, "unbound")
	e := newEnv(t, true)
	e.start(server.Options{})
	resolver := e.startUnbound()
	as, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var v4, unnamed netip.Addr
	for _, a := range as {
		if a.Name != "" && a.Prefix.Addr().Is4() {
			v4 = a.Prefix.Addr()
		}
		if a.Name == "" {
			unnamed = a.Prefix.Addr()
		}
	}
	synthName := "ip-" + strings.ReplaceAll(unnamed.String(), ":", "-") + "." + dynZone
	cases := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		n     int // answers of qtype; -1: one, not validated (AD clear)
	}{
		{"positive A from an assignment", "vm1." + fwdZone, dns.TypeA, dns.RcodeSuccess, 1},
		{"positive static MX at the apex", fwdZone, dns.TypeMX, dns.RcodeSuccess, 1},
		{"NXDOMAIN proven by NSEC3", "nope." + fwdZone, dns.TypeA, dns.RcodeNameError, 0},
		{"NXDOMAIN below an existing name", "x.y.www." + fwdZone, dns.TypeA, dns.RcodeNameError, 0},
		{"NODATA proven by NSEC3", "www." + fwdZone, dns.TypeTXT, dns.RcodeSuccess, 0},
		{"NODATA at an empty non-terminal", "a.b." + fwdZone, dns.TypeA, dns.RcodeSuccess, 0},
		{"PTR in a KSK/ZSK Ed25519 zone", ptrOf(v4), dns.TypePTR, dns.RcodeSuccess, 1},
		{"NXDOMAIN in the Ed25519 zone", "7.7." + v4Zone, dns.TypePTR, dns.RcodeNameError, 0},
		{"synthesised PTR signed per query", ptrOf(unnamed), dns.TypePTR, dns.RcodeSuccess, 1},
		{"synthesised AAAA of it", synthName, dns.TypeAAAA, dns.RcodeSuccess, 1},
		{"compact denial of a name outside the pools", "ip-fd12-3456-789a-2--1." + dynZone, dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"compact NODATA at a synthesised name", synthName, dns.TypeTXT, dns.RcodeSuccess, 0},
		{"compact NODATA at a nibble non-terminal", ptrOf(unnamed)[16:], dns.TypePTR, dns.RcodeSuccess, 0},
		// NODATA for the types made per query or kept beside each set
		// must not be contradicted by the proof's bitmap (delv cannot
		// ask for these: it takes the NSEC for the answer, and hangs on
		// RRSIG; unbound is the judge).
		{"compact NODATA for type NSEC at a synthesised name", synthName, dns.TypeNSEC, dns.RcodeSuccess, 0},
		{"compact NODATA for type NSEC at the apex", dynZone, dns.TypeNSEC, dns.RcodeSuccess, 0},
		{"compact NODATA for type NSEC at a missing name", "ip-fd12-3456-789a-2--1." + dynZone, dns.TypeNSEC, dns.RcodeSuccess, 0},
		{"compact NODATA for type RRSIG at a synthesised name", synthName, dns.TypeRRSIG, dns.RcodeSuccess, 0},
		// Signatures are not signed: answered, never SERVFAIL, never AD.
		{"RRSIG at an NSEC3 name", "www." + fwdZone, dns.TypeRRSIG, dns.RcodeSuccess, -1},
		{"DNSKEY", fwdZone, dns.TypeDNSKEY, dns.RcodeSuccess, 1},
		{"CDS", fwdZone, dns.TypeCDS, dns.RcodeSuccess, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := resolve(t, resolver, c.qname, c.qtype)
			got := 0
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == c.qtype {
					got++
				}
			}
			if c.n < 0 {
				if r.Rcode != c.rcode || got != 1 || r.AuthenticatedData {
					t.Fatalf("%s %s: rcode %s, %d answers, AD %v; want %s, 1, no AD\n%v", c.qname, dns.TypeToString[c.qtype],
						dns.RcodeToString[r.Rcode], got, r.AuthenticatedData, dns.RcodeToString[c.rcode], r)
				}
				return
			}
			if r.Rcode != c.rcode || got != c.n || !r.AuthenticatedData {
				t.Fatalf("%s %s: rcode %s, %d answers, AD %v; want %s, %d, AD\n%v", c.qname, dns.TypeToString[c.qtype],
					dns.RcodeToString[r.Rcode], got, r.AuthenticatedData, dns.RcodeToString[c.rcode], c.n, r)
			}
		})
	}

	t.Run("a tampered signature makes the resolver answer SERVFAIL", func(t *testing.T) {
		if err := e.srv.CorruptSignatures(context.Background(), "www."+fwdZone); err != nil {
			t.Fatal(err)
		}
		r := resolve(t, resolver, "www."+fwdZone, dns.TypeA)
		if r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("tampered www: %v", r)
		}
		// Untouched names still validate.
		if r := resolve(t, resolver, "vm1."+fwdZone, dns.TypeAAAA); !r.AuthenticatedData {
			t.Fatalf("vm1 after tampering www: %v", r)
		}
	})
}

func TestDelvFullyValidated(t *testing.T) {
	bin := tool(t, "delv")
	e := newEnv(t, true)
	e.start(server.Options{})
	host, port, _ := net.SplitHostPort(e.addr)
	dir := t.TempDir()
	for _, c := range []struct{ zone, qname, qtype string }{
		{fwdZone, "vm1." + fwdZone, "AAAA"},
		{fwdZone, "nope." + fwdZone, "A"},
		{v4Zone, v4Zone, "SOA"},
		{dynZone, "ip-fd12-3456-789a-1--1234." + dynZone, "AAAA"},
	} {
		var anchors strings.Builder
		anchors.WriteString("trust-anchors {\n")
		ds, err := e.mgr.DS(e.ctx, c.zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			fmt.Fprintf(&anchors, "  %s static-ds %d %d %d \"%s\";\n", d.Hdr.Name, d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest))
		}
		anchors.WriteString("};\n")
		file := filepath.Join(dir, strings.TrimSuffix(c.zone, ".")+".anchors")
		if err := os.WriteFile(file, []byte(anchors.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(bin, "@"+host, "-p", port, "-a", file, "+root="+c.zone, c.qname, c.qtype).CombinedOutput()
		if !bytes.Contains(out, []byte("; fully validated")) && !bytes.Contains(out, []byte("; negative response, fully validated")) {
			t.Fatalf("delv %s %s:\n%s", c.qname, c.qtype, out)
		}
	}
}

// axfr transfers a zone as a client allowed by TSIG, as zone-file text.
func (e *env) axfr(zoneName string) string {
	e.t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(zoneName)
	m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
	ch, err := tr.In(m, e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	n := 0
	for env := range ch {
		if env.Error != nil {
			e.t.Fatalf("AXFR %s: %v", zoneName, env.Error)
		}
		for _, rr := range env.RR {
			n++
			if n > 1 && rr.Header().Rrtype == dns.TypeSOA {
				continue // the closing SOA
			}
			b.WriteString(rr.String() + "\n")
		}
	}
	return b.String()
}

func TestAXFRVerifiedByLdnsAndBind(t *testing.T) {
	ldns := tool(t, "ldns-verify-zone")
	verify := tool(t, "dnssec-verify")
	e := newEnv(t, true)
	e.start(server.Options{})
	dir := t.TempDir()
	for _, zoneName := range []string{fwdZone, v4Zone, v6Zone, dynZone} {
		text := e.axfr(zoneName)
		if strings.Contains(text, "ip-fd12") {
			t.Fatalf("synthesised names in the transfer of %s", zoneName)
		}
		file := filepath.Join(dir, strings.ReplaceAll(zoneName, "/", "_")+"zone")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ldns, "-V", "2", file).CombinedOutput(); err != nil {
			t.Errorf("ldns-verify-zone %s: %v\n%s\n%s", zoneName, err, out, text)
		}
		args := []string{"-o", zoneName, file}
		if zoneName != v4Zone {
			// A CSK signs everything: -z lets it count as the ZSK too.
			args = append([]string{"-z"}, args...)
		}
		if out, err := exec.Command(verify, args...).CombinedOutput(); err != nil {
			t.Errorf("dnssec-verify %s: %v\n%s", zoneName, err, out)
		}
	}
}
