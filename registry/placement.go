package registry

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// Placement says where a prefix of our space is really used: the region
// whose pool holds it and that region's location. Placements never
// overlap: a pool that lent part of itself is placed without that part, and
// the relocated part is placed where it now serves.
type Placement struct {
	Prefix     netip.Prefix      `json:"prefix"`
	Region     string            `json:"region"`
	Location   location.Location `json:"location"`
	Relocation *RelocationRef    `json:"relocation,omitempty"`
	// MovedAt is when the space was relocated, for relocated placements.
	MovedAt *time.Time `json:"moved_at,omitempty"`
}

// Placements lists where every pooled prefix is used, in address order,
// with the event-log position they reflect. Geofeeds, the MMDB export and
// the audit all read it.
func (r *Registry) Placements(ctx context.Context) (out []Placement, pos Position, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if pos, err = tx.Position(ctx); err != nil {
			return err
		}
		regions, err := tx.Regions(ctx)
		if err != nil {
			return err
		}
		locs := make(map[int64]location.Location, len(regions))
		for _, g := range regions {
			locs[g.ID] = g.Location
		}
		pools, err := poolSpans(ctx, tx)
		if err != nil {
			return err
		}
		rels, err := tx.Relocations(ctx)
		if err != nil {
			return err
		}
		lent := map[int64][]netip.Prefix{}
		moved := map[int64]time.Time{}
		refs := map[int64]*RelocationRef{}
		for _, rel := range rels {
			lent[rel.FromPoolID] = append(lent[rel.FromPoolID], rel.Prefix)
			moved[rel.ID] = rel.CreatedAt
			refs[rel.ID] = &RelocationRef{ID: rel.ID, Prefix: rel.Prefix, FromRegion: rel.FromRegion, ToRegion: rel.ToRegion}
		}
		names := make(map[int64]string, len(regions))
		for _, g := range regions {
			names[g.ID] = g.Name
		}
		for _, p := range pools {
			var when *time.Time
			var ref *RelocationRef
			if p.RelocationID != 0 {
				t := moved[p.RelocationID]
				when, ref = &t, refs[p.RelocationID]
			}
			for _, q := range subtract(p.Prefix, lent[p.ID]) {
				out = append(out, Placement{Prefix: q, Region: names[p.RegionID], Location: locs[p.RegionID], Relocation: ref, MovedAt: when})
			}
		}
		slices.SortFunc(out, func(a, b Placement) int { return prefix.Compare(a.Prefix, b.Prefix) })
		return nil
	})
	return out, pos, err
}

// subtract returns p less the given sub-prefixes, as the fewest CIDRs.
func subtract(p netip.Prefix, holes []netip.Prefix) []netip.Prefix {
	if len(holes) == 0 {
		return []netip.Prefix{p}
	}
	slices.SortFunc(holes, prefix.Compare)
	var out []netip.Prefix
	cur := p.Addr()
	last := prefix.Last(p)
	for _, h := range holes {
		if !cur.IsValid() {
			break
		}
		if cur.Less(h.Addr()) {
			out = append(out, prefix.Range(cur, h.Addr().Prev())...)
		}
		if next := prefix.Last(h).Next(); cur.Less(next) || !next.IsValid() {
			cur = next
		}
	}
	if cur.IsValid() && !last.Less(cur) {
		out = append(out, prefix.Range(cur, last)...)
	}
	return out
}

// PoolSpan is the least a placement needs of a pool.
type PoolSpan struct {
	ID           int64
	Prefix       netip.Prefix
	RegionID     int64
	RelocationID int64 // 0 unless the pool is a relocated unit
}

func poolSpans(ctx context.Context, tx Tx) ([]PoolSpan, error) {
	if sl, ok := tx.(SpanLister); ok {
		return sl.PoolSpans(ctx)
	}
	pools, err := tx.Pools(ctx, PoolFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]PoolSpan, 0, len(pools))
	for _, p := range pools {
		if p.IsChild() {
			continue // its parent places it (SpanLister)
		}
		s := PoolSpan{ID: p.ID, Prefix: p.Prefix, RegionID: p.RegionID}
		if p.Relocation != nil {
			s.RelocationID = p.Relocation.ID
		}
		out = append(out, s)
	}
	return out, nil
}
