package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a `cadastre serve` process a test started on loopback.
type server struct {
	url  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan error
}

// startServe runs `cadastre --db db serve` on a free loopback port, waits
// until it is ready, and kills it when the test ends.
func startServe(t *testing.T, db string, extra ...string) *server {
	t.Helper()
	return startServeWith(t, serveSpec{db: db, extra: extra})
}

// serveSpec says how to start `cadastre serve` for a test.
type serveSpec struct {
	db     string
	extra  []string     // flags after serve
	as     []string     // a command that runs the binary (setpriv ...), or nil
	env    []string     // added to the environment
	client *http.Client // for the readiness probe; nil: plain HTTP
	scheme string       // "http" unless "https"
	probe  string       // the path that must answer 200; "" for /readyz
}

func startServeWith(t *testing.T, sp serveSpec) *server {
	t.Helper()
	addr := freePort(t, "tcp")
	args := append([]string{"--db", sp.db, "serve", "--listen", addr}, sp.extra...)
	if !slices.Contains(sp.extra, "--metrics-listen") {
		// Tests run side by side: none takes the default metrics port.
		args = append(args, "--metrics-listen", "off")
	}
	argv := append(slices.Clone(sp.as), bin)
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, sp.env...)
	scheme, client, probe := sp.scheme, sp.client, sp.probe
	if scheme == "" {
		scheme = "http"
	}
	if client == nil {
		client = http.DefaultClient
	}
	if probe == "" {
		probe = "/readyz"
	}
	s := &server{url: scheme + "://" + addr, cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(s.url + probe)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cadastre serve did not become ready:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// remote runs the binary against a server, with a token, and no database.
func remote(t *testing.T, url, token string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CADASTRE_SERVER="+url, "CADASTRE_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestServerModeMatchesLocal: every verb run with --server answers as it
// does on the file, output and exit status alike.
func TestServerModeMatchesLocal(t *testing.T) {
	local := register(t)
	served := register(t)
	token := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "admin", "--name", "cli"))
	srv := startServe(t, served)

	steps := []struct {
		args        []string
		compareText bool // stdout holds no times or actor names
	}{
		{[]string{"region", "list"}, true},
		{[]string{"block", "list"}, true},
		{[]string{"pool", "list"}, true},
		{[]string{"region", "add", "south", "--country", "BR", "--subdivision", "BR-RJ"}, true},
		{[]string{"region", "add", "bad", "--country", "XX"}, true},
		{[]string{"pool", "add", "40.64.3.0/24", "--region", "south"}, true},
		{[]string{"pool", "add", "40.64.0.128/25", "--region", "south"}, true},
		{[]string{"alloc", "--region", "east", "--family", "4", "--count", "3", "--tenant", "t1"}, true},
		{[]string{"alloc", "--region", "east", "--dual-stack", "--tenant", "t1", "--name", "vm1.example.net"}, true},
		{[]string{"alloc", "--region", "borrower", "--family", "4", "--count", "6"}, true},
		{[]string{"alloc", "--region", "full", "--family", "4"}, true},
		{[]string{"alloc", "--region", "nowhere"}, true},
		{[]string{"alloc", "--region", "east", "--family", "4", "--key", "k9"}, true},
		{[]string{"alloc", "--region", "east", "--family", "4", "--key", "k9"}, true},
		{[]string{"alloc", "--region", "east", "--family", "6", "--key", "k9"}, true},
		{[]string{"release", "40.64.0.0/32", "--quarantine", "0"}, true},
		{[]string{"release", "40.64.0.0/32", "--quarantine", "0"}, true},
		{[]string{"release", "40.64.0.5"}, true},
		// Issue 12: reservations, specific allocations, the address policy.
		{[]string{"pool", "add", "40.64.5.0/24", "--region", "south", "--use-all"}, true},
		{[]string{"reserve", "40.64.0.64/28", "--reason", "gateways"}, true},
		{[]string{"reserve", "list"}, true},
		{[]string{"reserve", "40.64.0.64/29", "--reason", "vrrp"}, true},
		{[]string{"reserve", "40.64.0.0/29", "--reason", "vrrp"}, true},
		{[]string{"alloc", "--address", "40.64.0.65"}, true},
		{[]string{"alloc", "--address", "40.64.0.200", "--tenant", "t1"}, true},
		{[]string{"alloc", "--prefix", "2603:1000:0:10::/64", "--tenant", "t1", "--key", "k10"}, true},
		{[]string{"alloc", "--prefix", "2603:1000:0:10::/64", "--tenant", "t1", "--key", "k10"}, true},
		{[]string{"alloc", "--address", "40.64.3.0"}, true},
		{[]string{"alloc", "--address", "40.64.5.0", "--json"}, false},
		{[]string{"alloc", "--address", "132.245.0.1"}, true},
		{[]string{"unreserve", "40.64.0.64/28"}, true},
		{[]string{"unreserve", "40.64.0.64/28"}, true},
		{[]string{"reserve", "list", "--json"}, true},
		{[]string{"assignments", "--region", "east", "--state", "assigned"}, true},
		{[]string{"show", "191.232.0.1"}, false},
		{[]string{"report"}, true},
		{[]string{"log", "--limit", "5"}, false},
	}
	for _, s := range steps {
		want := cli(t, local, s.args...)
		got := remote(t, srv.url, token, s.args...)
		if got.code != want.code {
			t.Errorf("%s: exit %d over the API, %d on the file\nAPI:\n%s\nfile:\n%s", strings.Join(s.args, " "), got.code, want.code, got, want)
			continue
		}
		if s.compareText && got.stdout != want.stdout {
			t.Errorf("%s: output differs\nAPI:\n%s\nfile:\n%s", strings.Join(s.args, " "), got.stdout, want.stdout)
		}
		if want.code != 0 && got.stderr == "" {
			t.Errorf("%s: no error message over the API", strings.Join(s.args, " "))
		}
	}
	// The server's log names the token, never its secret.
	if strings.Contains(srv.logs.String(), token) {
		t.Errorf("the server log contains the token's secret")
	}
	ev := remote(t, srv.url, token, "log", "--json")
	if !strings.Contains(ev.stdout, `"actor": "token:`) {
		t.Errorf("changes made over the API are not logged with their token:\n%.2000s", ev.stdout)
	}
}

// TestServeDrainsOnSIGTERM: on SIGTERM /readyz fails at once while the
// server still answers, then it exits cleanly.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	db := register(t)
	srv := startServe(t, db, "--drain", "2s")
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sawDraining := false
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) && !sawDraining {
		resp, err := http.Get(srv.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				sawDraining = true
				live, err := http.Get(srv.url + "/livez")
				if err != nil || live.StatusCode != http.StatusOK {
					t.Errorf("/livez during the drain: %v %v", live, err)
				}
				if live != nil {
					live.Body.Close()
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDraining {
		t.Errorf("/readyz never failed after SIGTERM")
	}
	select {
	case err := <-srv.done:
		srv.done <- err // for the cleanup
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, srv.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM\n%s", srv.logs)
	}
}

// TestGeofeedServed: /geofeed.csv is the export, with ETag, Last-Modified
// and 304 on a conditional request.
func TestGeofeedServed(t *testing.T) {
	db := register(t)
	mustCLI(t, db, "token", "create", "--scope", "read")
	srv := startServe(t, db)
	resp, err := http.Get(srv.url + "/geofeed.csv")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || etag == "" || lm == "" {
		t.Fatalf("GET /geofeed.csv: %d %v", resp.StatusCode, resp.Header)
	}
	export := mustCLI(t, db, "geofeed", "export")
	if stripComments(body.String()) != stripComments(export) {
		t.Errorf("served feed differs from the export:\n%s\n---\n%s", body.String(), export)
	}
	for _, h := range [][2]string{{"If-None-Match", etag}, {"If-Modified-Since", lm}} {
		req, _ := http.NewRequest("GET", srv.url+"/geofeed.csv", nil)
		req.Header.Set(h[0], h[1])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: %d, want 304", h[0], resp.StatusCode)
		}
	}
	// A change moves the ETag.
	mustCLI(t, db, "pool", "add", "40.64.3.0/24", "--region", "west")
	resp, err = http.Get(srv.url + "/geofeed.csv")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("ETag") == etag {
		t.Errorf("the ETag did not change after a pool was added")
	}

}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// --pprof serves Go's profiles on their own listener, and only there: the
// API's address does not expose them.
func TestServePprofOnItsOwnListener(t *testing.T) {
	db := register(t)
	paddr := freePort(t, "tcp")
	srv := startServe(t, db, "--pprof", paddr)
	// serve binds --pprof after the API's listener, which startServe
	// waited for: poll until it is bound (a hang guard, not a speed
	// target; refused once under load right after the API was ready).
	var (
		resp *http.Response
		err  error
	)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get("http://" + paddr + "/debug/pprof/cmdline"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("--pprof %s not answering 30 s after the API was ready: %v", paddr, err)
		}
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), "serve") {
		t.Fatalf("GET /debug/pprof/cmdline on --pprof: %d %q", resp.StatusCode, body.String())
	}
	resp, err = http.Get(srv.url + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the API's listener serves /debug/pprof/")
	}
	// A --pprof address that cannot be bound is a usage error.
	r := cli(t, db, "serve", "--listen", "127.0.0.1:0", "--pprof", "256.0.0.1:1")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--pprof") {
		t.Fatalf("bad --pprof: exit %d, stderr %q", r.code, r.stderr)
	}
}
