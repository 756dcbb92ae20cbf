package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// twoReplicas opens two Stores on one register (two replicas) at dsn, a's
// round trips counted, with region east (10.0.0.0/24).
func twoReplicas(t *testing.T) (dsn string, a, b *postgres.Store, ra, rb *registry.Registry, ta *roundTrips) {
	t.Helper()
	dsn = migratedDB(t)
	ta = &roundTrips{}
	var err error
	if a, err = postgres.Open(context.Background(), dsn, postgres.Options{Tracer: ta}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = postgres.Open(context.Background(), dsn, postgres.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ra, rb = registry.New(a), registry.New(b)
	regionWithPool(t, ra, "east", "10.0.0.0/24")
	return dsn, a, b, ra, rb, ta
}

// moveEast sets region east's city through r (another replica's).
func moveEast(t *testing.T, r *registry.Registry, city string) {
	t.Helper()
	if _, err := r.UpdateRegion(context.Background(), "east", "", func(g *registry.Region) error {
		g.Location.City = city
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// An allocation alone expects its take's answer (expect.go): two replicas
// allocating in one region in turn make each other's expectations wrong.
// The transaction that expected wrong does nothing and runs again, and
// every allocation gets what one replica alone would have handed out: the
// lowest free /32 of the region, never one twice. A replica that
// allocates twice in a row sends its second in one round trip.
func TestExpectedTakeAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	_, a, _, ra, rb, ta := twoReplicas(t)
	q := registry.Request{Region: "east", Family: 4}
	// Who allocates, in turn: a learns, then expects.
	order := "aaabababbaaabbbaab"
	for i, who := range order {
		r := ra
		if who == 'b' {
			r = rb
		}
		before := ta.n.Load()
		as, err := r.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("allocation %d (%c): %v", i, who, err)
		}
		want := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32)
		if len(as) != 1 || as[0].Prefix != want {
			t.Fatalf("allocation %d (%c): %v, want %s", i, who, as, want)
		}
		if i == 1 || i == 2 {
			// a after a, before any expectation failed (after one, a
			// learns none for a while: expectSkip).
			if got := ta.n.Load() - before; got != 1 {
				t.Errorf("allocation %d (a after a): %d round trips, want 1", i, got)
			}
		}
	}
	// a expected wrong at its first allocation after b's.
	if got := postgres.ExpectFailures(a); got != 1 {
		t.Errorf("%d expectations failed, want 1", got)
	}
	all, err := ra.Assignments(ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(order) {
		t.Errorf("%d assignments, want %d", len(all), len(order))
	}
}

// A region changed by another replica: the copy an allocation alone
// locked it by (lockKnownRegion) is not the row, the transaction does
// nothing and runs again with the row read under the lock.
func TestExpectedRegionChangedByAnotherReplica(t *testing.T) {
	ctx := context.Background()
	_, a, _, ra, rb, _ := twoReplicas(t)
	q := registry.Request{Region: "east", Family: 4}
	for range 2 {
		if _, err := ra.Allocate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	moveEast(t, rb, "Ashburn")
	for i := 2; i < 5; i++ {
		as, err := ra.Allocate(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("10.0.0.%d/32", i); as[0].Prefix.String() != want {
			t.Errorf("allocation %d: %s, want %s", i, as[0].Prefix, want)
		}
		if as[0].Region != "east" {
			t.Errorf("allocation %d: region %q", i, as[0].Region)
		}
	}
	if got := postgres.ExpectFailures(a); got != 1 {
		t.Errorf("%d expectations failed, want 1 (the region's)", got)
	}
	g, err := ra.Region(ctx, "east")
	if err != nil {
		t.Fatal(err)
	}
	if g.Location.City != "Ashburn" {
		t.Errorf("region as a reads it: city %q", g.Location.City)
	}
}

// Any write transaction alone that reads a region this replica has a copy
// of locks it by the copy (lockKnownRegion, checked on the server): after
// another replica changed the region, the check fails once, the copy is
// dropped, and the transaction runs again with the row read under the
// lock (a copy kept would fail every attempt).
func TestExpectedRegionChangedThenUpdated(t *testing.T) {
	ctx := context.Background()
	_, a, _, ra, rb, _ := twoReplicas(t)
	if _, err := ra.Allocate(ctx, registry.Request{Region: "east", Family: 4}); err != nil {
		t.Fatal(err)
	}
	moveEast(t, rb, "Ashburn")
	g, err := ra.UpdateRegion(ctx, "east", "", func(g *registry.Region) error {
		if g.Location.City != "Ashburn" {
			return fmt.Errorf("city %q, want Ashburn (the row, not the copy)", g.Location.City)
		}
		g.Location.City = "Reston"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.Location.City != "Reston" {
		t.Errorf("region %+v", g.Location)
	}
	if got := postgres.ExpectFailures(a); got > 1 {
		t.Errorf("%d expectations failed, want at most 1", got)
	}
}

// A region row that its copy never matches (a borrow policy stored empty
// where its String is "none") fails the lock by the copy once, then the
// region's transactions alone lock it by a statement for a while
// (expectSkip): allocations go on, and fail once, not every time.
func TestExpectedRegionNeverMatched(t *testing.T) {
	ctx := context.Background()
	dsn, st, _, r, _, _ := twoReplicas(t)
	side, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close(ctx)
	if _, err := side.Exec(ctx, `UPDATE regions SET borrow_policy = '' WHERE name = 'east'`); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		as, err := r.Allocate(ctx, registry.Request{Region: "east", Family: 4})
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if want := fmt.Sprintf("10.0.0.%d/32", i); as[0].Prefix.String() != want {
			t.Errorf("allocation %d: %s, want %s", i, as[0].Prefix, want)
		}
	}
	if got := postgres.ExpectFailures(st); got != 1 {
		t.Errorf("%d expectations failed in 20 allocations, want 1", got)
	}
}
