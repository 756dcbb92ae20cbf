package geo_test

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// eachGeoStore runs fn against a fresh SQLite store and a fresh
// PostgreSQL schema: the geo.Store port holds on both.
func eachGeoStore(t *testing.T, fn func(t *testing.T, st geo.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "g.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(context.Background(), migrated.Database(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
}

// nestedPrefix is a prefix of 11.0.0.0/16 (lengths 8-30) or 2a00::/32
// (lengths 16-126), so that entries nest at every depth.
func nestedPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(2) == 0 {
		a := netip.AddrFrom4([4]byte{11, 0, byte(r.IntN(4)), byte(r.IntN(256))})
		p, _ := a.Prefix(8 + r.IntN(23))
		return p
	}
	b := netip.MustParseAddr("2a00::").As16()
	b[4], b[15] = byte(r.IntN(4)), byte(r.IntN(256))
	p, _ := netip.AddrFrom16(b).Prefix(16 + r.IntN(111))
	return p
}

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type placer []registry.Placement

func (p placer) Placements(context.Context) ([]registry.Placement, registry.Position, error) {
	return p, registry.Position{}, nil
}

// TestSourceEntriesAtAndPointOnBothStores: each store finds exactly the
// entries containing an address, shortest first, by its indexed query;
// and a Point over the store answers as the Table built from it does,
// for the ranked answer and for every source's, after a source is
// replaced too.
func TestSourceEntriesAtAndPointOnBothStores(t *testing.T) {
	eachGeoStore(t, func(t *testing.T, st geo.Store) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(7, 7))
		countries := []string{"US", "DE", "JP", "FR", "BR"}
		put := func(name string, n int, at time.Time) []geo.Entry {
			seen := map[netip.Prefix]bool{}
			var es []geo.Entry
			for len(es) < n {
				p := nestedPrefix(r)
				if !seen[p] {
					seen[p] = true
					es = append(es, geo.Entry{Prefix: p, Location: location.Location{Country: countries[r.IntN(len(countries))]}})
				}
			}
			ev := registry.Event{At: at, Action: "source.import", SubjectKind: "source", Subject: name}
			if _, err := st.PutSource(ctx, geo.Source{Name: name, Kind: geo.KindGeofeed, ImportedAt: at}, es, ev); err != nil {
				t.Fatal(err)
			}
			return es
		}
		reg := placer{{Prefix: netip.MustParsePrefix("11.0.1.0/24"), Location: location.Location{Country: "AU"}}}
		feeds := map[string][]geo.Entry{"first": put("first", 300, epoch), "second": put("second", 300, epoch)}
		load := geo.StoreLoader(reg, st)
		for round := range 2 {
			in, err := load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := geo.Build(ctx, in, nil, epoch)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := geo.NewPoint(ctx, reg, st, epoch)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := pt.Sources(), tab.Sources(); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: point sources %+v, table %+v", round, got, want)
			}
			for range 500 {
				a := nestedPrefix(r).Addr()
				if r.IntN(2) == 0 {
					a = a.Next()
				}
				for name, es := range feeds {
					var want []geo.Entry
					for _, e := range es {
						if e.Prefix.Contains(a) {
							want = append(want, e)
						}
					}
					slices.SortFunc(want, func(x, y geo.Entry) int { return x.Prefix.Bits() - y.Prefix.Bits() })
					got, err := st.SourceEntriesAt(ctx, name, a)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
						t.Fatalf("round %d: %s at %v: got %v, want %v", round, name, a, got, want)
					}
				}
				for _, all := range []bool{false, true} {
					var got geo.Result
					if err := pt.Lookup(ctx, &got, a, all); err != nil {
						t.Fatal(err)
					}
					want := tab.Lookup(a)
					if all {
						want = tab.LookupAll(a)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("round %d: %v (all %v): point %+v, table %+v", round, a, all, got, want)
					}
				}
			}
			// The first source replaced: the loader reads it again.
			feeds["first"] = put("first", 200, epoch.Add(time.Hour))
		}
		if es, err := st.SourceEntriesAt(ctx, "no-such-source", netip.MustParseAddr("11.0.0.1")); err != nil || len(es) != 0 {
			t.Fatalf("unknown source: %v %v", es, err)
		}
	})
}
