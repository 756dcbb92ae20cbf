package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// freeRows counts the free table's rows of pool.
func freeRows(t *testing.T, s *Store, pool int64) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow(`SELECT count(*) FROM free WHERE pool_id = ?`, pool).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// below is pool's frontier mark, invalid if it has none.
func below(t *testing.T, s *Store, pool int64) netip.Addr {
	t.Helper()
	var b []byte
	err := s.rdb.QueryRow(`SELECT below FROM pool_frontier WHERE pool_id = ?`, pool).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return netip.Addr{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return a16(b)
}

func freeOf(t *testing.T, s *Store, pool int64) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	if err := s.View(context.Background(), func(tx registry.Tx) error {
		var err error
		out, err = tx.FreeOfPool(context.Background(), pool)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func allocate(t *testing.T, r *registry.Registry, q registry.Request) []registry.Assignment {
	t.Helper()
	as, err := r.Allocate(context.Background(), q)
	if err != nil {
		t.Fatalf("allocate %+v: %v", q, err)
	}
	return as
}

// TestFrontierAllocationsWriteNoFreeRow: a new pool's free space is its
// frontier; single allocations, batches and both families' splits take
// from it and give their rests back with no free row written, and every
// reader sees what the rows would have held (the buddy order: the
// allocations' addresses, FreeOfPool, the invariants).
func TestFrontierAllocationsWriteNoFreeRow(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		pool   string
		useAll bool
		fam    int
		bits   []int // one allocation each, then a batch of 8 of the last
	}{
		{"10.0.0.0/16", true, 4, []int{32, 32, 30, 32, 28, 32, 31, 32}},
		{"fd00:db8::/48", true, 6, []int{64, 64, 60, 64, 56, 128, 64, 127}},
		// The /64 anycast rule (policy6): the first address of a /64
		// split for a longer prefix is kept back.
		{"fd00:db8::/48", false, 6, []int{64, 128, 128, 60, 127, 64, 56, 128, 126}},
	} {
		t.Run(fmt.Sprintf("%s useAll=%v", c.pool, c.useAll), func(t *testing.T) {
			s, r := storeWithPolicy(t, c.pool, c.useAll)
			pool := netip.MustParsePrefix(c.pool)
			id := int64(1)
			if got, want := below(t, s, id), pool.Addr().Prev(); got != want {
				t.Fatalf("new pool: frontier mark %v, want %v", got, want)
			}
			if n := freeRows(t, s, id); n != 0 {
				t.Fatalf("new pool: %d free rows, want 0", n)
			}
			var all []registry.Assignment
			for _, b := range c.bits {
				all = append(all, allocate(t, r, registry.Request{Region: "r", Family: c.fam, Bits: b})...)
			}
			all = append(all, allocate(t, r, registry.Request{Region: "r", Family: c.fam, Bits: c.bits[len(c.bits)-1], Count: 8})...)
			// The buddy order, as the rows gave it: each allocation the
			// lowest of the longest free prefix that fits.
			var model []netip.Prefix
			free := []netip.Prefix{pool}
			for _, b := range append(c.bits, slices.Repeat(c.bits[len(c.bits)-1:], 8)...) {
				for {
					i := -1
					for j, f := range free {
						if f.Bits() <= b && (i < 0 || f.Bits() > free[i].Bits() || (f.Bits() == free[i].Bits() && f.Addr().Less(free[i].Addr()))) {
							i = j
						}
					}
					f := free[i]
					free = slices.Delete(free, i, i+1)
					if !c.useAll && c.fam == 6 && b > 64 && f.Bits() <= 64 {
						// The /64's anycast address is kept back (policy6):
						// the rest goes back and the search runs again.
						free = append(free, prefix.Range(f.Addr().Next(), prefix.Last(f))...)
						continue
					}
					p := netip.PrefixFrom(f.Addr(), b)
					model = append(model, p)
					if last := prefix.Last(f); last != prefix.Last(p) {
						free = append(free, prefix.Range(prefix.Last(p).Next(), last)...)
					}
					break
				}
			}
			var got []netip.Prefix
			for _, a := range all {
				got = append(got, a.Prefix)
			}
			if !slices.Equal(got, model) {
				t.Errorf("allocations\n got %v\nwant %v", got, model)
			}
			slices.SortFunc(free, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
			if gotFree := freeOf(t, s, id); !slices.Equal(gotFree, free) {
				t.Errorf("FreeOfPool\n got %v\nwant %v", gotFree, free)
			}
			storetest.CheckInvariants(t, ctx, s, r, time.Now())
			if c.fam == 4 {
				// Every take of the IPv4 run was at the frontier or of a
				// hole the splits left below it: no row above the mark.
				var n int
				if err := s.rdb.QueryRow(`SELECT count(*) FROM free WHERE pool_id = ? AND addr > ?`, id, addrBytes(below(t, s, id))).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("%d free rows above the frontier mark", n)
				}
			}
		})
	}
}

// TestFrontierSingleAllocationsWriteNothingOfFree: a run of single /32s
// from a new pool leaves the free table untouched (what the benchmark's
// allocation saves: a B-tree page and a WAL frame).
func TestFrontierSingleAllocationsWriteNothingOfFree(t *testing.T) {
	s, r := storeWithPool(t, "10.0.0.0/16")
	for range 300 {
		allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
	}
	if n := freeRows(t, s, 1); n != 0 {
		t.Errorf("%d free rows after 300 allocations at the frontier, want 0", n)
	}
	if got, want := freeOf(t, s, 1), prefix.Range(netip.MustParseAddr("10.0.1.44"), netip.MustParseAddr("10.0.255.255")); !slices.Equal(got, want) {
		t.Errorf("FreeOfPool %v, want %v", got, want)
	}
}

// TestFrontierReleaseMovesTheMark: a row of the run that changes state
// moves the mark past it (the trigger of 00071), its space comes back as a
// hole row below the mark, and the next take is that hole, as the rows
// gave it.
func TestFrontierReleaseMovesTheMark(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/24")
	var as []registry.Assignment
	for range 4 {
		as = append(as, allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})...)
	}
	if _, err := r.Release(ctx, registry.Target{ID: as[1].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := below(t, s, 1), netip.MustParseAddr("10.0.0.1"); got != want {
		t.Errorf("mark after releasing 10.0.0.1: %v, want %v", got, want)
	}
	// Quarantined: a state change, the mark moves past it; the space stays held.
	if _, err := r.Release(ctx, registry.Target{ID: as[3].ID}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := below(t, s, 1), netip.MustParseAddr("10.0.0.3"); got != want {
		t.Errorf("mark after quarantining 10.0.0.3: %v, want %v", got, want)
	}
	want := append([]netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, prefix.Range(netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("10.0.0.255"))...)
	if got := freeOf(t, s, 1); !slices.Equal(got, want) {
		t.Errorf("FreeOfPool %v, want %v", got, want)
	}
	if got := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32}); got[0].Prefix != netip.MustParsePrefix("10.0.0.1/32") {
		t.Errorf("next allocation %v, want the hole 10.0.0.1/32", got[0].Prefix)
	}
	if got := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32}); got[0].Prefix != netip.MustParsePrefix("10.0.0.4/32") {
		t.Errorf("then %v, want the frontier's 10.0.0.4/32", got[0].Prefix)
	}
	storetest.CheckInvariants(t, ctx, s, r, time.Now())
}

// TestFrontierCarve: a specific prefix and a reservation inside the
// frontier carve it: the prefixes before become rows, the mark moves past
// the carved prefix, and the buddy order is the rows'.
func TestFrontierCarve(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/24")
	allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
	got := allocate(t, r, registry.Request{Region: "r", Prefix: netip.MustParsePrefix("10.0.0.64/28")})
	if got[0].Prefix != netip.MustParsePrefix("10.0.0.64/28") {
		t.Fatalf("specific: %v", got[0].Prefix)
	}
	if got, want := below(t, s, 1), netip.MustParseAddr("10.0.0.127"); got != want {
		t.Errorf("mark after the specific /28 in the /26 at .64: %v, want %v", got, want)
	}
	if _, err := r.Reserve(ctx, registry.ReservationSpec{Prefix: netip.MustParsePrefix("10.0.0.200/29"), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{}
	for _, p := range []string{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.8/29", "10.0.0.16/28", "10.0.0.32/27",
		"10.0.0.80/28", "10.0.0.96/27", "10.0.0.128/26", "10.0.0.192/29", "10.0.0.208/28", "10.0.0.224/27"} {
		want = append(want, netip.MustParsePrefix(p))
	}
	if got := freeOf(t, s, 1); !slices.Equal(got, want) {
		t.Errorf("FreeOfPool\n got %v\nwant %v", got, want)
	}
	storetest.CheckInvariants(t, ctx, s, r, time.Now())
}

// TestFrontierTakeIsProvenByTheFold: the writer's copy of a frontier is
// checked by the fold's statement as a free row's take is by its DELETE.
// A copy whose frontier is too low lands on the run (the overlap check),
// one too high names a top row that does not end there, one whose run is
// said empty names the wrong mark: each fails the caller with a conflict
// or an overlap, hands out nothing, and the next allocation is right.
func TestFrontierTakeIsProvenByTheFold(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		spoil func(fr *frontier)
		want  error
	}{
		{"frontier too low, its top row consistent", func(fr *frontier) { fr.next, fr.top = fr.next.Prev(), fr.top-1 }, registry.ErrOverlap},
		{"frontier too low", func(fr *frontier) { fr.next = fr.next.Prev().Prev() }, registry.ErrConflict},
		{"frontier too high", func(fr *frontier) { fr.next = fr.next.Next().Next() }, registry.ErrConflict},
		{"run said empty", func(fr *frontier) { fr.top = 0 }, registry.ErrConflict},
		{"wrong top row", func(fr *frontier) { fr.top-- }, registry.ErrConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, r := storeWithPool(t, "10.0.0.0/24")
			for range 4 {
				allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
			}
			if err := s.Update(ctx, func(rt registry.Tx) error {
				set := rt.(*tx).cache().free.scopes[freeScope{1, 4}]
				if set == nil || len(set.fronts) != 1 {
					t.Fatal("the region's frontier is not cached after an allocation")
				}
				c.spoil(&set.fronts[0])
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			_, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 32})
			if !errors.Is(err, c.want) {
				t.Errorf("allocation from a spoiled copy: %v, want %v", err, c.want)
			}
			got := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
			if got[0].Prefix != netip.MustParsePrefix("10.0.0.4/32") {
				t.Errorf("next allocation %v, want 10.0.0.4/32", got[0].Prefix)
			}
			storetest.CheckInvariants(t, ctx, s, r, time.Now())
		})
	}
}

// TestFrontierMigration: 00071's down writes each frontier's prefixes
// back as rows, so the free table alone holds what FreeOfPool said; its up
// makes the top rows that are a frontier's shape a frontier again (a
// register made before it), and leaves a pool whose top is not (IPv4's
// broadcast address kept back) to its rows.
func TestFrontierMigration(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/20")
	for range 37 {
		allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
	}
	// One released row above the frontier's start: the frontier read
	// back starts above it.
	as := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32, Count: 4})
	if _, err := r.Release(ctx, registry.Target{ID: as[3].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	p4 := netip.MustParsePrefix("10.1.0.0/24")
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: p4, Source: "private"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r2", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: p4, Region: "r2"}); err != nil {
		t.Fatal(err)
	}
	want, want2 := freeOf(t, s, 1), freeOf(t, s, 2)
	if b := below(t, s, 2); b.IsValid() {
		t.Fatalf("the pool with its broadcast address kept back has a frontier (%v)", b)
	}
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 70); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT cadastre_prefix(addr, bits) FROM free WHERE pool_id = 1 ORDER BY addr`)
	got, err := collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var s string
		if err := rows.Scan(&s); err != nil {
			return netip.Prefix{}, err
		}
		return netip.ParsePrefix(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("free rows after down\n got %v\nwant %v", got, want)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s2, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := freeOf(t, s2, 1); !slices.Equal(got, want) {
		t.Errorf("pool 1 after up\n got %v\nwant %v", got, want)
	}
	if got := freeOf(t, s2, 2); !slices.Equal(got, want2) {
		t.Errorf("pool 2 after up\n got %v\nwant %v", got, want2)
	}
	// Pool 1: 41 rows from 10.0.0.0, the 41st (10.0.0.40) released and
	// merged with its free buddies into the hole 10.0.0.40/29 below the
	// frontier, which starts at .48.
	if got, want := below(t, s2, 1), netip.MustParseAddr("10.0.0.47"); got != want {
		t.Errorf("pool 1's frontier mark after up: %v, want %v", got, want)
	}
	if n := freeRows(t, s2, 1); n != 1 {
		t.Errorf("pool 1: %d free rows after up, want 1 (10.0.0.40/29)", n)
	}
	if b := below(t, s2, 2); b.IsValid() {
		t.Errorf("pool 2 got a frontier (%v) after up", b)
	}
	r2 := registry.New(s2)
	for _, want := range []string{"10.0.0.40/32", "10.0.0.41/32", "10.0.0.42/32"} {
		if got := allocate(t, r2, registry.Request{Region: "r", Family: 4, Bits: 32}); got[0].Prefix != netip.MustParsePrefix(want) {
			t.Errorf("allocation after up: %v, want %v", got[0].Prefix, want)
		}
	}
	storetest.CheckInvariants(t, ctx, s2, r2, time.Now())
}

// TestFrontierReleaseMergesAcrossItFromCold: a release whose buddies are
// the frontier's prefixes carves them one after another in one
// transaction, on a writer whose caches start empty (a store opened
// again): each carve reads the frontier the one before it left. The
// pool's space comes back whole.
func TestFrontierReleaseMergesAcrossItFromCold(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/24")
	as := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r = registry.New(s)
	if _, err := r.Release(ctx, registry.Target{ID: as[0].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if got := freeOf(t, s, 1); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}) {
		t.Errorf("FreeOfPool after the only assignment's release: %v, want 10.0.0.0/24", got)
	}
	storetest.CheckInvariants(t, ctx, s, r, time.Now())
}

// TestFrontierOfALoad: a register loaded from a dump (import, demo
// --scale) keeps each pool's space above its last use as a frontier
// (registry.FreeTailer), below the highest row of any state, and answers
// as the register dumped did.
func TestFrontierOfALoad(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "10.0.0.0/24")
	as := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32, Count: 6})
	allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 28})
	// The top live row released: its history row lies above the live ones.
	top := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
	if _, err := r.Release(ctx, registry.Target{ID: top[0].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Release(ctx, registry.Target{ID: as[2].ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	want := freeOf(t, s, 1)
	d, err := r.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, t.TempDir()+"/load.db", Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	r2 := registry.New(s2)
	if _, err := r2.Load(ctx, d, registry.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := freeOf(t, s2, 1); !slices.Equal(got, want) {
		t.Errorf("FreeOfPool after the load\n got %v\nwant %v", got, want)
	}
	if b := below(t, s2, 1); !b.IsValid() {
		t.Error("the loaded pool has no frontier")
	}
	storetest.CheckInvariants(t, ctx, s2, r2, time.Now())
	for range 3 {
		a := allocate(t, r, registry.Request{Region: "r", Family: 4, Bits: 32})
		b := allocate(t, r2, registry.Request{Region: "r", Family: 4, Bits: 32})
		if a[0].Prefix != b[0].Prefix {
			t.Errorf("allocation: %v from the loaded register, %v from the dumped one", b[0].Prefix, a[0].Prefix)
		}
	}
	if got, want := freeOf(t, s2, 1), freeOf(t, s, 1); !slices.Equal(got, want) {
		t.Errorf("FreeOfPool after three more\n got %v\nwant %v", got, want)
	}
	storetest.CheckInvariants(t, ctx, s2, r2, time.Now())
}
