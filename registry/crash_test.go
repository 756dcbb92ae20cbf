package registry_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

const (
	crashDBEnv   = "CADASTRE_TEST_CRASH_DB"
	crashSeedEnv = "CADASTRE_TEST_CRASH_SEED"
)

// TestMain runs the tests, or, in a process started by
// TestCrashKeepsEveryAcknowledgedAllocation, the crash child instead.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashDBEnv); path != "" {
		seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
		crashChild(path, seed)
	}
	os.Exit(m.Run())
}

// crashChild is the child of TestCrashKeepsEveryAcknowledgedAllocation.
// It allocates and releases from several goroutines on a durable store
// and prints a line for each change only after the call that made it
// returned nil, until it is killed. It never returns.
func crashChild(path string, seed uint64) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{}) // durable: that is the point
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	reg := registry.New(st)
	var out sync.Mutex
	ack := func(format string, args ...any) {
		line := fmt.Sprintf("ACK "+format+"\n", args...)
		out.Lock()
		defer out.Unlock()
		os.Stdout.WriteString(line) // one write per line, unbuffered
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(g)))
			var mine []registry.Assignment
			for i := 0; ; i++ {
				var q registry.Request
				region := []string{"east", "south"}[rng.IntN(2)]
				switch x := rng.IntN(10); {
				case x < 3 && len(mine) > 0:
					k := rng.IntN(len(mine))
					a := mine[k]
					mine = append(mine[:k], mine[k+1:]...)
					quarantine := time.Duration(0)
					if rng.IntN(2) == 0 {
						quarantine = time.Hour
					}
					if _, err := reg.Release(ctx, registry.Target{ID: a.ID}, quarantine, nil); err != nil {
						fmt.Fprintln(os.Stderr, "release:", err)
						continue
					}
					ack("R %d %s", a.ID, a.Prefix)
					continue
				case x < 5:
					q = registry.Request{Region: region, Family: 4}
				case x < 7:
					q = registry.Request{Region: region, Family: 6, Bits: 120 + rng.IntN(9)}
				case x < 8:
					q = registry.Request{Region: region, Family: 4, Count: 2 + rng.IntN(20)}
				default:
					q = registry.Request{Region: region, DualStack: true, Count: 1 + rng.IntN(3)}
				}
				as, err := reg.Allocate(ctx, q)
				if err != nil {
					fmt.Fprintln(os.Stderr, "allocate:", err)
					continue
				}
				for _, a := range as {
					ack("A %d %s", a.ID, a.Prefix)
				}
				mine = append(mine, as...)
			}
		}()
	}
	// The parent kills us long before this.
	time.Sleep(30 * time.Second)
	os.Exit(4)
}

// TestCrashKeepsEveryAcknowledgedAllocation kills a child allocating on a
// durable store with SIGKILL at a random point, then checks that every
// acknowledged change is there, nothing is held twice and the database is
// whole.
func TestCrashKeepsEveryAcknowledgedAllocation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	base := uint64(time.Now().UnixNano())
	for i := range uint64(5) {
		seed := base + i
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { crashOnce(t, seed) })
	}
}

func crashOnce(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()
	{
		st, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, ctx: ctx, store: st, reg: registry.New(st)}
		e.region("south", "none", 0)
		e.region("east", "south", 24)
		e.block("10.0.0.0/8")
		e.block("fd00::/48")
		e.pool("10.0.0.0/20", "east")
		e.pool("10.1.0.0/16", "south")
		e.pool("fd00::/64", "east")
		e.pool("fd00:0:0:1::/64", "south")
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(os.Args[0]) // TestMain runs crashChild
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashSeedEnv+"="+fmt.Sprint(seed))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reap sync.Once
	kill := func() {
		reap.Do(func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		})
	}
	t.Cleanup(kill)

	killAfter := 1 + rng.IntN(3000)
	deadline := time.Duration(300+rng.IntN(1700)) * time.Millisecond
	type ackLine struct {
		id     int64
		prefix netip.Prefix
	}
	var allocated, released []ackLine
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The kill time counts from the child's first acknowledgement, not
	// from its start: a race-detector binary on a loaded machine may take
	// longer than the whole window to start.
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	acks := 0
read:
	for acks < killAfter {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			f := strings.Fields(l)
			if len(f) != 4 || f[0] != "ACK" {
				continue
			}
			id, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("child line %q", l)
			}
			a := ackLine{id, netip.MustParsePrefix(f[3])}
			if f[1] == "A" {
				allocated = append(allocated, a)
			} else {
				released = append(released, a)
			}
			if acks == 0 {
				timer.Reset(deadline)
			}
			acks++
		case <-timer.C:
			break read
		}
	}
	// Kill while the child is still writing, then drain what it printed:
	// an acknowledgement the kernel already holds counts too.
	cmd.Process.Signal(syscall.SIGKILL)
	for l := range lines {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "ACK" {
			id, _ := strconv.ParseInt(f[2], 10, 64)
			a := ackLine{id, netip.MustParsePrefix(f[3])}
			if f[1] == "A" {
				allocated = append(allocated, a)
			} else {
				released = append(released, a)
			}
		}
	}
	kill()
	if state := cmd.ProcessState; state == nil || state.Exited() {
		t.Fatalf("child was not killed: %v\nstderr:\n%s", state, stderr.String())
	}
	if len(allocated) == 0 {
		t.Fatalf("child acknowledged nothing within a minute\nstderr:\n%s", stderr.String())
	}
	t.Logf("killed after %d allocations and %d releases acknowledged (limit %d acks, %s)", len(allocated), len(released), killAfter, deadline)

	e := openEnv(t, path, newClock())
	var res string
	if err := e.raw.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check: %q, %v", res, err)
	}
	var fk int
	if err := e.raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_foreign_key_check").Scan(&fk); err != nil || fk != 0 {
		t.Fatalf("foreign_key_check: %d rows, %v", fk, err)
	}
	err = e.store.View(ctx, func(tx registry.Tx) error {
		for _, a := range allocated {
			got, err := tx.AssignmentByID(ctx, a.id)
			if err != nil {
				return fmt.Errorf("acknowledged assignment %d %s: %w", a.id, a.prefix, err)
			}
			if got.Prefix != a.prefix {
				return fmt.Errorf("acknowledged assignment %d: prefix %s, acknowledged %s", a.id, got.Prefix, a.prefix)
			}
		}
		for _, a := range released {
			got, err := tx.AssignmentByID(ctx, a.id)
			if err != nil {
				return fmt.Errorf("acknowledged release %d %s: %w", a.id, a.prefix, err)
			}
			if got.State == registry.StateAssigned {
				return fmt.Errorf("acknowledged release %d %s: still assigned", a.id, a.prefix)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The real clock: the child's quarantines have not ended.
	checkInvariants(t, ctx, e.store, registry.New(e.store), time.Now())
	// The store still works after recovery.
	if _, err := registry.New(e.store).Allocate(ctx, registry.Request{Region: "east", DualStack: true}); err != nil && !errors.Is(err, registry.ErrNoSpace) {
		t.Fatalf("allocate after recovery: %v", err)
	}
}

// lockedWriter serialises writes from the child's stderr copier and reads
// by the test on failure.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.w.(*strings.Builder); ok && b.Len() > 8000 {
		return len(p), nil
	}
	return l.w.Write(p)
}
