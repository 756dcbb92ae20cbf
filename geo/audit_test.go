package geo

import (
	"context"
	"math"
	"testing"
	"time"

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
	if f.Disagree != 1 || f.FromRegion != "brazil-south" || f.MovedAgo != 48*time.Hour || len(f.Says) != 2 || f.Says[0].Share != 0.5 {
		t.Errorf("relocated space the database still places in Brazil: %+v", f)
	}
	for _, s := range rep.Summary {
		switch s.Source {
		case "feed":
			if s.IPv4.Country != 1 || math.Abs(s.IPv4.Subdivision-0.75) > 1e-9 || s.Findings != 1 {
				t.Errorf("feed summary %+v", s)
			}
		case "whois":
			if math.Abs(s.IPv4.Country-2.0/3) > 1e-9 || s.IPv4.Subdivision != 1 || s.Findings != 1 {
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
