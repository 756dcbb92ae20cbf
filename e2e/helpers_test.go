// Package e2e runs the real cadastre binary: several `cadastre serve`
// processes on one database, killed and restarted under load, checked
// afterwards against the database itself.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// binary is the cadastre binary TestMain builds once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cadastre-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cadastre")
	args := []string{"build", "-o", binary}
	if testenv.Race {
		// The servers are where the concurrency is: under -race they are
		// built with it too, and a race they report fails the test
		// (raceReports).
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/cadastre-ipam/cadastre/cmd/cadastre")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: go build ./cmd/cadastre:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// raceReports is the data races the server of log reported (processes
// built with -race print them and go on).
func raceReports(log string) string {
	b, _ := os.ReadFile(log)
	i := strings.Index(string(b), "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	return string(b[i:min(len(b), i+6000)])
}

// tokenKey is the fixed server-side token key every process of a test shares.
const tokenKey = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

// baseEnv is the test's environment without any CADASTRE_ setting that
// could point a process at another database or server.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			env = append(env, kv)
		}
	}
	env = append(env, "CADASTRE_TOKEN_KEY="+tokenKey)
	return append(env, extra...)
}

// runCLI runs one cadastre command to completion and returns its stdout.
func runCLI(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = baseEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("cadastre %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// freePort finds a loopback port nobody listens on now, below the
// kernel's ephemeral range (testenv.FreePort). serve needs a fixed port so
// that a restarted replica comes back where clients expect it.
func freePort(t testing.TB) int {
	t.Helper()
	return testenv.FreePort(t, false)
}

// server is one `cadastre serve` process, restartable on the same port.
type server struct {
	args  []string // global flags (--db or --postgres) before "serve"
	port  int
	log   string // stderr of every incarnation, appended
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	kills atomic.Int32
}

func (s *server) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

// startServer starts `cadastre ARGS serve` on a free port, waits for
// /readyz, and stops the process group when the test ends.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{args: args, port: freePort(t), log: filepath.Join(t.TempDir(), "serve.log")}
	t.Cleanup(func() { // after s.stop (cleanups run last first)
		if r := raceReports(s.log); r != "" {
			t.Errorf("the server at %s reported a data race:\n%s", s.URL(), r)
		}
	})
	t.Cleanup(s.stop)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// start starts the process and waits until it is ready. It may run on
// any goroutine: it reports failure instead of ending the test.
func (s *server) start() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := append(append([]string{}, s.args...), "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", s.port), "--drain", "0s", "--grace", "5s")
	cmd := exec.Command(binary, args...)
	cmd.Env = baseEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(30 * time.Second); err != nil {
		return fmt.Errorf("%s: %v\n%s", s.URL(), err, s.tail())
	}
	return nil
}

func (s *server) waitReady(limit time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("cadastre serve exited before it was ready")
		default:
		}
		resp, err := hc.Get(s.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", limit)
}

// kill sends SIGKILL to the process group and waits for the exit.
func (s *server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	s.kills.Add(1)
}

// stop ends the process group: SIGTERM, then SIGKILL after 5 s.
func (s *server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// tail is the end of the server's log, for failure messages.
func (s *server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freshSchema is a schema of the test's own (pgtest).
func freshSchema(t testing.TB) string { return pgtest.FreshSchema(t) }
