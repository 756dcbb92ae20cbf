package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// capabilities checks each optional capability the store has
// (registry/capability.go) against the plain path through Store and Tx:
// the registry uses it in that path's place, so the answers must be the
// same. A store without a capability runs no subtest for it; its
// compile-time assertions say which it has.
func capabilities(t *testing.T, open Open) {
	ctx := context.Background()
	// has reports whether a write transaction of the store offers what ok
	// tests for.
	has := func(s registry.Store, ok func(registry.Tx) bool) bool {
		var yes bool
		if err := s.Update(ctx, func(tx registry.Tx) error { yes = ok(tx); return nil }); err != nil {
			t.Fatalf("capability probe: %v", err)
		}
		return yes
	}
	probe := setup(t, open)
	run := func(name string, present bool, fn func(t *testing.T)) {
		if present {
			t.Run("capability "+name, fn)
		} else {
			t.Logf("capability %s: not offered by this store", name)
		}
	}

	_, single := probe.s.(registry.SingleReader)
	run("SingleReader: ViewOne answers one read as View does, and a write through it leaves nothing", single, func(t *testing.T) {
		f := setup(t, open)
		sr := f.s.(registry.SingleReader)
		var viewed, once registry.Region
		read := func(dst *registry.Region) func(tx registry.Tx) error {
			return func(tx registry.Tx) (err error) { *dst, err = tx.RegionByName(ctx, "us-east"); return err }
		}
		if err := f.s.View(ctx, read(&viewed)); err != nil {
			t.Fatal(err)
		}
		if err := sr.ViewOne(ctx, read(&once)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(viewed, once) {
			t.Errorf("ViewOne read %+v, View %+v", once, viewed)
		}
		err := sr.ViewOne(ctx, func(tx registry.Tx) error {
			return tx.InsertRegion(ctx, &registry.Region{Name: "via-viewone", BorrowBits: 24, CreatedAt: t0})
		})
		if err == nil {
			t.Error("a write through ViewOne succeeded")
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			_, err := tx.RegionByName(ctx, "via-viewone")
			return err
		}); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("a write through ViewOne: read back %v, want ErrNotFound", err)
		}
	})

	run("FreeTaker: TakeSmallestFree takes what SmallestFree finds, and nothing when none fits", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.FreeTaker); return ok }), func(t *testing.T) {
		f := setup(t, open)
		free := []netip.Prefix{mp("40.64.0.0/25"), mp("40.64.0.128/26"), mp("40.64.0.192/27"), mp("40.64.0.224/27")}
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, p := range free {
				if err := tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: p}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, maxBits := range []int{32, 27, 26, 25, 24} {
			err := f.s.Update(ctx, func(tx registry.Tx) error {
				want, wantOK, err := tx.SmallestFree(ctx, f.region.ID, 4, maxBits)
				if err != nil {
					return err
				}
				got, ok, err := tx.(registry.FreeTaker).TakeSmallestFree(ctx, f.region.ID, 4, maxBits)
				if err != nil {
					return err
				}
				if ok != wantOK || (ok && got != want) {
					t.Errorf("max /%d: TakeSmallestFree = %v, %v; SmallestFree = %v, %v", maxBits, got, ok, want, wantOK)
				}
				left, err := tx.FreeOfPool(ctx, f.pool4.ID)
				if err != nil {
					return err
				}
				if wantOK {
					free = slices.DeleteFunc(free, func(p netip.Prefix) bool { return p == want.Prefix })
				}
				if !slices.Equal(left, free) {
					t.Errorf("max /%d: free space left %v, want %v", maxBits, left, free)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})

	run("FreeAdder: AddFrees stores what AddFree on each would, and on a conflict none of them", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.FreeAdder); return ok }), func(t *testing.T) {
		// Sizes across the power-of-two slices the stores may cut a batch
		// in, with prefixes of several lengths (a split's remainder), and
		// of two pools in one call; each inside its pool, as the registry
		// files them (the SQLite store reads a pool's by its range).
		for _, n := range []int{1, 2, 3, 7, 128, 129, 300} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				f := setup(t, open)
				var fs []registry.FreePrefix
				for i := range n {
					p := mp(fmt.Sprintf("2603:1030:%x::/%d", i, 48+i%3))
					pool := f.pool6.ID
					if i%50 == 49 {
						p = mp(fmt.Sprintf("40.64.0.%d/%d", i/50*8, 30+i%2))
						pool = f.pool4.ID
					}
					fs = append(fs, registry.FreePrefix{RegionID: f.region.ID, PoolID: pool, Prefix: p})
				}
				if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.(registry.FreeAdder).AddFrees(ctx, fs) }); err != nil {
					t.Fatal(err)
				}
				var want4, want6 []netip.Prefix
				for _, x := range fs {
					if x.PoolID == f.pool4.ID {
						want4 = append(want4, x.Prefix)
					} else {
						want6 = append(want6, x.Prefix)
					}
				}
				byAddr := func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }
				slices.SortFunc(want4, byAddr)
				slices.SortFunc(want6, byAddr)
				err := f.s.View(ctx, func(tx registry.Tx) error {
					for _, c := range []struct {
						pool int64
						want []netip.Prefix
					}{{f.pool4.ID, want4}, {f.pool6.ID, want6}} {
						got, err := tx.FreeOfPool(ctx, c.pool)
						if err != nil {
							return err
						}
						if !slices.Equal(got, c.want) {
							t.Errorf("pool %d: free %v, want %v", c.pool, got, c.want)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				// One prefix already free fails the call, and leaves
				// nothing of it behind.
				again := []registry.FreePrefix{{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp("40.64.0.128/25")}, fs[len(fs)-1]}
				err = f.s.Update(ctx, func(tx registry.Tx) error { return tx.(registry.FreeAdder).AddFrees(ctx, again) })
				if !errors.Is(err, registry.ErrExists) {
					t.Errorf("AddFrees of a free prefix: %v, want ErrExists", err)
				}
				if err := f.s.View(ctx, func(tx registry.Tx) error {
					got, err := tx.FreeOfPool(ctx, f.pool4.ID)
					if err == nil && slices.Contains(got, mp("40.64.0.128/25")) {
						t.Error("a failed AddFrees left 40.64.0.128/25 free")
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
			})
		}
	})

	run("BatchWriter: InsertAssignments and AppendEvents store what one call each would", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.BatchWriter); return ok }), func(t *testing.T) {
		f := setup(t, open)
		var as []registry.Assignment
		for i := range 3 {
			as = append(as, registry.Assignment{Prefix: mp(fmt.Sprintf("40.64.0.%d/32", i)), PoolID: f.pool4.ID, Pool: f.pool4.Prefix,
				RegionID: f.region.ID, Region: f.region.Name, Tenant: "t", Resource: "r", State: registry.StateAssigned, CreatedAt: t0})
		}
		es := make([]registry.Event, 3)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			bw := tx.(registry.BatchWriter)
			if err := bw.InsertAssignments(ctx, as); err != nil {
				return err
			}
			for i, a := range as {
				es[i] = registry.Event{At: t0, Actor: "test", Action: "assignment.allocate", SubjectKind: "assignment", SubjectID: a.ID, Subject: a.Prefix.String()}
			}
			return bw.AppendEvents(ctx, es)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			for i, a := range as {
				if a.ID == 0 || (i > 0 && a.ID <= as[i-1].ID) {
					t.Errorf("assignment %d: ID %d not set in order", i, a.ID)
				}
				got, err := tx.AssignmentByID(ctx, a.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, a) {
					t.Errorf("assignment %d read back %+v, inserted %+v", a.ID, got, a)
				}
			}
			got, err := tx.Events(ctx, registry.EventFilter{})
			if err != nil {
				return err
			}
			if len(got) != len(es) {
				t.Fatalf("%d events read back, %d appended", len(got), len(es))
			}
			for i := range es {
				if es[i].Seq == 0 || got[i].Seq != es[i].Seq || got[i].Subject != es[i].Subject || got[i].SubjectID != es[i].SubjectID {
					t.Errorf("event %d read back %+v, appended %+v", i, got[i], es[i])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	run("BulkLoader: LoadAssignments stores what InsertAssignment on each would", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.BulkLoader); return ok }), func(t *testing.T) {
		f := setup(t, open)
		var as []registry.Assignment
		released := t0.Add(time.Hour)
		// Every address of the pool's /24: an assignment lies in its pool
		// (a store refuses one outside it: 00086, 00069).
		for i := range 256 {
			a := registry.Assignment{Prefix: mp(fmt.Sprintf("40.64.0.%d/32", i)), PoolID: f.pool4.ID, Pool: f.pool4.Prefix,
				RegionID: f.region.ID, Region: f.region.Name, Tenant: fmt.Sprint("t", i%3), Resource: fmt.Sprint("r", i), Name: fmt.Sprintf("h%d.example", i),
				State: registry.StateAssigned, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
			if i%7 == 0 {
				a.State, a.ReleasedAt = registry.StateReleased, &released
			}
			as = append(as, a)
		}
		err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.(registry.BulkLoader).LoadAssignments(ctx, as) })
		if err != nil {
			t.Fatal(err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			for i, a := range as {
				if a.ID == 0 || (i > 0 && a.ID <= as[i-1].ID) {
					t.Errorf("assignment %d: ID %d not set in order", i, a.ID)
				}
				got, err := tx.AssignmentByID(ctx, a.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, a) {
					t.Errorf("assignment %d read back %+v, loaded %+v", a.ID, got, a)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Overlap with a live assignment is refused as InsertAssignment refuses it.
		dup := []registry.Assignment{as[1]}
		dup[0].ID = 0
		err = f.s.Update(ctx, func(tx registry.Tx) error { return tx.(registry.BulkLoader).LoadAssignments(ctx, dup) })
		if !errors.Is(err, registry.ErrOverlap) {
			t.Errorf("loading a live assignment twice: %v, want ErrOverlap", err)
		}
	})

	run("IndexDeferrer: a load into an empty register whose row lies outside its pool is refused, and leaves nothing", has(probe.s, func(tx registry.Tx) bool {
		_, d := tx.(registry.IndexDeferrer)
		_, b := tx.(registry.BulkLoader)
		return d && b
	}), func(t *testing.T) {
		// The pool rule's trigger (PostgreSQL 00086, SQLite 00069) is set
		// aside for the load with the indexes: RestoreIndexes checks every
		// row at once.
		f := setup(t, open)
		before := tables(t, f.s)
		for _, c := range []struct {
			name string
			a    registry.Assignment
		}{
			{"outside its pool's prefix", registry.Assignment{Prefix: mp("40.64.1.0/32"), PoolID: f.pool4.ID, Pool: f.pool4.Prefix}},
			{"in the other family's pool", registry.Assignment{Prefix: mp("40.64.0.9/32"), PoolID: f.pool6.ID, Pool: f.pool6.Prefix}},
		} {
			t.Run(c.name, func(t *testing.T) {
				good := registry.Assignment{Prefix: mp("40.64.0.8/32"), PoolID: f.pool4.ID, Pool: f.pool4.Prefix}
				as := []registry.Assignment{good, c.a}
				for i := range as {
					as[i].RegionID, as[i].Region, as[i].State, as[i].CreatedAt = f.region.ID, f.region.Name, registry.StateAssigned, t0
				}
				err := f.s.Update(ctx, func(tx registry.Tx) error {
					d := tx.(registry.IndexDeferrer)
					if deferred, err := d.DeferIndexes(ctx); err != nil || !deferred {
						return fmt.Errorf("defer indexes: %v, %w", deferred, err)
					}
					if err := tx.(registry.BulkLoader).LoadAssignments(ctx, as); err != nil {
						return err
					}
					return d.RestoreIndexes(ctx)
				})
				refused(t, f.s, before, err, registry.ErrState, c.a.Prefix.String())
			})
		}
	})

	run("LiveLister: LivePrefixes pages through a pool's live assignments in address order", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.LiveLister); return ok }), func(t *testing.T) {
		f := setup(t, open)
		released := t0.Add(time.Hour)
		var want []netip.Prefix
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			// Inserted out of address order; one in seven released.
			for i := range 50 {
				k := (i * 37) % 50
				a := registry.Assignment{Prefix: mp(fmt.Sprintf("40.64.0.%d/32", 2*k)), PoolID: f.pool4.ID, Pool: f.pool4.Prefix,
					RegionID: f.region.ID, Region: f.region.Name, State: registry.StateAssigned, CreatedAt: t0}
				if i%7 == 0 {
					a.State, a.ReleasedAt = registry.StateReleased, &released
				} else {
					want = append(want, a.Prefix)
				}
				if err := tx.InsertAssignment(ctx, &a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(want, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		var got []netip.Prefix
		err = f.s.View(ctx, func(tx registry.Tx) error {
			from := f.pool4.Prefix.Addr()
			for {
				ps, err := tx.(registry.LiveLister).LivePrefixes(ctx, f.pool4.ID, f.pool4.Prefix, from, 4)
				if err != nil {
					return err
				}
				got = append(got, ps...)
				if len(ps) < 4 {
					return nil
				}
				from = ps[len(ps)-1].Addr().Next()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("live prefixes %v, want %v", got, want)
		}
	})

	run("EventLoader: LoadEvents appends what AppendEvent on each would, in order", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.EventLoader); return ok }), func(t *testing.T) {
		f := setup(t, open)
		var es []registry.Event
		for i := range 300 {
			e := registry.Event{At: t0.Add(time.Duration(i%5) * time.Second), Actor: fmt.Sprint("a", i%2), Action: "assignment.import", SubjectKind: "assignment",
				SubjectID: int64(i + 1), Subject: fmt.Sprintf("40.64.%d.%d/32", i/256, i%256), After: []byte(fmt.Sprintf(`{"n":%d}`, i))}
			if i%3 == 0 {
				e.Before = []byte(`{"old":true}`)
			}
			es = append(es, e)
		}
		if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.(registry.EventLoader).LoadEvents(ctx, es) }); err != nil {
			t.Fatal(err)
		}
		err := f.s.View(ctx, func(tx registry.Tx) error {
			got, err := tx.Events(ctx, registry.EventFilter{})
			if err != nil {
				return err
			}
			if len(got) != len(es) {
				t.Fatalf("%d events read back, %d loaded", len(got), len(es))
			}
			for i := range es {
				g, e := got[i], es[i]
				if e.Seq == 0 || (i > 0 && e.Seq <= es[i-1].Seq) || g.Seq != e.Seq || !g.At.Equal(e.At) || g.Actor != e.Actor || g.Subject != e.Subject ||
					g.SubjectID != e.SubjectID || string(g.After) != string(e.After) || string(g.Before) != string(e.Before) {
					t.Errorf("event %d read back %+v, loaded %+v", i, g, e)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	run("SpanLister: PoolSpans lists what Pools does", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.SpanLister); return ok }), func(t *testing.T) {
		f := setup(t, open)
		err := f.s.View(ctx, func(tx registry.Tx) error {
			pools, err := tx.Pools(ctx, registry.PoolFilter{})
			if err != nil {
				return err
			}
			spans, err := tx.(registry.SpanLister).PoolSpans(ctx)
			if err != nil {
				return err
			}
			want := make([]registry.PoolSpan, len(pools))
			for i, p := range pools {
				want[i] = registry.PoolSpan{ID: p.ID, Prefix: p.Prefix, RegionID: p.RegionID, BlockID: p.BlockID}
				if p.Relocation != nil {
					want[i].RelocationID = p.Relocation.ID
				}
			}
			if !reflect.DeepEqual(spans, want) {
				t.Errorf("PoolSpans = %+v, Pools say %+v", spans, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	_, pager := probe.s.(registry.AssignmentPager)
	run("AssignmentPager: AssignmentPage answers as View with the region by name, the page and its tags", pager, func(t *testing.T) {
		f := setup(t, open)
		pageOfAssignments(t, f)
	})

	run("IdempotencyAssumer: a key assumed absent but recorded meanwhile is a conflict that runs fn again", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.IdempotencyAssumer); return ok }), func(t *testing.T) {
		f := setup(t, open)
		rec := registry.Idempotent{Tenant: "acme", Key: "k", RequestHash: "h", AssignmentIDs: []int64{}, CreatedAt: t0}
		if err := f.s.Update(ctx, func(tx registry.Tx) error { return tx.PutIdempotent(ctx, rec) }); err != nil {
			t.Fatal(err)
		}
		var errs []error
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			if len(errs) == 0 {
				tx.(registry.IdempotencyAssumer).AssumeAbsent("acme", "k")
				err := tx.PutIdempotent(ctx, rec)
				errs = append(errs, err)
				return err
			}
			_, found, err := tx.Idempotent(ctx, "acme", "k")
			errs = append(errs, err)
			if err == nil && !found {
				err = errors.New("the recorded key is not found")
			}
			return err
		})
		if err != nil || len(errs) != 2 || !errors.Is(errs[0], registry.ErrConflict) {
			t.Fatalf("Update = %v after runs %v; want a first run failing with ErrConflict and a second finding the key", err, errs)
		}
		// Without the assumption the same put is the key's ErrExists.
		err = f.s.Update(ctx, func(tx registry.Tx) error { return tx.PutIdempotent(ctx, rec) })
		if !errors.Is(err, registry.ErrExists) {
			t.Fatalf("putting a recorded key: %v, want ErrExists", err)
		}
	})

	run("WriteDeferrer: deferred writes all land, and a failing one fails the transaction", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.WriteDeferrer); return ok }), func(t *testing.T) {
		f := setup(t, open)
		a := registry.Assignment{Prefix: mp("40.64.0.8/29"), PoolID: f.pool4.ID, Pool: f.pool4.Prefix, RegionID: f.region.ID, Region: f.region.Name,
			State: registry.StateAssigned, CreatedAt: t0}
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			tx.(registry.WriteDeferrer).DeferWrites()
			if err := tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: f.pool4.ID, Prefix: mp("40.64.0.128/25")}); err != nil {
				return err
			}
			if err := tx.InsertAssignment(ctx, &a); err != nil {
				return err
			}
			if a.ID == 0 {
				t.Error("a deferred InsertAssignment left the ID unset")
			}
			if err := tx.AppendEvent(ctx, &registry.Event{At: t0, Actor: "test", Action: "assignment.allocate", SubjectKind: "assignment", SubjectID: a.ID, Subject: a.Prefix.String()}); err != nil {
				return err
			}
			return tx.PutIdempotent(ctx, registry.Idempotent{Tenant: "acme", Key: "deferred", RequestHash: "h", AssignmentIDs: []int64{a.ID}, CreatedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			if got, err := tx.AssignmentByID(ctx, a.ID); err != nil || got.Prefix != a.Prefix {
				t.Errorf("deferred assignment read back %+v, %v", got, err)
			}
			if free, err := tx.FreeOfPool(ctx, f.pool4.ID); err != nil || !slices.Equal(free, []netip.Prefix{mp("40.64.0.128/25")}) {
				t.Errorf("deferred free space read back %v, %v", free, err)
			}
			if es, err := tx.Events(ctx, registry.EventFilter{}); err != nil || len(es) != 1 || es[0].SubjectID != a.ID {
				t.Errorf("deferred event read back %+v, %v", es, err)
			}
			if r, ok, err := tx.Idempotent(ctx, "acme", "deferred"); err != nil || !ok || !slices.Equal(r.AssignmentIDs, []int64{a.ID}) {
				t.Errorf("deferred idempotency record read back %+v, %v, %v", r, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// A deferred write the database refuses (an overlapping live
		// assignment) fails the Update, and nothing of it stays.
		err = f.s.Update(ctx, func(tx registry.Tx) error {
			if err := tx.InsertRegion(ctx, &registry.Region{Name: "deferred-x", BorrowBits: 24, CreatedAt: t0}); err != nil {
				return err
			}
			tx.(registry.WriteDeferrer).DeferWrites()
			b := registry.Assignment{Prefix: mp("40.64.0.8/30"), PoolID: f.pool4.ID, State: registry.StateAssigned, CreatedAt: t0}
			return tx.InsertAssignment(ctx, &b)
		})
		if !errors.Is(err, registry.ErrOverlap) {
			t.Fatalf("a deferred overlapping assignment: Update = %v, want ErrOverlap", err)
		}
		if err := f.s.View(ctx, func(tx registry.Tx) error {
			_, err := tx.RegionByName(ctx, "deferred-x")
			return err
		}); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("a failed deferred transaction left its other writes: %v", err)
		}
	})
	run("NameLocker: NameHolder answers as without it, and another transaction checking a name waits until the locker ends", has(probe.s, func(tx registry.Tx) bool { _, ok := tx.(registry.NameLocker); return ok }), func(t *testing.T) {
		f := setup(t, open)
		if err := f.s.Update(ctx, func(tx registry.Tx) error {
			a := registry.Assignment{Prefix: mp("40.64.0.9/32"), PoolID: f.pool4.ID, State: registry.StateAssigned, Tenant: "a", Name: "held.example", CreatedAt: t0}
			return tx.InsertAssignment(ctx, &a)
		}); err != nil {
			t.Fatal(err)
		}
		locked, release := make(chan struct{}), make(chan struct{})
		lockerDone := make(chan error, 1)
		var once bool
		go func() {
			lockerDone <- f.s.Update(ctx, func(tx registry.Tx) error {
				if err := tx.(registry.NameLocker).LockAllNames(ctx); err != nil {
					return err
				}
				for _, c := range []struct {
					fqdn string
					held bool
				}{{"held.example.", true}, {"free.example.", false}} {
					kind, held, err := tx.NameHolder(ctx, c.fqdn, "b")
					if err != nil {
						return err
					}
					if held != c.held || (held && kind != registry.HolderAssignment) {
						return fmt.Errorf("under LockAllNames, NameHolder(%s, b) = %q, %v; want held %v", c.fqdn, kind, held, c.held)
					}
				}
				a := registry.Assignment{Prefix: mp("40.64.0.10/32"), PoolID: f.pool4.ID, State: registry.StateAssigned, Tenant: "a", Name: "loaded.example", CreatedAt: t0}
				if err := tx.InsertAssignment(ctx, &a); err != nil {
					return err
				}
				if !once { // a conflict may run fn again
					once = true
					close(locked)
					<-release
				}
				return nil
			})
		}()
		select {
		case <-locked:
		case err := <-lockerDone:
			t.Fatalf("the locking transaction ended early: %v", err)
		}
		checked := make(chan error, 1)
		go func() {
			checked <- f.s.Update(ctx, func(tx registry.Tx) error {
				_, held, err := tx.NameHolder(ctx, "loaded.example.", "b")
				if err == nil && !held {
					err = errors.New("NameHolder(loaded.example., b) found the name free")
				}
				return err
			})
		}()
		select {
		case err := <-checked:
			close(release)
			t.Fatalf("a name was checked (%v) while another transaction held every name", err)
		case <-time.After(300 * time.Millisecond):
		}
		close(release)
		if err := <-lockerDone; err != nil {
			t.Fatal(err)
		}
		if err := <-checked; err != nil {
			t.Fatalf("after the locker committed: %v", err)
		}
	})
}

// pageOfAssignments checks AssignmentPage against Registry.Assignments'
// plain path (View: the region by name, tx.Assignments, TagsOf) on f's
// register with assignments of each state, family and pool kind (one a
// relocated pool's), tagged and not, for the API's kinds of page.
func pageOfAssignments(t *testing.T, f fixture) {
	ctx := context.Background()
	p := f.s.(registry.AssignmentPager)
	tenant := "t1"
	err := f.s.Update(ctx, func(tx registry.Tx) error {
		lender := registry.Region{Name: "us-west", BorrowBits: 24, CreatedAt: t0}
		if err := tx.InsertRegion(ctx, &lender); err != nil {
			return err
		}
		from := registry.Pool{Prefix: mp("40.64.1.0/24"), BlockID: f.block4.ID, RegionID: lender.ID, CreatedAt: t0}
		if err := tx.InsertPool(ctx, &from); err != nil {
			return err
		}
		if err := tx.InsertRegion(ctx, &registry.Region{Name: "empty", BorrowBits: 24, CreatedAt: t0}); err != nil {
			return err
		}
		rel := registry.Relocation{Prefix: mp("40.64.1.128/25"), FromPoolID: from.ID, FromRegion: lender.Name, ToRegion: f.region.Name, Reason: "test", CreatedAt: t0}
		if err := tx.InsertRelocation(ctx, &rel); err != nil {
			return err
		}
		borrowed := registry.Pool{Prefix: rel.Prefix, BlockID: f.block4.ID, RegionID: f.region.ID, ParentID: from.ID, UseAll: true, CreatedAt: t0,
			Relocation: &registry.RelocationRef{ID: rel.ID, Prefix: rel.Prefix, FromRegion: lender.Name, ToRegion: f.region.Name}}
		if err := tx.InsertPool(ctx, &borrowed); err != nil {
			return err
		}
		type row struct {
			pool   registry.Pool
			prefix string
			state  registry.State
			tenant string
			tags   registry.Tags
		}
		for i, r := range []row{
			{f.pool4, "40.64.0.1/32", registry.StateAssigned, tenant, registry.Tags{"env": "prod", "team": "a"}},
			{f.pool6, "2603:1030::/64", registry.StateAssigned, tenant, registry.Tags{"k:9": "12:x=y", "e": "", "ünï": "çødé 3:"}},
			{f.pool4, "40.64.0.2/32", registry.StateReleased, "t2", registry.Tags{"env": "prod"}},
			{f.pool4, "40.64.0.4/30", registry.StateQuarantined, tenant, nil},
			{borrowed, "40.64.1.128/32", registry.StateAssigned, "t2", registry.Tags{"env": "prod"}},
			{f.pool6, "2603:1030:0:1::/64", registry.StateQuarantined, "t2", registry.Tags{"env": "dev"}},
			{f.pool4, "40.64.0.8/32", registry.StateAssigned, "", nil},
			{from, "40.64.1.1/32", registry.StateAssigned, tenant, registry.Tags{"env": "prod"}},
		} {
			a := registry.Assignment{Prefix: mp(r.prefix), PoolID: r.pool.ID, State: r.state, Tenant: r.tenant, Resource: fmt.Sprintf("vm-%d", i),
				Name: fmt.Sprintf("h%d.example.", i), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
			if r.state != registry.StateAssigned {
				at := t0.Add(time.Hour)
				a.ReleasedAt = &at
				if r.state == registry.StateQuarantined {
					until := at.Add(24 * time.Hour)
					a.QuarantineUntil = &until
				}
			}
			if err := tx.InsertAssignment(ctx, &a); err != nil {
				return fmt.Errorf("%s: %w", r.prefix, err)
			}
			if r.tags != nil {
				if err := tx.SetTags(ctx, registry.KindAssignment, a.ID, r.tags); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := func(flt registry.AssignmentFilter) (out []registry.Assignment, err error) {
		err = f.s.View(ctx, func(tx registry.Tx) error {
			if flt.Region != "" {
				g, err := tx.RegionByName(ctx, flt.Region)
				if err != nil {
					return err
				}
				flt.RegionID = g.ID
			}
			if out, err = tx.Assignments(ctx, flt); err != nil || len(out) == 0 {
				return err
			}
			ids := make([]int64, len(out))
			for i, a := range out {
				ids[i] = a.ID
			}
			tags, err := tx.TagsOf(ctx, registry.KindAssignment, ids)
			for i := range out {
				out[i].Tags = tags[out[i].ID]
			}
			return err
		})
		return out, err
	}
	past := []registry.State{registry.StateQuarantined, registry.StateReleased}
	for _, c := range []struct {
		name string
		f    registry.AssignmentFilter
	}{
		{"every assignment", registry.AssignmentFilter{}},
		{"a page of 3 after a cursor", registry.AssignmentFilter{AfterID: 1, Limit: 3}},
		{"a region by name", registry.AssignmentFilter{Region: "us-east", Limit: 100}},
		{"a region by name, IPv4 assigned", registry.AssignmentFilter{Region: "us-east", Family: 4, States: []registry.State{registry.StateAssigned}, Limit: 100}},
		{"a region by name, its past", registry.AssignmentFilter{Region: "us-east", States: past, Limit: 100}},
		{"a region by name and a tenant", registry.AssignmentFilter{Region: "us-east", Tenant: &tenant, Limit: 100}},
		{"a region by ID", registry.AssignmentFilter{RegionID: f.region.ID, Limit: 2}},
		{"a region with no assignment", registry.AssignmentFilter{Region: "empty", Limit: 100}},
		{"a region that is not", registry.AssignmentFilter{Region: "nowhere", Limit: 100}},
		{"a tag in a region that is not", registry.AssignmentFilter{Region: "nowhere", Tags: registry.Tags{"env": "prod"}, Limit: 100}},
		{"a tag", registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, Limit: 100}},
		{"two tags", registry.AssignmentFilter{Tags: registry.Tags{"env": "prod", "team": "a"}, Limit: 100}},
		{"a tag in a region by name", registry.AssignmentFilter{Region: "us-east", Tags: registry.Tags{"env": "prod"}, Limit: 100}},
		{"a tag no assignment carries", registry.AssignmentFilter{Tags: registry.Tags{"env": "none"}, Limit: 100}},
		{"a tenant's past", registry.AssignmentFilter{Tenant: &tenant, States: past, Limit: 100}},
		{"quarantined", registry.AssignmentFilter{States: past[:1], Limit: 100}},
		{"holding an address", registry.AssignmentFilter{Contains: mp("40.64.0.5/32"), Limit: 10}},
		{"within a prefix", registry.AssignmentFilter{Within: mp("40.64.1.0/24"), Limit: 10}},
		{"a name", registry.AssignmentFilter{Name: "h0.example.", Limit: 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, werr := plain(c.f)
			got, err := p.AssignmentPage(ctx, c.f)
			if (err == nil) != (werr == nil) || err != nil && (err.Error() != werr.Error() || errors.Is(err, registry.ErrNotFound) != errors.Is(werr, registry.ErrNotFound)) {
				t.Fatalf("AssignmentPage: error %v, View: %v", err, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("AssignmentPage = %+v\nView gives     %+v", got, want)
			}
			if werr == nil && len(want) == 0 && !strings.Contains(c.name, "no ") {
				t.Errorf("the page is empty: the case tests nothing")
			}
			if c.name == "every assignment" && !slices.ContainsFunc(got, func(a registry.Assignment) bool { return a.Borrowed && len(a.Tags) > 0 }) {
				t.Errorf("no tagged assignment of a relocated pool among %+v", got)
			}
		})
	}
}
