package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// LifeTx is what a transaction offers to change and remove regions,
// blocks and pools. Each Delete removes the object's row only; the
// registry first checks that nothing depends on it (and the stores'
// foreign keys refuse it if something still does).
type LifeTx interface {
	SpaceTx
	TagTx

	DeleteRegion(ctx context.Context, id int64) error
	// UpdateBlock stores b's registry, registered country, counterparty,
	// price, date and note.
	UpdateBlock(ctx context.Context, b Block) error
	BlockByID(ctx context.Context, id int64) (Block, error)
	DeleteBlock(ctx context.Context, id int64) error
	// UpdatePool stores p's purpose.
	UpdatePool(ctx context.Context, p Pool) error
	// DeletePool deletes a pool with its free space and its released
	// assignments (and their tags); it holds no live assignment.
	DeletePool(ctx context.Context, id int64) error
}

// RegionPatch changes a region: nil fields stay as they are.
type RegionPatch struct {
	Country     *string       `json:"country,omitempty"`
	Subdivision *string       `json:"subdivision,omitempty"`
	City        *string       `json:"city,omitempty"`
	Borrow      *BorrowPolicy `json:"borrow_from,omitempty"`
	BorrowBits  *int          `json:"borrow_unit,omitempty"`
	TagPatch
}

// Apply changes g by p; UpdateRegion checks the result.
func (p RegionPatch) Apply(g *Region) error {
	set(&g.Location.Country, p.Country)
	set(&g.Location.Subdivision, p.Subdivision)
	set(&g.Location.City, p.City)
	set(&g.Borrow, p.Borrow)
	set(&g.BorrowBits, p.BorrowBits)
	t, err := p.TagPatch.apply(g.Tags)
	g.Tags = t
	return err
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// PatchRegion changes a region by p if its ETag still matches ifMatch.
func (r *Registry) PatchRegion(ctx context.Context, name, ifMatch string, p RegionPatch) (Region, error) {
	return r.UpdateRegion(ctx, name, ifMatch, p.Apply)
}

// RemoveRegion deletes a region nothing depends on: no pool serves it, no
// relocation names it, no other region borrows from it.
func (r *Registry) RemoveRegion(ctx context.Context, name, ifMatch string) error {
	return r.store.Update(ctx, func(tx Tx) error {
		g, err := r.regionWithTags(ctx, tx, name)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(g)) {
			return fmt.Errorf("region %s changed since it was read (ETag %s): %w", name, ETag(g), ErrPrecondition)
		}
		pools, err := tx.Pools(ctx, PoolFilter{RegionID: g.ID})
		if err != nil {
			return err
		}
		// A dissolved child pool goes with its parent (RemovePool), so
		// only the pools that serve name what blocks the removal.
		if pools = livePools(pools); len(pools) > 0 {
			return fmt.Errorf("region %s: %s still %s it (%s): remove them first with `cadastre pool remove`: %w",
				name, plural(len(pools), "pool"), agree(len(pools), "serves", "serve"), few(poolNames(pools)), ErrState)
		}
		rels, err := tx.Relocations(ctx)
		if err != nil {
			return err
		}
		var moved []string
		for _, rel := range rels {
			if rel.FromRegion == name || rel.ToRegion == name {
				moved = append(moved, rel.Prefix.String())
			}
		}
		if len(moved) > 0 {
			return fmt.Errorf("region %s: %s name it (%s); relocations are history and stay: %w", name, plural(len(moved), "relocation"), few(moved), ErrState)
		}
		regions, err := tx.Regions(ctx)
		if err != nil {
			return err
		}
		var borrowers []string
		for _, o := range regions {
			if o.ID != g.ID && slices.Contains(o.Borrow.From, name) {
				borrowers = append(borrowers, o.Name)
			}
		}
		if len(borrowers) > 0 {
			return fmt.Errorf("region %s: %s may borrow from it (%s): change their --borrow-from first: %w", name, plural(len(borrowers), "region"), few(borrowers), ErrState)
		}
		if err := tx.SetTags(ctx, KindRegion, g.ID, nil); err != nil {
			return err
		}
		if err := tx.DeleteRegion(ctx, g.ID); err != nil {
			return err
		}
		return r.event(ctx, tx, r.clock(), "region.remove", "region", g.ID, g.Name, g, nil)
	})
}

func poolNames(pools []Pool) []string {
	out := make([]string, len(pools))
	for i, p := range pools {
		out[i] = p.Prefix.String()
	}
	return out
}

// regionWithTags reads a region and its tags, as the API shows it (its
// ETag covers the tags).
func (r *Registry) regionWithTags(ctx context.Context, tx Tx, name string) (Region, error) {
	g, err := tx.RegionByName(ctx, name)
	if err != nil {
		return g, err
	}
	g.Tags, err = tagsOf(ctx, tx, KindRegion, g.ID)
	return g, err
}

// BlockPatch changes a block's provenance and tags: nil fields stay as
// they are. A block's prefix, source and space do not change: remove it
// and add it again.
type BlockPatch struct {
	Registry          *string `json:"registry,omitempty"`
	RegisteredCountry *string `json:"registered_country,omitempty"`
	From              *string `json:"from,omitempty"`
	Price             *Money  `json:"price,omitempty"`
	ClearPrice        bool    `json:"clear_price,omitempty"`
	Date              *string `json:"date,omitempty"`
	Note              *string `json:"note,omitempty"`
	TagPatch
}

// Block returns one block with its tags.
func (r *Registry) Block(ctx context.Context, id int64) (b Block, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		b, err = blockWithTags(ctx, tx, id)
		return err
	})
	return b, err
}

func blockWithTags(ctx context.Context, tx Tx, id int64) (Block, error) {
	b, err := tx.BlockByID(ctx, id)
	if err != nil {
		return b, err
	}
	b.Tags, err = tagsOf(ctx, tx, KindBlock, b.ID)
	return b, err
}

// FindBlock returns the block of exactly prefix p in space (any space
// when empty, as long as only one holds p), with its tags.
func (r *Registry) FindBlock(ctx context.Context, p netip.Prefix, space string) (b Block, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		over, err := tx.BlocksOverlapping(ctx, p)
		if err != nil {
			return err
		}
		var found []Block
		for _, o := range over {
			if o.Prefix == p && (space == "" || o.Space == space) {
				found = append(found, o)
			}
		}
		switch len(found) {
		case 0:
			in := ""
			if space != "" {
				in = " in space " + space
			}
			return fmt.Errorf("block %s%s: %w", p, in, ErrNotFound)
		case 1:
			b, err = blockWithTags(ctx, tx, found[0].ID)
			return err
		}
		var spaces []string
		for _, o := range found {
			spaces = append(spaces, o.Space)
		}
		return invalid("block %s: recorded in %d spaces (%s): name one with --space", p, len(found), few(spaces))
	})
	return b, err
}

// UpdateBlock changes a block's provenance or tags if its ETag still
// matches ifMatch. The rules of AddBlock apply to the result.
func (r *Registry) UpdateBlock(ctx context.Context, id int64, ifMatch string, p BlockPatch) (Block, error) {
	var out Block
	err := r.store.Update(ctx, func(tx Tx) error {
		b, err := blockWithTags(ctx, tx, id)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(b)) {
			return fmt.Errorf("block %s changed since it was read (ETag %s): %w", b.Prefix, ETag(b), ErrPrecondition)
		}
		before := b
		set(&b.Registry, p.Registry)
		set(&b.RegisteredCountry, p.RegisteredCountry)
		set(&b.From, p.From)
		set(&b.Date, p.Date)
		set(&b.Note, p.Note)
		if p.ClearPrice {
			if p.Price != nil {
				return invalid("block %s: a price and no price at once", b.Prefix)
			}
			b.Price = nil
		} else if p.Price != nil {
			m := *p.Price
			b.Price = &m
		}
		if b.Tags, err = p.TagPatch.apply(b.Tags); err != nil {
			return fmt.Errorf("block %s: %w", b.Prefix, err)
		}
		if err := r.checkBlock(b); err != nil {
			return err
		}
		if err := tx.UpdateBlock(ctx, b); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindBlock, b.ID, before.Tags, b.Tags); err != nil {
			return err
		}
		out = b
		return r.event(ctx, tx, r.clock(), "block.update", "block", b.ID, b.Prefix.String(), before, b)
	})
	return out, err
}

// RemoveBlock deletes a block no pool is carved from.
func (r *Registry) RemoveBlock(ctx context.Context, id int64, ifMatch string) error {
	return r.store.Update(ctx, func(tx Tx) error {
		b, err := blockWithTags(ctx, tx, id)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(b)) {
			return fmt.Errorf("block %s changed since it was read (ETag %s): %w", b.Prefix, ETag(b), ErrPrecondition)
		}
		pools, err := tx.Pools(ctx, PoolFilter{BlockID: b.ID})
		if err != nil {
			return err
		}
		if len(pools) > 0 {
			return fmt.Errorf("block %s: %s still carved from it (%s): remove them first with `cadastre pool remove`: %w",
				b.Prefix, plural(len(pools), "pool"), few(poolNames(pools)), ErrState)
		}
		if err := tx.SetTags(ctx, KindBlock, b.ID, nil); err != nil {
			return err
		}
		if err := tx.DeleteBlock(ctx, b.ID); err != nil {
			return err
		}
		return r.event(ctx, tx, r.clock(), "block.remove", "block", b.ID, b.Prefix.String(), b, nil)
	})
}

// PoolPatch changes a pool's purpose or tags: nil fields stay as they are.
type PoolPatch struct {
	Purpose *string `json:"purpose,omitempty"`
	TagPatch
}

// Pool returns one pool with its tags.
func (r *Registry) Pool(ctx context.Context, id int64) (p Pool, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		p, err = poolWithTags(ctx, tx, id)
		return err
	})
	return p, err
}

// poolWithTags reads a pool through Pools, not PoolByID, which a store
// may answer from a cache of what never changed before pools could.
func poolWithTags(ctx context.Context, tx Tx, id int64) (Pool, error) {
	ps, err := tx.Pools(ctx, PoolFilter{ID: id})
	if err != nil {
		return Pool{}, err
	}
	if len(ps) == 0 {
		return Pool{}, fmt.Errorf("pool %d: %w", id, ErrNotFound)
	}
	p := ps[0]
	p.Tags, err = tagsOf(ctx, tx, KindPool, p.ID)
	return p, err
}

// FindPool returns the pool of exactly prefix p that is not a relocated
// unit (pools other than relocated units never overlap within a space),
// with its tags: the one of any space, or ErrInvalid naming the spaces
// when several hold one (FindPoolIn names the space).
func (r *Registry) FindPool(ctx context.Context, p netip.Prefix) (out Pool, err error) {
	return r.FindPoolIn(ctx, p, "")
}

// FindPoolIn is FindPool in space ("" any): a space that does not exist
// is ErrNotFound naming it.
func (r *Registry) FindPoolIn(ctx context.Context, p netip.Prefix, space string) (out Pool, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		pools, err := tx.PoolsOverlapping(ctx, space, p)
		if err != nil {
			return err
		}
		var found []Pool
		for _, pl := range pools {
			if pl.Prefix == p && pl.Relocation == nil && !pl.IsChild() {
				found = append(found, pl)
			}
		}
		if len(found) == 0 {
			// A child pool of exactly p (the only pool there) as before.
			for _, pl := range pools {
				if pl.Prefix == p && pl.Relocation == nil {
					found = append(found, pl)
				}
			}
		}
		switch len(found) {
		case 0:
			if space != "" {
				if _, err := tx.SpaceByName(ctx, space); err != nil {
					return err
				}
				return fmt.Errorf("pool %s in space %s: %w", p, space, ErrNotFound)
			}
			return fmt.Errorf("pool %s: %w", p, ErrNotFound)
		case 1:
			out, err = poolWithTags(ctx, tx, found[0].ID)
			return err
		}
		// Never one picked: the caller names the space or the pool.
		names := make([]string, len(found))
		for i, pl := range found {
			names[i] = fmt.Sprintf("pool %d in space %s", pl.ID, pl.Space)
		}
		return invalid("pool %s: one in each of %d spaces (%s): name one with --space, or give the pool's ID", p, len(found), strings.Join(names, ", "))
	})
	return out, err
}

// UpdatePool changes a pool's purpose or tags if its ETag still matches
// ifMatch.
func (r *Registry) UpdatePool(ctx context.Context, id int64, ifMatch string, p PoolPatch) (Pool, error) {
	if p.Purpose != nil {
		if err := CheckText("purpose", *p.Purpose); err != nil {
			return Pool{}, err
		}
		if len(*p.Purpose) > 200 {
			return Pool{}, invalid("purpose: longer than 200 bytes")
		}
	}
	var out Pool
	err := r.store.Update(ctx, func(tx Tx) error {
		pl, err := poolWithTags(ctx, tx, id)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(pl)) {
			return fmt.Errorf("pool %s changed since it was read (ETag %s): %w", pl.Prefix, ETag(pl), ErrPrecondition)
		}
		before := pl
		set(&pl.Purpose, p.Purpose)
		if pl.Tags, err = p.TagPatch.apply(pl.Tags); err != nil {
			return fmt.Errorf("pool %s: %w", pl.Prefix, err)
		}
		if err := tx.UpdatePool(ctx, pl); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindPool, pl.ID, before.Tags, pl.Tags); err != nil {
			return err
		}
		out = pl
		return r.event(ctx, tx, r.clock(), "pool.update", "pool", pl.ID, pl.Prefix.String(), before, pl)
	})
	return out, err
}

// RemovePool deletes a pool that holds no live or quarantined assignment
// and lent no space to another region. Its released assignments go with
// it (the event log keeps their history). A relocated unit stays: the
// relocation is history the geofeed and the audit follow.
func (r *Registry) RemovePool(ctx context.Context, id int64, ifMatch string) error {
	return r.store.Update(ctx, func(tx Tx) error {
		pl, err := poolWithTags(ctx, tx, id)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(pl)) {
			return fmt.Errorf("pool %s changed since it was read (ETag %s): %w", pl.Prefix, ETag(pl), ErrPrecondition)
		}
		// Reading the region in a write transaction orders this removal
		// with the region's allocations (PostgreSQL locks its row).
		if _, err := tx.RegionByName(ctx, pl.Region); err != nil {
			return err
		}
		if pl.Relocation != nil {
			return fmt.Errorf("pool %s: a unit relocated from region %s (relocation %d); relocations are history and stay: %w",
				pl.Prefix, pl.Relocation.FromRegion, pl.Relocation.ID, ErrState)
		}
		if pl.IsChild() {
			return fmt.Errorf("pool %s: child pool %s; dissolve it with `cadastre release --pool %s`: %w", pl.Prefix, pl.Name, pl.Name, ErrState)
		}
		kids, err := tx.ChildPools(ctx, pl.ID)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			names := make([]string, len(kids))
			for i, k := range kids {
				names[i] = fmt.Sprintf("%s (%s)", k.Name, k.Prefix)
			}
			return fmt.Errorf("pool %s: holds %s (%s); release them first: %w", pl.Prefix, plural(len(kids), "child pool"), few(names), ErrState)
		}
		rels, err := tx.Relocations(ctx)
		if err != nil {
			return err
		}
		var lent []string
		for _, rel := range rels {
			if rel.FromPoolID == pl.ID {
				lent = append(lent, rel.Prefix.String()+" to "+rel.ToRegion)
			}
		}
		if len(lent) > 0 {
			return fmt.Errorf("pool %s: lent %s (%s); relocations are history and stay: %w", pl.Prefix, plural(len(lent), "unit"), few(lent), ErrState)
		}
		live, err := tx.Assignments(ctx, AssignmentFilter{PoolID: pl.ID, States: []State{StateAssigned, StateQuarantined}, Limit: 6})
		if err != nil {
			return err
		}
		if len(live) > 0 {
			names := make([]string, len(live))
			for i, a := range live {
				names[i] = fmt.Sprintf("%s (%s)", a.Prefix, a.State)
			}
			more := ""
			if len(live) > 5 {
				names, more = names[:5], " and more"
			}
			return fmt.Errorf("pool %s: live assignments still in it (%s%s): release them first (quarantined ones free at the end of their cool-down): %w",
				pl.Prefix, few(names), more, ErrState)
		}
		// Its dissolved child pools go first, with their released
		// assignments: their rows were kept only for that history, and
		// each still names this pool as its parent.
		all, err := tx.Pools(ctx, PoolFilter{RegionID: pl.RegionID})
		if err != nil {
			return err
		}
		now := r.clock()
		for _, k := range all {
			if k.ParentID != pl.ID || k.DissolvedAt == nil {
				continue
			}
			if err := tx.SetTags(ctx, KindPool, k.ID, nil); err != nil {
				return err
			}
			if err := tx.DeletePool(ctx, k.ID); err != nil {
				return fmt.Errorf("pool %s: dissolved child pool %s (%s): %w", pl.Prefix, k.Name, k.Prefix, err)
			}
			if err := r.event(ctx, tx, now, "pool.remove", "pool", k.ID, k.Prefix.String(), k, nil); err != nil {
				return err
			}
		}
		if err := tx.SetTags(ctx, KindPool, pl.ID, nil); err != nil {
			return err
		}
		if err := tx.DeletePool(ctx, pl.ID); err != nil {
			return err
		}
		return r.event(ctx, tx, now, "pool.remove", "pool", pl.ID, pl.Prefix.String(), pl, nil)
	})
}

// AssignmentPatch changes a live assignment: nil fields stay as they are.
type AssignmentPatch struct {
	Name     *string `json:"name,omitempty"`
	Resource *string `json:"resource,omitempty"`
	TagPatch
}
