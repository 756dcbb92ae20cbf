package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// CheckCounters verifies that what a store answers from counters it keeps
// on write (Usage, CreatedSince: issue 16) is what a count of every
// assignment row gives: per pool (dissolved child pools too), state and
// length, the live assignments and those whose quarantine ended by now;
// and the assignments made since each of several instants (each
// assignment's own creation time among them, so that a window starting
// in the middle of a day is counted exactly).
func CheckCounters(t testing.TB, ctx context.Context, st registry.Store, now time.Time) {
	t.Helper()
	if err := st.View(ctx, func(tx registry.Tx) error {
		return checkCounters(ctx, tx, now)
	}); err != nil {
		t.Fatalf("counters: %v", err)
	}
}

type usageKey struct {
	pool  int64
	state registry.State
	bits  int
}

func checkCounters(ctx context.Context, tx registry.Tx, now time.Time) error {
	pools, err := tx.Pools(ctx, registry.PoolFilter{})
	if err != nil {
		return err
	}
	all, err := tx.Assignments(ctx, registry.AssignmentFilter{})
	if err != nil {
		return err
	}
	ids := make([]int64, 0, len(pools))
	for _, p := range pools {
		ids = append(ids, p.ID)
	}
	want := map[usageKey]registry.Usage{}
	for _, a := range all {
		if a.State == registry.StateReleased {
			continue
		}
		k := usageKey{a.PoolID, a.State, a.Prefix.Bits()}
		u := want[k]
		u.PoolID, u.State, u.Bits = k.pool, k.state, k.bits
		u.Count++
		if a.State == registry.StateQuarantined && a.QuarantineUntil != nil && !a.QuarantineUntil.After(now) {
			u.Expired++
		}
		want[k] = u
	}
	rows, err := tx.Usage(ctx, ids, now)
	if err != nil {
		return err
	}
	got := map[usageKey]registry.Usage{}
	for _, u := range rows {
		k := usageKey{u.PoolID, u.State, u.Bits}
		if _, dup := got[k]; dup {
			return fmt.Errorf("the store's Usage gives pool %d %s /%d twice", u.PoolID, u.State, u.Bits)
		}
		if u.Count != 0 {
			got[k] = u
		}
	}
	if !maps.Equal(got, want) {
		return fmt.Errorf("the store's Usage at %s:\n got  %s\n want %s (a count of the rows)", now.Format(time.RFC3339), usageText(got), usageText(want))
	}
	// The rate's window: at each pool alone and at every pool together.
	sinces := []time.Time{now.Add(-registry.RateWindow), now.Add(-time.Hour), now, now.Truncate(24 * time.Hour)}
	for i, a := range all {
		if i%max(1, len(all)/8) == 0 {
			sinces = append(sinces, a.CreatedAt, a.CreatedAt.Add(time.Microsecond), a.CreatedAt.Truncate(24*time.Hour))
		}
	}
	for _, since := range sinces {
		for _, sel := range append([][]int64{ids}, splitIDs(ids)...) {
			in := map[int64]bool{}
			for _, id := range sel {
				in[id] = true
			}
			// Whole UTC days, from since's (Tx.CreatedSince).
			want := map[int]int64{}
			for _, a := range all {
				if in[a.PoolID] && !a.CreatedAt.Before(since.UTC().Truncate(24*time.Hour)) {
					want[a.Prefix.Bits()]++
				}
			}
			got, err := tx.CreatedSince(ctx, sel, since)
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("CreatedSince(pools %v, %s) = %v, a count of the rows gives %v", sel, since.Format(time.RFC3339Nano), got, want)
			}
		}
	}
	return nil
}

// splitIDs is each ID alone (the first few).
func splitIDs(ids []int64) [][]int64 {
	var out [][]int64
	for _, id := range ids[:min(len(ids), 4)] {
		out = append(out, []int64{id})
	}
	return out
}

func usageText(m map[usageKey]registry.Usage) string {
	var parts []string
	for _, k := range slices.SortedFunc(maps.Keys(m), func(a, b usageKey) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	}) {
		u := m[k]
		parts = append(parts, fmt.Sprintf("pool %d %s /%d: %d (%d expired)", k.pool, k.state, k.bits, u.Count, u.Expired))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// Counters is the conformance test of a store's counters where the
// registry's own operations do not reach: jobs of a group commit that fail
// after their writes, a transaction reading its own changes, a pool
// deleted with changes not yet stored. Every registry operation (allocate,
// release, quarantine and reap, reserve, carve and dissolve a child pool,
// relocation, failed requests) is checked against a recount at each step
// of Model, and the cloud register and its import in Cloud, through
// CheckInvariants.
func Counters(t *testing.T, open Open) {
	ctx := context.Background()

	t.Run("a failed job of a group commit takes its counts back with its savepoint", func(t *testing.T) {
		f := setup(t, open)
		now := t0.Add(40 * 24 * time.Hour)
		errNo := errors.New("this job fails after its writes")
		var next, mu = 0, sync.Mutex{}
		addr := func() netip.Prefix {
			mu.Lock()
			defer mu.Unlock()
			next++
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{40, 64, 0, byte(next)}), 32)
		}
		rng := rand.New(rand.NewPCG(7, 7))
		kinds := make([]int, 96)
		for i := range kinds {
			kinds[i] = rng.IntN(4)
		}
		var wg sync.WaitGroup
		for i, kind := range kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := addr()
				created := now.Add(-time.Duration(i) * 7 * time.Hour) // several days
				err := f.s.Update(ctx, func(tx registry.Tx) error {
					a := registry.Assignment{Prefix: p, PoolID: f.pool4.ID, Tenant: "t", State: registry.StateAssigned, CreatedAt: created}
					if err := tx.InsertAssignment(ctx, &a); err != nil {
						return err
					}
					if kind >= 2 {
						until := now.Add(time.Duration(i-48) * time.Minute) // half of them ended by now
						a.State, a.QuarantineUntil, a.ReleasedAt = registry.StateQuarantined, &until, &now
						if err := tx.UpdateAssignment(ctx, a); err != nil {
							return err
						}
					}
					if kind == 3 {
						a.State, a.QuarantineUntil = registry.StateReleased, nil
						if err := tx.UpdateAssignment(ctx, a); err != nil {
							return err
						}
					}
					if kind == 1 || i%5 == 0 {
						return errNo
					}
					return nil
				})
				if err != nil && !errors.Is(err, errNo) {
					t.Errorf("job %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		CheckCounters(t, ctx, f.s, now)
		// A view that reads the counters inside a write transaction sees
		// the transaction's own changes.
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			before, err := tx.Usage(ctx, []int64{f.pool4.ID}, now)
			if err != nil {
				return err
			}
			a := registry.Assignment{Prefix: mp("40.64.0.200/32"), PoolID: f.pool4.ID, Tenant: "t", State: registry.StateAssigned, CreatedAt: now}
			if err := tx.InsertAssignment(ctx, &a); err != nil {
				return err
			}
			if err := checkCounters(ctx, tx, now); err != nil {
				return err
			}
			after, err := tx.Usage(ctx, []int64{f.pool4.ID}, now)
			if err != nil {
				return err
			}
			if assigned(after) != assigned(before)+1 {
				t.Errorf("in the transaction, assigned went from %d to %d after one insert", assigned(before), assigned(after))
			}
			return errNo
		})
		if !errors.Is(err, errNo) {
			t.Fatal(err)
		}
		CheckCounters(t, ctx, f.s, now)
	})

	t.Run("a deleted pool takes its counters with it", func(t *testing.T) {
		f := setup(t, open)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			p := registry.Pool{Prefix: mp("40.64.9.0/24"), BlockID: f.block4.ID, RegionID: f.region.ID, CreatedAt: t0}
			if err := tx.InsertPool(ctx, &p); err != nil {
				return err
			}
			a := registry.Assignment{Prefix: mp("40.64.9.1/32"), PoolID: p.ID, State: registry.StateAssigned, CreatedAt: t0}
			if err := tx.InsertAssignment(ctx, &a); err != nil {
				return err
			}
			a.State = registry.StateReleased
			if err := tx.UpdateAssignment(ctx, a); err != nil {
				return err
			}
			return tx.DeletePool(ctx, p.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		CheckCounters(t, ctx, f.s, t0)
	})
}

func assigned(us []registry.Usage) int64 {
	var n int64
	for _, u := range us {
		if u.State == registry.StateAssigned {
			n += u.Count
		}
	}
	return n
}

// CountersMigration: a register made before the counters existed (a cloud
// register: every state, child pools, relocations, 90 days of history)
// gets them counted by the migration that makes them. before takes the
// store's database back to that state (the counters' table gone, the
// migrations after it applied, as a build from before them left it);
// open opens the same database again, migrating it.
func CountersMigration(t *testing.T, open Open, before func(t *testing.T)) {
	ctx := registry.WithActor(context.Background(), "test")
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	st := open(t)
	if _, err := demo.Cloud(ctx, st, now, demo.CloudOptions{Assignments: 600, Seed: 3, ChildPools: 1}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before(t)
	st = open(t)
	defer st.Close()
	for _, at := range []time.Time{now, now.Add(-36 * time.Hour), now.Add(72 * time.Hour)} {
		CheckCounters(t, ctx, st, at)
	}
	// And kept from there on.
	reg := registry.New(st, registry.WithClock(func() time.Time { return now }))
	got, err := reg.Allocate(ctx, registry.Request{Region: "us-west", Family: 4, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Release(ctx, registry.Target{ID: got[0].ID}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	CheckInvariants(t, ctx, st, reg, now)
}
