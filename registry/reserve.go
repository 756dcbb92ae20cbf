package registry

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// This file holds the rules for space the operator names: an allocation
// of exactly a given prefix, reservations (space never handed out), and
// the address policy of pools (addresses a pool never hands out).

// Reservation is space that is never handed out: gateways, anycast, "not
// yet". It lies inside one pool, whose free space no longer holds it.
// With Until it ends at that time: from then on it no longer counts, and
// its space rejoins the pool's free space at the next write that looks.
type Reservation struct {
	ID     int64        `json:"id"`
	Prefix netip.Prefix `json:"prefix"`
	PoolID int64        `json:"pool_id"`
	Pool   netip.Prefix `json:"pool"`
	Region string       `json:"region"`
	// Space is its pool's space (read, not chosen).
	Space     string     `json:"space,omitempty"`
	Reason    string     `json:"reason"`
	Until     *time.Time `json:"until,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// activeAt reports whether the reservation still counts at now.
func (v Reservation) activeAt(now time.Time) bool { return v.Until == nil || v.Until.After(now) }

// ReservationTx is the part of Tx that keeps reservations and reads free
// space by address. It is part of Tx, not optional: every store
// implements it, and registry/storetest checks it.
type ReservationTx interface {
	// InsertReservation stores v and sets its ID.
	InsertReservation(ctx context.Context, v *Reservation) error
	// DeleteReservation removes the reservation with that ID; an unknown
	// ID is ErrNotFound.
	DeleteReservation(ctx context.Context, id int64) error
	// Reservations lists every stored reservation, ended ones included,
	// in address order.
	Reservations(ctx context.Context) ([]Reservation, error)
	// ReservationsOverlapping lists the stored reservations of space that
	// share any address with p, in address order.
	ReservationsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]Reservation, error)
	// FreeWithin lists the pool's free prefixes that share any address
	// with p, in address order: at most one that holds p, or those inside it.
	FreeWithin(ctx context.Context, poolID int64, p netip.Prefix) ([]FreePrefix, error)
}

// HeldError says that space asked for by its address is held, and by
// what: an assignment, a reservation, a lent unit or the pool's address
// policy. errors.Is(err, ErrOverlap) is true (exit 4, HTTP 409).
type HeldError struct {
	Prefix netip.Prefix
	Holder string
	// assignment: the holder is an assignment (the caller's own, or
	// "another tenant's" without more), which a tenant may be told of;
	// other holders are the operator's to know (ForTenant).
	assignment bool
}

func (e *HeldError) Error() string { return fmt.Sprintf("%s: %s", e.Prefix, e.Holder) }

// Is makes errors.Is(err, ErrOverlap) true.
func (e *HeldError) Is(target error) bool { return target == ErrOverlap }

// ---- the address policy

// policy4 reports whether pool p keeps its network and broadcast
// addresses back: an IPv4 pool of /30 or shorter without UseAll. A /31 is
// a point-to-point link with neither (RFC 3021), a /32 one address.
func policy4(p Pool) bool { return !p.UseAll && p.Prefix.Addr().Is4() && p.Prefix.Bits() <= 30 }

// policy6 reports whether pool p keeps back the subnet-router anycast
// address of each /64 (interface ID zero, RFC 4291 §2.6.1) from
// assignments longer than a /64.
func policy6(p Pool) bool { return !p.UseAll && !p.Prefix.Addr().Is4() }

// anycast reports whether a is the subnet-router anycast address of its /64.
func anycast(a netip.Addr) bool {
	b := a.As16()
	return binary.BigEndian.Uint64(b[8:]) == 0
}

// policyHeld lists the addresses of p that pool's policy keeps back from
// an assignment of p: the network and broadcast addresses of an IPv4
// pool; the anycast address of p's /64 when p is longer than a /64.
func policyHeld(pool Pool, p netip.Prefix) []netip.Addr {
	var out []netip.Addr
	switch {
	case policy4(pool):
		for _, a := range []netip.Addr{pool.Prefix.Addr(), prefix.Last(pool.Prefix)} {
			if p.Contains(a) {
				out = append(out, a)
			}
		}
	case policy6(pool) && p.Bits() > 64 && anycast(p.Addr()):
		out = append(out, p.Addr())
	}
	return out
}

// policyName says which address of pool a is, for messages.
func policyName(pool Pool, a netip.Addr) string {
	switch {
	case !a.Is4():
		return fmt.Sprintf("%s is the subnet-router anycast address of its /64 (RFC 4291 §2.6.1)", a)
	case a == pool.Prefix.Addr():
		return fmt.Sprintf("%s is the network address of pool %s", a, pool.Prefix)
	}
	return fmt.Sprintf("%s is the broadcast address of pool %s", a, pool.Prefix)
}

// addFreeRange returns the addresses lo through hi of pool to its free
// space (under scope), as maximal aligned prefixes, leaving out what the
// pool's policy keeps back from a free prefix: its IPv4 network and
// broadcast addresses, and the anycast address of a /64 from any free
// prefix longer than a /64 (a /64 or shorter holds it whole, and gives it
// only as part of an assignment of a /64 or shorter).
func addFreeRange(ctx context.Context, tx Tx, pool Pool, scope int64, lo, hi netip.Addr) error {
	for _, p := range prefix.Range(lo, hi) {
		held := policyHeld(pool, p)
		if len(held) == 0 {
			if err := tx.AddFree(ctx, FreePrefix{RegionID: scope, PoolID: pool.ID, Prefix: p}); err != nil {
				return err
			}
			continue
		}
		// At most two held addresses, each the first or last of p.
		a, b := p.Addr(), prefix.Last(p)
		if slices.Contains(held, a) {
			a = a.Next()
		}
		if slices.Contains(held, b) {
			b = b.Prev()
		}
		if a.IsValid() && b.IsValid() && !b.Less(a) && p.Contains(a) && p.Contains(b) {
			if err := addFreeRange(ctx, tx, pool, scope, a, b); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- specific allocation

// holdingPool finds the pool of space ("" any) that holds all of p: the
// most specific one (a lent unit inside its lender's pool). Outside every
// pool is ErrNotFound; across a pool's edge ErrInvalid; pools of several
// spaces holding p, with no space named, ErrInvalid naming them.
func holdingPool(ctx context.Context, tx Tx, p netip.Prefix, space string) (Pool, error) {
	pools, err := tx.PoolsOverlapping(ctx, space, p)
	if err != nil {
		return Pool{}, err
	}
	if space == "" {
		// Pools overlap only across spaces: when pools of several
		// spaces hold p, the caller must say which.
		var in []string
		for _, pl := range pools {
			if prefix.Covers(pl.Prefix, p) && !slices.Contains(in, pl.Space) {
				in = append(in, pl.Space)
			}
		}
		if len(in) > 1 {
			return Pool{}, invalid("%s: lies in pools of %d spaces (%s): name one with --space", p, len(in), strings.Join(in, ", "))
		}
		if len(in) == 1 {
			pools = slices.DeleteFunc(pools, func(pl Pool) bool { return pl.Space != in[0] })
		}
	}
	var best *Pool
	for i, pl := range pools {
		// A child pool is more specific than the pool it was carved
		// from, even when it is all of it (the same prefix).
		if prefix.Covers(pl.Prefix, p) && (best == nil || pl.Prefix.Bits() > best.Prefix.Bits() || pl.Prefix.Bits() == best.Prefix.Bits() && pl.IsChild()) {
			best = &pools[i]
		}
	}
	if best == nil {
		if len(pools) > 0 {
			return Pool{}, invalid("%s: not inside one pool (it overlaps pool %s of region %s)", p, pools[0].Prefix, pools[0].Region)
		}
		return Pool{}, fmt.Errorf("%s: outside every pool (add one with `cadastre pool add`): %w", p, ErrNotFound)
	}
	return *best, nil
}

// holdingPoolIn is holdingPool in space when one is named. Pools overlap
// only across spaces; when the space named holds no pool there but
// another does, the refusal names both, so an address of 10.0.0.0/8 is
// never taken in the wrong VPC.
func holdingPoolIn(ctx context.Context, tx Tx, p netip.Prefix, space string) (Pool, error) {
	if space != "" {
		if err := ValidateSpaceName(space); err != nil {
			return Pool{}, err
		}
		if _, err := tx.SpaceByName(ctx, space); err != nil {
			return Pool{}, fmt.Errorf("%s: %w", p, err)
		}
	}
	pool, err := holdingPool(ctx, tx, p, space)
	if err == nil || space == "" || !errors.Is(err, ErrNotFound) {
		return pool, err
	}
	other, oerr := holdingPool(ctx, tx, p, "")
	if oerr != nil {
		return Pool{}, err
	}
	return Pool{}, invalid("%s: lies in pool %s (region %s) of space %s, not of space %s: leave --space out, or name %s",
		p, other.Prefix, other.Region, other.Space, space, other.Space)
}

// What holder says of an assignment: one a tenant may be told of (the
// caller's own, or another tenant's without more; ForTenant).
const (
	holderAssignment = "held by assignment"
	holderOthers     = "held by an assignment of another tenant"
)

// holder names what holds part of p in pool, or "" when nothing but free
// space and (for a reservation, policyOK) the policy's addresses does. It
// returns the free prefixes overlapping p. A caller below admin (tenant is
// then its tenant) learns nothing of another tenant's assignment but that
// it exists.
func (r *Registry) holder(ctx context.Context, tx Tx, pool Pool, p netip.Prefix, now time.Time, policyOK bool, tenant string) (string, []FreePrefix, error) {
	if a, ok, err := tx.LiveAssignment(ctx, pool.Space, p); err != nil {
		return "", nil, err
	} else if ok {
		if IsRestricted(ctx) && a.Tenant != tenant {
			return holderOthers, nil, nil
		}
		who := ""
		if a.Tenant != "" || a.Resource != "" {
			who = fmt.Sprintf(", tenant %q resource %q", a.Tenant, a.Resource)
		}
		return fmt.Sprintf("%s %d (%s, %s%s)", holderAssignment, a.ID, a.Prefix, a.State, who), nil, nil
	}
	rs, err := tx.ReservationsOverlapping(ctx, pool.Space, p)
	if err != nil {
		return "", nil, err
	}
	for _, v := range rs {
		if v.activeAt(now) {
			return fmt.Sprintf("reserved as %s (%s)", v.Prefix, v.Reason), nil, nil
		}
	}
	// An ended reservation no longer counts: its space rejoins free space first.
	if err := r.endReservations(ctx, tx, now, rs); err != nil {
		return "", nil, err
	}
	held := policyHeld(pool, p)
	if len(held) > 0 && !policyOK {
		return policyName(pool, held[0]) + ", not handed out by the pool's address policy (a pool added with --use-all hands out every address)", nil, nil
	}
	free, err := tx.FreeWithin(ctx, pool.ID, p)
	if err != nil {
		return "", nil, err
	}
	var n prefix.Count
	for _, f := range free {
		if prefix.Covers(f.Prefix, p) {
			n = n.Add(prefix.Size(p))
		} else {
			n = n.Add(prefix.Size(f.Prefix))
		}
	}
	// A held address counts once: a free /64 or shorter holds its own.
	for _, h := range held {
		if !slices.ContainsFunc(free, func(f FreePrefix) bool { return f.Prefix.Contains(h) }) {
			n = n.Add(prefix.CountOf(1))
		}
	}
	// A /64 or shorter holds its anycast addresses whole: those of /64s
	// whose free space was split below a /64 are in no free prefix.
	if policy6(pool) && p.Bits() <= 64 {
		n = n.Add(r.splitAnycasts(free, p))
	}
	if n == prefix.Size(p) {
		return "", free, nil
	}
	pools, err := tx.PoolsOverlapping(ctx, pool.Space, p)
	if err != nil {
		return "", nil, err
	}
	for _, pl := range pools {
		if pl.Relocation != nil && pl.ID != pool.ID && p.Overlaps(pl.Prefix) {
			return fmt.Sprintf("lent to region %s as relocation %d (%s)", pl.Region, pl.Relocation.ID, pl.Prefix), nil, nil
		}
		if pl.IsChild() && pl.ID != pool.ID && p.Overlaps(pl.Prefix) {
			return fmt.Sprintf("held by child pool %s (%s)", pl.Name, pl.Prefix), nil, nil
		}
	}
	return fmt.Sprintf("not free in pool %s", pool.Prefix), nil, nil
}

// splitAnycasts counts the /64s inside p (a /64 or shorter) whose free
// space was split below a /64 and so keeps its anycast address back: each
// such /64 holds free prefixes longer than a /64 but never its first address.
func (r *Registry) splitAnycasts(free []FreePrefix, p netip.Prefix) prefix.Count {
	seen := map[netip.Prefix]bool{}
	for _, f := range free {
		if f.Prefix.Bits() > 64 && p.Contains(f.Prefix.Addr()) {
			seen[netip.PrefixFrom(f.Prefix.Addr(), 64).Masked()] = true
		}
	}
	return prefix.CountOf(uint64(len(seen)))
}

// carve takes p out of the free space of pool, given free, the free
// prefixes overlapping it (holder's answer): every address of p that is
// free leaves the free list, and what the prefix holding p had beyond it
// stays free.
func carve(ctx context.Context, tx Tx, pool Pool, p netip.Prefix, free []FreePrefix) error {
	for _, f := range free {
		if err := removeFree(ctx, tx, f); err != nil {
			return err
		}
		if !prefix.Covers(f.Prefix, p) || f.Prefix == p {
			continue
		}
		if lo := f.Prefix.Addr(); lo.Less(p.Addr()) {
			if err := addFreeRange(ctx, tx, pool, f.RegionID, lo, p.Addr().Prev()); err != nil {
				return err
			}
		}
		if hi := prefix.Last(f.Prefix); prefix.Last(p).Less(hi) {
			if err := addFreeRange(ctx, tx, pool, f.RegionID, prefix.Last(p).Next(), hi); err != nil {
				return err
			}
		}
	}
	return nil
}

// scope is where a pool's free prefixes are searched: its region, or for
// a child pool its own scope, so that region-wide searches skip it.
func scope(p Pool) int64 {
	if p.IsChild() {
		return childScope(p)
	}
	return p.RegionID
}

// allocateAt answers a request for exactly q.Prefix inside tx.
func (r *Registry) allocateAt(ctx context.Context, tx Tx, q Request, now time.Time) ([]Assignment, error) {
	p := q.Prefix
	pool, err := holdingPoolIn(ctx, tx, p, q.Space)
	if err != nil {
		return nil, err
	}
	if q.Region != "" && q.Region != pool.Region {
		return nil, invalid("%s: lies in pool %s of region %s, not of region %s", p, pool.Prefix, pool.Region, q.Region)
	}
	if pool.IsChild() && IsRestricted(ctx) && pool.Tenant != q.Tenant {
		// Only its tenant (or an admin) takes space in a child pool.
		return nil, &HeldError{Prefix: p, Holder: "held by a child pool of another tenant"}
	}
	reg, err := tx.RegionByName(ctx, pool.Region) // the region's lock, on a networked store
	if err != nil {
		return nil, err
	}
	who, free, err := r.holder(ctx, tx, pool, p, now, false, q.Tenant)
	if err != nil {
		return nil, err
	}
	held := func() error {
		return &HeldError{Prefix: p, Holder: who, assignment: who == holderOthers || strings.HasPrefix(who, holderAssignment+" ")}
	}
	if who != "" {
		// The write returned only some ended quarantines (reapSome): p
		// may be held by one of the rest. Those overlapping p are returned
		// and p looked at again: its refusal costs what p holds, not every
		// ended quarantine of the register (which a refused write would
		// roll back, to pay for them again at the next try).
		n, err := r.reapOverlapping(ctx, tx, pool.Space, p, now)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			if who, free, err = r.holder(ctx, tx, pool, p, now, false, q.Tenant); err != nil {
				return nil, err
			}
		}
	}
	if who != "" {
		return nil, held()
	}
	if err := carve(ctx, tx, pool, p, free); err != nil {
		return nil, err
	}
	a := allocator{r: r, tx: tx, reg: reg, q: q, now: now}
	if err := a.record(ctx, pool, p); err != nil {
		return nil, err
	}
	return a.out, nil
}

// ---- reservations

// ReservationSpec is what an operator gives to reserve space.
type ReservationSpec struct {
	Prefix netip.Prefix `json:"prefix"`
	Reason string       `json:"reason"`
	Until  *time.Time   `json:"until,omitempty"`
	// Space, when given, is the space whose pool must hold Prefix (as
	// Request.Space).
	Space string `json:"space,omitempty"`
}

// Reserve takes prefix out of the free space of the pool that holds it,
// so that it is never handed out. Space an assignment, another
// reservation or a lent unit holds is refused, naming the holder; the
// pool's policy addresses (a network address, an anycast address) may be
// reserved with the rest.
func (r *Registry) Reserve(ctx context.Context, spec ReservationSpec) (Reservation, error) {
	p := spec.Prefix
	if err := checkSpace("reservation", p); err != nil {
		return Reservation{}, err
	}
	if strings.TrimSpace(spec.Reason) == "" {
		return Reservation{}, invalid("reservation %s: give a reason (--reason)", p)
	}
	if len(spec.Reason) > 256 {
		return Reservation{}, invalid("reservation %s: reason longer than 256 bytes", p)
	}
	if err := CheckText("reason", spec.Reason); err != nil {
		return Reservation{}, err
	}
	var out Reservation
	err := r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if spec.Until != nil && !spec.Until.After(now) {
			return invalid("reservation %s: until %s is not in the future", p, spec.Until.Format(time.RFC3339))
		}
		if _, err := r.reap(ctx, tx, now); err != nil {
			return err
		}
		pool, err := holdingPoolIn(ctx, tx, p, spec.Space)
		if err != nil {
			return err
		}
		if _, err := tx.RegionByName(ctx, pool.Region); err != nil {
			return err
		}
		who, free, err := r.holder(ctx, tx, pool, p, now, true, "")
		if err != nil {
			return err
		}
		if who != "" {
			return &HeldError{Prefix: p, Holder: "cannot be reserved: " + who}
		}
		if err := carve(ctx, tx, pool, p, free); err != nil {
			return err
		}
		out = Reservation{Prefix: p, PoolID: pool.ID, Pool: pool.Prefix, Region: pool.Region, Reason: spec.Reason, CreatedAt: now}
		if spec.Until != nil {
			u := spec.Until.UTC().Truncate(time.Microsecond)
			out.Until = &u
			r.reaps.ends(u)
		}
		if err := tx.InsertReservation(ctx, &out); err != nil {
			return err
		}
		return r.event(ctx, tx, now, "reservation.add", "reservation", out.ID, p.String(), nil, out)
	})
	return out, err
}

// checkSpace checks a prefix an operator names.
func checkSpace(what string, p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return invalid("%s: missing prefix", what)
	case p.Addr().Is4In6():
		return invalid("%s %s: IPv4-mapped IPv6; write the IPv4 form", what, p)
	case p != p.Masked():
		return invalid("%s %s: host bits set (did you mean %s?)", what, p, p.Masked())
	}
	return nil
}

// Unreserve ends the reservation of exactly p and returns its space to
// the pool's free space, in the one space holding a reservation there.
func (r *Registry) Unreserve(ctx context.Context, p netip.Prefix) (Reservation, error) {
	return r.UnreserveIn(ctx, p, "")
}

// UnreserveIn is Unreserve in the named space ("" the one space holding
// a reservation overlapping p; several is ErrInvalid naming them).
func (r *Registry) UnreserveIn(ctx context.Context, p netip.Prefix, space string) (Reservation, error) {
	if err := checkSpace("reservation", p); err != nil {
		return Reservation{}, err
	}
	var out Reservation
	err := r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if _, err := r.reap(ctx, tx, now); err != nil {
			return err
		}
		spaces, err := spacesOf(ctx, tx, space)
		if err != nil {
			return fmt.Errorf("reservation %s: %w", p, err)
		}
		var rs []Reservation
		var in []string
		for _, s := range spaces {
			some, err := tx.ReservationsOverlapping(ctx, s, p)
			if err != nil {
				return err
			}
			if len(some) > 0 {
				rs, in = append(rs, some...), append(in, s)
			}
		}
		if len(in) > 1 {
			return invalid("%s: reserved in %d spaces (%s): name one with --space", p, len(in), strings.Join(in, ", "))
		}
		i := slices.IndexFunc(rs, func(v Reservation) bool { return v.Prefix == p })
		if i < 0 {
			if len(rs) > 0 {
				return fmt.Errorf("%s: not reserved as such; reservation %s (%s) overlaps it, unreserve that: %w", p, rs[0].Prefix, rs[0].Reason, ErrNotFound)
			}
			return fmt.Errorf("%s: not reserved: %w", p, ErrNotFound)
		}
		out = rs[i]
		if err := r.dropReservation(ctx, tx, out); err != nil {
			return err
		}
		return r.event(ctx, tx, now, "reservation.remove", "reservation", out.ID, p.String(), out, nil)
	})
	return out, err
}

// dropReservation deletes v and returns its space to its pool.
func (r *Registry) dropReservation(ctx context.Context, tx Tx, v Reservation) error {
	pool, err := tx.PoolByID(ctx, v.PoolID)
	if err != nil {
		return err
	}
	if _, err := tx.RegionByName(ctx, pool.Region); err != nil {
		return err
	}
	if err := tx.DeleteReservation(ctx, v.ID); err != nil {
		return err
	}
	return r.returnSpace(ctx, tx, pool, v.Prefix)
}

// endReservations drops those of rs that ended by now, each with an event.
func (r *Registry) endReservations(ctx context.Context, tx Tx, now time.Time, rs []Reservation) error {
	for _, v := range rs {
		if v.activeAt(now) {
			continue
		}
		if err := r.dropReservation(ctx, tx, v); err != nil {
			return err
		}
		if err := r.event(WithActor(ctx, "system"), tx, now, "reservation.expire", "reservation", v.ID, v.Prefix.String(), v, nil); err != nil {
			return err
		}
	}
	return nil
}

// reapReservations drops every reservation that ended by now, and says how many.
func (r *Registry) reapReservations(ctx context.Context, tx Tx, now time.Time) (int, error) {
	rs, err := tx.Reservations(ctx)
	if err != nil {
		return 0, err
	}
	rs = slices.DeleteFunc(rs, func(v Reservation) bool { return v.activeAt(now) })
	return len(rs), r.endReservations(ctx, tx, now, rs)
}

// Reservations lists the reservations in force, in address order.
func (r *Registry) Reservations(ctx context.Context) (out []Reservation, err error) {
	now := r.clock()
	err = r.store.View(ctx, func(tx Tx) error {
		all, err := tx.Reservations(ctx)
		for _, v := range all {
			if v.activeAt(now) {
				out = append(out, v)
			}
		}
		return err
	})
	return out, err
}

// returnSpace gives p back to pool's free space, merged with its free
// buddies as far as they go (free, for an assignment, does the same).
func (r *Registry) returnSpace(ctx context.Context, tx Tx, pool Pool, p netip.Prefix) error {
	sc := scope(pool)
	for p.Bits() > pool.Prefix.Bits() {
		b, _ := prefix.Buddy(p)
		if policy6(pool) && b.Bits() > 64 && anycast(b.Addr()) {
			// The buddy holds a /64's anycast address, which no free
			// prefix longer than a /64 holds: it is whole when the rest
			// of it is free and nothing reserves that address.
			ok, err := wholeButAnycast(ctx, tx, pool, b)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			p = prefix.Parent(p)
			continue
		}
		ok, err := tx.RemoveFree(ctx, FreePrefix{RegionID: sc, PoolID: pool.ID, Prefix: b})
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		p = prefix.Parent(p)
	}
	return addFreeRange(ctx, tx, pool, sc, p.Addr(), prefix.Last(p))
}

// wholeButAnycast reports whether all of b but its first address (a /64's
// anycast address) is free and that address is not reserved; if so it
// takes those free prefixes out, for the caller to merge.
func wholeButAnycast(ctx context.Context, tx Tx, pool Pool, b netip.Prefix) (bool, error) {
	free, err := tx.FreeWithin(ctx, pool.ID, b)
	if err != nil {
		return false, err
	}
	n := prefix.CountOf(1)
	for _, f := range free {
		if !prefix.Covers(b, f.Prefix) {
			return false, nil // cannot be: no free prefix holds the anycast address
		}
		n = n.Add(prefix.Size(f.Prefix))
	}
	if n != prefix.Size(b) {
		return false, nil
	}
	rs, err := tx.ReservationsOverlapping(ctx, pool.Space, netip.PrefixFrom(b.Addr(), 128))
	if err != nil || len(rs) > 0 {
		return false, err
	}
	for _, f := range free {
		if err := removeFree(ctx, tx, f); err != nil {
			return false, err
		}
	}
	return true, nil
}

// reservedIn sums the reservations in force at now per pool, with what
// each pool's policy keeps back from its free space.
func reservedIn(pools []Pool, rs []Reservation, now time.Time) map[int64]prefix.Count {
	out := map[int64]prefix.Count{}
	held := map[int64][]netip.Addr{}
	for _, p := range pools {
		held[p.ID] = policyHeld(p, p.Prefix)
		out[p.ID] = prefix.CountOf(uint64(len(held[p.ID])))
	}
	for _, v := range rs {
		if !v.activeAt(now) {
			continue
		}
		c := out[v.PoolID].Add(prefix.Size(v.Prefix))
		for _, a := range held[v.PoolID] {
			if v.Prefix.Contains(a) {
				c = c.Sub(prefix.CountOf(1)) // counted once
			}
		}
		out[v.PoolID] = c
	}
	return out
}

// normaliseSpecific checks a request for exactly q.Prefix and fills its
// family and length from it, so that quotas count it like any other.
func (q *Request) normaliseSpecific() error {
	p := q.Prefix
	if err := checkSpace("prefix", p); err != nil {
		return err
	}
	if q.Space != "" {
		if err := ValidateSpaceName(q.Space); err != nil {
			return err
		}
	}
	if q.Region != "" {
		if err := ValidateName(q.Region); err != nil {
			return fmt.Errorf("%w: %w", err, ErrInvalid)
		}
	}
	if q.DualStack || q.Count > 1 {
		return invalid("%s: a specific prefix is one assignment: no --count or --dual-stack with it", p)
	}
	fam := prefix.Family(p)
	if q.Family != 0 && q.Family != fam {
		return invalid("%s: is IPv%d, but family %d was asked", p, fam, q.Family)
	}
	if q.Bits != 0 && q.Bits != p.Bits() {
		return invalid("%s: is a /%d, but length /%d was asked", p, p.Bits(), q.Bits)
	}
	q.Family, q.Bits = fam, p.Bits()
	return nil
}
