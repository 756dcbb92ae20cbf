package server_test

// Knot DNS as a standard secondary of cadastre: it transfers the signed
// zones (AXFR with TSIG), is told of changes by NOTIFY, follows them by
// IXFR, and serves the same answers for the real names.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// knot is a knotd started by a test, on loopback, with its own
// configuration, storage and log under a temporary directory.
type knot struct {
	addr string // 127.0.0.1:port, UDP and TCP
	log  string // the log file
	pid  int
}

// startKnot runs knotd on port (0: a free one) with conf, in which
// "@DIR@" stands for its directory, until the test ends.
func startKnot(t testing.TB, conf string, port int) *knot {
	t.Helper()
	return startKnotWith(t, "", conf, port)
}

// startKnotWith is startKnot with server options (indented YAML lines,
// such as "    tcp-remote-io-timeout: 500\n") added to its server section.
func startKnotWith(t testing.TB, serverOpts, conf string, port int) *knot {
	t.Helper()
	bin := tool(t, "knotd")
	dir := t.TempDir()
	if port == 0 {
		port = freePort(t)
	}
	k := &knot{addr: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "knot.log")}
	conf = strings.ReplaceAll(conf, "@DIR@", dir)
	conf = fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
    background-workers: 1
%[4]sdatabase:
    storage: "%[1]s"
log:
  - target: "%[3]s"
    any: info
`, dir, port, k.log, serverOpts) + conf
	file := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(tool(t, "knotc"), "-c", file, "conf-check"); err != nil {
		t.Fatalf("knotc conf-check: %v\n%s\n%s", err, out, conf)
	}
	k.pid = startProcess(t, bin, "-c", file).Process.Pid
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("KNOT_LOG") != "" {
			b, _ := os.ReadFile(k.log)
			t.Logf("knot log:\n%s", b)
		}
	})
	return k
}

// logged counts the lines of Knot's log that contain every part.
func (k *knot) logged(parts ...string) int {
	b, _ := os.ReadFile(k.log)
	n := 0
	for l := range strings.SplitSeq(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

func exchange(addr, name string, qtype uint16, do bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	m.SetEdns0(4096, do)
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func soaSerial(addr, zoneName string) uint32 {
	r, err := exchange(addr, zoneName, dns.TypeSOA, false)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0
	}
	if s, ok := r.Answer[0].(*dns.SOA); ok {
		return s.Serial
	}
	return 0
}

// section is a message section as sorted lines, for comparing answers of
// two servers.
func section(rrs []dns.RR) string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func TestKnotSecondary(t *testing.T) {
	tool(t, "knotd")
	e := newEnv(t, true)
	zones := []string{fwdZone, v4Zone, v6Zone, dynZone}
	// Knot listens on a port chosen now; cadastre NOTIFYs it.
	kport := freePort(t)
	notifyKnot(t, e, kport, zones)
	e.start(server.Options{})
	// The port was chosen above so that the NOTIFY targets are right.
	k := startKnot(t, secondaryConf(e.addr, zones...), kport)

	// AXFR: every zone arrives with cadastre's serial.
	deadline := time.Now().Add(15 * time.Second)
	for _, z := range zones {
		waitKnotSerial(t, k, e, z, deadline)
		if k.logged("["+z+"]", "AXFR, incoming", "finished") == 0 {
			t.Errorf("no finished incoming AXFR of %s in knot's log", z)
		}
	}

	unnamed := e.alloc(6, "")
	questions := func() [][2]any {
		return [][2]any{
			{fwdZone, dns.TypeSOA}, {fwdZone, dns.TypeNS}, {fwdZone, dns.TypeMX}, {fwdZone, dns.TypeDNSKEY},
			{fwdZone, dns.TypeCDS}, {fwdZone, dns.TypeNSEC3PARAM},
			{"vm1." + fwdZone, dns.TypeA}, {"vm1." + fwdZone, dns.TypeAAAA}, {"www." + fwdZone, dns.TypeA},
			{"deep.a.b." + fwdZone, dns.TypeTXT},
			{"www." + fwdZone, dns.TypeTXT},   // NODATA, NSEC3
			{"a.b." + fwdZone, dns.TypeA},     // NODATA at an empty non-terminal
			{"nope." + fwdZone, dns.TypeA},    // NXDOMAIN, closest encloser proof
			{"x.y.www." + fwdZone, dns.TypeA}, // NXDOMAIN below a name
			{"vm2." + fwdZone, dns.TypeA},     // not yet
			{v4Zone, dns.TypeDNSKEY},          // KSK+ZSK, Ed25519
			{"9.9." + v4Zone, dns.TypePTR},    // NXDOMAIN in the Ed25519 zone
			{v6Zone, dns.TypeSOA}, {dynZone, dns.TypeSOA},
		}
	}
	compare := func(t *testing.T) {
		t.Helper()
		for _, q := range questions() {
			name, qtype := q[0].(string), q[1].(uint16)
			for _, do := range []bool{false, true} {
				ours, err := exchange(e.addr, name, qtype, do)
				if err != nil {
					t.Fatal(err)
				}
				theirs, err := exchange(k.addr, name, qtype, do)
				if err != nil {
					t.Fatal(err)
				}
				if ours.Rcode != theirs.Rcode || !theirs.Authoritative || section(ours.Answer) != section(theirs.Answer) || section(ours.Ns) != section(theirs.Ns) {
					t.Errorf("%s %s DO=%v differs:\n--- cadastre\n%v\n--- knot\n%v", name, dns.TypeToString[qtype], do, ours, theirs)
				}
			}
		}
	}
	t.Run("knot serves the same answers", compare)

	t.Run("synthesised names are cadastre's alone", func(t *testing.T) {
		r, err := exchange(k.addr, ptrOf(unnamed), dns.TypePTR, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("knot answers a synthesised name it cannot know: %v", r)
		}
		if r := e.query("udp", ptrOf(unnamed), dns.TypePTR, false); len(r.Answer) != 1 {
			t.Fatalf("cadastre: %v", r)
		}
	})

	t.Run("a new assignment reaches knot by NOTIFY and IXFR within seconds", func(t *testing.T) {
		before := e.srv.Serial(fwdZone)
		start := time.Now()
		addr := e.alloc(4, "vm2."+fwdZone)
		var took time.Duration
		for {
			r, err := exchange(k.addr, "vm2."+fwdZone, dns.TypeA, false)
			if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == addr.String() {
				took = time.Since(start)
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("vm2 not on knot after 10 s (our serial %d, was %d; knot %d)", e.srv.Serial(fwdZone), before, soaSerial(k.addr, fwdZone))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("vm2.%s on knot %v after the allocation (serial %d -> %d)", fwdZone, took.Round(time.Millisecond), before, e.srv.Serial(fwdZone))
		if took > 5*time.Second {
			t.Errorf("took %v; NOTIFY should make it seconds at most (the SOA refresh is %d s)", took, manage.DefaultRefresh)
		}
		// The reverse zone changed too.
		for e.srv.Serial(v4Zone) != soaSerial(k.addr, v4Zone) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: knot serial %d, ours %d", v4Zone, soaSerial(k.addr, v4Zone), e.srv.Serial(v4Zone))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, z := range []string{fwdZone, v4Zone} {
			if k.logged("["+z+"]", "IXFR, incoming", "finished") == 0 {
				t.Errorf("%s: no finished incoming IXFR in knot's log", z)
			}
			if n := k.logged("["+z+"]", "AXFR, incoming", "finished"); n != 1 {
				t.Errorf("%s: %d incoming AXFRs, want only the first", z, n)
			}
			if k.logged("["+z+"]", "fallback to AXFR") != 0 {
				t.Errorf("%s: knot fell back to AXFR", z)
			}
		}
		if k.logged("["+fwdZone+"]", "notify, incoming", "serial") == 0 && k.logged("["+fwdZone+"]", "NOTIFY, incoming") == 0 {
			t.Errorf("knot's log shows no incoming NOTIFY for %s", fwdZone)
		}
	})

	t.Run("and serves the same answers after it", compare)

	t.Run("after a cadastre restart knot follows by IXFR from the serial the old process made", func(t *testing.T) {
		before := e.srv.Serial(fwdZone)
		ixfrs := k.logged("["+fwdZone+"]", "IXFR, incoming", "finished")
		e.restart(server.Options{Listen: e.addr}) // knot knows this address
		if got := e.srv.Serial(fwdZone); got != before {
			t.Fatalf("serial %d after the restart, was %d", got, before)
		}
		addr := e.alloc(4, "vm3."+fwdZone)
		start := time.Now()
		for {
			r, err := exchange(k.addr, "vm3."+fwdZone, dns.TypeA, false)
			if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == addr.String() {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("vm3 not on knot after 10 s (our serial %d, knot %d)", e.srv.Serial(fwdZone), soaSerial(k.addr, fwdZone))
			}
			time.Sleep(20 * time.Millisecond)
		}
		for e.srv.Serial(v4Zone) != soaSerial(k.addr, v4Zone) { // the reverse zone changed too
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s: knot serial %d, ours %d", v4Zone, soaSerial(k.addr, v4Zone), e.srv.Serial(v4Zone))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := k.logged("["+fwdZone+"]", "IXFR, incoming", "finished"); got != ixfrs+1 {
			// Knot got vm3 by IXFR from the serial the old process made.
			t.Errorf("%d incoming IXFRs after the restart, want one more than %d", got, ixfrs)
		}
		if n := k.logged("["+fwdZone+"]", "AXFR, incoming", "finished"); n != 1 {
			t.Errorf("%d incoming AXFRs, want only the first", n)
		}
		if k.logged("["+fwdZone+"]", "fallback to AXFR") != 0 {
			t.Errorf("knot fell back to AXFR")
		}
	})

	t.Run("and serves the same answers after the restart", compare)
}

// A region's names served as a zone of their own (a child, delegated
// with NS and DS) keep a change's IXFR to that zone. Knot applies an IXFR
// in time that grows with the whole zone it changes (bench/README.md,
// "Session 10: Knot's IXFR at 10M names"), so this is how a secondary
// follows a very large zone within a second: a new name in the child
// moves the child's serial alone, Knot takes it by one IXFR of the child,
// and the parent is neither changed nor transferred again.
func TestKnotFollowsAChildZone(t *testing.T) {
	tool(t, "knotd")
	e := newEnv(t, true)
	e.delegate(60)
	zones := []string{fwdZone, kidZone}
	kport := freePort(t)
	notifyKnot(t, e, kport, zones)
	e.start(server.Options{})
	k := startKnot(t, secondaryConf(e.addr, zones...), kport)
	deadline := time.Now().Add(15 * time.Second)
	for _, z := range zones {
		waitKnotSerial(t, k, e, z, deadline)
	}
	parent, child := e.srv.Serial(fwdZone), e.srv.Serial(kidZone)

	addr := e.alloc(4, "vm9."+kidZone)
	start := time.Now()
	for {
		r, err := exchange(k.addr, "vm9."+kidZone, dns.TypeA, false)
		if err == nil && len(r.Answer) > 0 {
			if a, ok := r.Answer[0].(*dns.A); ok && a.A.String() == addr.String() {
				break
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("vm9.%s not on knot after 10 s (child serial %d, was %d; knot %d)", kidZone, e.srv.Serial(kidZone), child, soaSerial(k.addr, kidZone))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.srv.Serial(kidZone); got == child {
		t.Errorf("the child's serial stayed %d after a new name in it", got)
	}
	if got := e.srv.Serial(fwdZone); got != parent {
		t.Errorf("the parent's serial moved %d -> %d for a name in its child", parent, got)
	}
	for _, c := range []struct {
		zone, what string
		want       int
	}{
		{kidZone, "IXFR", 1},
		{kidZone, "AXFR", 1},
		{fwdZone, "IXFR", 0},
		{fwdZone, "AXFR", 1},
	} {
		if got := k.logged("["+c.zone+"]", c.what+", incoming", "finished"); got != c.want {
			t.Errorf("%s: knot finished %d incoming %ss, want %d", c.zone, got, c.what, c.want)
		}
	}
}

// secondaryConf is the part of a Knot secondary's configuration that
// follows cadastre at addr for zones: transfers signed with the test's
// TSIG key, NOTIFY with or without it.
func secondaryConf(addr string, zones ...string) string {
	host, port, _ := net.SplitHostPort(addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, `key:
  - id: %s
    algorithm: hmac-sha256
    secret: %s
remote:
  - id: cadastre
    address: %s@%s
    key: %s
acl:
  - id: notify-from-cadastre
    address: 127.0.0.1
    key: %s
    action: notify
  - id: notify-plain
    address: 127.0.0.1
    action: notify
template:
  - id: default
    master: cadastre
    acl: [notify-from-cadastre, notify-plain]
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    semantic-checks: on
zone:
`, tsigName, tsigValue, host, port, tsigName, tsigName)
	for _, z := range zones {
		fmt.Fprintf(&conf, "  - domain: %q\n", z)
	}
	return conf.String()
}

// runTool runs a program to its end, at most a minute.
func runTool(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// TestReplySizesBesideKnot: for the same signed zone (cadastre's AXFR
// loaded into Knot as a primary), cadastre's replies are no larger than
// Knot's: names are compressed as Knot compresses them. -v logs the
// sizes (bench/README.md, "Reply sizes beside Knot").
func TestReplySizesBesideKnot(t *testing.T) {
	tool(t, "knotd")
	e := newEnv(t, true)
	e.start(server.Options{})
	file := filepath.Join(t.TempDir(), "zone")
	if err := os.WriteFile(file, []byte(e.axfr(fwdZone)), 0o644); err != nil {
		t.Fatal(err)
	}
	k := startKnot(t, fmt.Sprintf("zone:\n  - domain: %q\n    file: %q\n    dnssec-signing: off\n    zonefile-sync: -1\n", fwdZone, file), 0)
	e.waitFor("Knot to serve the zone", func() bool { return soaSerial(k.addr, fwdZone) == e.srv.Serial(fwdZone) })
	for _, c := range []struct {
		what  string
		name  string
		qtype uint16
		do    bool
	}{
		{"A, no DNSSEC", "www." + fwdZone, dns.TypeA, false},
		{"A with DO", "www." + fwdZone, dns.TypeA, true},
		{"MX at the apex with DO", fwdZone, dns.TypeMX, true},
		{"NS with DO", fwdZone, dns.TypeNS, true},
		{"NODATA with DO (NSEC3)", "www." + fwdZone, dns.TypeTXT, true},
		{"NXDOMAIN with DO (NSEC3)", "nope." + fwdZone, dns.TypeA, true},
		{"DNSKEY with DO", fwdZone, dns.TypeDNSKEY, true},
	} {
		size := func(addr string) int {
			m := new(dns.Msg)
			m.SetQuestion(c.name, c.qtype)
			m.SetEdns0(1232, c.do)
			wire, _ := m.Pack()
			return len(rawUDP(t, addr, wire))
		}
		ours, theirs := size(e.addr), size(k.addr)
		t.Logf("%-26s cadastre %4d B  Knot %4d B  (%.2fx)", c.what, ours, theirs, float64(ours)/float64(theirs))
		if ours == 0 || theirs == 0 || ours > theirs {
			t.Errorf("%s: cadastre %d bytes, Knot %d", c.what, ours, theirs)
		}
	}
}

// notifyKnot makes each of zones NOTIFY a Knot secondary that will
// listen on 127.0.0.1:kport.
func notifyKnot(t *testing.T, e *env, kport int, zones []string) {
	t.Helper()
	for _, z := range zones {
		if _, err := e.mgr.UpdateZone(e.ctx, z, func(c *zone.Config) error {
			c.Notify = []string{fmt.Sprintf("127.0.0.1:%d", kport)}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitKnotSerial waits until Knot serves zone z with cadastre's serial,
// failing the test at deadline.
func waitKnotSerial(t *testing.T, k *knot, e *env, z string, deadline time.Time) {
	t.Helper()
	for soaSerial(k.addr, z) != e.srv.Serial(z) {
		if time.Now().After(deadline) {
			t.Fatalf("knot has not transferred %s (serial %d, ours %d)", z, soaSerial(k.addr, z), e.srv.Serial(z))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
