package geo

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Share is a part of a prefix and the location a source gives it; a zero
// Location is the part the source places nowhere (no data, or a record
// without a country).
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
	// Says is what the source gives the prefix, largest share first.
	Says []Share `json:"says"`
	// Disagree is the share of the prefix the source places elsewhere or
	// nowhere: another country, or another subdivision where both name one.
	Disagree float64 `json:"disagree_share"`
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
	// Findings is how many prefixes the source disagrees on.
	Findings int `json:"findings"`
}

// Score is the share of a family's space a source places in the right
// country, and, of the space where both it and the register name a
// subdivision, the share in the right one; 0 when there is none (see
// Prefixes and SubdivisionOf).
type Score struct {
	Prefixes       int     `json:"prefixes"`
	Country        float64 `json:"country_correct"`
	Subdivision    float64 `json:"subdivision_correct"`
	SubdivisionOf  float64 `json:"subdivision_compared_share"`
	addrs, country float64
	subAddrs, sub  float64
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
}

// Audit compares, for every placement (registry.Placements: every pool and
// relocation), where the register says it is used with what each named
// source of t says across the whole prefix: every network of the source
// inside it is walked, none sampled. With no names, every source but the
// register is audited.
func Audit(ctx context.Context, t *Table, places []registry.Placement, sources []string, now time.Time) (AuditReport, error) {
	rep := AuditReport{At: now, Checked: len(places)}
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
			shares, agree, subCmp, subOK := judge(parts, p, pl.Location)
			sc := &sum.IPv4
			if p.Addr().Is6() {
				sc = &sum.IPv6
			}
			total := size(p)
			sc.Prefixes++
			sc.addrs += total
			sc.country += agree.country * total
			sc.subAddrs += subCmp * total
			sc.sub += subOK * total
			if agree.all < 1-1e-12 {
				f := Finding{Prefix: p, Region: pl.Region, Intended: pl.Location, Source: name, Says: shares, Disagree: 1 - agree.all}
				if pl.Relocation != nil {
					f.FromRegion = pl.Relocation.FromRegion
				}
				if pl.MovedAt != nil {
					m := *pl.MovedAt
					f.MovedAt, f.MovedAgo = &m, now.Sub(m)
				}
				rep.Findings = append(rep.Findings, f)
				sum.Findings++
			}
		}
		for _, sc := range []*Score{&sum.IPv4, &sum.IPv6} {
			sc.Country, sc.Subdivision, sc.SubdivisionOf = ratio(sc.country, sc.addrs), ratio(sc.sub, sc.subAddrs), ratio(sc.subAddrs, sc.addrs)
		}
		rep.Summary = append(rep.Summary, sum)
	}
	return rep, nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
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
func judge(parts []part, p netip.Prefix, want location.Location) (shares []Share, agree agreement, subCmp, subOK float64) {
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
		byLoc[location.Location{}] += rest
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
	return shares, agree, subCmp, subOK
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
