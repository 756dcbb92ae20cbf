package testenv

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
)

func TestCIIsSetByAnyValueButEmptyZeroOrFalse(t *testing.T) {
	for _, c := range []struct {
		value string
		want  bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"FALSE", false}, {" false ", false},
		{"1", true}, {"true", true}, {"yes", true},
	} {
		t.Run(fmt.Sprintf("CI=%q", c.value), func(t *testing.T) {
			t.Setenv("CI", c.value)
			if got := CI(); got != c.want {
				t.Errorf("CI() = %v, want %v", got, c.want)
			}
		})
	}
}

// recorder is a testing.TB that records how the test was stopped.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// stop runs f on its own goroutine (Skipf and Fatalf end it) and returns
// how it was stopped.
func stop(f func(t testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestNeedFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{{"1", true}, {"", false}} {
		t.Run("CI="+c.ci, func(t *testing.T) {
			t.Setenv("CI", c.ci)
			r := stop(func(tb testing.TB) { Need(tb, "frobnicator", "not installed") })
			if c.wantFail && (r.failed == "" || r.skipped != "") || !c.wantFail && (r.skipped == "" || r.failed != "") {
				t.Fatalf("failed %q, skipped %q", r.failed, r.skipped)
			}
			if msg := r.failed + r.skipped; !strings.Contains(msg, "frobnicator") || !strings.Contains(msg, "not installed") {
				t.Errorf("message %q does not name what is missing and why", msg)
			}
		})
	}
}

func TestProgramFindsInstalledOnesAndNamesThePackageOfMissingOnes(t *testing.T) {
	t.Setenv("CI", "1")
	if r := stop(func(tb testing.TB) { Program(tb, "sh", "dash") }); r.failed != "" || r.skipped != "" {
		t.Errorf("sh: %q %q", r.failed, r.skipped)
	}
	r := stop(func(tb testing.TB) { Program(tb, "cadastre-no-such-program", "no-such-package") })
	if !strings.Contains(r.failed, "no-such-package") {
		t.Errorf("a missing program: failed %q, want the Debian package named", r.failed)
	}
}

// TestFreePort: the port is below the ephemeral range and can be bound
// over both protocols right after.
func TestFreePort(t *testing.T) {
	for range 20 {
		port := FreePort(t, true)
		if port < 20000 || port >= 32000 {
			t.Fatalf("FreePort = %d, want 20000-31999", port)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("TCP %s: %v", addr, err)
		}
		c, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			t.Fatalf("UDP %s: %v", addr, err)
		}
		c.Close()
	}
}
