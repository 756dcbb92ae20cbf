package geo

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/cadastre-ipam/cadastre/registry"
)

func TestAudit(t *testing.T) {
	dir := t.TempDir()
	moved := epoch.Add(-48 * time.Hour)
	in := Inputs{
		Register: []registry.Placement{
			{Prefix: mp("198.51.100.0/24"), Region: "us-east", Location: loc("US", "US-VA")},
			{Prefix: mp("203.0.113.0/24"), Region: "us-east", Location: loc("US", "US-VA"),
				Relocation: &registry.RelocationRef{FromRegion: "brazil-south"}, MovedAt: &moved},
			{Prefix: mp("192.0.2.0/24"), Region: "eu", Location: loc("DE", "")},
		},
		Feeds: []Feed{{Name: "feed", Entries: []Entry{
			{Prefix: mp("198.51.100.0/24"), Location: loc("US", "US-VA")},
			{Prefix: mp("198.51.100.0/26"), Location: loc("US", "US-CA")}, // nested: a quarter in the wrong state
			{Prefix: mp("203.0.113.0/24"), Location: loc("US", "")},
			{Prefix: mp("192.0.2.0/24"), Location: loc("DE", "")},
		}}},
		MMDBs: []MMDBFile{{Name: "whois", Path: writeMMDB(t, dir, "w.mmdb",
			netRecord{"198.51.100.0/24", flat("US", "Virginia", "")},
			netRecord{"203.0.113.0/25", flat("BR", "", "")}, // half still in Brazil, half unknown
			netRecord{"192.0.2.0/23", flat("DE", "", "")},   // covers the whole /24
		)}},
	}
	tab, err := Build(context.Background(), in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Audit(context.Background(), tab, in.Register, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range rep.Findings {
		got[f.Source+" "+f.Prefix.String()] = f
	}
	if len(rep.Findings) != 2 {
		t.Errorf("findings: %+v", rep.Findings)
	}
	if f := got["feed 198.51.100.0/24"]; f.Disagree != 0.25 || len(f.Says) != 2 || f.Says[0].Location != loc("US", "US-VA") || f.Says[0].Share != 0.75 {
		t.Errorf("a nested feed entry in another subdivision disagrees on its quarter: %+v", f)
	}
	f := got["whois 203.0.113.0/24"]
	if f.Disagree != 0.5 || f.NotCovered != 0.5 || f.FromRegion != "brazil-south" || f.MovedAgo != 48*time.Hour || len(f.Says) != 1 || f.Says[0].Share != 0.5 || f.Affected.String() != "128" {
		t.Errorf("relocated space the database still places in Brazil (half of it; the other half not covered): %+v", f)
	}
	for _, s := range rep.Summary {
		switch s.Source {
		case "feed":
			if *s.IPv4.Country != 1 || math.Abs(*s.IPv4.Subdivision-0.75) > 1e-9 || *s.IPv4.Covered != 1 || s.Findings != 1 {
				t.Errorf("feed summary %+v", s)
			}
		case "whois":
			// It covers 2.5 of the 3 /24s, 2 of them in the right country.
			if math.Abs(*s.IPv4.Covered-2.5/3) > 1e-9 || math.Abs(*s.IPv4.Country-0.8) > 1e-9 || *s.IPv4.Subdivision != 1 || s.Findings != 1 {
				t.Errorf("whois summary %+v", s)
			}
		default:
			t.Errorf("audited %s", s.Source)
		}
	}
	if _, err := Audit(context.Background(), tab, in.Register, []string{"nope"}, epoch); err == nil {
		t.Error("an unknown source is an error")
	}
}

// With a City database, which lists every level of subdivision (GB-ENG,
// then GB-WBK), the audit compares the most specific with the region's:
// a region in GB-WBK agrees, as does one placed only in GB-ENG; another
// unitary authority disagrees.
func TestAuditComparesTheMostSpecificSubdivision(t *testing.T) {
	dir := t.TempDir()
	city := func(subs ...string) mmdbtype.Map {
		m := geoip2("GB", "", "Newbury")
		var list mmdbtype.Slice
		for _, s := range subs {
			list = append(list, mmdbtype.Map{"iso_code": mmdbtype.String(s)})
		}
		m["subdivisions"] = list
		return m
	}
	world := writeMMDB(t, dir, "city.mmdb",
		netRecord{"81.2.69.0/24", city("ENG", "WBK")},
		netRecord{"81.2.70.0/24", city("ENG", "WBK")},
		netRecord{"81.2.71.0/24", city("ENG", "WBK")},
		netRecord{"81.2.72.0/24", city("ENG")},
	)
	tests := []struct {
		name     string
		prefix   string
		want     string // the region's subdivision
		disagree bool
	}{
		{"a region in the database's most specific subdivision agrees", "81.2.69.0/24", "GB-WBK", false},
		{"a region in the subdivision that contains it agrees", "81.2.70.0/24", "GB-ENG", false},
		{"a region in another unitary authority disagrees", "81.2.71.0/24", "GB-RDG", true},
		{"a database less specific than the region does not disagree", "81.2.72.0/24", "GB-WBK", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Inputs{
				Register: []registry.Placement{{Prefix: mp(tc.prefix), Region: "r", Location: loc("GB", tc.want)}},
				MMDBs:    []MMDBFile{{Name: "city", Path: world}},
			}
			tab, err := Build(context.Background(), in, nil, epoch)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Audit(context.Background(), tab, in.Register, nil, epoch)
			if err != nil {
				t.Fatal(err)
			}
			if (len(rep.Findings) > 0) != tc.disagree {
				t.Errorf("findings %+v, want disagreement %v", rep.Findings, tc.disagree)
			}
		})
	}
	if r := func() Result {
		tab, _ := Build(context.Background(), Inputs{MMDBs: []MMDBFile{{Name: "city", Path: world}}}, nil, epoch)
		return tab.Lookup(ma("81.2.69.1"))
	}(); r.Location.Subdivision != "GB-WBK" {
		t.Errorf("look-up gives %q, want the most specific subdivision GB-WBK", r.Location.Subdivision)
	}
}

// A source that cannot be used (its file missing or corrupt, no earlier
// copy) is listed in the report with why, not silently left out.
func TestAuditListsUnusableSources(t *testing.T) {
	dir := t.TempDir()
	good := writeMMDB(t, dir, "good.mmdb", netRecord{"81.2.69.0/24", flat("GB", "", "")})
	in := Inputs{
		Register: []registry.Placement{{Prefix: mp("81.2.69.0/24"), Region: "r", Location: loc("GB", "")}},
		MMDBs:    []MMDBFile{{Name: "good", Path: good}, {Name: "gone", Path: filepath.Join(dir, "gone.mmdb")}},
	}
	tab, _ := Build(context.Background(), in, nil, epoch)
	for _, sources := range [][]string{nil, {"gone"}} {
		rep, err := Audit(context.Background(), tab, in.Register, sources, epoch)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Unusable) != 1 || rep.Unusable[0].Name != "gone" || !strings.Contains(rep.Unusable[0].Err, "gone.mmdb") {
			t.Errorf("sources %v: unusable %+v, want gone with why", sources, rep.Unusable)
		}
	}
}
