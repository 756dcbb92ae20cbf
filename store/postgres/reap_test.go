package postgres_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A quarantine that another replica set, and that has just ended, is
// returned to its region's space before the region borrows: however
// recently this replica found nothing to reap, a region never borrows
// (a permanent relocation) while its own space sits reclaimable.
func TestRegionNeverBorrowsWhileItsQuarantineHasEnded(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	clock := &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	open := func() *registry.Registry {
		st, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return registry.New(st, registry.WithClock(clock.Now))
	}
	a, b := open(), open() // two replicas on one database
	south, err := registry.ParseBorrowPolicy("south")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []registry.RegionSpec{{Name: "south"}, {Name: "east", Borrow: south, BorrowBits: 28}} {
		spec.Location = location.Location{Country: "US"}
		if _, err := a.AddRegion(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	for p, r := range map[string]string{"10.0.0.0/30": "east", "10.0.1.0/24": "south"} {
		if _, err := a.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: r, UseAll: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Replica a fills east, finding nothing to reap as it does.
	got, err := a.Allocate(ctx, registry.Request{Region: "east", Family: 4, Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Replica b releases one of them for half a second.
	if _, err := b.Release(ctx, registry.Target{ID: got[1].ID}, 500*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(600 * time.Millisecond)
	again, err := a.Allocate(ctx, registry.Request{Region: "east", Family: 4})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Borrowed || again[0].Prefix != got[1].Prefix {
		t.Fatalf("east got %s (borrowed %v) while its own %s had left quarantine", again[0].Prefix, again[0].Borrowed, got[1].Prefix)
	}
	if rels, err := a.Relocations(ctx); err != nil || len(rels) != 0 {
		t.Fatalf("relocations %v, %v; want none", rels, err)
	}
}
