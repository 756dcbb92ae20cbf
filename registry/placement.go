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

// Placements lists where every pooled prefix of the global space is used,
// in address order, with the event-log position they reflect. Geofeeds,
// the MMDB export, the audit and look-ups all read it: private space means
// nothing outside its routing domain, and two spaces may both hold
// 10.0.0.0/8, so the global space is the only one they consider unless a
// space is named (PlacementsIn).
func (r *Registry) Placements(ctx context.Context) (out []Placement, pos Position, err error) {
	return r.PlacementsIn(ctx, GlobalSpace)
}

// PlacementsIn is Placements of the named space (the global space when
// empty): a private space's own geofeed or look-ups. An unknown space is
// ErrNotFound.
func (r *Registry) PlacementsIn(ctx context.Context, space string) (out []Placement, pos Position, err error) {
	if space == "" {
		space = GlobalSpace
	}
	err = r.store.View(ctx, func(tx Tx) error {
		if _, err := tx.SpaceByName(ctx, space); err != nil {
			return err
		}
		if pos, err = tx.Position(ctx); err != nil {
			return err
		}
		in, err := blocksOf(ctx, tx, space)
		if err != nil {
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
			if !in[p.BlockID] {
				continue
			}
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
	BlockID      int64 // the block it is carved from, which names its space
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
		s := PoolSpan{ID: p.ID, Prefix: p.Prefix, RegionID: p.RegionID, BlockID: p.BlockID}
		if p.Relocation != nil {
			s.RelocationID = p.Relocation.ID
		}
		out = append(out, s)
	}
	return out, nil
}

// blocksOf is the set of the IDs of the blocks of the spaces: a pool,
// and every assignment in it, belongs to the space of its block.
func blocksOf(ctx context.Context, tx Tx, spaces ...string) (map[int64]bool, error) {
	blocks, err := tx.Blocks(ctx)
	if err != nil {
		return nil, err
	}
	in := map[int64]bool{}
	for _, b := range blocks {
		if slices.Contains(spaces, b.Space) {
			in[b.ID] = true
		}
	}
	return in, nil
}

// DNSOnly keeps, of pools and assignments read in tx, those DNS builds
// its zones from: the global space, and the built-in private space
// (private blocks recorded without --space, which DNS has always served
// when a zone for them is set up). A named space (a VRF, `space add`)
// stays out: two VPCs may both hold 10.0.0.1, and a VRF's names are for
// its own resolvers. Assignments whose pool is not among pools are
// looked up in tx.
func DNSOnly(ctx context.Context, tx Tx, pools []Pool, assigns []Assignment) ([]Pool, []Assignment, error) {
	in, err := blocksOf(ctx, tx, GlobalSpace, PrivateSpace)
	if err != nil {
		return nil, nil, err
	}
	global := map[int64]bool{}
	for _, p := range pools {
		global[p.ID] = in[p.BlockID]
	}
	unknown := slices.ContainsFunc(assigns, func(a Assignment) bool { _, ok := global[a.PoolID]; return !ok })
	if unknown {
		all, err := tx.Pools(ctx, PoolFilter{})
		if err != nil {
			return nil, nil, err
		}
		for _, p := range all {
			global[p.ID] = in[p.BlockID]
		}
	}
	pools = slices.DeleteFunc(pools, func(p Pool) bool { return !global[p.ID] })
	assigns = slices.DeleteFunc(assigns, func(a Assignment) bool { return !global[a.PoolID] })
	return pools, assigns, nil
}
