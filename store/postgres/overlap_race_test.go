package postgres_test

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// overlapBarrier holds each transaction of a round, after its write,
// until every replica has written or a while has passed: without a lock
// that orders them, every write is in before any commits.
type overlapBarrier struct {
	n       int32
	arrived atomic.Int32
	all     chan struct{}
}

func (b *overlapBarrier) wait() {
	if b.arrived.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
	case <-time.After(300 * time.Millisecond):
	}
}

// TestOverlapRaceAcrossReplicas: the overlap rule has no exclusion
// constraint behind it (00074); the writes check it under their pool's
// region lock. Four replicas (stores) of one database write nested live
// prefixes (a /29, /30, /31 and /32 at one address, every two of which
// overlap) at the same moment, each in its own transaction that waits,
// after its write, for the others to write: one by one
// (InsertAssignment, which takes the lock itself), queued with an
// allocation's writes (the region locked by RegionByName first, as the
// allocator does), or copied (LoadAssignments into a register with
// assignments). Exactly one commits each round, the others are refused
// with ErrOverlap, and no two live assignments overlap at the end.
func TestOverlapRaceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	for i := range replicas {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var region registry.Region
	var pool registry.Pool
	err := stores[0].Update(ctx, func(tx registry.Tx) error {
		region = registry.Region{Name: "us-east", Location: location.Location{Country: "US"}, BorrowBits: 24, CreatedAt: t0}
		if err := tx.InsertRegion(ctx, &region); err != nil {
			return err
		}
		b := registry.Block{Prefix: netip.MustParsePrefix("40.64.0.0/16"), Source: registry.SourceRIR, Registry: "arin", CreatedAt: t0}
		if err := tx.InsertBlock(ctx, &b); err != nil {
			return err
		}
		pool = registry.Pool{Prefix: netip.MustParsePrefix("40.64.0.0/20"), BlockID: b.ID, RegionID: region.ID, UseAll: true, CreatedAt: t0}
		if err := tx.InsertPool(ctx, &pool); err != nil {
			return err
		}
		// A live row already there: LoadAssignments copies into a
		// register with assignments (checkLoaded), not into an empty one.
		return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: netip.MustParsePrefix("40.64.15.255/32"), PoolID: pool.ID, State: registry.StateAssigned, CreatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 12 {
		base := netip.AddrFrom4([4]byte{40, 64, byte(round), 8})
		b := &overlapBarrier{n: replicas, all: make(chan struct{})}
		ok := storetest.Race(t, replicas, registry.ErrOverlap, func(i int) error {
			p := netip.PrefixFrom(base, 29+(i+round)%4)
			a := registry.Assignment{Prefix: p, PoolID: pool.ID, State: registry.StateAssigned, CreatedAt: t0}
			return stores[i].Update(ctx, func(tx registry.Tx) error {
				a := a
				var err error
				switch (i + round/4) % 3 {
				case 0:
					err = tx.InsertAssignment(ctx, &a)
				case 1:
					var g registry.Region
					if g, err = tx.RegionByName(ctx, region.Name); err == nil {
						tx.(registry.WriteDeferrer).DeferWrites()
						a.RegionID, a.Space = g.ID, registry.GlobalSpace
						err = tx.InsertAssignment(ctx, &a)
					}
				case 2:
					err = tx.(registry.BulkLoader).LoadAssignments(ctx, []registry.Assignment{a})
				}
				if err != nil {
					return err
				}
				b.wait()
				return nil
			})
		})
		if ok != 1 {
			t.Errorf("round %d (%s): %d of the nested prefixes committed, want exactly 1", round, base, ok)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var pairs int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT a.prefix, LAG(a.prefix) OVER (PARTITION BY p.space ORDER BY a.prefix, a.id) AS prev
		FROM assignments a JOIN pools p ON p.id = a.pool_id WHERE a.state <> 'released') s WHERE prev >>= prefix`).Scan(&pairs); err != nil {
		t.Fatal(err)
	}
	if pairs != 0 {
		t.Errorf("%d live assignments overlap the one before them", pairs)
	}
	var live int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM assignments WHERE state <> 'released'`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if want := 12 + 1; live != want {
		t.Errorf("%d live assignments, want %d", live, want)
	}
}
