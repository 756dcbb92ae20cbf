package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// runReservations checks registry.ReservationTx and the pool's UseAll:
// what is written reads back, overlap is refused by the store itself,
// and FreeWithin finds exactly the free prefixes that overlap a prefix.
func runReservations(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("reservations read back, by address and by overlap", func(t *testing.T) {
		f := setup(t, open)
		until := t0.Add(time.Hour)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, v := range []registry.Reservation{
				{Prefix: mp("40.64.0.16/28"), PoolID: f.pool4.ID, Reason: "gateways", CreatedAt: t0},
				{Prefix: mp("40.64.0.0/30"), PoolID: f.pool4.ID, Reason: "vrrp", Until: &until, CreatedAt: t0},
				{Prefix: mp("2603:1030::/64"), PoolID: f.pool6.ID, Reason: "anycast", CreatedAt: t0},
			} {
				if err := tx.InsertReservation(ctx, &v); err != nil {
					return err
				}
				if v.ID == 0 {
					t.Errorf("reservation %s: no ID set", v.Prefix)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			all, err := tx.Reservations(ctx)
			if err != nil {
				return err
			}
			var got []string
			for _, v := range all {
				got = append(got, v.Prefix.String()+" "+v.Pool.String()+" "+v.Region+" "+v.Reason)
				if v.Prefix == mp("40.64.0.0/30") && (v.Until == nil || !v.Until.Equal(until)) {
					t.Errorf("reservation %s: until %v, want %v", v.Prefix, v.Until, until)
				}
				if !v.CreatedAt.Equal(t0) {
					t.Errorf("reservation %s: created %v, want %v", v.Prefix, v.CreatedAt, t0)
				}
			}
			want := []string{"40.64.0.0/30 40.64.0.0/24 us-east vrrp", "40.64.0.16/28 40.64.0.0/24 us-east gateways", "2603:1030::/64 2603:1030::/32 us-east anycast"}
			if !slices.Equal(got, want) {
				t.Errorf("Reservations:\n got %q\nwant %q", got, want)
			}
			for q, want := range map[string][]string{
				"40.64.0.0/24":     {"40.64.0.0/30", "40.64.0.16/28"},
				"40.64.0.17/32":    {"40.64.0.16/28"},
				"40.64.0.4/30":     nil,
				"2603:1030::/32":   {"2603:1030::/64"},
				"2603:1030::5/128": {"2603:1030::/64"},
			} {
				rs, err := tx.ReservationsOverlapping(ctx, registry.GlobalSpace, mp(q))
				if err != nil {
					return err
				}
				var got []string
				for _, v := range rs {
					got = append(got, v.Prefix.String())
				}
				if !slices.Equal(got, want) {
					t.Errorf("ReservationsOverlapping(%s) = %v, want %v", q, got, want)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the store refuses overlapping reservations and deletes by ID", func(t *testing.T) {
		f := setup(t, open)
		var id int64
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			v := registry.Reservation{Prefix: mp("40.64.0.16/28"), PoolID: f.pool4.ID, Reason: "gateways", CreatedAt: t0}
			err := tx.InsertReservation(ctx, &v)
			id = v.ID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"40.64.0.16/28", "40.64.0.20/30", "40.64.0.0/24"} {
			err := f.s.Update(ctx, func(tx registry.Tx) error {
				return tx.InsertReservation(ctx, &registry.Reservation{Prefix: mp(p), PoolID: f.pool4.ID, Reason: "x", CreatedAt: t0})
			})
			if !errors.Is(err, registry.ErrOverlap) && !errors.Is(err, registry.ErrExists) {
				t.Errorf("reservation %s over 40.64.0.16/28: %v, want ErrOverlap", p, err)
			}
		}
		err = f.s.Update(ctx, func(tx registry.Tx) error { return tx.DeleteReservation(ctx, id+100) })
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("delete of an unknown reservation: %v, want ErrNotFound", err)
		}
		err = f.s.Update(ctx, func(tx registry.Tx) error { return tx.DeleteReservation(ctx, id) })
		if err != nil {
			t.Fatal(err)
		}
		f.s.View(ctx, func(tx registry.Tx) error {
			if rs, err := tx.Reservations(ctx); err != nil || len(rs) != 0 {
				t.Errorf("after delete: %v %v, want none", rs, err)
			}
			return nil
		})
	})

	t.Run("FreeWithin finds the free prefix holding a prefix, or those inside it", func(t *testing.T) {
		f := setup(t, open)
		free := []string{"40.64.0.1/32", "40.64.0.2/31", "40.64.0.8/29", "40.64.0.128/25"}
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, p := range free {
				if err := tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp(p)}); err != nil {
					return err
				}
			}
			return tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool6.ID, Prefix: mp("2603:1030::/32")})
		})
		if err != nil {
			t.Fatal(err)
		}
		f.s.View(ctx, func(tx registry.Tx) error {
			for q, want := range map[string][]string{
				"40.64.0.0/24":       {"40.64.0.1/32", "40.64.0.2/31", "40.64.0.8/29", "40.64.0.128/25"},
				"40.64.0.0/29":       {"40.64.0.1/32", "40.64.0.2/31"},
				"40.64.0.3/32":       {"40.64.0.2/31"},
				"40.64.0.200/30":     {"40.64.0.128/25"},
				"40.64.0.4/30":       nil,
				"40.64.0.0/32":       nil,
				"2603:1030:0:7::/64": {"2603:1030::/32"},
			} {
				p := mp(q)
				pool := f.pool4.ID
				if p.Addr().Is6() {
					pool = f.pool6.ID
				}
				fs, err := tx.FreeWithin(ctx, pool, p)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, x := range fs {
					got = append(got, x.Prefix.String())
					if x.PoolID != pool || x.RegionID != f.region.ID {
						t.Errorf("FreeWithin(%s): %+v has the wrong pool or region", q, x)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("FreeWithin(%s) = %v, want %v", q, got, want)
				}
			}
			return nil
		})
	})

	t.Run("a pool's UseAll reads back", func(t *testing.T) {
		f := setup(t, open)
		var id int64
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			p := registry.Pool{Prefix: mp("40.64.1.0/24"), BlockID: f.block4.ID, RegionID: f.region.ID, UseAll: true, CreatedAt: t0}
			err := tx.InsertPool(ctx, &p)
			id = p.ID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		f.s.View(ctx, func(tx registry.Tx) error {
			for want, pid := range map[bool]int64{true: id, false: f.pool4.ID} {
				p, err := tx.PoolByID(ctx, pid)
				if err != nil || p.UseAll != want {
					t.Errorf("pool %d: UseAll %v (%v), want %v", pid, p.UseAll, err, want)
				}
			}
			return nil
		})
	})
}
