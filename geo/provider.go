package geo

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/geo/cloudregions"
	"github.com/cadastre-ipam/cadastre/registry"
)

// ErrNotRanges is audit --provider given a source that was not imported
// from a provider's published ranges; it is ErrInvalid.
var ErrNotRanges = fmt.Errorf("not a provider's ranges source (add one with --ranges): %w", registry.ErrInvalid)

// ProviderPlacements turns the ranges source name of t into placements,
// as if the provider's space were ours: each placed prefix with where the
// provider says it is, its region named by the provider's regions at that
// place (from the embedded table). Unplaced prefixes (global, unknown
// region) say nothing to compare and are left out.
func ProviderPlacements(t *Table, name string) ([]registry.Placement, error) {
	var provider string
	for _, s := range t.Sources() {
		if s.Name == name {
			p, ok := RangesProvider(s)
			if !ok {
				return nil, fmt.Errorf("audit --provider %s: %w", name, ErrNotRanges)
			}
			provider = p
		}
	}
	if provider == "" {
		return nil, fmt.Errorf("audit --provider %s: %w: %w", name, ErrUnknownSource, registry.ErrNotFound)
	}
	labels := map[string]string{}
	var out []registry.Placement
	for _, all := range []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")} {
		if err := t.Walk(name, all, func(e Entry) error {
			if e.Location.IsZero() || e.Prefix == all {
				return nil
			}
			k := e.Location.String()
			l, ok := labels[k]
			if !ok {
				rs := cloudregions.Regions(provider, e.Location)
				slices.Sort(rs)
				l = provider + " " + strings.Join(rs, "+")
				labels[k] = l
			}
			out = append(out, registry.Placement{Prefix: e.Prefix, Region: l, Location: e.Location})
			return nil
		}); err != nil {
			return nil, fmt.Errorf("audit --provider %s: %w", name, err)
		}
	}
	return out, nil
}

// AuditProvider audits the published space of the ranges source provider
// against the named sources of t (with none, every source but the
// register and the provider itself): where the databases place each
// prefix against where the provider says its region is. The findings
// carry the provider's region as their region; the report has the shape
// of Audit's.
func AuditProvider(ctx context.Context, t *Table, provider string, sources []string, now time.Time) (AuditReport, error) {
	return AuditProviderWith(ctx, t, AuditOptions{Provider: provider, Sources: sources}, now)
}

// AuditProviderWith is AuditProvider with the audit's thresholds and
// units: opts.Provider names the provider.
func AuditProviderWith(ctx context.Context, t *Table, opts AuditOptions, now time.Time) (AuditReport, error) {
	provider, sources := opts.Provider, opts.Sources
	places, err := ProviderPlacements(t, provider)
	if err != nil {
		return AuditReport{}, err
	}
	if len(sources) == 0 {
		for _, s := range t.Sources() {
			if s.Kind != KindRegister && s.Name != provider {
				sources = append(sources, s.Name)
			}
		}
	}
	if slices.Contains(sources, provider) {
		return AuditReport{}, fmt.Errorf("audit --provider %s: the provider's own source cannot audit itself: %w", provider, registry.ErrInvalid)
	}
	if len(sources) == 0 {
		return AuditReport{}, fmt.Errorf("audit --provider %s: no other source to audit it against (add an MMDB or a feed): %w", provider, registry.ErrInvalid)
	}
	opts.Sources = sources
	return AuditWith(ctx, t, places, opts, now)
}
