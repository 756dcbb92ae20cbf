package registry

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestSubtract(t *testing.T) {
	cases := []struct {
		name  string
		p     string
		holes []string
		want  []string
	}{
		{"no holes leaves the pool whole", "191.232.0.0/22", nil, []string{"191.232.0.0/22"}},
		{"a relocated /24 at the start", "191.232.0.0/22", []string{"191.232.0.0/24"}, []string{"191.232.1.0/24", "191.232.2.0/23"}},
		{"a relocated /24 in the middle", "191.232.0.0/22", []string{"191.232.1.0/24"}, []string{"191.232.0.0/24", "191.232.2.0/23"}},
		{"two holes, given out of order", "191.232.0.0/22", []string{"191.232.3.0/24", "191.232.1.0/24"}, []string{"191.232.0.0/24", "191.232.2.0/24"}},
		{"the whole pool lent", "191.232.0.0/24", []string{"191.232.0.0/24"}, nil},
		{"a hole at the very end of the family", "255.255.255.0/24", []string{"255.255.255.128/25"}, []string{"255.255.255.0/25"}},
		{"IPv6", "2603:1050::/32", []string{"2603:1050:8000::/33"}, []string{"2603:1050::/33"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var holes []netip.Prefix
			for _, h := range c.holes {
				holes = append(holes, netip.MustParsePrefix(h))
			}
			var got []string
			for _, p := range subtract(netip.MustParsePrefix(c.p), holes) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("subtract(%s, %v) = %v, want %v", c.p, c.holes, got, c.want)
			}
		})
	}
}

func TestGeofeedRPSL(t *testing.T) {
	blocks := []Block{
		{Prefix: netip.MustParsePrefix("94.245.64.0/18"), Source: SourceRIR, Registry: "ripe"},
		{Prefix: netip.MustParsePrefix("191.232.0.0/13"), Source: SourceRIR, Registry: "lacnic"},
		{Prefix: netip.MustParsePrefix("2603:1000::/24"), Source: SourceRIR, Registry: "arin"},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: SourcePrivate},
	}
	got, err := GeofeedRPSL(blocks, "https://example.net/geofeed.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []RPSL{
		{Block: "94.245.64.0/18", Registry: "RIPE NCC", Object: "inetnum: 94.245.64.0 - 94.245.127.255", Attribute: "geofeed: https://example.net/geofeed.csv"},
		{Block: "191.232.0.0/13", Registry: "LACNIC", Object: "inetnum: 191.232.0.0 - 191.239.255.255", Attribute: "remarks: Geofeed https://example.net/geofeed.csv"},
		{Block: "2603:1000::/24", Registry: "ARIN", Object: "NetRange: 2603:1000::/24", Attribute: "Comment: Geofeed https://example.net/geofeed.csv"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("GeofeedRPSL =\n%+v\nwant\n%+v (private space has no registry object)", got, want)
	}
	for _, bad := range []string{"http://example.net/geofeed.csv", "ftp://x/y", "https:///nohost", "https://ex ample.net/", "not a url"} {
		if _, err := GeofeedRPSL(blocks, bad); err == nil || !strings.Contains(err.Error(), "geofeed URL") {
			t.Errorf("GeofeedRPSL(%q) error = %v, want a geofeed URL error", bad, err)
		}
	}
}
