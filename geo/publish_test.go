package geo_test

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// TestExportCheckImportRoundTrip: what the register publishes, the strict
// checker passes without an error, and importing it reads back the same
// prefix-to-location map: every placement's first and last address land
// on the same location in the imported source.
func TestExportCheckImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t, "d.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if _, err := demo.Build(ctx, st, now); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(st, registry.WithClock(func() time.Time { return now }))
	feed, err := geo.PublishFeed(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	diags, sum, err := geofeed.Check(bytes.NewReader(feed.CSV), geofeed.Options{})
	if err != nil || sum.Errors != 0 {
		t.Fatalf("the published feed does not pass the checker: %v %v\n%s", err, diags, feed.CSV)
	}
	for _, d := range diags {
		t.Logf("warning on the published feed: %s", d)
	}
	if _, err := geo.ImportFeed(ctx, st, "self", "published", bytes.NewReader(feed.CSV), geo.ImportOptions{}, now); err != nil {
		t.Fatal(err)
	}
	var imported []geo.Entry
	if err := st.SourceEntries(ctx, "self", func(e geo.Entry) error { imported = append(imported, e); return nil }); err != nil {
		t.Fatal(err)
	}
	at := func(a netip.Addr) (location.Location, bool) {
		best := -1
		var loc location.Location
		for _, e := range imported {
			if e.Prefix.Contains(a) && e.Prefix.Bits() > best {
				best, loc = e.Prefix.Bits(), e.Location
			}
		}
		return loc, best >= 0
	}
	places, _, err := reg.Placements(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(places) == 0 || len(imported) == 0 {
		t.Fatalf("nothing to compare: %d placements, %d imported entries", len(places), len(imported))
	}
	sawRelocation := false
	for _, p := range places {
		for _, a := range []netip.Addr{p.Prefix.Addr(), prefix.Last(p.Prefix)} {
			got, ok := at(a)
			if !ok || got != p.Location {
				t.Errorf("%s (placement %s, region %s): imported %v %v, want %v", a, p.Prefix, p.Region, got, ok, p.Location)
			}
		}
		if p.Relocation != nil {
			sawRelocation = true
		}
	}
	if !sawRelocation {
		t.Errorf("the demo has no relocation: the round trip did not cover relocated space")
	}
}
