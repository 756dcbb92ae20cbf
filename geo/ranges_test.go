package geo_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geo/cloudregions"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "d.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func entries(t *testing.T, st geo.Store, name string) map[netip.Prefix]location.Location {
	t.Helper()
	out := map[netip.Prefix]location.Location{}
	if err := st.SourceEntries(context.Background(), name, func(e geo.Entry) error { out[e.Prefix] = e.Location; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRegionTableIsValidISO3166(t *testing.T) {
	if err := cloudregions.Check(); err != nil {
		t.Fatal(err)
	}
	if cloudregions.Version() == "" {
		t.Error("the region table has no version")
	}
	for _, p := range cloudregions.Providers {
		if rs := cloudregions.Regions(p, location.Location{Country: "US", Subdivision: "US-VA"}); len(rs) == 0 && p != "gcp" {
			t.Errorf("%s: no region in Virginia", p)
		}
	}
}

// Each provider's file, in its documented layout, becomes a source: the
// prefixes of known regions placed where the provider documents the
// region, global ones and unknown regions kept unplaced, unknown regions
// listed, never guessed.
func TestImportRangesPerFormat(t *testing.T) {
	va, de := location.Location{Country: "US", Subdivision: "US-VA"}, location.Location{Country: "DE", Subdivision: "DE-HE"}
	cases := []struct {
		format  string
		want    map[string]location.Location
		global  int
		unknown []string
		dups    int
	}{
		{"aws", map[string]location.Location{
			"198.51.100.0/24":    va,
			"203.0.113.0/25":     {Country: "IE"},
			"203.0.113.128/25":   {},
			"192.0.2.0/24":       {},
			"2001:db8:1000::/36": {Country: "JP", Subdivision: "JP-13"},
			// A Local Zone's prefix (network_border_group
			// us-west-2-lax-1) is placed by its parent region, the
			// only one the embedded table knows: Oregon.
			"2001:db8:2000::/40": {Country: "US", Subdivision: "US-OR"},
		}, 1, []string{"xx-future-9"}, 1},
		{"azure", map[string]location.Location{
			"203.0.113.0/24":     {},
			"198.51.100.0/24":    {Country: "NL"},
			"2001:db8:2000::/36": {Country: "NL"},
			"192.0.2.0/25":       {},
		}, 1, []string{"newregion"}, 0},
		{"gcp", map[string]location.Location{
			"198.51.100.0/24":    de,
			"203.0.113.0/24":     {},
			"2001:db8:3000::/36": {Country: "US", Subdivision: "US-IA"},
			"192.0.2.0/24":       {},
		}, 1, []string{"mars-north1"}, 0},
		{"oracle", map[string]location.Location{
			"198.51.100.0/24": {Country: "US", Subdivision: "US-AZ"},
			"203.0.113.0/24":  {Country: "US", Subdivision: "US-AZ"},
			"192.0.2.0/24":    de,
		}, 0, []string{}, 0},
	}
	for _, c := range cases {
		t.Run(c.format+" file places known regions and reports unknown ones", func(t *testing.T) {
			st := openStore(t)
			f, err := os.Open(filepath.Join("testdata", "ranges", c.format+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rep, err := geo.ImportRanges(context.Background(), st, "cloud", c.format+".json", c.format, f, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got := entries(t, st, "cloud")
			if len(got) != len(c.want) {
				t.Errorf("entries %v, want %v", got, c.want)
			}
			for p, l := range c.want {
				if g, ok := got[netip.MustParsePrefix(p)]; !ok || g != l {
					t.Errorf("%s: %v (%v), want %v", p, g, ok, l)
				}
			}
			if rep.Global != c.global || !slices.Equal(rep.UnknownRegions, c.unknown) || rep.Duplicates != c.dups {
				t.Errorf("report %+v", rep)
			}
			srcs, _ := st.Sources(context.Background())
			if len(srcs) != 1 || srcs[0].Kind != geo.KindGeofeed || !strings.HasPrefix(srcs[0].Origin, c.format+" ranges: ") {
				t.Fatalf("sources %+v", srcs)
			}
			for _, u := range c.unknown {
				if !strings.Contains(srcs[0].Origin, u) {
					t.Errorf("the source's origin %q does not name the unknown region %s", srcs[0].Origin, u)
				}
			}
		})
	}
}

// Bad input is refused with where it is, and the source is left exactly as
// it was.
func TestImportRangesRefusesBadInput(t *testing.T) {
	cases := []struct {
		name, format, body, want string
	}{
		{"an unknown format is refused", "ibm", `{"prefixes":[]}`, "format"},
		{"invalid JSON names the line", "aws", "{\n\"prefixes\": [\n{\"ip_prefix\": \"198.51.100.0/24\",}\n]}", "line 3"},
		{"a prefix with host bits names its JSON path", "aws", `{"prefixes":[{"ip_prefix":"198.51.100.0/24","region":"us-east-1"},{"ip_prefix":"198.51.100.7/24","region":"us-east-1"}]}`, "prefixes[1].ip_prefix: 198.51.100.7/24 has host bits set"},
		{"a field of the wrong type names the field", "gcp", "{\"prefixes\": [\n{\"ipv4Prefix\": 17, \"scope\": \"us-central1\"}]}", "prefixes.ipv4Prefix"},
		{"an unparsable prefix names its path", "oracle", `{"regions":[{"region":"us-phoenix-1","cidrs":[{"cidr":"198.51.100.0/33"}]}]}`, "regions[0].cidrs[0].cidr"},
		{"another provider's file is not taken for this one", "azure", `{"prefixes":[{"ip_prefix":"198.51.100.0/24"}]}`, "not an Azure"},
		{"a file with no prefix leaves the source", "oracle", `{"regions":[]}`, "lists no prefix"},
		{"a missing prefix names its path", "azure", `{"values":[{"properties":{"region":"westeurope","addressPrefixes":[""]}}]}`, "values[0].properties.addressPrefixes[0]: missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			ctx := context.Background()
			good, _ := os.Open(filepath.Join("testdata", "ranges", "oracle.json"))
			defer good.Close()
			if _, err := geo.ImportRanges(ctx, st, "cloud", "good", "oracle", good, time.Now()); err != nil {
				t.Fatal(err)
			}
			before := entries(t, st, "cloud")
			_, err := geo.ImportRanges(ctx, st, "cloud", "bad.json", c.format, strings.NewReader(c.body), time.Now())
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, registry.ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid containing %q", err, c.want)
			}
			after := entries(t, st, "cloud")
			if len(after) != len(before) {
				t.Errorf("the source changed: %v -> %v", before, after)
			}
		})
	}
}

// TestSourceTextRefusesControlCharacters: a source's name and origin (a
// file name or URL that `geo sources` prints) refuse control characters
// as every text field does (registry.CheckText), for each way a source is
// added, and nothing is stored.
func TestSourceTextRefusesControlCharacters(t *testing.T) {
	ctx := context.Background()
	const feed = "198.51.100.0/24,US,US-VA,Ashburn,\n"
	for _, c := range []struct {
		name string
		add  func(st geo.Store) error
		want string
	}{
		{"a feed's name", func(st geo.Store) error {
			_, err := geo.ImportFeed(ctx, st, "evil\x1b[2J", "f.csv", strings.NewReader(feed), geo.ImportOptions{}, time.Now())
			return err
		}, "source name: control character U+001B"},
		{"a feed's origin", func(st geo.Store) error {
			_, err := geo.ImportFeed(ctx, st, "partner", "f\x1b]0;pwned\x07.csv", strings.NewReader(feed), geo.ImportOptions{}, time.Now())
			return err
		}, "source partner: origin: control character U+001B"},
		{"a ranges file's origin", func(st geo.Store) error {
			_, err := geo.ImportRanges(ctx, st, "cloud", "ranges\r\n.json", "oracle", strings.NewReader(`{"regions":[]}`), time.Now())
			return err
		}, "source cloud: origin: control character U+000D"},
		{"an MMDB's path", func(st geo.Store) error {
			_, err := geo.AddMMDB(ctx, st, "vendor", "/tmp/a\u009bb.mmdb", time.Now())
			return err
		}, "source vendor: origin: control character U+009B"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openStore(t)
			err := c.add(st)
			var te *registry.TextError
			if !errors.Is(err, registry.ErrInvalid) || !errors.As(err, &te) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want a registry.TextError saying %q", err, c.want)
			}
			srcs, err := st.Sources(ctx)
			if err != nil || len(srcs) != 0 {
				t.Fatalf("sources after the refusal: %v, %v; want none", srcs, err)
			}
		})
	}
}
