package geo

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func loc(country, subdivision string) location.Location {
	return location.Location{Country: country, Subdivision: subdivision}
}

func mp(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ma(s string) netip.Addr   { return netip.MustParseAddr(s) }

// fixture is a register, two feeds and two MMDB files with overlapping
// space, to show how ranks combine.
func fixture(t testing.TB) (Inputs, *Table) {
	t.Helper()
	dir := t.TempDir()
	in := Inputs{
		Register: []registry.Placement{
			{Prefix: mp("192.0.2.0/24"), Region: "us-east", Location: loc("US", "US-VA")},
			{Prefix: mp("2001:db8:1::/48"), Region: "us-east", Location: loc("US", "US-VA")},
			{Prefix: mp("10.0.0.0/16"), Region: "lab", Location: loc("DE", "DE-BE")},
		},
		Feeds: []Feed{
			{Name: "feed-a", Entries: []Entry{
				{Prefix: mp("192.0.2.0/25"), Location: loc("FR", "")}, // inside the register's /24: dropped
				{Prefix: mp("192.0.0.0/16"), Location: loc("CA", "")}, // around it: answers outside it
				{Prefix: mp("198.51.100.0/24"), Location: loc("GB", "")},
				{Prefix: mp("198.51.100.0/28"), Location: loc("IE", "")}, // nested in its own feed: kept
			}},
			{Name: "feed-b", Entries: []Entry{
				{Prefix: mp("198.51.100.0/24"), Location: loc("NL", "")}, // same as feed-a's: feed-a wins
				{Prefix: mp("198.18.0.0/15"), Location: loc("SE", "")},
			}},
		},
		MMDBs: []MMDBFile{
			{Name: "first", Path: writeMMDB(t, dir, "first.mmdb",
				netRecord{"192.0.2.0/24", flat("BR", "", "")},
				netRecord{"203.0.114.0/24", flat("JP", "", "")},
				netRecord{"1.1.1.0/24", mmdbtype0()},
			)},
			{Name: "second", Path: writeMMDB(t, dir, "second.mmdb",
				netRecord{"203.0.114.0/25", geoip2("KR", "", "")},
				netRecord{"1.1.1.0/24", geoip2("AU", "", "")},
				netRecord{"2400:cb00:2::/48", geoip2("NZ", "", "")},
			)},
		},
	}
	tab, err := Build(context.Background(), in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return in, tab
}

// mmdbtype0 is a record that places nothing, like GeoLite2's {} for
// anycast space.
func mmdbtype0() mmdbtype.Map { return mmdbtype.Map{"country_code": mmdbtype.String("")} }

func TestTableRanksSources(t *testing.T) {
	_, tab := fixture(t)
	tests := []struct {
		name, addr     string
		source, prefix string
		country        string
	}{
		{"the register wins in its own space over a more specific feed entry and the MMDBs", "192.0.2.1", "register", "192.0.2.0/24", "US"},
		{"a feed's covering prefix answers outside the register's", "192.0.3.1", "feed-a", "192.0.0.0/16", "CA"},
		{"nesting inside one feed keeps the more specific entry", "198.51.100.3", "feed-a", "198.51.100.0/28", "IE"},
		{"an earlier feed wins over a later one for the same prefix", "198.51.100.200", "feed-a", "198.51.100.0/24", "GB"},
		{"a later feed answers where earlier sources are silent", "198.18.5.5", "feed-b", "198.18.0.0/15", "SE"},
		{"MMDB files answer after the feeds, the first added first", "203.0.114.1", "first", "203.0.114.0/24", "JP"},
		{"an MMDB record that places nothing falls through to the next file", "1.1.1.1", "second", "1.1.1.0/24", "AU"},
		{"IPv6 in the register", "2001:db8:1::1", "register", "2001:db8:1::/48", "US"},
		{"IPv6 in an MMDB", "2400:cb00:2::1", "second", "2400:cb00:2::/48", "NZ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tab.Lookup(ma(tt.addr))
			if !r.Found || r.Source != tt.source || r.Prefix != mp(tt.prefix) || r.Location.Country != tt.country {
				t.Errorf("Lookup(%s) = %+v; want %s %s %s", tt.addr, r, tt.source, tt.prefix, tt.country)
			}
			if len(r.Errors) != 0 || r.All != nil {
				t.Errorf("Lookup(%s): errors %v, all %v", tt.addr, r.Errors, r.All)
			}
		})
	}
	if r := tab.Lookup(ma("8.8.8.8")); r.Found || r.Source != "" {
		t.Errorf("no source places 8.8.8.8, got %+v", r)
	}
}

func TestTableLookupAll(t *testing.T) {
	_, tab := fixture(t)
	r := tab.LookupAll(ma("192.0.2.1"))
	var got []string
	for _, a := range r.All {
		got = append(got, a.Source+" "+a.Prefix.String()+" "+a.Location.Country)
	}
	// first's 192.0.2.0/24 is documentation space: an MMDB never answers
	// there, not even in --all.
	want := []string{"register 192.0.2.0/24 US", "feed-a 192.0.2.0/25 FR"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("LookupAll(192.0.2.1).All = %q, want %q", got, want)
	}
	if r.Source != "register" {
		t.Errorf("LookupAll best answer from %q, want register", r.Source)
	}
	// An MMDB's empty record is still its answer in --all.
	r = tab.LookupAll(ma("1.1.1.1"))
	if len(r.All) != 2 || r.All[0].Source != "first" || !r.All[0].Location.IsZero() || r.All[1].Location.Country != "AU" {
		t.Errorf("LookupAll(1.1.1.1).All = %+v", r.All)
	}
}

func TestTableClassifiesAndDecodes(t *testing.T) {
	_, tab := fixture(t)
	tests := []struct {
		name      string
		addr      string
		special   string // Special.Kind
		trans     string // Transition.Kind
		locatedBy string
		source    string
		country   string
	}{
		{"private space the register places", "10.0.1.1", "private", "", "", "register", "DE"},
		{"private space nobody places", "192.168.1.1", "private", "", "", "", ""},
		{"shared address space (CGNAT)", "100.64.0.1", "shared", "", "", "", ""},
		{"loopback", "::1", "loopback", "", "", "", ""},
		{"link-local", "169.254.1.1", "link-local", "", "", "", ""},
		{"documentation", "2001:db8:1::1", "documentation", "", "", "register", "US"},
		{"benchmarking", "198.18.0.1", "benchmarking", "", "", "feed-b", "SE"},
		{"unique local", "fd00::1", "ula", "", "", "", ""},
		{"multicast", "ff02::1", "multicast", "", "", "", ""},
		{"reserved", "240.0.0.1", "reserved", "", "", "", ""},
		{"ordinary global unicast", "203.0.114.1", "", "", "", "first", "JP"},
		{"documentation space is not placed from an MMDB", "203.0.113.1", "documentation", "", "", "", ""},
		// Teredo client 192.0.2.45 (our us-east space) via server 65.54.227.120.
		{"teredo is located by its client, not its server", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo", "teredo", "192.0.2.45", "register", "US"},
		{"6to4 is located by the site's IPv4", "2002:cb00:7201::1", "6to4", "6to4", "203.0.114.1", "first", "JP"},
		{"NAT64 well-known prefix", "64:ff9b::198.51.100.200", "nat64", "nat64", "198.51.100.200", "feed-a", "GB"},
		{"NAT64 local-use /48 embedding", "64:ff9b:1:cb00:72:100::", "nat64", "nat64", "203.0.114.1", "first", "JP"},
		{"IPv4-mapped", "::ffff:192.0.2.9", "ipv4-mapped", "ipv4-mapped", "192.0.2.9", "register", "US"},
		{"IPv4-compatible", "::203.0.114.1", "ipv4-compatible", "ipv4-compatible", "203.0.114.1", "first", "JP"},
		{"ISATAP is located by its /64 when a source places it", "2001:db8:1::5efe:203.0.113.1", "documentation", "isatap", "", "register", "US"},
		{"ISATAP falls back to its IPv4 when nobody places the /64", "2001:db8:9::200:5efe:203.0.114.1", "documentation", "isatap", "203.0.114.1", "first", "JP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tab.Lookup(ma(tt.addr))
			if r.Special.Kind != tt.special || r.Transition.Kind != tt.trans || r.Source != tt.source || r.Location.Country != tt.country || r.Found != (tt.source != "") {
				t.Errorf("Lookup(%s) = %+v", tt.addr, r)
			}
			var want netip.Addr
			if tt.locatedBy != "" {
				want = ma(tt.locatedBy)
			}
			if r.LocatedBy != want {
				t.Errorf("Lookup(%s).LocatedBy = %v, want %v", tt.addr, r.LocatedBy, want)
			}
		})
	}
	r := tab.Lookup(ma("2001:0:4136:e378:8000:63bf:3fff:fdd2"))
	if r.Transition.Server != ma("65.54.227.120") || r.Transition.Port != 40000 || !r.Transition.Cone() {
		t.Errorf("Teredo decoding lost: %+v", r.Transition)
	}
	if r := tab.Lookup(ma("fe80::1%eth0")); r.Addr.Zone() != "" || r.Special.Kind != "link-local" {
		t.Errorf("a zone is stripped: %+v", r)
	}
	if r := tab.Lookup(netip.Addr{}); r.Found || r.Special.Kind != "" {
		t.Errorf("the zero Addr: %+v", r)
	}
	if _, ok := prefix.Lookup(ma("8.8.8.8")); ok {
		t.Fatal("8.8.8.8 is not special")
	}
}

func TestTableLookupAllocatesNothing(t *testing.T) {
	_, tab := fixture(t)
	for _, a := range []string{"192.0.2.1", "198.51.100.3", "203.0.113.1", "2001:db8:2::1", "8.8.8.8", "2001:0:4136:e378:8000:63bf:3fff:fdd2"} {
		addr := ma(a)
		tab.Lookup(addr) // fill the MMDB record cache
		if n := testing.AllocsPerRun(200, func() { tab.Lookup(addr) }); n != 0 {
			t.Errorf("Lookup(%s): %v allocations, want 0", a, n)
		}
	}
}

func TestTableWalk(t *testing.T) {
	_, tab := fixture(t)
	tests := []struct {
		source, within string
		want           []string
	}{
		{"register", "192.0.2.0/26", []string{"192.0.2.0/26 US"}},
		{"feed-a", "198.51.100.0/24", []string{"198.51.100.0/24 GB", "198.51.100.0/28 IE"}},
		{"feed-a", "192.0.2.0/24", []string{"192.0.2.0/24 CA", "192.0.2.0/25 FR"}},
		{"first", "203.0.114.128/25", []string{"203.0.114.128/25 JP"}},
		{"second", "203.0.114.0/24", []string{"203.0.114.0/25 KR"}},
	}
	for _, tt := range tests {
		var got []string
		err := tab.Walk(tt.source, mp(tt.within), func(e Entry) error {
			got = append(got, e.Prefix.String()+" "+e.Location.Country)
			return nil
		})
		if err != nil || strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("Walk(%s, %s) = %q, %v; want %q", tt.source, tt.within, got, err, tt.want)
		}
	}
	if err := tab.Walk("nope", mp("192.0.2.0/24"), func(Entry) error { return nil }); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Walk of an unknown source: %v", err)
	}
}

// TestTableClassifiesLikePrefixLookup checks the table's own index of
// special-purpose blocks against prefix.Lookup, at the edges of every block.
func TestTableClassifiesLikePrefixLookup(t *testing.T) {
	tab, err := Build(context.Background(), Inputs{}, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range prefix.Specials() {
		for _, a := range []netip.Addr{s.Prefix.Addr(), prefix.Last(s.Prefix), s.Prefix.Addr().Prev(), prefix.Last(s.Prefix).Next()} {
			if !a.IsValid() {
				continue
			}
			want, _ := Classify(a)
			if got := tab.Lookup(a).Special; got != want {
				t.Errorf("%v: table says %+v, prefix.Lookup %+v", a, got, want)
			}
		}
	}
}
