package geo

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// audit --provider compares the provider's space, by region, with every
// other source: what a database places elsewhere than the provider's
// region is a finding under that region; unplaced prefixes are not
// audited; the provider's own source is not audited against itself.
func TestAuditProvider(t *testing.T) {
	dir := t.TempDir()
	in := Inputs{
		Feeds: []Feed{{Name: "aws", Origin: "aws ranges: ip-ranges.json", Entries: []Entry{
			{Prefix: mp("198.51.100.0/24"), Location: loc("US", "US-VA")}, // us-east-1
			{Prefix: mp("203.0.113.0/24"), Location: loc("IE", "")},       // eu-west-1
			{Prefix: mp("192.0.2.0/24")},                                  // GLOBAL: not placed
		}}, {Name: "partner", Entries: []Entry{{Prefix: mp("198.51.100.0/24"), Location: loc("US", "US-VA")}}}},
		MMDBs: []MMDBFile{
			{Name: "one", Path: writeMMDB(t, dir, "one.mmdb",
				netRecord{"198.51.100.0/24", geoip2("US", "VA", "")},
				netRecord{"203.0.113.0/25", geoip2("IE", "", "")},
				netRecord{"203.0.113.128/25", geoip2("GB", "", "")}, // half of eu-west-1 placed in Britain
				netRecord{"192.0.2.0/24", geoip2("US", "", "")},
			)},
			{Name: "two", Path: writeMMDB(t, dir, "two.mmdb",
				netRecord{"198.51.100.0/25", flat("US", "Washington", "")}, // half in another state
				netRecord{"203.0.113.0/24", flat("IE", "", "")},
			)},
		},
	}
	ctx := context.Background()
	tab, err := Build(ctx, in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := AuditProvider(ctx, tab, "aws", nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checked != 2 {
		t.Errorf("checked %d prefixes, want the 2 placed ones", rep.Checked)
	}
	got := map[string]Finding{}
	for _, f := range rep.Findings {
		got[f.Source+" "+f.Prefix.String()] = f
	}
	// partner covers none of the provider's space: "not covered" in its
	// summary, never a finding of disagreement.
	if _, ok := got["partner 203.0.113.0/24"]; len(got) != 2 || ok {
		t.Errorf("findings %+v", rep.Findings)
	}
	if f := got["one 203.0.113.0/24"]; f.Region != "aws eu-west-1" || f.Disagree != 0.5 {
		t.Errorf("half of eu-west-1 in Britain: %+v", f)
	}
	if f := got["two 198.51.100.0/24"]; f.Region != "aws us-east-1" || f.Disagree != 0.5 || f.NotCovered != 0.5 {
		t.Errorf("us-east-1, half in Washington and half nowhere: %+v", f)
	}
	var names []string
	for _, s := range rep.Summary {
		names = append(names, s.Source)
	}
	if len(names) != 3 || names[0] != "partner" || names[1] != "one" || names[2] != "two" {
		t.Errorf("audited %v, want every source but the register and the provider", names)
	}

	// Per provider region and source: the addresses placed elsewhere,
	// whatever the thresholds (a threshold above every finding keeps
	// the region counts).
	rep, err = AuditProviderWith(ctx, tab, AuditOptions{Provider: "aws", MinShare: 0.9}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("findings above 90 %%: %+v", rep.Findings)
	}
	regions := map[string]RegionSummary{}
	for _, r := range rep.Regions {
		regions[r.Region+" "+r.Source] = r
	}
	if len(rep.Regions) != 6 {
		t.Errorf("regions %+v, want 2 regions x 3 sources", rep.Regions)
	}
	if r := regions["aws eu-west-1 one"]; r.Location != loc("IE", "") || r.IPv4.Prefixes != 1 || r.IPv4.Disagreeing != 1 ||
		r.IPv4.Affected.Uint64() != 128 || r.IPv4.Addresses.Uint64() != 256 || r.IPv4.Share == nil || *r.IPv4.Share != 0.5 || r.IPv6.Share != nil {
		t.Errorf("eu-west-1 against one: %+v", r)
	}
	if r := regions["aws us-east-1 two"]; r.IPv4.Affected.Uint64() != 128 || r.IPv4.Disagreeing != 1 {
		t.Errorf("us-east-1 against two: %+v", r)
	}
	if r := regions["aws us-east-1 one"]; r.IPv4.Affected.Uint64() != 0 || r.IPv4.Disagreeing != 0 || *r.IPv4.Share != 0 {
		t.Errorf("us-east-1 against one, which agrees: %+v", r)
	}
	if r := rep.Regions[len(rep.Regions)-1]; r.IPv4.Affected.Uint64() != 0 {
		t.Errorf("regions not sorted by addresses affected: %+v", rep.Regions)
	}
	if reg, err := Audit(ctx, tab, nil, nil, epoch); err != nil || reg.Regions != nil {
		t.Errorf("the register's audit has provider regions: %+v %v", reg.Regions, err)
	}

	if _, err := AuditProvider(ctx, tab, "partner", nil, epoch); !errors.Is(err, ErrNotRanges) || !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("a plain feed as a provider: %v", err)
	}
	if _, err := AuditProvider(ctx, tab, "nope", nil, epoch); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("an unknown provider: %v", err)
	}
	if _, err := AuditProvider(ctx, tab, "aws", []string{"aws"}, epoch); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("the provider audited against itself: %v", err)
	}
}

// A provider's wide prefixes shadow more MMDB networks than the table
// copies path by path (cloneAfter): the table is copied once and changed
// in place, and answers exactly as before: the feed wins inside its
// prefixes, the MMDB outside them, and the shared MMDB index is untouched
// (a second table built over it answers from the MMDB again).
func TestWideFeedOverManyMMDBNetworks(t *testing.T) {
	var nets []netRecord
	for i := range 25000 {
		nets = append(nets, netRecord{netip.AddrFrom4([4]byte{44, byte(i >> 8), byte(i), 1}).String() + "/32", flat("JP", "", "")})
	}
	nets = append(nets, netRecord{"45.0.0.0/16", flat("JP", "", "")})
	path := writeMMDB(t, t.TempDir(), "many.mmdb", nets...)
	ctx := context.Background()
	in := Inputs{
		Feeds: []Feed{{Name: "aws", Origin: "aws ranges: x", Entries: []Entry{{Prefix: mp("44.0.0.0/16"), Location: loc("US", "US-VA")}}}},
		MMDBs: []MMDBFile{{Name: "db", Path: path}},
	}
	tab, err := Build(ctx, in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr, source, country string
	}{{"44.0.7.1", "aws", "US"}, {"44.0.200.9", "aws", "US"}, {"45.0.3.4", "db", "JP"}} {
		if r := tab.Lookup(netip.MustParseAddr(c.addr)); !r.Found || r.Source != c.source || r.Location.Country != c.country {
			t.Errorf("%s: %+v, want %s from %s", c.addr, r.Answer, c.country, c.source)
		}
	}
	// The next table shares the MMDB index with this one: with another
	// feed elsewhere, the MMDB answers inside 44.0.0.0/16 again.
	in.Feeds = []Feed{{Name: "other", Entries: []Entry{{Prefix: mp("46.0.0.0/16"), Location: loc("BR", "")}}}}
	again, err := Build(ctx, in, tab, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if again.mm != tab.mm {
		t.Fatal("the second table did not share the MMDB index")
	}
	for _, a := range []string{"44.0.7.1", "44.0.200.1"} {
		if r := again.Lookup(netip.MustParseAddr(a)); !r.Found || r.Source != "db" || r.Location.Country != "JP" || r.Prefix.Bits() != 32 {
			t.Errorf("%s: the shared MMDB index was changed: %+v", a, r.Answer)
		}
	}
}
