package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runSpaceOverlap is the conformance of overlap per space (issue 12): two
// VPCs each hold 10.0.0.0/8, with a pool 10.1.0.0/16 in the same region,
// the assignment 10.1.0.0/24 and the reservation 10.1.2.0/29 in each.
// Within one space every overlap is still refused, by the registry (naming
// the holder and the space) and by the database itself; across spaces
// nothing is, and every verb that names a prefix (alloc, reserve, show,
// release, unreserve) asks for --space where two spaces hold it.
func runSpaceOverlap(t *testing.T, open Open) {
	ctx := context.Background()
	now := t0.Add(time.Hour)
	s := open(t)
	t.Cleanup(func() { s.Close() })
	reg := registry.New(s, registry.WithClock(func() time.Time { return now }))
	for _, sp := range []string{"vpc-a", "vpc-b"} {
		if _, err := reg.AddSpace(ctx, registry.Space{Name: sp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "eu-west", Location: location.Location{Country: "IE"}}); err != nil {
		t.Fatal(err)
	}
	pools := map[string]registry.Pool{}
	for _, sp := range []string{"vpc-a", "vpc-b"} {
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: sp}); err != nil {
			t.Fatal(err)
		}
		// The same prefix in the same region: free space is per pool.
		p, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.1.0.0/16"), Region: "eu-west", Space: sp, UseAll: true})
		if err != nil {
			t.Fatalf("pool 10.1.0.0/16 in %s: %v", sp, err)
		}
		if p.Space != sp {
			t.Fatalf("pool 10.1.0.0/16 in %s: space %q", sp, p.Space)
		}
		pools[sp] = p
	}
	live := map[string]registry.Assignment{}
	for _, sp := range []string{"vpc-a", "vpc-b"} {
		as, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.0/24"), Space: sp, Tenant: "acme", Key: "vm-" + sp})
		if err != nil || len(as) != 1 || as[0].PoolID != pools[sp].ID || as[0].Space != sp {
			t.Fatalf("alloc --prefix 10.1.0.0/24 --space %s: %+v, %v", sp, as, err)
		}
		live[sp] = as[0]
		// A retry with the same key is the same answer; the same key
		// naming the other space is another request (a conflict).
		again, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.0/24"), Space: sp, Tenant: "acme", Key: "vm-" + sp})
		if err != nil || len(again) != 1 || again[0].ID != as[0].ID {
			t.Fatalf("alloc --key vm-%s again: %+v, %v; want assignment %d", sp, again, err, as[0].ID)
		}
		if v, err := reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.1.2.0/29"), Reason: "gateways", Space: sp}); err != nil || v.PoolID != pools[sp].ID {
			t.Fatalf("reserve 10.1.2.0/29 --space %s: %+v, %v", sp, v, err)
		}
	}

	before := tables(t, s)
	refusals := []struct {
		name  string
		do    func() error
		want  error
		names []string
	}{
		{"a pool overlapping a pool of its space", func() error {
			_, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.1.128.0/17"), Region: "eu-west", Space: "vpc-a"})
			return err
		}, registry.ErrOverlap, []string{"10.1.0.0/16", "vpc-a"}},
		{"an assignment over a live one of its space", func() error {
			_, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.128/25"), Space: "vpc-b"})
			return err
		}, registry.ErrOverlap, []string{"10.1.0.0/24", "assignment"}},
		{"an assignment over a reservation of its space", func() error {
			_, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.2.4/32"), Space: "vpc-a"})
			return err
		}, registry.ErrOverlap, []string{"10.1.2.0/29", "gateways"}},
		{"a reservation over a live assignment of its space", func() error {
			_, err := reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.1.0.0/30"), Reason: "x", Space: "vpc-a"})
			return err
		}, registry.ErrOverlap, []string{"10.1.0.0/24"}},
		{"a reservation over one of its space", func() error {
			_, err := reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.1.2.0/30"), Reason: "x", Space: "vpc-b"})
			return err
		}, registry.ErrOverlap, []string{"10.1.2.0/29"}},
		{"a keyed retry naming another space", func() error {
			_, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.0/24"), Space: "vpc-b", Tenant: "acme", Key: "vm-vpc-a"})
			return err
		}, registry.ErrIdempotency, nil},
		{"alloc of an address two spaces hold, no space named", func() error {
			_, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.9.9/32")})
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space"}},
		{"reserve where two spaces hold pools, no space named", func() error {
			_, err := reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.1.9.0/29"), Reason: "x"})
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space"}},
		{"show of an address two spaces hold in pools, no space named", func() error {
			_, err := reg.ShowIn(ctx, mp("10.1.0.5/32"), "")
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space"}},
		{"release of a prefix two spaces hold, no space named", func() error {
			_, err := reg.Release(ctx, registry.Target{Prefix: mp("10.1.0.0/24")}, 0, nil)
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space"}},
		{"unreserve of a prefix two spaces reserve, no space named", func() error {
			_, err := reg.Unreserve(ctx, mp("10.1.2.0/29"))
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space"}},
		{"the pool of a prefix two spaces hold, no space named", func() error {
			_, err := reg.FindPool(ctx, mp("10.1.0.0/16"))
			return err
		}, registry.ErrInvalid, []string{"vpc-a", "vpc-b", "--space", "pool's ID"}},
		{"the pool of a prefix in a space that does not exist", func() error {
			_, err := reg.FindPoolIn(ctx, mp("10.1.0.0/16"), "vpc-z")
			return err
		}, registry.ErrNotFound, []string{"vpc-z"}},
		{"release in a space that does not exist", func() error {
			_, err := reg.Release(ctx, registry.Target{Prefix: mp("10.1.0.0/24"), Space: "vpc-z"}, 0, nil)
			return err
		}, registry.ErrNotFound, []string{"vpc-z"}},
	}
	for _, c := range refusals {
		t.Run("refused: "+c.name, func(t *testing.T) {
			refused(t, s, before, c.do(), c.want, c.names...)
		})
	}

	t.Run("the database refuses overlap within a space, not across", func(t *testing.T) {
		// Behind the registry: rows written straight through Tx.
		for _, c := range []struct {
			what string
			do   func(tx registry.Tx) error
		}{
			{"a pool over a pool of its space", func(tx registry.Tx) error {
				return tx.InsertPool(ctx, &registry.Pool{Prefix: mp("10.1.4.0/24"), BlockID: pools["vpc-a"].BlockID, RegionID: pools["vpc-a"].RegionID, CreatedAt: now})
			}},
			{"a live assignment over one of its space", func(tx registry.Tx) error {
				return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: mp("10.1.0.64/26"), PoolID: pools["vpc-b"].ID, State: registry.StateAssigned, CreatedAt: now})
			}},
			{"a reservation over one of its space", func(tx registry.Tx) error {
				return tx.InsertReservation(ctx, &registry.Reservation{Prefix: mp("10.1.2.4/30"), PoolID: pools["vpc-a"].ID, Reason: "x", CreatedAt: now})
			}},
		} {
			err := s.Update(ctx, c.do)
			if !errors.Is(err, registry.ErrOverlap) && !errors.Is(err, registry.ErrExists) {
				t.Errorf("%s: %v, want an overlap refused by the store", c.what, err)
			}
		}
		if after := tables(t, s); after != before {
			t.Errorf("refused writes changed the register:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("show, release and unreserve act in the space named", func(t *testing.T) {
		for _, sp := range []string{"vpc-a", "vpc-b"} {
			h, err := reg.ShowIn(ctx, mp("10.1.0.5/32"), sp)
			if err != nil || h.Block == nil || h.Block.Space != sp || h.Assignment == nil || h.Assignment.ID != live[sp].ID {
				t.Fatalf("show 10.1.0.5 --space %s: %+v, %v; want assignment %d", sp, h, err, live[sp].ID)
			}
		}
		a, err := reg.Release(ctx, registry.Target{Prefix: mp("10.1.0.0/24"), Space: "vpc-a"}, 0, nil)
		if err != nil || a.ID != live["vpc-a"].ID {
			t.Fatalf("release 10.1.0.0/24 --space vpc-a: %+v, %v", a, err)
		}
		// vpc-b's is untouched, and now the only one: no --space needed.
		if err := s.View(ctx, func(tx registry.Tx) error {
			b, ok, err := tx.LiveAssignment(ctx, "vpc-b", mp("10.1.0.0/24"))
			if err != nil || !ok || b.ID != live["vpc-b"].ID {
				t.Errorf("vpc-b's 10.1.0.0/24 after vpc-a's release: %+v %v %v", b, ok, err)
			}
			if _, ok, _ := tx.LiveAssignment(ctx, "vpc-a", mp("10.1.0.0/24")); ok {
				t.Error("vpc-a's 10.1.0.0/24 still live")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		v, err := reg.UnreserveIn(ctx, mp("10.1.2.0/29"), "vpc-b")
		if err != nil || v.PoolID != pools["vpc-b"].ID {
			t.Fatalf("unreserve 10.1.2.0/29 --space vpc-b: %+v, %v", v, err)
		}
		if v, err := reg.Unreserve(ctx, mp("10.1.2.0/29")); err != nil || v.PoolID != pools["vpc-a"].ID {
			t.Fatalf("unreserve 10.1.2.0/29 (vpc-a's, the one left): %+v, %v", v, err)
		}
		// vpc-a's freed space is handed out again in vpc-a, while vpc-b
		// still holds the same prefix.
		as, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.0/24"), Space: "vpc-a"})
		if err != nil || len(as) != 1 || as[0].Space != "vpc-a" {
			t.Fatalf("alloc 10.1.0.0/24 --space vpc-a again: %+v, %v", as, err)
		}
	})

	t.Run("region allocation stays inside each pool's space", func(t *testing.T) {
		// Both pools serve eu-west: without a space neither is taken (a
		// named space's pools only when asked for); with one, every address
		// handed out is live once per space, never twice in one.
		if _, err := reg.Allocate(ctx, registry.Request{Region: "eu-west", Family: 4, Bits: 24}); !errors.Is(err, registry.ErrNoSpace) {
			t.Errorf("alloc --region eu-west without a space: %v, want ErrNoSpace", err)
		}
		seen := map[string]bool{}
		for _, sp := range []string{"vpc-a", "vpc-b"} {
			as, err := reg.Allocate(ctx, registry.Request{Region: "eu-west", Space: sp, Family: 4, Bits: 24, Count: 4})
			if err != nil || len(as) != 4 {
				t.Fatalf("alloc --region eu-west --space %s --len 24 --count 4: %d, %v", sp, len(as), err)
			}
			for _, a := range as {
				k := a.Space + " " + a.Prefix.String()
				if seen[k] || a.Space != sp {
					t.Errorf("assignment %s in space %q twice or not in %s", a.Prefix, a.Space, sp)
				}
				seen[k] = true
			}
		}
	})
}
