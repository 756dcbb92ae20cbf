package registry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// Child pools (issue 12, hierarchy): `alloc --len 48 --as-pool site1`
// carves a /48 out of a region's free space and makes it a pool of its own,
// named and owned by a tenant; `alloc --pool site1 --len 56` takes children
// inside it. A child pool is not a live assignment (live assignments never
// overlap, and its children lie inside it): it is a pool nested in its
// parent, as a lent relocation unit is, whose free space is kept under a
// scope of its own (childScope), so that only allocations that name it
// draw on it. Its parent counts it as assigned; a region's report sums
// top-level pools only, so nothing is counted twice.

// ChildPoolTx is what a store keeps for child pools.
type ChildPoolTx interface {
	// ChildPool finds the live (not dissolved) child pool called name;
	// none is ErrNotFound.
	ChildPool(ctx context.Context, name string) (Pool, error)
	// ChildPools lists the live child pools of the pool parentID, in
	// address order.
	ChildPools(ctx context.Context, parentID int64) ([]Pool, error)
	// DissolvePool removes every free prefix of the child pool id and
	// marks it dissolved at at; an unknown or dissolved one is ErrNotFound.
	DissolvePool(ctx context.Context, id int64, at time.Time) error
}

// childScope is the free-space scope of a child pool: minus its ID, which
// no region's ID is.
func childScope(p Pool) int64 { return -p.ID }

// ChildPoolSpec asks for a child pool of Bits in Region.
type ChildPoolSpec struct {
	Name    string `json:"as_pool"`
	Region  string `json:"region"`
	Family  int    `json:"family,omitempty"` // 4 or 6; 0 means 6
	Bits    int    `json:"len"`
	Purpose string `json:"purpose,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	// Space limits the region's pools it is carved from to one space's
	// (see Request.Space: empty, the global and the built-in private space).
	Space string `json:"space,omitempty"`
	// Tags are the child pool's tags, set as it is made.
	Tags Tags `json:"tags,omitempty"`
	// Key makes the request idempotent, as Request.Key does: keys belong
	// to the tenant, and one key names one request, a child pool or an
	// allocation, never both.
	Key string `json:"-"`
}

func (s *ChildPoolSpec) normalise() error {
	if err := validateName("name", s.Name); err != nil {
		return fmt.Errorf("child pool: %w: %w", err, ErrInvalid)
	}
	if err := ValidateName(s.Region); err != nil {
		return fmt.Errorf("child pool %s: %w: %w", s.Name, err, ErrInvalid)
	}
	if s.Space != "" {
		if err := ValidateSpaceName(s.Space); err != nil {
			return fmt.Errorf("child pool %s: %w", s.Name, err)
		}
	}
	if s.Family == 0 {
		s.Family = 6
	}
	if s.Family != 4 && s.Family != 6 {
		return invalid("child pool %s: family %d: must be 4 or 6", s.Name, s.Family)
	}
	w := 32
	if s.Family == 6 {
		// The address policy keeps a /64's anycast address back from
		// anything longer: a child pool of IPv6 is a /64 or shorter.
		w = 64
	}
	if s.Bits < 1 || s.Bits > w {
		return invalid("child pool %s: length /%d: must be from /1 to /%d for IPv%d (give --len)", s.Name, s.Bits, w, s.Family)
	}
	if len(s.Tenant) > 128 || len(s.Purpose) > 256 || len(s.Key) > 256 {
		return invalid("child pool %s: tenant (128), purpose (256) or idempotency key (256 bytes) too long", s.Name)
	}
	if err := s.Tags.Validate(); err != nil {
		return fmt.Errorf("child pool %s: %w", s.Name, err)
	}
	return checkTexts("tenant", s.Tenant, "purpose", s.Purpose, "idempotency key", s.Key)
}

// hash identifies the request for idempotency, as Request.hash does. Its
// first field, "@as-pool", is no region name, so no allocation request
// hashes the same: a key first used for one never replays the other.
func (s ChildPoolSpec) hash() string {
	h := sha256.New()
	field := func(v string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
		io.WriteString(h, v)
	}
	field("@as-pool")
	for _, v := range []string{s.Name, s.Region, strconv.Itoa(s.Family), strconv.Itoa(s.Bits), s.Purpose, s.Tenant} {
		field(v)
	}
	if s.Space != "" {
		// As in Request.hash: keys made before spaces hash the same.
		field("@space")
		field(s.Space)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Tags)) {
		field(k)
		field(s.Tags[k])
	}
	return hashVersion + hex.EncodeToString(h.Sum(nil))
}

// childUse is what a child pool counts against its tenant's quotas: what
// an assignment of its length counts (IPv4: its addresses; IPv6: one
// prefix), sign -1 when it is dissolved.
func childUse(p netip.Prefix, sign int64) use {
	var u use
	u.add(prefix.Family(p), p.Bits(), sign)
	return u
}

// AllocatePool carves a child pool of spec.Bits out of the free space of
// spec.Region's pools, as an allocation of that length would, and makes it
// a pool named spec.Name for spec.Tenant's own children. It counts against
// the tenant's quotas as an assignment of its length does (tenant.go), and
// its children count as any assignment does. With spec.Key a retry
// returns the same child pool, as Allocate returns the same assignments.
//
// Child pools are one level deep: a child pool is carved from a region's
// top-level pools only, never from another child pool (see README).
func (r *Registry) AllocatePool(ctx context.Context, spec ChildPoolSpec) (Pool, error) {
	if err := spec.normalise(); err != nil {
		return Pool{}, err
	}
	var out Pool
	err := r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if _, err := r.reap(ctx, tx, now); err != nil {
			return err
		}
		// The region's row is its lock on a networked store: a concurrent
		// request with the same key has committed once it is taken, and
		// the key's look-up after it finds its record.
		reg, err := tx.RegionByName(ctx, spec.Region)
		if err != nil {
			return err
		}
		if spec.Key != "" {
			prev, ok, err := tx.Idempotent(ctx, spec.Tenant, spec.Key)
			if err != nil {
				return err
			}
			if ok {
				if prev.RequestHash != spec.hash() || len(prev.AssignmentIDs) != 1 {
					return fmt.Errorf("idempotency key %q: first used at %s for another request: %w", spec.Key, prev.CreatedAt.Format(time.RFC3339), ErrIdempotency)
				}
				out, err = tx.PoolByID(ctx, prev.AssignmentIDs[0])
				if err == nil {
					out.Tags, err = tagsOf(ctx, tx, KindPool, out.ID)
				}
				return err
			}
		}
		if p, err := tx.ChildPool(ctx, spec.Name); err == nil {
			return fmt.Errorf("child pool %s: already exists (%s in region %s): %w", spec.Name, p.Prefix, p.Region, ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if spec.Space != "" {
			if _, err := tx.SpaceByName(ctx, spec.Space); err != nil {
				return err
			}
		}
		it := item{spec.Family, spec.Bits}
		if err := r.checkLength(ctx, tx, reg, spec.Space, it); err != nil {
			return err
		}
		// The tenant's quota, as for an assignment of this length (a
		// restricted caller's tenant must exist; a trusted one's is made).
		if spec.Tenant != "" {
			admitted, err := r.admit(ctx, tx, []Request{{Tenant: spec.Tenant, Family: it.family, Bits: it.bits, Count: 1}}, now, false)
			if err != nil {
				return fmt.Errorf("child pool %s: %w", spec.Name, err)
			}
			if err := admitted(); err != nil {
				return fmt.Errorf("child pool %s: %w", spec.Name, err)
			}
		}
		f, ok, err := smallestFreeIn(ctx, tx, reg.ID, spec.Space, it.family, it.bits)
		if err != nil {
			return err
		}
		if !ok {
			in := ""
			if spec.Space != "" {
				in = " in space " + spec.Space
			}
			return fmt.Errorf("child pool %s: region %s has no free IPv%d /%d%s (child pools are never borrowed): %w", spec.Name, reg.Name, it.family, it.bits, in, ErrNoSpace)
		}
		if err := removeFree(ctx, tx, f); err != nil {
			return err
		}
		take, rest, _ := prefix.Split(f.Prefix, it.bits)
		for _, p := range rest {
			if err := tx.AddFree(ctx, FreePrefix{RegionID: f.RegionID, PoolID: f.PoolID, Prefix: p}); err != nil {
				return err
			}
		}
		parent, err := tx.PoolByID(ctx, f.PoolID)
		if err != nil {
			return err
		}
		out = Pool{Prefix: take, BlockID: parent.BlockID, Block: parent.Block, RegionID: reg.ID, Region: reg.Name,
			Purpose: spec.Purpose, ParentID: parent.ID, Name: spec.Name, Tenant: spec.Tenant, UseAll: parent.UseAll, CreatedAt: now}
		if err := tx.InsertPool(ctx, &out); err != nil {
			return fmt.Errorf("child pool %s: %w", spec.Name, err)
		}
		if err := addFreeRange(ctx, tx, out, childScope(out), take.Addr(), prefix.Last(take)); err != nil {
			return err
		}
		if len(spec.Tags) > 0 {
			if err := tx.SetTags(ctx, KindPool, out.ID, spec.Tags); err != nil {
				return fmt.Errorf("child pool %s: %w", spec.Name, err)
			}
			out.Tags = spec.Tags
		}
		if err := r.event(ctx, tx, now, "pool.child.allocate", "pool", out.ID, take.String(), nil, out); err != nil {
			return err
		}
		if spec.Key != "" {
			return tx.PutIdempotent(ctx, Idempotent{Tenant: spec.Tenant, Key: spec.Key, RequestHash: spec.hash(), AssignmentIDs: []int64{out.ID}, CreatedAt: now})
		}
		return nil
	})
	return out, err
}

// ReleasePool dissolves the child pool name back into its parent's free
// space. While it holds live (assigned or quarantined) assignments it is
// refused, naming them. tenant, when not nil, must own the child pool.
func (r *Registry) ReleasePool(ctx context.Context, name string, tenant *string) (Pool, error) {
	if err := validateName("name", name); err != nil {
		return Pool{}, fmt.Errorf("child pool: %w: %w", err, ErrInvalid)
	}
	var out Pool
	err := r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if _, err := r.reap(ctx, tx, now); err != nil {
			return err
		}
		p, err := tx.ChildPool(ctx, name)
		if err != nil {
			return err
		}
		if tenant != nil && p.Tenant != *tenant {
			return fmt.Errorf("child pool %q: %w", name, ErrNotFound)
		}
		const shown = 5
		live, err := tx.Assignments(ctx, AssignmentFilter{PoolID: p.ID, States: []State{StateAssigned, StateQuarantined}, Limit: shown + 1})
		if err != nil {
			return err
		}
		if len(live) > 0 {
			var names []string
			for i, a := range live {
				if i == shown {
					names = append(names, "...")
					break
				}
				s := fmt.Sprintf("assignment %d (%s, %s)", a.ID, a.Prefix, a.State)
				if a.State == StateQuarantined {
					s = fmt.Sprintf("assignment %d (%s, quarantined until %s)", a.ID, a.Prefix, a.QuarantineUntil.Format(time.RFC3339))
				}
				names = append(names, s)
			}
			return fmt.Errorf("child pool %s (%s): still holds %s; release them first: %w", name, p.Prefix, strings.Join(names, ", "), ErrState)
		}
		// A reservation inside it would be lost to its parent's free space.
		rs, err := tx.ReservationsOverlapping(ctx, p.Space, p.Prefix)
		if err != nil {
			return err
		}
		if err := r.endReservations(ctx, tx, now, rs); err != nil {
			return err
		}
		for _, v := range rs {
			if v.activeAt(now) {
				return fmt.Errorf("child pool %s (%s): holds reservation %s (%s); unreserve it first: %w", name, p.Prefix, v.Prefix, v.Reason, ErrState)
			}
		}
		parent, err := tx.PoolByID(ctx, p.ParentID)
		if err != nil {
			return err
		}
		if err := tx.DissolvePool(ctx, p.ID, now); err != nil {
			return err
		}
		if p.Tenant != "" {
			// Its space leaves the tenant's use, as a released assignment's
			// does (a tenant removed since is not counted).
			u := childUse(p.Prefix, -1)
			if _, err := tx.AddTenantUse(ctx, p.Tenant, u.v4, u.v6); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("child pool %s: tenant %s: %w", name, p.Tenant, err)
			}
		}
		if err := r.returnSpace(ctx, tx, parent, p.Prefix); err != nil {
			return err
		}
		before := p
		p.DissolvedAt = &now
		out = p
		return r.event(ctx, tx, now, "pool.child.release", "pool", p.ID, p.Prefix.String(), before, p)
	})
	return out, err
}

// allocateIn answers a request for space inside the child pool q.Pool.
func (r *Registry) allocateIn(ctx context.Context, tx Tx, q Request, now time.Time) ([]Assignment, error) {
	pool, err := tx.ChildPool(ctx, q.Pool)
	if err != nil {
		return nil, err
	}
	if IsRestricted(ctx) && pool.Tenant != q.Tenant {
		// A caller below admin learns nothing of another tenant's pool.
		return nil, fmt.Errorf("child pool %q: %w", q.Pool, ErrNotFound)
	}
	if q.Region != "" && q.Region != pool.Region {
		return nil, invalid("child pool %s: lies in region %s, not %s", q.Pool, pool.Region, q.Region)
	}
	if q.Space != "" && q.Space != pool.Space {
		return nil, invalid("child pool %s: lies in space %s, not %s", q.Pool, pool.Space, q.Space)
	}
	if fam := prefix.Family(pool.Prefix); fam != q.Family {
		return nil, invalid("child pool %s (%s) is IPv%d: ask with --family %d", q.Pool, pool.Prefix, fam, fam)
	}
	if q.Bits < pool.Prefix.Bits() {
		return nil, invalid("length /%d: shorter than child pool %s (%s)", q.Bits, q.Pool, pool.Prefix)
	}
	reg, err := tx.RegionByName(ctx, pool.Region) // the region's lock, on a networked store
	if err != nil {
		return nil, err
	}
	a := allocator{r: r, tx: tx, reg: reg, q: q, now: now, child: &pool}
	if err := a.take(ctx, item{q.Family, q.Bits}, q.Count); err != nil {
		return nil, err
	}
	return a.out, nil
}

// liveChildren adds to each top-level pool of counts the size of its live
// child pools, as assigned: the parent handed that space out.
func liveChildren(ctx context.Context, tx Tx, pools []Pool, counts map[int64]poolCount) error {
	for _, p := range pools {
		if p.IsChild() {
			continue
		}
		kids, err := tx.ChildPools(ctx, p.ID)
		if err != nil {
			return err
		}
		c := counts[p.ID]
		for _, k := range kids {
			c.assigned = c.assigned.Add(prefix.Size(k.Prefix))
		}
		counts[p.ID] = c
	}
	return nil
}
