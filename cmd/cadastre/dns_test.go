package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestZoneCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "z.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--allow-transfer", "127.0.0.1")
	mustCLI(t, db, "block", "add", "fd00:db8::/32", "--source", "private")
	mustCLI(t, db, "block", "add", "10.1.0.0/16", "--source", "private")
	if out := mustCLI(t, db, "zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "fd00:db8:1::/48", "--synthesize", "ip-{addr}.example.net", "-"); out != "1.0.0.0.8.b.d.0.0.0.d.f.ip6.arpa.\n" {
		t.Fatalf("reverse zone name: %q", out)
	}
	if out := mustCLI(t, db, "zone", "sign", "example.net", "--algorithm", "ed25519"); !strings.HasPrefix(out, "example.net. csk ed25519 tag ") {
		t.Fatalf("sign: %q", out)
	}
	if out := mustCLI(t, db, "zone", "ds", "example.net"); !strings.Contains(out, " IN DS ") || !strings.Contains(out, " 15 2 ") {
		t.Fatalf("ds: %q", out)
	}
	mustCLI(t, db, "record", "add", "example.net", "www", "A", "192.0.2.10")
	// Rollover policy and steps.
	mustCLI(t, db, "zone", "add", "split.example", "--ns", "ns1.example.net")
	mustCLI(t, db, "zone", "sign", "split.example", "--split", "--zsk-lifetime", "720h", "--ksk-lifetime", "8760h", "--propagation", "5m", "--parent-ds-ttl", "1h")
	if out := mustCLI(t, db, "zone", "roll", "split.example"); !strings.HasPrefix(out, "split.example. zsk successor tag ") {
		t.Fatalf("roll: %q", out)
	}
	if out := mustCLI(t, db, "zone", "keys", "split.example"); strings.Count(out, " zsk ") != 2 || !strings.Contains(out, " published ") {
		t.Fatalf("keys: %q", out)
	}
	if out := mustCLI(t, db, "zone", "ds", "split.example", "--confirm"); !strings.HasPrefix(out, "DS of ksk key ") {
		t.Fatalf("ds --confirm: %q", out)
	}
	var zs []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, db, "zone", "list", "--json")), &zs); err != nil || len(zs) != 3 {
		t.Fatalf("zone list --json: %v %v", zs, err)
	}
	// A /20 is served as the 16 /24 zones a registry delegates for it.
	out := mustCLI(t, db, "zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.1.16.0/20", "-")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 16 || lines[0] != "16.1.10.in-addr.arpa." || lines[15] != "31.1.10.in-addr.arpa." {
		t.Fatalf("zone add /20: %q", out)
	}
	if out := mustCLI(t, db, "zone", "list"); strings.Count(out, " 10.1.16.0/20 ") != 16 {
		t.Fatalf("zone list does not show the /20 on its 16 zones:\n%s", out)
	}
	if out := mustCLI(t, db, "zone", "sign", "10.1.16.0/20"); strings.Count(out, " csk ecdsap256 tag ") != 16 {
		t.Fatalf("zone sign /20: %q", out)
	}
	if out := mustCLI(t, db, "zone", "ds", "10.1.16.0/20"); strings.Count(out, " IN DS ") != 16 || !strings.Contains(out, "23.1.10.in-addr.arpa.") {
		t.Fatalf("zone ds /20: %q", out)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"zone", "add", "example.net"}, exitConflict},
		{[]string{"record", "add", "example.net", "@", "DS", "12345 13 2 3F6AAB"}, exitUsage},                                                    // the apex's DS is the parent's
		{[]string{"record", "add", "example.net", "lab", "DS", "12345 13 2 3F6AAB"}, exitUsage},                                                  // no delegation there
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.0.0.0/20", "-"}, exitUsage},                     // outside every block
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.1.32.1/20", "-"}, exitUsage},                    // host bits
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.1.32.0/20", "32.1.10.in-addr.arpa"}, exitUsage}, // one name for 16 zones
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.1.48.0/24", "49.1.10.in-addr.arpa"}, exitUsage}, // the wrong name
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "10.1.0.0/19", "-"}, exitConflict},                  // overlaps the /20
		{[]string{"zone", "remove", "20.1.10.in-addr.arpa"}, exitUsage},                                                                          // one zone of a set
		{[]string{"zone", "remove", "10.1.64.0/20"}, exitNotFound},
		{[]string{"zone", "add", "--kind", "sideways", "x.net"}, exitUsage},
		{[]string{"zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "2001:db8:2::/48", "--synthesize", "no-placeholder.example.net", "-"}, exitUsage},
		{[]string{"zone", "sign", "nope.net"}, exitNotFound},
		{[]string{"zone", "sign", "example.net", "--algorithm", "rsasha1"}, exitUsage},
		{[]string{"zone", "ds", "1.0.0.0.8.b.d.0.0.0.d.f.ip6.arpa"}, exitConflict},
		{[]string{"record", "add", "example.net", "www", "CNAME", "x.example.net."}, exitConflict}, // www has an A record: a CNAME stands alone,
		{[]string{"zone", "roll", "split.example"}, exitConflict},
		{[]string{"zone", "roll", "example.net"}, exitConflict},
		{[]string{"zone", "sign", "split.example", "--zsk-lifetime", "-1h"}, exitUsage},
		{[]string{"record", "add", "example.net", "www", "A", "not-an-address"}, exitUsage},
		{[]string{"record", "add", "example.net", "www", "A", "192.0.2.10"}, exitConflict},
	} {
		if r := cli(t, db, c.args...); r.code != c.code {
			t.Errorf("want exit %d:\n%s", c.code, r)
		}
	}
	if err := json.Unmarshal([]byte(mustCLI(t, db, "zone", "list", "--json")), &zs); err != nil || len(zs) != 19 {
		t.Fatalf("refused commands changed the zones: %d %v", len(zs), err)
	}
	if out := mustCLI(t, db, "zone", "remove", "10.1.16.0/20"); strings.Count(out, " removed\n") != 16 {
		t.Fatalf("zone remove /20: %q", out)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, db, "zone", "list", "--json")), &zs); err != nil || len(zs) != 3 {
		t.Fatalf("after zone remove: %d %v", len(zs), err)
	}
}

func TestDNSServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53")
	mustCLI(t, db, "zone", "sign", "example.net")
	mustCLI(t, db, "record", "add", "example.net", "www", "AAAA", "2001:db8::10")
	addr := freePort(t, "udp")
	cmd := exec.Command(bin, "--db", db, "dns", "serve", "--listen", addr)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	m := new(dns.Msg)
	m.SetQuestion("www.example.net.", dns.TypeAAAA)
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	var r *dns.Msg
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, _, err = c.Exchange(m, addr); err == nil {
			break
		}
	}
	if r == nil || len(r.Answer) != 2 || !r.Authoritative {
		t.Fatalf("answer %v (%v)\n%s", r, err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("dns serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("dns serve did not stop on SIGTERM")
	}
}

// TestDNSServeMetrics: standalone `dns serve` serves Prometheus metrics
// on --metrics-listen, as `serve --dns` does: the query it answered is
// counted by zone, type and rcode. A non-loopback --metrics-listen is a
// usage error unless --insecure-listen allows it.
func TestDNSServeMetrics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53")
	mustCLI(t, db, "record", "add", "example.net", "www", "AAAA", "2001:db8::10")
	if r := cli(t, db, "dns", "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "192.0.2.1:9465"); r.code != exitUsage || !strings.Contains(r.stderr, "--metrics-listen 192.0.2.1:9465: not a loopback address") {
		t.Fatalf("a non-loopback --metrics-listen:\n%s", r)
	}

	addr := freePort(t, "udp")
	cmd := exec.Command(bin, "--db", db, "dns", "serve", "--listen", addr, "--metrics-listen", "127.0.0.1:0")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	var metricsURL string
	for metricsURL == "" {
		select {
		case l := <-lines:
			if u, ok := strings.CutPrefix(l, "cadastre: metrics on "); ok {
				metricsURL = u
			}
		case err := <-exited:
			exited <- err
			t.Fatalf("dns serve exited: %v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("dns serve printed no metrics address within 15 s")
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.net.", dns.TypeAAAA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	var r *dns.Msg
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r, _, err = c.Exchange(m, addr); err == nil {
			break
		}
	}
	if r == nil || len(r.Answer) != 1 {
		t.Fatalf("answer %v (%v)", r, err)
	}
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", metricsURL, resp.StatusCode, err)
	}
	for _, want := range []string{`cadastre_dns_queries_total{qtype="AAAA",rcode="NOERROR",zone="example.net."} 1`, "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
}
