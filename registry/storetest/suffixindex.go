package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// randomSuffix is a suffix of one to three labels from a few, so that
// random tenants overlap often (equal, above, below) and look alike
// without overlapping ("ab." beside "b."); one in twelve is ".".
func randomSuffix(rng *rand.Rand) string {
	if rng.IntN(12) == 0 {
		return "."
	}
	labels := []string{"a", "b", "ab", "x-a", "ba"}
	n := 1 + rng.IntN(3)
	var s []string
	for range n {
		s = append(s, labels[rng.IntN(len(labels))])
	}
	return strings.Join(s, ".") + "."
}

// bruteOverlaps is every tenant of all other than t whose suffixes
// overlap t's, by name: the definition, one pair at a time.
func bruteOverlaps(t registry.Tenant, all []registry.Tenant) []string {
	var out []string
	for _, o := range all {
		if o.ID != t.ID && slices.ContainsFunc(t.Names, func(a string) bool {
			return slices.ContainsFunc(o.Names, func(b string) bool { return registry.SuffixesOverlap(a, b) })
		}) {
			out = append(out, o.Name)
		}
	}
	slices.Sort(out)
	return out
}

// checkListedOverlaps compares one tenant's flags with the brute-force
// answer: all of them when they are few, else MaxListedOverlaps of them
// and OverlapsMore.
func checkListedOverlaps(t *testing.T, where string, got registry.Tenant, want []string) {
	t.Helper()
	if len(want) <= registry.MaxListedOverlaps {
		if !slices.Equal(got.Overlaps, want) || got.OverlapsMore {
			t.Errorf("%s: tenant %s %v: overlaps %v (more %v), want %v", where, got.Name, got.Names, got.Overlaps, got.OverlapsMore, want)
		}
		return
	}
	if len(got.Overlaps) != registry.MaxListedOverlaps || !got.OverlapsMore || !slices.IsSorted(got.Overlaps) ||
		slices.ContainsFunc(got.Overlaps, func(n string) bool { _, ok := slices.BinarySearch(want, n); return !ok }) {
		t.Errorf("%s: tenant %s: overlaps %v (more %v), want %d of %v and more", where, got.Name, got.Overlaps, got.OverlapsMore, registry.MaxListedOverlaps, want)
	}
}

// SuffixIndex checks the store's index of tenants' suffixes
// (TenantTx.SuffixHolders) against the tenants as read: for the key of
// every suffix held and of a few more, the holders read a few at a time
// are exactly the brute-force list of the suffixes that overlap it, in
// (key, tenant ID) order. A store's migration test calls it on a register
// whose index the migration built.
func SuffixIndex(t *testing.T, s registry.Store) {
	t.Helper()
	ctx := context.Background()
	var all []registry.Tenant
	if err := s.View(ctx, func(tx registry.Tx) (err error) { all, err = tx.Tenants(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{".": true, registry.SuffixKey("zz.a."): true, registry.SuffixKey("a.a.a.a."): true}
	for _, x := range all {
		for _, n := range x.Names {
			keys[registry.SuffixKey(n)] = true
		}
	}
	for key := range keys {
		var want []registry.SuffixHolder
		for _, x := range all {
			for _, n := range x.Names {
				if registry.SuffixesOverlap(n, registry.SuffixOfKey(key)) {
					want = append(want, registry.SuffixHolder{Key: registry.SuffixKey(n), TenantID: x.ID, Tenant: x.Name})
				}
			}
		}
		slices.SortFunc(want, func(a, b registry.SuffixHolder) int {
			if c := strings.Compare(a.Key, b.Key); c != 0 {
				return c
			}
			return int(a.TenantID - b.TenantID)
		})
		for _, limit := range []int{1, 3, 1000} {
			var got []registry.SuffixHolder
			var after registry.SuffixHolder
			err := s.View(ctx, func(tx registry.Tx) error {
				for {
					page, err := tx.SuffixHolders(ctx, key, after, limit)
					if err != nil {
						return err
					}
					if len(page) > limit {
						return fmt.Errorf("%d holders, limit %d", len(page), limit)
					}
					got = append(got, page...)
					if len(page) < limit {
						return nil
					}
					after = page[len(page)-1]
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("holders of %s (%q) by %d: %v, want %v", registry.SuffixOfKey(key), key, limit, got, want)
			}
		}
	}
}

// runSuffixIndex: a tenant's overlaps (Tenant, Tenants, SuffixOverlaps)
// and the refusal of a new overlapping suffix, from the store's index,
// equal the brute-force answers over random tenants, as they are added,
// changed and removed.
func runSuffixIndex(t *testing.T, open Open) {
	ctx := context.Background()
	t.Run("tenants' overlaps from the suffix index equal the brute-force answer", func(t *testing.T) {
		f := setup(t, open)
		reg := registry.New(f.s)
		rng := rand.New(rand.NewPCG(16, 34))
		// Tenants made as an upgrade or a kept import leaves them:
		// overlapping, flagged.
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for i := range 60 {
				var names []string
				for range rng.IntN(4) {
					if n := randomSuffix(rng); !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
				slices.Sort(names)
				if names == nil {
					names = []string{}
				}
				if err := tx.InsertTenant(ctx, &registry.Tenant{Name: fmt.Sprintf("t%02d", i), Names: names, CreatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, round string) {
			t.Helper()
			var all []registry.Tenant
			if err := f.s.View(ctx, func(tx registry.Tx) (err error) { all, err = tx.Tenants(ctx); return err }); err != nil {
				t.Fatal(err)
			}
			SuffixIndex(t, f.s)
			list, err := reg.Tenants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var pairs [][2]string
			for i, x := range all {
				want := bruteOverlaps(x, all)
				for _, o := range want {
					if o > x.Name {
						pairs = append(pairs, [2]string{x.Name, o})
					}
				}
				one, err := reg.Tenant(ctx, x.Name)
				if err != nil {
					t.Fatal(err)
				}
				checkListedOverlaps(t, round+", Tenant", one, want)
				checkListedOverlaps(t, round+", Tenants", list[i], want)
			}
			got, err := reg.SuffixOverlaps(ctx, 0)
			if err != nil || !slices.Equal(got, pairs) {
				t.Errorf("%s: SuffixOverlaps = %v (%v), want %v", round, got, err, pairs)
			}
			if len(pairs) > 3 {
				if got, err := reg.SuffixOverlaps(ctx, 3); err != nil || !slices.Equal(got, pairs[:3]) {
					t.Errorf("%s: SuffixOverlaps(3) = %v (%v), want %v", round, got, err, pairs[:3])
				}
			}
			// A new tenant's suffix is refused exactly when it overlaps one.
			for range 10 {
				s := randomSuffix(rng)
				var other []string
				for _, x := range all {
					if slices.ContainsFunc(x.Names, func(n string) bool { return registry.SuffixesOverlap(n, s) }) {
						other = append(other, x.Name)
					}
				}
				_, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "new", Names: &[]string{s}})
				var oe *registry.SuffixOverlapError
				switch {
				case other == nil && err != nil:
					t.Errorf("%s: new tenant with %s: %v, want it made", round, s, err)
				case other != nil && (!errors.As(err, &oe) || !slices.Contains(other, oe.OtherTenant) || !registry.SuffixesOverlap(oe.OtherSuffix, s)):
					t.Errorf("%s: new tenant with %s: %v, want an overlap with one of %v", round, s, err, other)
				}
				if err == nil {
					if err := reg.RemoveTenant(ctx, "new"); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		check(t, "as made")
		// Changed (narrowed or replaced, through the store) and removed.
		err = f.s.Update(ctx, func(tx registry.Tx) error {
			all, err := tx.Tenants(ctx)
			if err != nil {
				return err
			}
			for _, x := range all {
				switch rng.IntN(4) {
				case 0:
					x.Names = []string{randomSuffix(rng)}
					if err := tx.UpdateTenant(ctx, x); err != nil {
						return err
					}
				case 1:
					x.Names = []string{}
					if err := tx.UpdateTenant(ctx, x); err != nil {
						return err
					}
				case 2:
					if err := tx.DeleteTenant(ctx, x.ID); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "after changes")
		// Many tenants on one suffix: each lists MaxListedOverlaps.
		err = f.s.Update(ctx, func(tx registry.Tx) error {
			for i := range registry.MaxListedOverlaps + 5 {
				if err := tx.InsertTenant(ctx, &registry.Tenant{Name: fmt.Sprintf("u%02d", i), Names: []string{"shared.example."}, CreatedAt: t0.Add(time.Duration(i))}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check(t, "one suffix shared")
	})
}

// SuffixIndexMigration: migration 00034 builds the suffix index from the
// tenants' names. open opens the store (migrating it); undo takes 00034
// back (the index gone, the names kept), so the next open builds it from
// them.
func SuffixIndexMigration(t *testing.T, open func(t *testing.T) registry.Store, undo func(t *testing.T)) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(34, 16))
	s := open(t)
	err := s.Update(ctx, func(tx registry.Tx) error {
		for i := range 40 {
			names := []string{}
			for range rng.IntN(4) {
				if n := randomSuffix(rng); !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			if err := tx.InsertTenant(ctx, &registry.Tenant{Name: fmt.Sprintf("m%02d", i), Names: names, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	undo(t)
	s = open(t)
	defer s.Close()
	SuffixIndex(t, s)
}
