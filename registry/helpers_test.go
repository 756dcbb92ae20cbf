package registry_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2014, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one registry over a fresh SQLite store in t.TempDir().
type env struct {
	t     testing.TB
	ctx   context.Context
	path  string
	store *sqlite.Store
	reg   *registry.Registry
	clock *fakeClock
	raw   *sql.DB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return openEnv(t, sqlitetest.Path(t, "cadastre.db"), newClock())
}

// openEnv opens (or reopens) the store at path with NoSync.
func openEnv(t testing.TB, path string, clock *fakeClock) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &env{t: t, ctx: ctx, path: path, store: st, reg: registry.New(st, registry.WithClock(clock.Now)), clock: clock, raw: raw}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func (e *env) region(name string, borrow string, bits int) registry.Region {
	e.t.Helper()
	pol, err := registry.ParseBorrowPolicy(borrow)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.reg.AddRegion(e.ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US", Subdivision: "US-VA"}, Borrow: pol, BorrowBits: bits})
	if err != nil {
		e.t.Fatalf("add region %s: %v", name, err)
	}
	return r
}

func (e *env) block(p string) registry.Block {
	e.t.Helper()
	b, err := e.reg.AddBlock(e.ctx, registry.Block{Prefix: mustPrefix(p), Source: registry.SourcePrivate})
	if err != nil {
		e.t.Fatalf("add block %s: %v", p, err)
	}
	return b
}

func (e *env) pool(p, region string) registry.Pool {
	e.t.Helper()
	pl, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: mustPrefix(p), Region: region, UseAll: true})
	if err != nil {
		e.t.Fatalf("add pool %s: %v", p, err)
	}
	return pl
}

// standard builds two regions: east (IPv4 10.0.0.0/24 + 10.0.1.0/26, IPv6
// fd00::/120) may borrow from south (IPv4 10.0.2.0/23, IPv6 fd00::100/120)
// in units of /borrowBits; south may not borrow.
func (e *env) standard(borrowBits int) {
	e.t.Helper()
	e.region("south", "none", 0)
	e.region("east", "south", borrowBits)
	e.block("10.0.0.0/16")
	e.block("fd00::/64")
	e.pool("10.0.0.0/24", "east")
	e.pool("10.0.1.0/26", "east")
	e.pool("fd00::/120", "east")
	e.pool("10.0.2.0/23", "south")
	e.pool("fd00::100/120", "south")
}

func (e *env) alloc(q registry.Request) []registry.Assignment {
	e.t.Helper()
	out, err := e.reg.Allocate(e.ctx, q)
	if err != nil {
		e.t.Fatalf("allocate %+v: %v", q, err)
	}
	return out
}

func prefixes(as []registry.Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Prefix.String()
	}
	return out
}

// dump prints every row of every table, so that two dumps compare the
// whole database.
func (e *env) dump() string {
	e.t.Helper()
	var b strings.Builder
	for _, table := range []string{"regions", "blocks", "pools", "relocations", "free", "assignments", "events", "idempotency"} {
		rows, err := e.raw.QueryContext(e.ctx, "SELECT * FROM "+table)
		if err != nil {
			e.t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		if err := rows.Err(); err != nil {
			e.t.Fatal(err)
		}
		rows.Close()
		slices.Sort(lines)
		fmt.Fprintf(&b, "== %s (%d)\n%s\n", table, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// count returns a number from a raw SQL query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.raw.QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkInvariants is storetest.CheckInvariants: what must always hold.
func checkInvariants(t testing.TB, ctx context.Context, st registry.Store, reg *registry.Registry, now time.Time) []registry.Assignment {
	t.Helper()
	return storetest.CheckInvariants(t, ctx, st, reg, now)
}

// freeOf lists a pool's free prefixes as the store keeps them.
func (e *env) freeOf(poolID int64) []netip.Prefix {
	e.t.Helper()
	var free []netip.Prefix
	err := e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		free, err = tx.FreeOfPool(e.ctx, poolID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return free
}

// diff shows the lines that differ between two dumps.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 40 {
		out = append(out[:40], "...")
	}
	return strings.Join(out, "\n")
}
