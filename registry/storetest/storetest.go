// Package storetest is the conformance suite every registry.Store must
// pass: it is the Store's definition. Each store's tests call Run (the
// Tx contract and each optional capability the store offers), Model (the
// allocator against a brute-force model of the rules), BatchMatchesSingles
// and GroupCommit, with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Open returns a fresh, empty store; the suite closes it.
type Open func(t *testing.T) registry.Store

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// fixture is a store with one region, one block and one pool in each family.
type fixture struct {
	s      registry.Store
	region registry.Region
	block4 registry.Block
	pool4  registry.Pool
	pool6  registry.Pool
}

func setup(t *testing.T, open Open) fixture {
	t.Helper()
	ctx := context.Background()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	f := fixture{s: s}
	err := s.Update(ctx, func(tx registry.Tx) error {
		f.region = registry.Region{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA"}, BorrowBits: 24, CreatedAt: t0}
		if err := tx.InsertRegion(ctx, &f.region); err != nil {
			return err
		}
		f.block4 = registry.Block{Prefix: mp("40.64.0.0/10"), Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US", CreatedAt: t0,
			Price: &registry.Money{Cents: 750_000_000, Currency: "USD"}}
		if err := tx.InsertBlock(ctx, &f.block4); err != nil {
			return err
		}
		b6 := registry.Block{Prefix: mp("2603:1000::/24"), Source: registry.SourceRIR, Registry: "arin", CreatedAt: t0}
		if err := tx.InsertBlock(ctx, &b6); err != nil {
			return err
		}
		f.pool4 = registry.Pool{Prefix: mp("40.64.0.0/24"), BlockID: f.block4.ID, RegionID: f.region.ID, CreatedAt: t0}
		if err := tx.InsertPool(ctx, &f.pool4); err != nil {
			return err
		}
		f.pool6 = registry.Pool{Prefix: mp("2603:1030::/32"), BlockID: b6.ID, RegionID: f.region.ID, CreatedAt: t0}
		return tx.InsertPool(ctx, &f.pool6)
	})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	return f
}

// Run runs the whole suite.
func Run(t *testing.T, open Open) {
	ctx := context.Background()
	capabilities(t, open)
	runReservations(t, open)
	runChildPools(t, open)

	t.Run("objects read back as written", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.View(ctx, func(tx registry.Tx) error {
			r, err := tx.RegionByName(ctx, "us-east")
			if err != nil {
				return err
			}
			if r.ID != f.region.ID || r.Location != f.region.Location || !r.CreatedAt.Equal(t0) || r.BorrowBits != 24 {
				t.Errorf("region = %+v, want %+v", r, f.region)
			}
			bs, err := tx.Blocks(ctx)
			if err != nil {
				return err
			}
			if len(bs) != 2 || bs[0].Prefix != f.block4.Prefix || bs[0].Price == nil || *bs[0].Price != *f.block4.Price {
				t.Errorf("blocks = %+v", bs)
			}
			p, err := tx.PoolByID(ctx, f.pool4.ID)
			if err != nil {
				return err
			}
			if p.Prefix != f.pool4.Prefix || p.Region != "us-east" || p.Block != f.block4.Prefix {
				t.Errorf("pool = %+v", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("missing objects are ErrNotFound", func(t *testing.T) {
		f := setup(t, open)
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			if _, err := tx.RegionByName(ctx, "nowhere"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("RegionByName: %v, want ErrNotFound", err)
			}
			if _, err := tx.AssignmentByID(ctx, 999); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("AssignmentByID: %v, want ErrNotFound", err)
			}
			if _, err := tx.PoolByID(ctx, 999); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("PoolByID: %v, want ErrNotFound", err)
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("the database refuses overlapping blocks, pools and live assignments", func(t *testing.T) {
		f := setup(t, open)
		cases := []struct {
			name string
			fn   func(tx registry.Tx) error
			want error
		}{
			{"block inside a block", func(tx registry.Tx) error {
				return tx.InsertBlock(ctx, &registry.Block{Prefix: mp("40.64.1.0/24"), Source: registry.SourceRIR, CreatedAt: t0})
			}, registry.ErrOverlap},
			{"block covering a block", func(tx registry.Tx) error {
				return tx.InsertBlock(ctx, &registry.Block{Prefix: mp("40.0.0.0/8"), Source: registry.SourceRIR, CreatedAt: t0})
			}, registry.ErrOverlap},
			{"pool overlapping a pool", func(tx registry.Tx) error {
				return tx.InsertPool(ctx, &registry.Pool{Prefix: mp("40.64.0.128/25"), BlockID: f.block4.ID, RegionID: f.region.ID, CreatedAt: t0})
			}, registry.ErrOverlap},
			{"duplicate region", func(tx registry.Tx) error {
				return tx.InsertRegion(ctx, &registry.Region{Name: "us-east", BorrowBits: 24, CreatedAt: t0})
			}, registry.ErrExists},
			{"live assignment overlapping a live one", func(tx registry.Tx) error {
				a := registry.Assignment{Prefix: mp("40.64.0.0/30"), PoolID: f.pool4.ID, State: registry.StateAssigned, CreatedAt: t0}
				if err := tx.InsertAssignment(ctx, &a); err != nil {
					return err
				}
				return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: mp("40.64.0.2/32"), PoolID: f.pool4.ID, State: registry.StateAssigned, CreatedAt: t0})
			}, registry.ErrOverlap},
			{"duplicate free prefix", func(tx registry.Tx) error {
				fp := registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp("40.64.0.0/24")}
				if err := tx.AddFree(ctx, fp); err != nil {
					return err
				}
				return tx.AddFree(ctx, fp)
			}, registry.ErrExists},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := f.s.Update(ctx, c.fn)
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
			})
		}
	})

	t.Run("a failed update leaves nothing behind", func(t *testing.T) {
		f := setup(t, open)
		boom := errors.New("boom")
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			r := registry.Region{Name: "ghost", Location: location.Location{Country: "BR"}, BorrowBits: 24, CreatedAt: t0}
			if err := tx.InsertRegion(ctx, &r); err != nil {
				return err
			}
			if err := tx.AppendEvent(ctx, &registry.Event{At: t0, Actor: "t", Action: "x", SubjectKind: "region", Subject: "ghost"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			if _, err := tx.RegionByName(ctx, "ghost"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("region ghost survived a failed update: %v", err)
			}
			if p, _ := tx.Position(ctx); p.Seq != 0 {
				t.Errorf("event survived a failed update: %+v", p)
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("smallest free prefix that fits, lowest address first", func(t *testing.T) {
		f := setup(t, open)
		frees := []string{"40.64.0.128/25", "40.64.0.64/26", "40.64.0.16/28", "40.64.0.48/28", "40.64.0.8/29"}
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, s := range frees {
				if err := tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp(s)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			maxBits int
			want    string
		}{{32, "40.64.0.8/29"}, {29, "40.64.0.8/29"}, {28, "40.64.0.16/28"}, {27, "40.64.0.64/26"}, {26, "40.64.0.64/26"}, {25, "40.64.0.128/25"}, {24, ""}}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			for _, c := range cases {
				got, ok, err := tx.SmallestFree(ctx, f.region.ID, 4, c.maxBits)
				if err != nil {
					return err
				}
				if (c.want == "") != !ok || (ok && got.Prefix != mp(c.want)) || (ok && got.PoolID != f.pool4.ID) {
					t.Errorf("SmallestFree(/%d) = %v %v, want %q", c.maxBits, got.Prefix, ok, c.want)
				}
			}
			if _, ok, _ := tx.SmallestFree(ctx, f.region.ID, 6, 128); ok {
				t.Errorf("IPv4 free space answered an IPv6 request")
			}
			list, err := tx.FreeOfPool(ctx, f.pool4.ID)
			if err != nil {
				return err
			}
			var got []string
			for _, p := range list {
				got = append(got, p.String())
			}
			want := []string{"40.64.0.8/29", "40.64.0.16/28", "40.64.0.48/28", "40.64.0.64/26", "40.64.0.128/25"}
			if !slices.Equal(got, want) {
				t.Errorf("FreeOfPool = %v, want %v (address order)", got, want)
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
		if err := f.s.Update(ctx, func(tx registry.Tx) error {
			ok, err := tx.RemoveFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp("40.64.0.8/29")})
			if !ok || err != nil {
				t.Errorf("RemoveFree of a free prefix = %v, %v", ok, err)
			}
			ok, err = tx.RemoveFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp("40.64.0.8/29")})
			if ok || err != nil {
				t.Errorf("RemoveFree of a prefix not free = %v, %v, want false, nil", ok, err)
			}
			return nil
		}); err != nil {
			t.Fatalf("Update: %v", err)
		}
	})

	t.Run("assignments: live look-up, history, usage and quarantine", func(t *testing.T) {
		f := setup(t, open)
		until := t0.Add(time.Hour)
		var ids []int64
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, a := range []registry.Assignment{
				{Prefix: mp("40.64.0.0/30"), PoolID: f.pool4.ID, State: registry.StateAssigned, Tenant: "acme", Name: "a.example", CreatedAt: t0},
				{Prefix: mp("40.64.0.4/32"), PoolID: f.pool4.ID, State: registry.StateQuarantined, QuarantineUntil: &until, CreatedAt: t0},
				{Prefix: mp("40.64.0.5/32"), PoolID: f.pool4.ID, State: registry.StateReleased, CreatedAt: t0, ReleasedAt: &t0},
				{Prefix: mp("2603:1030::/64"), PoolID: f.pool6.ID, State: registry.StateAssigned, Tenant: "acme", CreatedAt: t0},
			} {
				if err := tx.InsertAssignment(ctx, &a); err != nil {
					return err
				}
				ids = append(ids, a.ID)
			}
			// A released assignment does not block a new one at the same place.
			return tx.InsertAssignment(ctx, &registry.Assignment{Prefix: mp("40.64.0.5/32"), PoolID: f.pool4.ID, State: registry.StateAssigned, CreatedAt: t0.Add(time.Minute)})
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			a, ok, err := tx.LiveAssignment(ctx, registry.GlobalSpace, mp("40.64.0.2/32"))
			if err != nil || !ok || a.Prefix != mp("40.64.0.0/30") || a.Tenant != "acme" || a.Region != "us-east" || a.Pool != f.pool4.Prefix {
				t.Errorf("LiveAssignment(40.64.0.2) = %+v %v %v", a, ok, err)
			}
			if _, ok, _ := tx.LiveAssignment(ctx, registry.GlobalSpace, mp("40.64.0.9/32")); ok {
				t.Errorf("LiveAssignment found something in free space")
			}
			at, err := tx.AssignmentsAt(ctx, registry.GlobalSpace, mp("40.64.0.5/32"))
			if err != nil || len(at) != 2 {
				t.Errorf("AssignmentsAt(40.64.0.5) = %d assignments, %v; want the released and the live one", len(at), err)
			}
			ended, err := tx.QuarantineEnded(ctx, until, 10)
			if err != nil || len(ended) != 1 || ended[0].ID != ids[1] {
				t.Errorf("QuarantineEnded = %+v, %v", ended, err)
			}
			if ended, _ := tx.QuarantineEnded(ctx, until.Add(-time.Second), 10); len(ended) != 0 {
				t.Errorf("QuarantineEnded before the end = %d", len(ended))
			}
			use, err := tx.Usage(ctx, []int64{f.pool4.ID, f.pool6.ID}, until)
			if err != nil {
				return err
			}
			var assigned, quarantined, expired int64
			for _, u := range use {
				switch u.State {
				case registry.StateAssigned:
					assigned += u.Count
				case registry.StateQuarantined:
					quarantined += u.Count
					expired += u.Expired
				}
			}
			if assigned != 3 || quarantined != 1 || expired != 1 {
				t.Errorf("Usage: assigned %d quarantined %d expired %d, want 3 1 1", assigned, quarantined, expired)
			}
			created, err := tx.CreatedSince(ctx, []int64{f.pool4.ID}, t0)
			if err != nil || created[32] != 3 || created[30] != 1 {
				t.Errorf("CreatedSince = %v, %v", created, err)
			}
			// Activity: per day and family, made and released.
			days, err := tx.Activity(ctx, []int64{f.pool4.ID, f.pool6.ID}, t0.Add(-48*time.Hour), t0.Add(48*time.Hour))
			var made4, made6, released int64
			for _, d := range days {
				if d.Day.Hour() != 0 || d.Day.Location() != time.UTC {
					t.Errorf("Activity day %v: not midnight UTC", d.Day)
				}
				if d.Family == 4 {
					made4 += d.Allocated
				} else {
					made6 += d.Allocated
				}
				released += d.Released
			}
			if err != nil || made4 != 4 || made6 != 1 || released != 1 {
				t.Errorf("Activity = %+v, %v: made %d IPv4 and %d IPv6, released %d; want 4, 1, 1", days, err, made4, made6, released)
			}
			if days, err := tx.Activity(ctx, []int64{f.pool4.ID}, t0.Add(48*time.Hour), t0.Add(72*time.Hour)); err != nil || len(days) != 0 {
				t.Errorf("Activity of days without any = %+v, %v", days, err)
			}
			tenant := "acme"
			list, err := tx.Assignments(ctx, registry.AssignmentFilter{Tenant: &tenant})
			if err != nil || len(list) != 2 {
				t.Errorf("Assignments(tenant acme) = %d, %v", len(list), err)
			}
			list, err = tx.Assignments(ctx, registry.AssignmentFilter{Name: "a.example"})
			if err != nil || len(list) != 1 || list[0].ID != ids[0] {
				t.Errorf("Assignments(name a.example) = %+v, %v", list, err)
			}
			// Named: what a DNS build reads (the named live ones only).
			list, err = tx.Assignments(ctx, registry.AssignmentFilter{Named: true, States: []registry.State{registry.StateAssigned}})
			if err != nil || len(list) != 1 || list[0].ID != ids[0] {
				t.Errorf("Assignments(named, assigned) = %+v, %v", list, err)
			}
			list, err = tx.Assignments(ctx, registry.AssignmentFilter{Resource: "no-such-resource"})
			if err != nil || len(list) != 0 {
				t.Errorf("Assignments(resource no-such-resource) = %+v, %v", list, err)
			}
			list, err = tx.Assignments(ctx, registry.AssignmentFilter{Within: mp("40.64.0.4/31"), States: []registry.State{registry.StateQuarantined}})
			if err != nil || len(list) != 1 || list[0].ID != ids[1] {
				t.Errorf("Assignments(within, quarantined) = %+v, %v", list, err)
			}
			page, err := tx.Assignments(ctx, registry.AssignmentFilter{AfterID: ids[0], Limit: 2})
			if err != nil || len(page) != 2 || page[0].ID != ids[1] {
				t.Errorf("Assignments(after, limit) = %+v, %v", page, err)
			}
			// A dump's lean read gives what Assignments gives of the
			// fields it sets, a page at a time, appended to what it is
			// given.
			if ad, ok := tx.(registry.AssignmentDumper); ok {
				all, err := tx.Assignments(ctx, registry.AssignmentFilter{})
				if err != nil {
					return err
				}
				var got []registry.Assignment
				var after int64
				for range len(all) + 1 {
					n := len(got)
					if got, err = ad.DumpAssignments(ctx, after, 2, got); err != nil {
						return err
					}
					if len(got) == n {
						break
					}
					after = got[len(got)-1].ID
				}
				lean := func(a registry.Assignment) registry.Assignment {
					return registry.Assignment{ID: a.ID, Prefix: a.Prefix, PoolID: a.PoolID, State: a.State, Tenant: a.Tenant, Resource: a.Resource, Name: a.Name,
						CreatedAt: a.CreatedAt, ReleasedAt: a.ReleasedAt, QuarantineUntil: a.QuarantineUntil, Space: a.Space}
				}
				if len(got) != len(all) || len(all) != 5 {
					t.Errorf("DumpAssignments: %d assignments, Assignments %d, want 5", len(got), len(all))
				}
				for i := range min(len(got), len(all)) {
					if w := lean(all[i]); !reflect.DeepEqual(got[i], w) {
						t.Errorf("DumpAssignments[%d] = %+v, want %+v", i, got[i], w)
					}
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("events are append-only, ordered, and found by subject", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for i := 0; i < 3; i++ {
				e := registry.Event{At: t0.Add(time.Duration(i) * time.Minute), Actor: "tester", Action: "pool.add", SubjectKind: "pool", SubjectID: int64(i + 1), Subject: "p", After: []byte(`{"i":1}`)}
				if err := tx.AppendEvent(ctx, &e); err != nil {
					return err
				}
				if e.Seq == 0 {
					t.Errorf("AppendEvent set no sequence number")
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			all, err := tx.Events(ctx, registry.EventFilter{})
			if err != nil || len(all) != 3 || all[0].Seq >= all[1].Seq || string(all[2].After) != `{"i":1}` || all[0].Actor != "tester" {
				t.Errorf("Events = %+v, %v", all, err)
			}
			some, _ := tx.Events(ctx, registry.EventFilter{Since: t0.Add(time.Minute)})
			if len(some) != 2 {
				t.Errorf("Events since = %d, want 2", len(some))
			}
			by, _ := tx.Events(ctx, registry.EventFilter{SubjectKind: "pool", SubjectIDs: []int64{2}})
			if len(by) != 1 || by[0].SubjectID != 2 {
				t.Errorf("Events by subject = %+v", by)
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("a follower reads every event once, in commit order, up to the position", func(t *testing.T) {
		f := setup(t, open)
		view := func(t *testing.T, fn func(tx registry.Tx) error) {
			t.Helper()
			if err := f.s.View(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		view(t, func(tx registry.Tx) error {
			if p, err := tx.Position(ctx); err != nil || p != (registry.Position{}) {
				t.Errorf("Position of an empty log = %+v, %v, want zero", p, err)
			}
			if evs, err := tx.EventsAfter(ctx, registry.EventFilter{}); err != nil || len(evs) != 0 {
				t.Errorf("EventsAfter(0) of an empty log = %+v, %v", evs, err)
			}
			return nil
		})
		// One transaction each, the last with the oldest time: the
		// position's time is the latest, not the last event's.
		var seqs []int64
		for _, m := range []int{1, 3, 2} {
			e := registry.Event{At: t0.Add(time.Duration(m) * time.Minute), Actor: "tester", Action: "pool.add", SubjectKind: "pool", SubjectID: int64(m), Subject: "p"}
			if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.AppendEvent(ctx, &e) }); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, e.Seq)
		}
		last := seqs[len(seqs)-1]
		// A store whose position waits for transactions still in flight
		// elsewhere on its server (PostgreSQL) gets there when they end.
		var pos registry.Position
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			view(t, func(tx registry.Tx) (err error) { pos, err = tx.Position(ctx); return err })
			if pos.Seq == last || time.Now().After(deadline) {
				break
			}
		}
		if want := (registry.Position{Seq: last, At: t0.Add(3 * time.Minute)}); pos.Seq != want.Seq || !pos.At.Equal(want.At) {
			t.Errorf("Position = %+v, want %+v (the last event, the latest time)", pos, want)
		}
		if sr, ok := f.s.(registry.SingleReader); ok {
			// Registry.Position reads it so: one statement. It may step
			// back for one read (see the pages below) to an earlier event
			// in commit order (Seq is compared for equality only), never
			// past.
			earlier := append([]int64{0}, seqs[:len(seqs)-1]...)
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				var one registry.Position
				err := sr.ViewOne(ctx, func(tx registry.Tx) (err error) { one, err = tx.Position(ctx); return err })
				if err == nil && one.Seq == pos.Seq && one.At.Equal(pos.At) {
					break
				}
				if err != nil || !slices.Contains(earlier, one.Seq) || time.Now().After(deadline) {
					t.Errorf("Position through ViewOne = %+v, %v; want %+v", one, err, pos)
					break
				}
			}
		}
		for _, tc := range []struct {
			name    string
			f       registry.EventFilter
			want    []int64
			invalid bool
		}{
			{"from the start, every event", registry.EventFilter{}, seqs, false},
			{"after the first, the rest", registry.EventFilter{AfterSeq: seqs[0]}, seqs[1:], false},
			{"after the last, nothing", registry.EventFilter{AfterSeq: last}, nil, false},
			{"a limit cuts the page", registry.EventFilter{Limit: 2}, seqs[:2], false},
			{"since filters by time", registry.EventFilter{AfterSeq: seqs[0], Since: t0.Add(3 * time.Minute)}, seqs[1:2], false},
			{"a cursor that names no event is invalid", registry.EventFilter{AfterSeq: last + 1000}, nil, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// A store's horizon may step back for one read (PostgreSQL:
				// a transaction of another database that ends between the
				// statement's snapshot and its status read counts for that
				// read): a page may then come back short, never wrong. So a
				// strict prefix of the answer is read again, up to a
				// deadline; anything else fails at once.
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					var got []int64
					var err error
					view(t, func(tx registry.Tx) error {
						var evs []registry.Event
						evs, err = tx.EventsAfter(ctx, tc.f)
						for _, e := range evs {
							got = append(got, e.Seq)
						}
						return nil
					})
					if tc.invalid {
						if !errors.Is(err, registry.ErrInvalid) {
							t.Errorf("EventsAfter(%+v) = %d events, %v; want ErrInvalid", tc.f, len(got), err)
						}
						return
					}
					if err == nil && slices.Equal(got, tc.want) {
						return
					}
					if err != nil || len(got) >= len(tc.want) || !slices.Equal(got, tc.want[:len(got)]) || time.Now().After(deadline) {
						t.Errorf("EventsAfter(%+v) = %v, %v; want %v", tc.f, got, err, tc.want)
						return
					}
				}
			})
		}
		// Paging by the last Seq of each page reads the log once. An empty
		// page before the last event is the horizon's step back (above):
		// read again, up to a deadline.
		var got []int64
		var cursor int64
		for deadline := time.Now().Add(30 * time.Second); cursor != last && len(got) < 10 && time.Now().Before(deadline); {
			var page []registry.Event
			view(t, func(tx registry.Tx) (err error) {
				page, err = tx.EventsAfter(ctx, registry.EventFilter{AfterSeq: cursor, Limit: 2})
				return err
			})
			if len(page) == 0 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			for _, e := range page {
				got = append(got, e.Seq)
			}
			cursor = page[len(page)-1].Seq
		}
		if !slices.Equal(got, seqs) {
			t.Errorf("pages of 2 read %v, want %v", got, seqs)
		}
	})

	t.Run("idempotency records survive and are per tenant", func(t *testing.T) {
		f := setup(t, open)
		rec := registry.Idempotent{Tenant: "acme", Key: "k1", RequestHash: "h", AssignmentIDs: []int64{7, 9}, CreatedAt: t0}
		if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.PutIdempotent(ctx, rec) }); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.PutIdempotent(ctx, rec) }); !errors.Is(err, registry.ErrExists) {
			t.Errorf("second PutIdempotent = %v, want ErrExists", err)
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			got, ok, err := tx.Idempotent(ctx, "acme", "k1")
			if err != nil || !ok || got.RequestHash != "h" || !slices.Equal(got.AssignmentIDs, rec.AssignmentIDs) {
				t.Errorf("Idempotent = %+v %v %v", got, ok, err)
			}
			if _, ok, _ := tx.Idempotent(ctx, "other", "k1"); ok {
				t.Errorf("another tenant's key was found")
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("concurrent requests with one idempotency key get one answer", func(t *testing.T) {
		// Stores whose reads cost a round trip let the registry look the
		// key up before the write and rely on the unique key for a race:
		// 32 callers at once, in shared transactions or not, must still
		// allocate once and all get that allocation.
		s := open(t)
		t.Cleanup(func() { s.Close() })
		reg := registry.New(s)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: mp("2603:1000::/24"), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("2603:1030::/64"), Region: "us-east", UseAll: true}); err != nil {
			t.Fatal(err)
		}
		const n = 32
		got := make([][]registry.Assignment, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = reg.AllocateAll(ctx, registry.Batch{Key: "same",
					Requests: []registry.Request{{Region: "us-east", Family: 6, Tenant: "acme"}}})
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if len(got[i]) != 1 || got[i][0].ID != got[0][0].ID || got[i][0].Prefix != got[0][0].Prefix {
				t.Fatalf("caller %d got %+v, caller 0 %+v", i, got[i], got[0])
			}
		}
		as, err := reg.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil || len(as) != 1 {
			t.Fatalf("%d assignments stored (%v), want 1", len(as), err)
		}
	})

	t.Run("View and Update run their function and return its error", func(t *testing.T) {
		// The suite checks every View and Update's error: a store whose
		// transaction fails, or that never calls the function, fails it.
		f := setup(t, open)
		boom := errors.New("boom")
		for _, c := range []struct {
			name string
			run  func(func(registry.Tx) error) error
		}{{"View", func(fn func(registry.Tx) error) error { return f.s.View(ctx, fn) }},
			{"Update", func(fn func(registry.Tx) error) error { return f.s.Update(ctx, fn) }}} {
			ran := false
			if err := c.run(func(registry.Tx) error { ran = true; return nil }); err != nil || !ran {
				t.Errorf("%s of a function returning nil: err %v, ran %v", c.name, err, ran)
			}
			if err := c.run(func(registry.Tx) error { return boom }); !errors.Is(err, boom) {
				t.Errorf("%s of a function returning an error: %v, want that error", c.name, err)
			}
		}
	})

	runTenants(t, open)
	runSuffixIndex(t, open)
	runLife(t, open)
	runSpaces(t, open)
	runRegionSpaces(t, open)
	runAddressLocks(t, open)
	t.Run("overlap is refused within a space only", func(t *testing.T) { runSpaceOverlap(t, open) })
	runShowPages(t, open)
	runPagesByAddress(t, open)

	t.Run("views cannot write", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.View(ctx, func(tx registry.Tx) error {
			return tx.InsertRegion(ctx, &registry.Region{Name: "sneaky", BorrowBits: 24, CreatedAt: t0})
		})
		if err == nil {
			t.Fatal("a write inside View succeeded")
		}
	})
}
