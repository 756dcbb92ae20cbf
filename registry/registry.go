// Package registry holds the rules of the register: what a region, block,
// pool and assignment may be, how addresses are handed out (region
// affinity, IPv6 first, buddy allocation, borrowing IPv4 only by policy,
// quarantine, idempotency) and how each change is written to the event
// log. It stores nothing itself: a Store does, and holds no rule.
package registry

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/iso3166"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// Registry applies the rules of the register over a Store.
type Registry struct {
	store Store
	now   func() time.Time
	reaps reaper
	// maxBatch bounds the prefixes of one AllocateAll (0: MaxCount).
	maxBatch int
	// suffixes are tenants' name suffixes as last read (tenant.go).
	suffixes suffixCache
	// poolTexts are the texts of the pools' prefixes allocations took
	// from, for their events (eventjson.go).
	poolTexts prefixTexts
}

// Option configures a Registry.
type Option func(*Registry)

// WithClock makes the registry read time from now, so tests and the demo
// can travel in time.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// New returns a Registry over s.
func New(s Store, opts ...Option) *Registry {
	r := &Registry{store: s, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Store returns the store the registry works on.
func (r *Registry) Store() Store { return r.store }

func (r *Registry) clock() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

type actorKey struct{}

// WithActor names who is making the changes done with ctx; every event
// written records it.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the actor recorded in ctx, or "unknown".
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return "unknown"
}

// invalid wraps a message as an ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

// event appends an event. Its payloads go through marshalEvent, which
// writes an assignment's JSON without reflection: every allocation writes
// one, and encoding/json's walk of it was ~3 % of a one-caller durable
// allocation's CPU (issue 16).
func (r *Registry) event(ctx context.Context, tx Tx, at time.Time, action, kind string, id int64, subject string, before, after any) error {
	e := Event{At: at, Actor: Actor(ctx), Action: action, SubjectKind: kind, SubjectID: id, Subject: subject}
	var err error
	if before != nil {
		if e.Before, err = marshalEvent(payloadBuf(before), before); err != nil {
			return err
		}
	}
	if after != nil {
		if e.After, err = marshalEvent(payloadBuf(after), after); err != nil {
			return err
		}
	}
	return tx.AppendEvent(ctx, &e)
}

// payloadBuf is room for v's JSON when marshalEvent writes it itself (an
// assignment's is ~250 bytes), so that it is written in one allocation.
func payloadBuf(v any) []byte {
	switch v.(type) {
	case Assignment, *Assignment, assignmentPayload:
		return make([]byte, 0, 384)
	}
	return nil
}

// RegionSpec is what an operator gives to create a region.
type RegionSpec struct {
	Name       string
	Location   location.Location
	Borrow     BorrowPolicy
	BorrowBits int // 0 means DefaultBorrowBits
	Tags       Tags
}

// AddRegion creates a region.
func (r *Registry) AddRegion(ctx context.Context, spec RegionSpec) (Region, error) {
	if err := ValidateName(spec.Name); err != nil {
		return Region{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if err := CheckText("city", spec.Location.City); err != nil {
		return Region{}, err
	}
	if err := spec.Location.Validate(); err != nil {
		return Region{}, fmt.Errorf("region %s: %w: %w", spec.Name, err, ErrInvalid)
	}
	if err := spec.Tags.Validate(); err != nil {
		return Region{}, fmt.Errorf("region %s: %w", spec.Name, err)
	}
	if spec.BorrowBits == 0 {
		spec.BorrowBits = DefaultBorrowBits
	}
	if spec.BorrowBits < 8 || spec.BorrowBits > 32 {
		return Region{}, invalid("region %s: borrow unit /%d: must be an IPv4 length from /8 to /32", spec.Name, spec.BorrowBits)
	}
	reg := Region{Name: spec.Name, Location: spec.Location, Borrow: spec.Borrow, BorrowBits: spec.BorrowBits, Tags: nonEmpty(spec.Tags)}
	err := r.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.RegionByName(ctx, spec.Name); err == nil {
			return fmt.Errorf("region %s: %w", spec.Name, ErrExists)
		}
		for _, lender := range spec.Borrow.From {
			if lender == spec.Name {
				return invalid("region %s: cannot borrow from itself", spec.Name)
			}
			if _, err := tx.RegionByName(ctx, lender); err != nil {
				return fmt.Errorf("region %s: borrow from %s: no such region: %w", spec.Name, lender, err)
			}
		}
		reg.CreatedAt = r.clock()
		if err := tx.InsertRegion(ctx, &reg); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindRegion, reg.ID, nil, reg.Tags); err != nil {
			return err
		}
		return r.event(ctx, tx, reg.CreatedAt, "region.add", "region", reg.ID, reg.Name, nil, reg)
	})
	return reg, err
}

// Regions lists the regions by name.
func (r *Registry) Regions(ctx context.Context) ([]Region, error) {
	return r.RegionsTagged(ctx, nil)
}

// RegionsTagged lists the regions carrying every pair of tags, by name.
func (r *Registry) RegionsTagged(ctx context.Context, tags Tags) (out []Region, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if out, err = tx.Regions(ctx); err != nil {
			return err
		}
		id := func(g *Region) int64 { return g.ID }
		if out, err = keepTagged(ctx, tx, KindRegion, out, tags, id); err != nil {
			return err
		}
		return fillTags(ctx, tx, KindRegion, out, id, func(g *Region, t Tags) { g.Tags = t })
	})
	return out, err
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// AddBlock records space the operator holds. Provenance is checked so that
// the register stays true: an RIR allocation names its registry, private
// space is private, public space is globally reachable and in the global
// space, and no two blocks of one space overlap.
func (r *Registry) AddBlock(ctx context.Context, b Block) (Block, error) {
	if err := r.checkBlock(b); err != nil {
		return Block{}, err
	}
	p := b.Prefix
	space, err := blockSpace(b)
	if err != nil {
		return Block{}, err
	}
	b.Space, b.Tags = space, nonEmpty(b.Tags)
	if err := b.Tags.Validate(); err != nil {
		return Block{}, fmt.Errorf("block %s: %w", p, err)
	}
	err = r.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.SpaceByName(ctx, b.Space); err != nil {
			return fmt.Errorf("block %s: space %s: no such space (add it with `cadastre space add %s`): %w", p, b.Space, b.Space, ErrNotFound)
		}
		over, err := tx.BlocksOverlapping(ctx, p)
		if err != nil {
			return err
		}
		// Overlap is refused within a space only (two VPCs may both use 10.0.0.0/8).
		for _, o := range over {
			if o.Space == b.Space {
				return fmt.Errorf("block %s: overlaps block %s in space %s: %w", p, o.Prefix, o.Space, ErrOverlap)
			}
		}
		b.CreatedAt = r.clock()
		if err := tx.InsertBlock(ctx, &b); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindBlock, b.ID, nil, b.Tags); err != nil {
			return err
		}
		return r.event(ctx, tx, b.CreatedAt, "block.add", "block", b.ID, p.String(), nil, b)
	})
	return b, err
}

// checkBlock applies the provenance rules of AddBlock to b.
func (r *Registry) checkBlock(b Block) error {
	p := b.Prefix
	if !p.IsValid() {
		return invalid("block: missing prefix")
	}
	if p.Addr().Is4In6() {
		return invalid("block %s: IPv4-mapped IPv6; write the IPv4 form", p)
	}
	if p != p.Masked() {
		return invalid("block %s: host bits set (did you mean %s?)", p, p.Masked())
	}
	if err := checkTexts("counterparty", b.From, "note", b.Note, "date", b.Date, "registered country", b.RegisteredCountry); err != nil {
		return err
	}
	if b.Price != nil {
		// The CLI and the API parse a price (ParseMoney); a file loaded by
		// import carries one already made, checked here by the same rule.
		if err := b.Price.Validate(); err != nil {
			return fmt.Errorf("block %s: %w: %w", p, err, ErrInvalid)
		}
	}
	if _, err := ParseSource(string(b.Source)); err != nil {
		return fmt.Errorf("block %s: %w: %w", p, err, ErrInvalid)
	}
	if b.Registry != "" {
		if _, err := ParseRegistry(b.Registry); err != nil {
			return fmt.Errorf("block %s: %w: %w", p, err, ErrInvalid)
		}
	}
	switch b.Source {
	case SourceRIR:
		if b.Registry == "" {
			return invalid("block %s: source rir needs --registry (afrinic, apnic, arin, lacnic or ripe)", p)
		}
	case SourcePrivate:
		if !prefix.IsPrivate(p) {
			return invalid("block %s: source private, but the prefix is not private space (RFC 1918, 100.64.0.0/10 or ULA fc00::/7)", p)
		}
		if b.Registry != "" || b.RegisteredCountry != "" {
			return invalid("block %s: private space has no registry or registered country", p)
		}
	}
	if b.Source != SourcePrivate && !prefix.GloballyReachable(p) {
		what := "special-purpose space"
		if sp := prefix.Overlapping(p); len(sp) > 0 {
			s := sp[len(sp)-1]
			what = fmt.Sprintf("%s space (%s, %s)", s.Kind, s.Prefix, s.RFC)
		}
		return invalid("block %s: source %s, but it overlaps %s that is not globally reachable", p, b.Source, what)
	}
	if b.RegisteredCountry != "" {
		if err := iso3166.Validate(b.RegisteredCountry, ""); err != nil {
			return fmt.Errorf("block %s: registered country: %w: %w", p, err, ErrInvalid)
		}
	}
	if b.Date != "" {
		d, err := time.Parse(time.DateOnly, b.Date)
		if err != nil || !dateRE.MatchString(b.Date) {
			return invalid("block %s: date %q: must be YYYY-MM-DD", p, b.Date)
		}
		if d.After(r.clock()) {
			return invalid("block %s: date %s is in the future", p, b.Date)
		}
	}
	return nil
}

// nonEmpty is t, or nil when it holds nothing, so that no tags read the
// same (and hash to the same ETag) whether never set or all removed.
func nonEmpty(t Tags) Tags {
	if len(t) == 0 {
		return nil
	}
	return t
}

// Blocks lists the blocks in address order.
func (r *Registry) Blocks(ctx context.Context) ([]Block, error) {
	return r.BlocksWhere(ctx, "", nil)
}

// BlocksWhere lists, in address order, the blocks of space (every space
// when empty) that carry every pair of tags.
func (r *Registry) BlocksWhere(ctx context.Context, space string, tags Tags) (out []Block, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		if space != "" {
			if _, err := tx.SpaceByName(ctx, space); err != nil {
				return err
			}
		}
		if out, err = tx.Blocks(ctx); err != nil {
			return err
		}
		if space != "" {
			out = slices.DeleteFunc(out, func(b Block) bool { return b.Space != space })
		}
		id := func(b *Block) int64 { return b.ID }
		if out, err = keepTagged(ctx, tx, KindBlock, out, tags, id); err != nil {
			return err
		}
		return fillTags(ctx, tx, KindBlock, out, id, func(b *Block, t Tags) { b.Tags = t })
	})
	return out, err
}

// PoolSpec is what an operator gives to create a pool.
type PoolSpec struct {
	Prefix  netip.Prefix `json:"prefix"`
	Region  string       `json:"region"`
	Purpose string       `json:"purpose,omitempty"`
	// UseAll hands out every address: no IPv4 network and broadcast
	// addresses kept back, no IPv6 subnet-router anycast (NAT pools).
	UseAll bool `json:"use_all,omitempty"`
	// Space names the space of the block the pool is carved from, needed
	// only when blocks of several spaces hold the prefix.
	Space string `json:"space,omitempty"`
	Tags  Tags   `json:"tags,omitempty"`
}

// AddPool dedicates part of one block to a region.
func (r *Registry) AddPool(ctx context.Context, spec PoolSpec) (Pool, error) {
	p := spec.Prefix
	if !p.IsValid() {
		return Pool{}, invalid("pool: missing prefix")
	}
	if p != p.Masked() {
		return Pool{}, invalid("pool %s: host bits set (did you mean %s?)", p, p.Masked())
	}
	if p.Addr().Is4In6() {
		return Pool{}, invalid("pool %s: IPv4-mapped IPv6; write the IPv4 form", p)
	}
	if err := CheckText("purpose", spec.Purpose); err != nil {
		return Pool{}, err
	}
	if err := spec.Tags.Validate(); err != nil {
		return Pool{}, fmt.Errorf("pool %s: %w", p, err)
	}
	var pool Pool
	err := r.store.Update(ctx, func(tx Tx) error {
		reg, err := tx.RegionByName(ctx, spec.Region)
		if err != nil {
			return fmt.Errorf("pool %s: %w", p, err)
		}
		blocks, err := tx.BlocksOverlapping(ctx, p)
		if err != nil {
			return err
		}
		if blocks, err = oneSpace(p, spec.Space, blocks); err != nil {
			return err
		}
		if len(blocks) == 0 {
			return fmt.Errorf("pool %s: outside every block (add the block first with `cadastre block add`): %w", p, ErrInvalid)
		}
		if len(blocks) > 1 || !prefix.Covers(blocks[0].Prefix, p) {
			return fmt.Errorf("pool %s: not inside one block (it overlaps block %s): %w", p, blocks[0].Prefix, ErrInvalid)
		}
		// Pools, like blocks, overlap only across spaces: two VPCs may
		// each put a pool on 10.1.0.0/16.
		space := blocks[0].Space
		pools, err := tx.PoolsOverlapping(ctx, space, p)
		if err != nil {
			return err
		}
		if len(pools) > 0 {
			o := pools[0]
			return fmt.Errorf("pool %s: overlaps pool %s of region %s in space %s: %w", p, o.Prefix, o.Region, space, ErrOverlap)
		}
		pool = Pool{Prefix: p, BlockID: blocks[0].ID, Block: blocks[0].Prefix, RegionID: reg.ID, Region: reg.Name, Purpose: spec.Purpose, Space: space,
			UseAll: spec.UseAll, Tags: nonEmpty(spec.Tags), CreatedAt: r.clock()}
		if err := tx.InsertPool(ctx, &pool); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindPool, pool.ID, nil, pool.Tags); err != nil {
			return err
		}
		// The policy's addresses (reserve.go) never join the free space.
		if err := addFreeRange(ctx, tx, pool, scope(pool), p.Addr(), prefix.Last(p)); err != nil {
			return err
		}
		return r.event(ctx, tx, pool.CreatedAt, "pool.add", "pool", pool.ID, p.String(), nil, pool)
	})
	return pool, err
}

// PoolUsage is a pool with its counts.
type PoolUsage struct {
	Pool
	Size        prefix.Count `json:"size"`
	Assigned    prefix.Count `json:"assigned"`
	Quarantined prefix.Count `json:"quarantined"`
	// Reserved counts reservations in force and the addresses the
	// pool's policy keeps back (IPv4 network and broadcast; the anycast
	// address of a pool longer than a /64).
	Reserved    prefix.Count `json:"reserved"`
	Free        prefix.Count `json:"free"`
	Utilization float64      `json:"utilization"`
	// AssignedByLength counts the live assigned prefixes of each
	// length, shortest first (as ReportRow does).
	AssignedByLength []LengthCount `json:"assigned_by_length"`
}

// Pools lists the pools in address order with their usage.
func (r *Registry) Pools(ctx context.Context, regionName string) ([]PoolUsage, error) {
	return r.PoolsTagged(ctx, regionName, nil)
}

// PoolsTagged lists, in address order with their usage, the pools of the
// region (every region when empty) that carry every pair of tags.
func (r *Registry) PoolsTagged(ctx context.Context, regionName string, tags Tags) (out []PoolUsage, err error) {
	now := r.clock()
	err = r.store.View(ctx, func(tx Tx) error {
		f := PoolFilter{}
		if regionName != "" {
			reg, err := tx.RegionByName(ctx, regionName)
			if err != nil {
				return err
			}
			f.RegionID = reg.ID
		}
		pools, err := tx.Pools(ctx, f)
		if err != nil {
			return err
		}
		pools = livePools(pools)
		id := func(p *Pool) int64 { return p.ID }
		if pools, err = keepTagged(ctx, tx, KindPool, pools, tags, id); err != nil {
			return err
		}
		if err := fillTags(ctx, tx, KindPool, pools, id, func(p *Pool, t Tags) { p.Tags = t }); err != nil {
			return err
		}
		counts, err := r.usage(ctx, tx, pools, now)
		if err != nil {
			return err
		}
		for _, p := range pools {
			c := counts[p.ID]
			out = append(out, PoolUsage{Pool: p, Size: c.size, Assigned: c.assigned, Quarantined: c.quarantined, Reserved: c.reserved, Free: c.free(),
				Utilization: ratio(c.assigned, c.size), AssignedByLength: byLength(c.byLen)})
		}
		return nil
	})
	return out, err
}

// livePools leaves out dissolved child pools, kept only for the
// assignments they once held.
func livePools(pools []Pool) []Pool {
	return slices.DeleteFunc(pools, func(p Pool) bool { return p.DissolvedAt != nil })
}

type poolCount struct {
	size, assigned, quarantined, reserved prefix.Count
	byLen                                 map[int]int64 // assigned prefixes by length
	// use is the pool's rows of Tx.Usage, for Report: read again there,
	// every pool's ended quarantines were counted twice per report (the
	// overview's first view at ten million on PostgreSQL).
	use []Usage
}

func (c poolCount) free() prefix.Count {
	return c.size.Sub(c.assigned).Sub(c.quarantined).Sub(c.reserved)
}

func ratio(a, b prefix.Count) float64 {
	if b.IsZero() {
		return 0
	}
	return a.Float64() / b.Float64()
}

// usage counts each pool's size (less what it lent), assigned and
// quarantined space. Quarantine that has ended counts as free, although
// its space rejoins the free list only at the next write.
func (r *Registry) usage(ctx context.Context, tx Tx, pools []Pool, now time.Time) (map[int64]poolCount, error) {
	out := make(map[int64]poolCount, len(pools))
	ids := make([]int64, 0, len(pools))
	width := map[int64]int{}
	for _, p := range pools {
		out[p.ID] = poolCount{size: prefix.Size(p.Prefix)}
		ids = append(ids, p.ID)
		width[p.ID] = p.Prefix.Addr().BitLen()
	}
	rels, err := tx.Relocations(ctx)
	if err != nil {
		return nil, err
	}
	for _, rel := range rels {
		if c, ok := out[rel.FromPoolID]; ok {
			c.size = c.size.Sub(prefix.Size(rel.Prefix))
			out[rel.FromPoolID] = c
		}
	}
	rs, err := tx.Reservations(ctx)
	if err != nil {
		return nil, err
	}
	for id, n := range reservedIn(pools, rs, now) {
		c := out[id]
		c.reserved = n
		out[id] = c
	}
	if err := liveChildren(ctx, tx, pools, out); err != nil {
		return nil, err
	}
	rows, err := tx.Usage(ctx, ids, now)
	if err != nil {
		return nil, err
	}
	for _, u := range rows {
		c := out[u.PoolID]
		each := prefix.Pow2(width[u.PoolID] - u.Bits)
		switch u.State {
		case StateAssigned:
			c.assigned = c.assigned.Add(each.Mul(uint64(u.Count)))
			if c.byLen == nil {
				c.byLen = map[int]int64{}
			}
			c.byLen[u.Bits] += u.Count
		case StateQuarantined:
			c.quarantined = c.quarantined.Add(each.Mul(uint64(u.Count - u.Expired)))
		}
		c.use = append(c.use, u)
		out[u.PoolID] = c
	}
	return out, nil
}

// PoolDetail returns one pool with its usage and its free space as
// maximal aligned free prefixes in address order (NetBox's "available
// prefixes"). The free list grows with fragmentation, not with the
// number of assignments; the usage counts them, as Pools does.
func (r *Registry) PoolDetail(ctx context.Context, id int64) (u PoolUsage, free []netip.Prefix, err error) {
	now := r.clock()
	err = r.store.View(ctx, func(tx Tx) error {
		p, err := tx.PoolByID(ctx, id)
		if err != nil {
			return err
		}
		counts, err := r.usage(ctx, tx, []Pool{p}, now)
		if err != nil {
			return err
		}
		c := counts[p.ID]
		u = PoolUsage{Pool: p, Size: c.size, Assigned: c.assigned, Quarantined: c.quarantined, Reserved: c.reserved, Free: c.free(),
			Utilization: ratio(c.assigned, c.size), AssignedByLength: byLength(c.byLen)}
		free, err = tx.FreeOfPool(ctx, p.ID)
		return err
	})
	return u, free, err
}
