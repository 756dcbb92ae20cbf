package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
)

func freePort(t *testing.T, network string) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t, network == "udp"))
}

// TestDemoServe: the README's first command builds the story and serves
// the API, the geofeed and the signed DNS zones on loopback until SIGTERM.
func TestDemoServe(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	httpAddr, dnsAddr, metricsAddr := freePort(t, "tcp"), freePort(t, "udp"), freePort(t, "tcp")
	db := filepath.Join(dir, "demo.db")
	cmd := exec.Command(bin, "--db", db, "demo", "--serve", "--listen", httpAddr, "--dns", dnsAddr, "--metrics-listen", metricsAddr)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "dig @") && strings.Contains(sc.Text(), "-x 2603") {
				serving <- all.String()
			}
		}
	}()
	var printed string
	select {
	case printed = <-serving:
	case <-time.After(90 * time.Second):
		t.Fatalf("demo --serve did not start serving\n%s", stderr.String())
	}
	if !strings.Contains(printed, "CADASTRE_TOKEN=cad_") {
		t.Errorf("no token printed:\n%s", printed)
	}
	// The web UI: its address and a one-time sign-in link that works once.
	if !strings.Contains(printed, "Web UI: http://"+httpAddr+"/") {
		t.Errorf("the UI's address is not printed:\n%s", printed)
	}
	link := regexp.MustCompile(`http://\S+/signin/once/\S+`).FindString(printed)
	if link == "" {
		t.Fatalf("no one-time sign-in link printed:\n%s", printed)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	for i, want := range []int{http.StatusSeeOther, http.StatusNotFound} {
		resp, err := noRedirect.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("sign-in link, visit %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	resp, err := http.Get("http://" + httpAddr + "/geofeed.csv")
	if err != nil {
		t.Fatal(err)
	}
	var feed bytes.Buffer
	feed.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(feed.String(), "191.232.1.0/24,US,US-VA,Boydton,") {
		t.Errorf("the served geofeed does not place the borrowed /24 in Virginia:\n%s", feed.String())
	}
	// Served as `serve` serves (found by an operator's walk-through,
	// session 24: the demo had no cap on a request's prefixes and no
	// metrics): Prometheus metrics on --metrics-listen, and a request for
	// more prefixes than registry.DefaultMaxBatch refused whole with 413.
	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(metrics.String(), "cadastre_") {
		t.Errorf("demo metrics on %s: %d, want 200 with cadastre_ metrics:\n%.500s", metricsAddr, resp.StatusCode, metrics.String())
	}
	var secret string
	mint := exec.Command(bin, "--db", db, "token", "create", "--scope", "allocate", "--name", "batch")
	mint.Env = cmd.Env
	if out, err := mint.Output(); err != nil {
		t.Fatalf("token create beside the demo: %v", err)
	} else if secret = regexp.MustCompile(`cad_\S+`).FindString(string(out)); secret == "" {
		t.Fatalf("token create printed no secret:\n%s", out)
	}
	big := fmt.Sprintf(`[{"region":"us-east","family":6,"len":64,"count":%d}]`, registry.DefaultMaxBatch+1)
	rq, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/v1/assignments", strings.NewReader(big))
	rq.Header.Set("Authorization", "Bearer "+secret)
	rq.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body.String(), fmt.Sprint(registry.DefaultMaxBatch)) {
		t.Errorf("%d prefixes in one request to the demo: %d %s, want 413 naming the limit %d", registry.DefaultMaxBatch+1, resp.StatusCode, body.String(), registry.DefaultMaxBatch)
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	q := new(dns.Msg)
	q.SetQuestion("vm-00001.us-east.cloud.example.", dns.TypeAAAA)
	q.SetEdns0(1232, true)
	r, _, err := c.Exchange(q, dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	var aaaa, sig bool
	for _, rr := range r.Answer {
		switch rr.(type) {
		case *dns.AAAA:
			aaaa = true
		case *dns.RRSIG:
			sig = true
		}
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !aaaa || !sig {
		t.Errorf("signed AAAA of the first VM: %v", r)
	}
	ptr := new(dns.Msg)
	ptr.SetQuestion("f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.1.3.0.6.2.ip6.arpa.", dns.TypePTR)
	r, _, err = c.Exchange(ptr, dnsAddr)
	if err != nil || len(r.Answer) != 1 || !strings.HasPrefix(r.Answer[0].(*dns.PTR).Ptr, "ip-2603-1030--ffff.") {
		t.Errorf("synthesised PTR: %v %v", r, err)
	}
	// Zone checkers nobody here wrote accept every zone of the demo as a
	// secondary receives it (its name server has an address).
	checkZones(t, dnsAddr, "cloud.example.", "1.232.191.in-addr.arpa.", "0.3.0.1.3.0.6.2.ip6.arpa.")
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("demo --serve exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("demo --serve did not stop on SIGTERM")
	}
}

// checkZones transfers each zone from addr and runs named-checkzone and
// kzonecheck on the text.
func checkZones(t *testing.T, addr string, zones ...string) {
	t.Helper()
	named := testenv.Program(t, "named-checkzone", "bind9utils")
	knot := testenv.Program(t, "kzonecheck", "knot-dnssecutils")
	dir := t.TempDir()
	for _, z := range zones {
		m := new(dns.Msg)
		m.SetAxfr(z)
		var b strings.Builder
		n := 0
		for _, rr := range xfr(t, addr, m) {
			if n++; n > 1 && rr.Header().Rrtype == dns.TypeSOA {
				continue // the closing SOA
			}
			b.WriteString(rr.String() + "\n")
		}
		file := filepath.Join(dir, z+"zone")
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(named, "-i", "full", z, file).CombinedOutput(); err != nil {
			t.Errorf("named-checkzone %s: %v\n%s\n%s", z, err, out, b.String())
		}
		if out, err := exec.Command(knot, "-o", z, file).CombinedOutput(); err != nil {
			t.Errorf("kzonecheck %s: %v\n%s\n%s", z, err, out, b.String())
		}
	}
}
