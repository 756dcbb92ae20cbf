package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// The writer keeps region and pool rows from one write transaction to the
// next (rowcache.go). Each case changes a region in a way the cache must
// see, then reads it in a later write transaction of the same store: a
// stale row fails the test.
func TestRowCacheNeverServesAStaleRegion(t *testing.T) {
	ctx := context.Background()
	errUndo := errors.New("test: undo")
	cases := []struct {
		name string
		// change makes the region's city "changed" as the case says, and
		// returns what the city must read afterwards.
		change func(t *testing.T, path string, a registry.Store) string
	}{
		{"another connection commits (the CLI beside serve)", func(t *testing.T, path string, a registry.Store) string {
			b := open(t, path)
			if _, err := registry.New(b).UpdateRegion(ctx, "r", "", func(r *registry.Region) error {
				r.Location.City = "changed"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return "changed"
		}},
		{"the writer itself changes it", func(t *testing.T, path string, a registry.Store) string {
			if err := a.Update(ctx, func(tx registry.Tx) error { return setCity(ctx, tx, "changed") }); err != nil {
				t.Fatal(err)
			}
			return "changed"
		}},
		{"a change read back and then rolled back", func(t *testing.T, path string, a registry.Store) string {
			err := a.Update(ctx, func(tx registry.Tx) error {
				if err := setCity(ctx, tx, "changed"); err != nil {
					return err
				}
				if r, err := tx.RegionByName(ctx, "r"); err != nil || r.Location.City != "changed" {
					t.Errorf("inside the transaction: city %q, %v; want changed", r.Location.City, err)
				}
				return errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
			return "old"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.db")
			a := open(t, path)
			if _, err := registry.New(a).AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US", City: "old"}}); err != nil {
				t.Fatal(err)
			}
			read := func() string {
				var city string
				if err := a.Update(ctx, func(tx registry.Tx) error {
					r, err := tx.RegionByName(ctx, "r")
					city = r.Location.City
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return city
			}
			if got := read(); got != "old" { // now cached
				t.Fatalf("city %q before the change", got)
			}
			want := c.change(t, path, a)
			if got := read(); got != want {
				t.Fatalf("city %q after the change, want %q (a stale cached row)", got, want)
			}
		})
	}
}

func setCity(ctx context.Context, tx registry.Tx, city string) error {
	r, err := tx.RegionByName(ctx, "r")
	if err != nil {
		return err
	}
	r.Location.City = city
	return tx.(interface {
		UpdateRegion(context.Context, registry.Region) error
	}).UpdateRegion(ctx, r)
}
