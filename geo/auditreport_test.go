package geo

import (
	"context"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// auditOf builds a table of in and audits its register with opts.
func auditOf(t *testing.T, in Inputs, opts AuditOptions) AuditReport {
	t.Helper()
	tab, err := Build(context.Background(), in, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := AuditWith(context.Background(), tab, in.Register, opts, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Three pools a feed places wrongly to different extents: a whole /24
// (256 addresses), a quarter of a /22 (256, a tie broken by prefix) and
// half of a /25 (64), and an IPv6 /48 entirely elsewhere (65536 /64s).
func sortingInputs() Inputs {
	return Inputs{
		Register: []registry.Placement{
			{Prefix: mp("192.0.2.0/25"), Region: "a", Location: loc("US", "")},
			{Prefix: mp("198.51.100.0/24"), Region: "b", Location: loc("US", "")},
			{Prefix: mp("10.0.0.0/22"), Region: "c", Location: loc("US", "")},
			{Prefix: mp("2001:db8::/48"), Region: "d", Location: loc("US", "")},
		},
		Feeds: []Feed{{Name: "feed", Entries: []Entry{
			{Prefix: mp("192.0.2.0/26"), Location: loc("DE", "")},
			{Prefix: mp("192.0.2.64/26"), Location: loc("US", "")},
			{Prefix: mp("198.51.100.0/24"), Location: loc("IE", "")},
			{Prefix: mp("10.0.0.0/22"), Location: loc("US", "")},
			{Prefix: mp("10.0.3.0/24"), Location: loc("FR", "")},
			{Prefix: mp("2001:db8::/48"), Location: loc("SE", "")},
		}}},
	}
}

func TestAuditFindingsAreSortedByAddressesAffected(t *testing.T) {
	rep := auditOf(t, sortingInputs(), AuditOptions{})
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.Prefix.String()+"="+f.Affected.String()+f.Unit)
	}
	want := []string{"2001:db8::/48=65536/64", "10.0.0.0/22=256address", "198.51.100.0/24=256address", "192.0.2.0/25=64address"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("findings in order\n got %v\nwant %v", got, want)
	}
}

func TestAuditThresholds(t *testing.T) {
	tests := []struct {
		name string
		opts AuditOptions
		want int // findings kept of the 4
	}{
		{"no threshold keeps every finding", AuditOptions{}, 4},
		{"a minimum share keeps findings at least that share", AuditOptions{MinShare: 0.5}, 3},
		{"a minimum share of exactly a finding's share keeps it", AuditOptions{MinShare: 0.25}, 4},
		{"a minimum of addresses keeps findings affecting at least that many", AuditOptions{MinAddresses: 256}, 3},
		{"both thresholds apply together", AuditOptions{MinShare: 0.5, MinAddresses: 100}, 2},
		{"a threshold above every finding leaves none", AuditOptions{MinAddresses: 1 << 20}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := auditOf(t, sortingInputs(), tc.opts)
			if len(rep.Findings) != tc.want {
				t.Errorf("%d findings, want %d: %+v", len(rep.Findings), tc.want, rep.Findings)
			}
			if s := rep.Summary[0]; s.Findings != tc.want || s.Below != 4-tc.want {
				t.Errorf("summary counts %d listed, %d below; want %d, %d", s.Findings, s.Below, tc.want, 4-tc.want)
			}
		})
	}
	tab, _ := Build(context.Background(), sortingInputs(), nil, epoch)
	for _, bad := range []AuditOptions{{MinShare: 1.5}, {MinShare: -0.1}, {IPv6Unit: 129}} {
		if _, err := AuditWith(context.Background(), tab, nil, bad, epoch); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("options %+v: err %v, want out of range", bad, err)
		}
	}
}

// A partner feed for other space says nothing about ours: that is one
// "not covered" summary, not a 100 % disagreement per pool; a source
// that does place the space elsewhere still disagrees.
func TestAuditTellsNotCoveredFromDisagrees(t *testing.T) {
	in := Inputs{
		Register: []registry.Placement{
			{Prefix: mp("192.0.2.0/24"), Region: "a", Location: loc("US", "")},
			{Prefix: mp("2001:db8::/48"), Region: "b", Location: loc("US", "")},
		},
		Feeds: []Feed{
			{Name: "partner", Entries: []Entry{{Prefix: mp("203.0.113.0/24"), Location: loc("DE", "")}}},
			{Name: "wrong", Entries: []Entry{{Prefix: mp("192.0.2.0/24"), Location: loc("DE", "")}}},
		},
	}
	rep := auditOf(t, in, AuditOptions{})
	for _, f := range rep.Findings {
		if f.Source == "partner" {
			t.Errorf("a feed that covers nothing of ours gives a finding: %+v", f)
		}
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Source != "wrong" || rep.Findings[0].Disagree != 1 || rep.Findings[0].NotCovered != 0 {
		t.Errorf("findings %+v, want one: wrong places 192.0.2.0/24 in DE", rep.Findings)
	}
	sums := map[string]SourceSummary{}
	for _, s := range rep.Summary {
		sums[s.Source] = s
	}
	p := sums["partner"]
	if !p.NotCovered || p.Findings != 0 || p.IPv4.Covered == nil || *p.IPv4.Covered != 0 || p.IPv4.Country != nil || p.IPv4.Subdivision != nil {
		t.Errorf("partner summary %+v, want not covered, covered 0, country and subdivision not applicable", p)
	}
	w := sums["wrong"]
	if w.NotCovered || *w.IPv4.Covered != 1 || *w.IPv4.Country != 0 || *w.IPv6.Covered != 0 || w.IPv6.Country != nil {
		t.Errorf("wrong summary %+v, want IPv4 covered and all in the wrong country, IPv6 not covered", w)
	}
}

// The summary per source gives, per family, the space audited and the
// shares covered, right by country and right by subdivision; a family
// with no space, or no subdivision compared, is null in JSON, never 0.
func TestAuditSummaryPerSource(t *testing.T) {
	in := Inputs{
		Register: []registry.Placement{
			{Prefix: mp("192.0.2.0/24"), Region: "a", Location: loc("US", "US-VA")},
			{Prefix: mp("198.51.100.0/24"), Region: "b", Location: loc("US", "US-CA")},
		},
		Feeds: []Feed{{Name: "feed", Entries: []Entry{
			{Prefix: mp("192.0.2.0/24"), Location: loc("US", "US-VA")},
			{Prefix: mp("198.51.100.0/25"), Location: loc("US", "US-NY")},
		}}},
	}
	rep := auditOf(t, in, AuditOptions{})
	s := rep.Summary[0]
	if s.IPv4.Addresses.String() != "512" || s.IPv4.Unit != "address" || *s.IPv4.Covered != 0.75 ||
		*s.IPv4.Country != 1 || *s.IPv4.Subdivision != 256.0/384 || *s.IPv4.SubdivisionOf != 1 {
		t.Errorf("IPv4 score %+v", s.IPv4)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ipv6":{"prefixes":0,"addresses":0,"covered_share":null,"country_correct":null,"subdivision_correct":null,"subdivision_compared_share":null}`, `"addresses":512`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("summary JSON %s\nlacks %s", b, want)
		}
	}
}

func TestCountJSONIsExactAboveTwoToThe53(t *testing.T) {
	tests := []struct {
		name string
		n    *big.Int
		want string
	}{
		{"a small count is a number", big.NewInt(256), `256`},
		{"2^53 is still a number", new(big.Int).Lsh(big.NewInt(1), 53), `9007199254740992`},
		{"2^53+1 is a string", new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 53), big.NewInt(1)), `"9007199254740993"`},
		{"2^64 (::/0 in /64s) is a string", new(big.Int).Lsh(big.NewInt(1), 64), `"18446744073709551616"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Count
			c.n.Set(tc.n)
			b, err := json.Marshal(c)
			if err != nil || string(b) != tc.want {
				t.Fatalf("marshal %v: %s, %v; want %s", tc.n, b, err, tc.want)
			}
			var back Count
			if err := json.Unmarshal(b, &back); err != nil || back.Cmp(c) != 0 {
				t.Errorf("round trip of %s: %v, %v", b, back, err)
			}
		})
	}
	rep := auditOf(t, Inputs{
		Register: []registry.Placement{{Prefix: mp("2000::/3"), Region: "all", Location: loc("US", "")}},
		Feeds:    []Feed{{Name: "feed", Entries: []Entry{{Prefix: mp("2000::/3"), Location: loc("DE", "")}}}},
	}, AuditOptions{})
	if b, _ := json.Marshal(rep.Findings[0]); !strings.Contains(string(b), `"addresses_affected":"2305843009213693952"`) {
		t.Errorf("a /3 in /64s (2^61) is not an exact string: %s", b)
	}
	rep = auditOf(t, sortingInputs(), AuditOptions{IPv6Unit: 48})
	if f := rep.Findings[len(rep.Findings)-1]; f.Prefix != mp("2001:db8::/48") || f.Affected.String() != "1" || f.Unit != "/48" {
		t.Errorf("a /48 counted in /48s is 1, the smallest finding: %+v", f)
	}
}
