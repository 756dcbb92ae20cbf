package postgres_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// A writer waiting for a lock that another connection holds (a hung
// session, an operator's open transaction) gives up after lock_timeout
// with an error that says so, once, instead of stalling every region of
// the replica behind it; the replica's other regions go on meanwhile.
func TestWriterWaitingForALockGivesUp(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	st, err := postgres.Open(ctx, dsn+"&lock_timeout=300ms", postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	for _, r := range []string{"east", "west"} {
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: r, Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	for r, p := range map[string]string{"east": "10.0.0.0/24", "west": "10.0.1.0/24"} {
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: r, UseAll: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Another connection holds east's row and does nothing more.
	release := heldRegion(t, dsn, "east")
	allocateBehind(t, reg, "east", 10*time.Second, release)
	// The replica is not stalled: west allocates while east's lock is held.
	if _, err := reg.Allocate(ctx, registry.Request{Region: "west", Family: 4}); err != nil {
		t.Fatalf("west while east is locked: %v", err)
	}
	release()
	if _, err := reg.Allocate(ctx, registry.Request{Region: "east", Family: 4}); err != nil {
		t.Fatalf("east once the lock is gone: %v", err)
	}
}

// Write transactions are bounded by default, reads are not, and a bound
// PostgreSQL would refuse is refused at Open, naming it.
func TestWriteBounds(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var lock, stmt string
	if err := st.Update(ctx, func(tx registry.Tx) error {
		lock, stmt, err = postgres.Settings(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if lock != "10s" || stmt != "1min" {
		t.Errorf("a write runs with lock_timeout %s, statement_timeout %s; want 10s and 1min", lock, stmt)
	}
	if err := st.View(ctx, func(tx registry.Tx) error {
		lock, stmt, err = postgres.Settings(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if lock != "0" || stmt != "0" {
		t.Errorf("a read runs with lock_timeout %s, statement_timeout %s; want none", lock, stmt)
	}
	_, err = postgres.Open(ctx, dsn+"&lock_timeout=soon", postgres.Options{})
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), `"soon"`) {
		t.Fatalf("Open with lock_timeout=soon: %v", err)
	}
}

// heldRegion holds region name's row from another connection on dsn, as
// a hung session or an operator's open transaction would, until release
// (at the latest when the test ends).
func heldRegion(t *testing.T, dsn, name string) (release func()) {
	t.Helper()
	ctx := context.Background()
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(ctx) })
	held, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release = func() {
		if err := held.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			t.Error(err)
		}
	}
	t.Cleanup(release)
	if _, err := held.Exec(ctx, `SELECT 1 FROM regions WHERE name = $1 FOR UPDATE`, name); err != nil {
		t.Fatal(err)
	}
	return release
}

// allocateBehind allocates an IPv4 address in region, whose row another
// connection holds: the allocation must give up after lock_timeout with
// a storage error naming it, within d (else release lets it end and the
// test fails).
func allocateBehind(t *testing.T, reg *registry.Registry, region string, d time.Duration, release func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := reg.Allocate(context.Background(), registry.Request{Region: region, Family: 4})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, registry.ErrStorage) || !strings.Contains(err.Error(), "lock_timeout") {
			t.Fatalf("allocation behind a held lock: err = %v, want a storage error naming lock_timeout", err)
		}
	case <-time.After(d):
		release() // let the stuck allocation end
		<-done
		t.Fatalf("an allocation waiting for a lock another connection holds was still waiting after %s", d)
	}
}

// An allocation alone whose region this replica knows sets its bounds and
// locks the region in one statement (lockRegionTimed, issue 16): the
// bounds hold for the lock's own wait. Behind a lock another connection
// holds, it gives up after lock_timeout, set in that statement (the
// connection's own lock_timeout is none), not after the server's default.
func TestRegionLockWithTheBoundsGivesUp(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	var mu sync.Mutex
	var sent []string
	tracer := sqlTracer(func(q string) {
		mu.Lock()
		sent = append(sent, q)
		mu.Unlock()
	})
	st, err := postgres.Open(ctx, dsn, postgres.Options{LockTimeout: 300 * time.Millisecond, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	regionWithPool(t, reg, "east", "10.0.0.0/24")
	// Two allocations: the region and the next take are known after them.
	for range 2 {
		if _, err := reg.Allocate(ctx, registry.Request{Region: "east", Family: 4}); err != nil {
			t.Fatal(err)
		}
	}
	release := heldRegion(t, dsn, "east")
	mu.Lock()
	n := len(sent)
	mu.Unlock()
	allocateBehind(t, reg, "east", 8*time.Second, release)
	mu.Lock()
	last := slices.Clone(sent[n:])
	mu.Unlock()
	if len(last) < 2 || !strings.HasPrefix(last[0], "BEGIN") || !strings.Contains(last[1], "set_config('lock_timeout'") || !strings.Contains(last[1], "FOR NO KEY UPDATE") {
		t.Errorf("the allocation sent %q first; want BEGIN, then the bounds and the region's lock in one statement", last)
	}
}
