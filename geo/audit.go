package geo

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Share is a part of a prefix and the location a source gives it; a zero
// Location is a part the source has a record for without a country (the
// part it has no record for is Finding.NotCovered).
type Share struct {
	Location location.Location `json:"location"`
	Share    float64           `json:"share"`
}

// Finding is a prefix of ours where a source disagrees with the register.
type Finding struct {
	Prefix   netip.Prefix      `json:"prefix"`
	Region   string            `json:"region"`
	Intended location.Location `json:"intended"`
	Source   string            `json:"source"`
	// Says is what the source gives the part of the prefix it covers,
	// largest share first (shares of the whole prefix); the part it says
	// nothing about is NotCovered, not a location.
	Says []Share `json:"says"`
	// Disagree is the share of the prefix the source places elsewhere:
	// another country, another subdivision where both name one, or a
	// record without a country. Space the source has no record for is
	// not a disagreement (see NotCovered).
	Disagree float64 `json:"disagree_share"`
	// NotCovered is the share of the prefix the source says nothing
	// about.
	NotCovered float64 `json:"not_covered_share"`
	// Unit is what Addresses and Affected count: "address" for IPv4,
	// "/64" (or the audit's IPv6 unit) for IPv6, since an IPv6 prefix
	// counted in addresses would drown every IPv4 block.
	Unit string `json:"unit"`
	// Addresses is the size of the prefix in Units; Affected is how many
	// of them the source places elsewhere (at least 1 when any is): the
	// figure findings are sorted by, largest first.
	Addresses Count `json:"addresses"`
	Affected  Count `json:"addresses_affected"`
	// For relocated space: where it came from, when it moved, and how long
	// before the audit.
	FromRegion string        `json:"from_region,omitempty"`
	MovedAt    *time.Time    `json:"moved_at,omitempty"`
	MovedAgo   time.Duration `json:"moved_ago_ns,omitempty"`
}

// SourceSummary is how well one source places our space, per family, as
// shares of the addresses (IPv4 and IPv6 apart: a /48 would drown every
// IPv4 block).
type SourceSummary struct {
	Source string `json:"source"`
	Kind   Kind   `json:"kind"`
	IPv4   Score  `json:"ipv4"`
	IPv6   Score  `json:"ipv6"`
	// Findings is how many prefixes the source disagrees on (those the
	// thresholds keep); Below is how many more the thresholds left out.
	Findings int `json:"findings"`
	Below    int `json:"findings_below_threshold"`
	// NotCovered is true when the source says nothing about any of the
	// audited space (a partner feed for other space): one line of the
	// summary, not a finding per prefix.
	NotCovered bool `json:"not_covered"`
}

// Score is how a source places a family's space: how much of it it
// covers, of the covered space the share in the right country, and, of
// the space where both it and the register name a subdivision, the share
// in the right one. A figure that does not apply (no space of the
// family, nothing covered, no subdivision compared) is nil, JSON null,
// never a 0 that reads as "all wrong".
type Score struct {
	Prefixes int `json:"prefixes"`
	// Unit and Addresses: the family's audited space, counted as in
	// Finding.
	Unit      string `json:"unit,omitempty"`
	Addresses Count  `json:"addresses"`
	// Covered is the share of Addresses the source has a record for.
	Covered *float64 `json:"covered_share"`
	// Country is the share of the covered space in the right country.
	Country *float64 `json:"country_correct"`
	// Subdivision is, of the covered space where both name a
	// subdivision, the share in the right one; SubdivisionOf is that
	// compared space as a share of the covered space.
	Subdivision   *float64 `json:"subdivision_correct"`
	SubdivisionOf *float64 `json:"subdivision_compared_share"`
	units         float64
	addrs, cover  float64
	country       float64
	subAddrs, sub float64
}

// AuditOptions selects what an audit reports. Its zero value audits
// every source but the register and reports every finding, IPv6 counted
// in /64s.
type AuditOptions struct {
	// Sources to audit; none means every source but the register.
	Sources []string
	// MinShare keeps only findings whose disagreeing share is at least
	// this (0 to 1); MinAddresses only those affecting at least this
	// many addresses (IPv6: units). Findings below either are counted
	// in the summary, not listed.
	MinShare     float64
	MinAddresses uint64
	// IPv6Unit is the prefix length IPv6 space is counted in (64 or 48,
	// as the register hands it out); 0 means 64.
	IPv6Unit int
	// Provider, when set, audits that provider's published ranges (a
	// source added from a ranges file) instead of the register's space;
	// see AuditProviderWith.
	Provider string
}

// Count is a number of addresses (IPv4) or of IPv6 units. It is exact
// at any size; in JSON it is a number up to 2^53 and a decimal string
// above, which a JSON reader's float64 could not hold exactly.
type Count struct{ n big.Int }

// NewCount is a Count of n.
func NewCount(n uint64) Count {
	var c Count
	c.n.SetUint64(n)
	return c
}

// countOf rounds a non-negative float to a Count, at least 1 when x > 0
// (a part of one unit is one unit affected).
func countOf(x float64) Count {
	var c Count
	switch {
	case x <= 0:
	case x < 1:
		c.n.SetInt64(1)
	default:
		big.NewFloat(math.Round(x)).Int(&c.n)
	}
	return c
}

// Cmp compares c with d: -1, 0 or +1.
func (c Count) Cmp(d Count) int { return c.n.Cmp(&d.n) }

// String is c in decimal.
func (c Count) String() string { return c.n.String() }

// Uint64 is c, saturated at the largest uint64.
func (c Count) Uint64() uint64 {
	if !c.n.IsUint64() {
		return math.MaxUint64
	}
	return c.n.Uint64()
}

var maxExact = new(big.Int).Lsh(big.NewInt(1), 53)

// MarshalJSON writes c as a number, or as a string above 2^53.
func (c Count) MarshalJSON() ([]byte, error) {
	if c.n.Cmp(maxExact) > 0 {
		return []byte(strconv.Quote(c.n.String())), nil
	}
	return []byte(c.n.String()), nil
}

// UnmarshalJSON reads a number or a decimal string.
func (c *Count) UnmarshalJSON(b []byte) error {
	s := string(b)
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	if _, ok := c.n.SetString(s, 10); !ok || c.n.Sign() < 0 {
		return fmt.Errorf("address count %s: not a non-negative integer", b)
	}
	return nil
}

// AuditReport is the result of an audit.
type AuditReport struct {
	At       time.Time       `json:"at"`
	Checked  int             `json:"prefixes_checked"`
	Findings []Finding       `json:"findings"`
	Summary  []SourceSummary `json:"summary"`
	// Unusable lists the sources the audit had to leave out, each with
	// why (an MMDB file that is missing or corrupt and has no earlier
	// copy): an audit that skipped a source is not a clean audit, and
	// the CLI exits with a status of its own for it.
	Unusable []SourceStatus `json:"unusable_sources,omitempty"`
	// Regions is, for a provider's audit (AuditOptions.Provider), each
	// of the provider's regions against each source: how much of the
	// space the provider publishes for the region the source places
	// elsewhere, every prefix counted whatever the thresholds. Largest
	// IPv4 disagreement first, then IPv6.
	Regions []RegionSummary `json:"regions,omitempty"`
}

// RegionSummary is one provider region's published space against one
// source.
type RegionSummary struct {
	// Region is the provider and its region names (as Finding.Region);
	// Location is where the provider says the region is.
	Region   string            `json:"region"`
	Location location.Location `json:"location"`
	Source   string            `json:"source"`
	IPv4     RegionScore       `json:"ipv4"`
	IPv6     RegionScore       `json:"ipv6"`
}

// RegionScore is a region's space of one family against one source.
type RegionScore struct {
	Prefixes int `json:"prefixes"`
	// Disagreeing is how many of the prefixes the source places, in
	// part or whole, elsewhere.
	Disagreeing int `json:"prefixes_disagreeing"`
	// Unit, Addresses and Affected count as in Finding; Share is
	// Affected over Addresses, null with no space of the family.
	Unit      string   `json:"unit,omitempty"`
	Addresses Count    `json:"addresses"`
	Affected  Count    `json:"addresses_affected"`
	Share     *float64 `json:"disagree_share"`
	units     float64
	affected  float64
}

// add counts one prefix of units units, of which the share d disagrees.
func (r *RegionScore) add(unit string, units, d float64) {
	r.Prefixes++
	r.Unit = unit
	r.units += units
	if d > 1e-12 {
		r.Disagreeing++
		r.affected += d * units
	}
}

// regionSummaries finishes the per-region counts, largest disagreement
// first.
func regionSummaries(m map[[2]string]*RegionSummary) []RegionSummary {
	out := make([]RegionSummary, 0, len(m))
	for _, r := range m {
		for _, sc := range []*RegionScore{&r.IPv4, &r.IPv6} {
			sc.Addresses, sc.Affected = countOf(sc.units), countOf(sc.affected)
			sc.Share = ratio(sc.affected, sc.units)
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RegionSummary) int {
		return cmp.Or(b.IPv4.Affected.Cmp(a.IPv4.Affected), b.IPv6.Affected.Cmp(a.IPv6.Affected),
			cmp.Compare(a.Region, b.Region), cmp.Compare(a.Source, b.Source))
	})
	return out
}

// Audit compares, for every placement (registry.Placements: every pool and
// relocation), where the register says it is used with what each named
// source of t says across the whole prefix: every network of the source
// inside it is walked, none sampled. With no names, every source but the
// register is audited.
func Audit(ctx context.Context, t *Table, places []registry.Placement, sources []string, now time.Time) (AuditReport, error) {
	return AuditWith(ctx, t, places, AuditOptions{Sources: sources}, now)
}

// AuditWith is Audit with options: thresholds and the IPv6 unit. The
// placements may be any set of prefixes with an expected location (the
// register's pools, a provider's published ranges); findings are sorted
// by addresses affected, largest first, then by prefix and source.
func AuditWith(ctx context.Context, t *Table, places []registry.Placement, opts AuditOptions, now time.Time) (AuditReport, error) {
	rep := AuditReport{At: now, Checked: len(places)}
	sources := opts.Sources
	unit6 := opts.IPv6Unit
	if unit6 == 0 {
		unit6 = 64
	}
	if unit6 < 1 || unit6 > 128 || opts.MinShare < 0 || opts.MinShare > 1 || math.IsNaN(opts.MinShare) {
		return rep, fmt.Errorf("audit: IPv6 unit /%d, minimum share %v: %w", unit6, opts.MinShare, ErrBadAuditOptions)
	}
	if len(sources) == 0 {
		for _, s := range t.Sources() {
			if s.Kind != KindRegister {
				sources = append(sources, s.Name)
			}
		}
	}
	status := map[string]SourceStatus{}
	for _, s := range t.Sources() {
		status[s.Name] = s
	}
	kinds := map[string]Kind{}
	for _, s := range t.Sources() {
		kinds[s.Name] = s.Kind
	}
	var parts []part
	regions := map[[2]string]*RegionSummary{}
	for _, name := range sources {
		st, ok := status[name]
		if !ok {
			return rep, fmt.Errorf("audit: source %s: %w: %w", name, ErrUnknownSource, registry.ErrNotFound)
		}
		if st.Kind == KindMMDB && st.Err != "" && !st.Stale {
			rep.Unusable = append(rep.Unusable, st)
			continue
		}
		sum := SourceSummary{Source: name, Kind: kinds[name]}
		for _, pl := range places {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			p := pl.Prefix.Masked()
			parts = parts[:0]
			if err := t.Walk(name, p, func(e Entry) error {
				parts = append(parts, part{e.Prefix, e.Location, size(e.Prefix)})
				return nil
			}); err != nil {
				return rep, fmt.Errorf("audit %v: %w", p, err)
			}
			shares, agree, subCmp, subOK, uncovered := judge(parts, p, pl.Location)
			sc, unit, units := &sum.IPv4, "address", size(p)
			if p.Addr().Is6() {
				sc, unit, units = &sum.IPv6, "/"+strconv.Itoa(unit6), math.Ldexp(1, unit6-p.Bits())
			}
			total := size(p)
			sc.Prefixes++
			sc.Unit = unit
			sc.units += units
			sc.addrs += total
			sc.cover += (1 - uncovered) * total
			sc.country += agree.country * total
			sc.subAddrs += subCmp * total
			sc.sub += subOK * total
			d := 1 - agree.all - uncovered
			if opts.Provider != "" {
				k := [2]string{pl.Region, name}
				r := regions[k]
				if r == nil {
					r = &RegionSummary{Region: pl.Region, Location: pl.Location, Source: name}
					regions[k] = r
				}
				if p.Addr().Is6() {
					r.IPv6.add(unit, units, d)
				} else {
					r.IPv4.add(unit, units, d)
				}
			}
			if d > 1e-12 {
				f := Finding{Prefix: p, Region: pl.Region, Intended: pl.Location, Source: name, Says: shares,
					Disagree: d, NotCovered: uncovered, Unit: unit, Addresses: countOf(units), Affected: countOf(d * units)}
				if pl.Relocation != nil {
					f.FromRegion = pl.Relocation.FromRegion
				}
				if pl.MovedAt != nil {
					m := *pl.MovedAt
					f.MovedAt, f.MovedAgo = &m, now.Sub(m)
				}
				if f.Disagree < opts.MinShare-1e-12 || f.Affected.Cmp(NewCount(opts.MinAddresses)) < 0 {
					sum.Below++
					continue
				}
				rep.Findings = append(rep.Findings, f)
				sum.Findings++
			}
		}
		covered := false
		for _, sc := range []*Score{&sum.IPv4, &sum.IPv6} {
			sc.Addresses = countOf(sc.units)
			sc.Covered = ratio(sc.cover, sc.addrs)
			sc.Country, sc.Subdivision, sc.SubdivisionOf = ratio(sc.country, sc.cover), ratio(sc.sub, sc.subAddrs), ratio(sc.subAddrs, sc.cover)
			covered = covered || sc.cover > 0
		}
		sum.NotCovered = len(places) > 0 && !covered
		rep.Summary = append(rep.Summary, sum)
	}
	if opts.Provider != "" {
		rep.Regions = regionSummaries(regions)
	}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(b.Affected.Cmp(a.Affected), prefix.Compare(a.Prefix, b.Prefix), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()))
	})
	return rep, nil
}

// ErrBadAuditOptions is an audit asked with a threshold or IPv6 unit out
// of range: bad input, told apart from a failed audit.
var ErrBadAuditOptions = fmt.Errorf("audit options out of range: %w", registry.ErrInvalid)

// ratio is a/b, nil (not applicable) when b is 0.
func ratio(a, b float64) *float64 {
	if b == 0 {
		return nil
	}
	r := a / b
	return &r
}

type part struct {
	p    netip.Prefix
	loc  location.Location
	size float64
}

// size is the number of addresses of p, as a float (exact: a power of two).
func size(p netip.Prefix) float64 {
	return math.Ldexp(1, p.Addr().BitLen()-p.Bits())
}

type agreement struct{ country, all float64 }

// judge turns the entries a source gives inside p (which may nest: a
// geofeed's covering entry, then its more specific ones) into shares of p
// by location, with the share that agrees with want on the country, on
// everything (country, and subdivision where both name one), the share
// where both name a subdivision, and the share of p where that subdivision
// agrees.
func judge(parts []part, p netip.Prefix, want location.Location) (shares []Share, agree agreement, subCmp, subOK, uncovered float64) {
	slices.SortFunc(parts, func(a, b part) int {
		return cmp.Or(prefix.Compare(a.p, b.p), cmp.Compare(a.p.Bits(), b.p.Bits()))
	})
	// Each entry holds its size less the entries directly inside it: a
	// stack of enclosing entries finds each one's parent.
	var stack []int
	for i := range parts {
		for len(stack) > 0 && !parts[stack[len(stack)-1]].p.Overlaps(parts[i].p) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			parts[stack[len(stack)-1]].size -= parts[i].size
		}
		stack = append(stack, i)
	}
	total := size(p)
	covered := 0.0
	byLoc := map[location.Location]float64{}
	for _, x := range parts {
		covered += x.size
		byLoc[x.loc] += x.size
	}
	if rest := total - covered; rest > 0 {
		uncovered = rest / total
	}
	for l, n := range byLoc {
		s := n / total
		shares = append(shares, Share{Location: l, Share: s})
		if l.Country == "" || l.Country != want.Country {
			continue
		}
		agree.country += s
		switch {
		case l.Subdivision == "" || want.Subdivision == "":
			agree.all += s
		case l.Subdivision == want.Subdivision || within(l.Subdivision, want.Subdivision):
			// The source names the region's subdivision or one inside
			// it (a City database's GB-WBK for a region in GB-ENG).
			agree.all += s
			subCmp += s
			subOK += s
		case within(want.Subdivision, l.Subdivision):
			// The source is less specific than the region (GB-ENG for
			// a region in GB-WBK): right as far as it goes, and not a
			// comparison of the subdivision.
			agree.all += s
		default:
			subCmp += s
		}
	}
	slices.SortFunc(shares, func(a, b Share) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(a.Location.String(), b.Location.String()))
	})
	return shares, agree, subCmp, subOK, uncovered
}

// within reports whether the ISO 3166-2 subdivision sub lies inside
// outer: outer is one of its parents (GB-WBK in GB-ENG, FR-67 in FR-6AE
// in FR-GES).
func within(sub, outer string) bool {
	for range 8 { // ISO 3166-2 nests three levels at most
		s, ok := iso3166.LookupSubdivision(sub)
		if !ok || s.Parent == "" {
			return false
		}
		if s.Parent == outer {
			return true
		}
		sub = s.Parent
	}
	return false
}
