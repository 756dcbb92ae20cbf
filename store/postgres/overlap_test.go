package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// An allocation alone whose take is expected sends BEGIN and the
// region's lock as soon as the take is about to be queued (overlap.go):
// the server holds the region's row while fn still makes its writes.
// Without the early send the lock goes out with the COMMIT, and nobody
// holds the row while fn runs. A failure of fn after the early send
// rolls the transaction back (the row is free again after).
func TestExpectedTakeSendsTheLockEarly(t *testing.T) {
	for _, tc := range []struct {
		name    string
		overlap bool
		locked  bool
	}{
		{"overlap", true, true},
		{"no overlap", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := migratedDB(t)
			st, err := postgres.Open(ctx, dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			postgres.SetOverlap(st, tc.overlap)
			r := registry.New(st)
			regionWithPool(t, r, "east", "10.0.0.0/16")
			q := registry.Request{Region: "east", Family: 4}
			// The region's copy and the next take's expectation learnt.
			for range 3 {
				if _, err := r.Allocate(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			side, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer side.Close(ctx)
			// heldElsewhere says whether the region's row is locked by
			// another transaction, waiting up to wait for it to be.
			heldElsewhere := func(wait time.Duration) bool {
				end := time.Now().Add(wait)
				for {
					_, err := side.Exec(ctx, `SELECT 1 FROM regions WHERE name = 'east' FOR NO KEY UPDATE NOWAIT`)
					var pe *pgconn.PgError
					if errors.As(err, &pe) && pe.Code == "55P03" {
						return true
					}
					if err != nil {
						t.Fatal(err)
					}
					if time.Now().After(end) {
						return false
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			errStop := errors.New("stop after the take")
			runs := 0
			var locked bool
			err = st.Update(ctx, func(rt registry.Tx) error {
				runs++
				if runs > 1 {
					return errStop // the run again after a failed expectation: nothing to see
				}
				reg, err := rt.RegionByName(ctx, "east")
				if err != nil {
					return err
				}
				if _, ok, err := rt.(registry.FreeTaker).TakeSmallestFree(ctx, reg.ID, 4, 32); err != nil || !ok {
					t.Errorf("take: %v, %v", ok, err)
				}
				wait := 5 * time.Second
				if !tc.locked {
					wait = 300 * time.Millisecond
				}
				locked = heldElsewhere(wait)
				return errStop
			})
			if !errors.Is(err, errStop) {
				t.Fatalf("Update: %v, want %v", err, errStop)
			}
			if locked != tc.locked {
				t.Errorf("region locked by the transaction while fn ran after its take: %t, want %t", locked, tc.locked)
			}
			if heldElsewhere(0) {
				t.Error("the region is still locked after the transaction failed")
			}
			if _, err := r.Allocate(ctx, q); err != nil {
				t.Fatalf("an allocation after: %v", err)
			}
		})
	}
}
