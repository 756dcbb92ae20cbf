package sqlite_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// TestFailedRowsLeaveNothing: the triggers that check each assignment as
// it is inserted refuse it with RAISE(FAIL) (00070), which keeps what the
// statement inserted before the refused row. A statement of several rows
// (InsertAssignments, LoadAssignments) must still fail whole: a caller
// that goes on in its transaction after the error (a load reads the
// register to name the line that overlaps) and commits finds none of the
// statement's rows. Without insertRows' savepoint the rows before the
// refused one are read back and committed.
func TestFailedRowsLeaveNothing(t *testing.T) {
	for _, c := range []struct {
		name   string
		insert func(context.Context, registry.Tx, []registry.Assignment) error
	}{
		{"InsertAssignments", func(ctx context.Context, tx registry.Tx, as []registry.Assignment) error {
			return tx.(registry.BatchWriter).InsertAssignments(ctx, as)
		}},
		{"LoadAssignments", func(ctx context.Context, tx registry.Tx, as []registry.Assignment) error {
			return tx.(registry.BulkLoader).LoadAssignments(ctx, as)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, sqlitetest.Path(t, "rows.db"), sqlite.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			r := registry.New(st, registry.WithClock(func() time.Time { return now }))
			mp := netip.MustParsePrefix
			if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r1", Location: location.Location{Country: "US"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
				t.Fatal(err)
			}
			pool, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.0.0.0/24"), Region: "r1", UseAll: true})
			if err != nil {
				t.Fatal(err)
			}
			row := func(p string) registry.Assignment {
				return registry.Assignment{Prefix: mp(p), PoolID: pool.ID, Pool: pool.Prefix, RegionID: pool.RegionID, Region: "r1",
					State: registry.StateAssigned, CreatedAt: now}
			}
			live := row("10.0.0.9/32")
			if err := st.Update(ctx, func(tx registry.Tx) error { return tx.InsertAssignment(ctx, &live) }); err != nil {
				t.Fatal(err)
			}
			// Four rows alike: one statement, the last refused.
			var as []registry.Assignment
			for _, p := range []string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.9/32"} {
				as = append(as, row(p))
			}
			held := func(tx registry.Tx, p netip.Prefix) []registry.Assignment {
				t.Helper()
				got, err := tx.AssignmentsAt(ctx, pool.Space, p)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			err = st.Update(ctx, func(tx registry.Tx) error {
				if err := c.insert(ctx, tx, as); !errors.Is(err, registry.ErrOverlap) {
					t.Errorf("%v, want ErrOverlap", err)
				}
				for _, a := range as[:3] {
					if got := held(tx, a.Prefix); len(got) > 0 {
						t.Errorf("after the error the transaction holds %v", got)
					}
				}
				return nil // the caller goes on and commits
			})
			if err != nil {
				t.Fatal(err)
			}
			err = st.View(ctx, func(tx registry.Tx) error {
				for i := range 16 {
					p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 32)
					if want := btoi(p == live.Prefix); len(held(tx, p)) != want {
						t.Errorf("the register holds %v at %s, want %d rows", held(tx, p), p, want)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
