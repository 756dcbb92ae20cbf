package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startDNS runs `cadastre dns serve` on a loopback port for the test and
// returns its address once it answers. The port is picked free and closed
// again before the server binds it (UDP and TCP), so another process may
// take it in between (seen in CI: "bind: address already in use" on
// TCP): the server then exits, and another port is tried.
func startDNS(t *testing.T, db string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr, busy := tryStartDNS(t, db)
		if !busy {
			return addr
		}
		if attempt == 5 {
			t.Fatalf("dns serve: five loopback ports were taken before it bound them")
		}
	}
}

// tryStartDNS starts one `dns serve`; busy when its port was taken.
func tryStartDNS(t *testing.T, db string) (addr string, busy bool) {
	t.Helper()
	addr = freePort(t, "udp")
	cmd := exec.Command(bin, "--db", db, "dns", "serve", "--listen", addr, "--dns-poll", "100ms")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The server's log, shown when a test's wait for it fails (a wait
	// that timed out once in CI said nothing of why).
	var logBuf syncBuffer
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("dns serve on %s logged:\n%s", addr, logBuf.String())
		}
	})
	// Up when it answers anything; it binds every listener before it
	// serves any.
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			if strings.Contains(logBuf.String(), "address already in use") {
				return "", true
			}
			t.Fatalf("dns serve on %s exited (%v):\n%s", addr, waitErr, logBuf.String())
		default:
		}
		if _, _, err := c.Exchange(m, addr); err == nil {
			return addr, false
		}
	}
	t.Fatalf("dns serve on %s did not answer in 30 s:\n%s", addr, logBuf.String())
	return "", false
}

// syncBuffer is a bytes.Buffer a process writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// soaSerial asks addr for zone's SOA until it answers and want says yes.
func soaSerial(t *testing.T, addr, zone string, want func(uint32) bool) uint32 {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	// 30 s: a loaded CI machine (load 30 on 2 cores) once took over 15 s.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		r, _, err := c.Exchange(m, addr)
		if err == nil && len(r.Answer) > 0 {
			if soa, ok := r.Answer[0].(*dns.SOA); ok && want(soa.Serial) {
				return soa.Serial
			}
		}
	}
	t.Fatalf("%s: no SOA as wanted from %s", zone, addr)
	return 0
}

func xfr(t *testing.T, addr string, m *dns.Msg) []dns.RR {
	t.Helper()
	ch, err := new(dns.Transfer).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatal(env.Error)
		}
		out = append(out, env.RR...)
	}
	return out
}

func TestZoneUpdate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "u.db")
	// The default name server ns1.ZONE has no address: refused, saying how.
	if r := cli(t, db, "zone", "add", "example.net"); r.code != exitUsage || !strings.Contains(r.stderr, "--ns-addr ns1.example.net=IP") {
		t.Fatalf("zone add without NS address:\n%s", r)
	}
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--ns-addr", "ns1.example.net=2001:db8::53", "--allow-transfer", "127.0.0.1")
	mustCLI(t, db, "zone", "sign", "example.net")
	ds := mustCLI(t, db, "zone", "ds", "example.net")
	addr := startDNS(t, db)
	old := soaSerial(t, addr, "example.net.", func(uint32) bool { return true })

	before := mustCLI(t, db, "zone", "list", "--json")
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"zone", "update", "example.net"}, exitUsage, "nothing to change"},
		{[]string{"zone", "update", "nope.net", "--ttl", "60"}, exitNotFound, "nope.net"},
		{[]string{"zone", "update", "example.net", "--ns", "ns2.example.net"}, exitUsage, "ns2.example.net. is inside the zone and has no address"},
		{[]string{"zone", "update", "example.net", "--soa-retry", "0"}, exitUsage, "--soa-retry"},
		{[]string{"zone", "update", "example.net", "--allow-transfer", "everyone"}, exitUsage, `allow-transfer "everyone"`},
		{[]string{"zone", "update", "example.net", "--notify", "192.0.2.1"}, exitUsage, `notify "192.0.2.1"`},
		{[]string{"zone", "update", "example.net", "--ns-addr", "ns1.example.net=300.1.1.1"}, exitUsage, "--ns-addr"},
		{[]string{"zone", "update", "example.net", "--ns-addr", "ns9.example.net=192.0.2.9"}, exitUsage, "not a name server of the zone"},
	} {
		if r := cli(t, db, c.args...); r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("want exit %d saying %q:\n%s", c.code, c.says, r)
		}
	}
	if after := mustCLI(t, db, "zone", "list", "--json"); after != before {
		t.Fatalf("refused updates changed the zones:\n%s\n%s", before, after)
	}

	mustCLI(t, db, "zone", "update", "example.net", "--ns", "ns1.example.net", "--ns", "ns2.example.org", "--ttl", "600", "--soa-minimum", "60", "--soa-refresh", "7200")
	serial := soaSerial(t, addr, "example.net.", func(s uint32) bool { return s != old })
	// The DS names the same key (its TTL follows the zone's).
	if got := mustCLI(t, db, "zone", "ds", "example.net"); strings.Replace(got, " 600 IN ", " 3600 IN ", 1) != ds {
		t.Fatalf("zone update changed the DS:\n%s\n%s", ds, got)
	}
	// The change reaches a secondary by IXFR from the old serial.
	m := new(dns.Msg)
	m.SetIxfr("example.net.", old, ".", ".")
	rrs := xfr(t, addr, m)
	var sawNS, sawSOA bool
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.NS:
			sawNS = sawNS || rr.Ns == "ns2.example.org." && rr.Hdr.Ttl == 600
		case *dns.SOA:
			sawSOA = sawSOA || rr.Serial == serial && rr.Minttl == 60 && rr.Refresh == 7200
		}
	}
	if !sawNS || !sawSOA || len(rrs) < 4 {
		t.Fatalf("IXFR from %d does not carry the new NS and SOA:\n%v", old, rrs)
	}
	m.SetAxfr("example.net.")
	var glue int
	for _, rr := range xfr(t, addr, m) {
		if rr.Header().Name == "ns1.example.net." && (rr.Header().Rrtype == dns.TypeA || rr.Header().Rrtype == dns.TypeAAAA) {
			glue++
		}
	}
	if glue != 2 {
		t.Fatalf("AXFR: %d addresses for ns1.example.net., want 2", glue)
	}
	// Clearing the transfer ACL takes effect too.
	mustCLI(t, db, "zone", "update", "example.net", "--allow-transfer", "")
	if out := mustCLI(t, db, "zone", "list", "--json"); strings.Contains(out, "allow_transfer") {
		t.Fatalf("--allow-transfer '' kept the ACL: %s", out)
	}
}
