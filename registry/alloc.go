package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
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

// MaxCount bounds one request, so that one call cannot hold the write
// transaction for long.
const MaxCount = 1 << 20

// reapBatch bounds how many ended quarantines a write returns to free
// space before its own work (reapSome): the rest wait for the next writes,
// unless the write needs them: an allocation that finds no room returns
// them all (reap), a pinned prefix that is held those overlapping it
// (reapOverlapping). Returning every
// ended quarantine before each write made the first write after a pause
// pay for all of them at once: 49,519 at ten million assignments a few
// days after the last write, 9-35 s of CPU for one `alloc` (issue 16;
// bench/README.md, "Session 13: SQLite at 10M").
const reapBatch = 256

// Request asks for Count assignments in Region. With DualStack each of the
// Count items is one IPv6 /128 and one IPv4 /32, both or neither.
type Request struct {
	Region    string `json:"region"`
	Family    int    `json:"family,omitempty"` // 4 or 6; 0 means 6
	Bits      int    `json:"len,omitempty"`    // 0 means a single address
	Count     int    `json:"count,omitempty"`  // 0 means 1
	DualStack bool   `json:"dual_stack,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	Resource  string `json:"resource,omitempty"`
	Name      string `json:"name,omitempty"`
	// Prefix asks for exactly this space (an address is its /32 or
	// /128), from the pool that holds it; Region may then be empty.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Space, with Prefix, says which space's pool must hold it: two
	// spaces may both hold 10.0.0.0/8, and naming the space makes sure
	// the address is taken where the caller means. With Region it limits
	// the allocation to the region's pools of that space; empty, a region
	// allocation takes pools of the global and the built-in private space
	// only, never a named space's (a VPC's pools are taken when asked for).
	Space string `json:"space,omitempty"`
	// Pool takes the space from this child pool (AllocatePool) instead of
	// the region's pools; Region may then be empty.
	Pool string `json:"pool,omitempty"`
	// Tags are set on every assignment the request makes.
	Tags Tags   `json:"tags,omitempty"`
	Key  string `json:"-"`
}

// normalise fills defaults and checks the request on its own.
func (q *Request) normalise() error {
	if q.Space != "" {
		if err := ValidateSpaceName(q.Space); err != nil {
			return err
		}
	}
	if q.Pool != "" {
		if err := validateName("child pool name", q.Pool); err != nil {
			return fmt.Errorf("pool: %w: %w", err, ErrInvalid)
		}
		if q.Prefix.IsValid() || q.DualStack {
			return invalid("pool %s: a child pool hands out by length only (no --address, --prefix or --dual-stack)", q.Pool)
		}
		if q.Region != "" {
			if err := ValidateName(q.Region); err != nil {
				return fmt.Errorf("%w: %w", err, ErrInvalid)
			}
		}
	} else if q.Prefix.IsValid() {
		if err := q.normaliseSpecific(); err != nil {
			return err
		}
	} else if err := ValidateName(q.Region); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	if q.Count == 0 {
		q.Count = 1
	}
	if q.Count < 0 || q.Count > MaxCount {
		return invalid("count %d: must be from 1 to %d", q.Count, MaxCount)
	}
	if q.DualStack {
		if q.Family != 0 {
			return invalid("dual-stack gives one IPv6 and one IPv4 assignment: do not also give a family")
		}
		if q.Bits != 0 {
			return invalid("dual-stack gives a /128 and a /32: do not also give a length")
		}
	} else {
		if q.Family == 0 {
			q.Family = 6
		}
		if q.Family != 4 && q.Family != 6 {
			return invalid("family %d: must be 4 or 6", q.Family)
		}
		w := 32
		if q.Family == 6 {
			w = 128
		}
		if q.Bits == 0 {
			q.Bits = w
		}
		if q.Bits < 1 || q.Bits > w {
			return invalid("length /%d: must be from /1 to /%d for IPv%d", q.Bits, w, q.Family)
		}
	}
	if q.Name != "" {
		if err := ValidateFQDN(q.Name); err != nil {
			return fmt.Errorf("%w: %w", err, ErrInvalid)
		}
		if q.Count > 1 {
			return invalid("name %s: one name cannot go to %d assignments; allocate them one by one", q.Name, q.Count)
		}
	}
	if err := q.Tags.Validate(); err != nil {
		return err
	}
	if len(q.Tenant) > 128 || len(q.Resource) > 256 || len(q.Key) > 256 {
		return invalid("tenant (128), resource (256) or idempotency key (256 bytes) too long")
	}
	return checkTexts("tenant", q.Tenant, "resource", q.Resource, "idempotency key", q.Key)
}

// oneTenantPerName refuses a batch that names one name for two tenants
// (NameTakenError, HolderAssignment): each request's name is checked
// against the register, where neither is yet, so both would be stored
// and the name would answer for both tenants. An admin's batch may name
// assignments of several tenants; one tenant may give one name to
// several of its own (an A and an AAAA).
func oneTenantPerName(reqs []Request) error {
	if len(reqs) < 2 {
		return nil
	}
	var tenantOf map[string]string
	for _, q := range reqs {
		if q.Name == "" {
			continue
		}
		if tenantOf == nil {
			tenantOf = map[string]string{}
		}
		n := fqdn(q.Name)
		if t, ok := tenantOf[n]; ok && t != q.Tenant {
			return &NameTakenError{Name: q.Name, Holder: HolderAssignment}
		}
		tenantOf[n] = q.Tenant
	}
	return nil
}

// hash identifies the request for idempotency: a retry must ask for the
// same. Every field is written with its length first, so that no text in
// one field can pass for a separator or for another field's text (tenant
// "acme|vm" is not tenant "acme" with resource "vm|").
func (q Request) hash() string {
	h := sha256.New()
	q.canonical(h)
	return hashVersion + hex.EncodeToString(h.Sum(nil))
}

// canonical writes the fields that make the request what it is, each
// length-prefixed.
func (q Request) canonical(w io.Writer) {
	field := func(s string) {
		var n [binary.MaxVarintLen64]byte
		w.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		io.WriteString(w, s)
	}
	field(q.Region)
	field(strconv.Itoa(q.Family))
	field(strconv.Itoa(q.Bits))
	field(strconv.Itoa(q.Count))
	field(strconv.FormatBool(q.DualStack))
	field(q.Tenant)
	field(q.Resource)
	field(q.Name)
	// Fields added later are written only when set, so that the hash of
	// a request without them, stored before they existed, still matches.
	// Their marker cannot be a region name.
	if q.Prefix.IsValid() {
		field("@prefix")
		field(q.Prefix.String())
	}
	if q.Pool != "" {
		field("@pool")
		field(q.Pool)
	}
	// Two spaces may hold the same prefix: a retry naming another space
	// is another request.
	if q.Space != "" {
		field("@space")
		field(q.Space)
	}
	if len(q.Tags) > 0 {
		field("@tags")
		for _, k := range slices.Sorted(maps.Keys(q.Tags)) {
			field(k)
			field(q.Tags[k])
		}
	}
}

// hashVersion marks request hashes of the canonical form. A stored hash
// without it was made by the first form, which joined the fields with
// "|" (legacyHash): records written before the change still replay.
const hashVersion = "2:"

// legacyHash is the first form of a request's hash, kept only to compare
// with records written by it.
func (q Request) legacyHash() string {
	s := fmt.Sprintf("%s|%d|%d|%d|%t|%s|%s|%s", q.Region, q.Family, q.Bits, q.Count, q.DualStack, q.Tenant, q.Resource, q.Name)
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type item struct{ family, bits int }

// Allocate hands out what q asks for in one transaction: all of it or
// nothing. IPv6 comes from the region's own pools; IPv4 too, and when they
// are full and the region's policy allows, a relocation unit is carved out
// of a lender region's pool and recorded. A repeated idempotency key
// returns the original assignments.
func (r *Registry) Allocate(ctx context.Context, q Request) ([]Assignment, error) {
	return r.AllocateAll(ctx, Batch{Key: q.Key, Requests: []Request{q}})
}

// Batch is several requests answered in one transaction, all or nothing,
// under one idempotency key. Keys are unique within a tenant, and the
// registry alone says so: a key means the same whether the request comes
// from the command line or the API, whichever token sends it. The
// requests of a keyed batch are therefore all for one tenant.
type Batch struct {
	Key      string
	Requests []Request
	// whole is, for one transaction of a larger batch (batch.go), the
	// hash of the whole batch, so that no other request can replay it.
	whole string
}

// scope is the key space of b's idempotency key: its tenant.
func (b Batch) scope() (string, error) {
	t := b.Requests[0].Tenant
	for i, q := range b.Requests {
		if q.Tenant != t {
			return "", invalid("idempotency key %q: request %d is for tenant %q, request 1 for %q: a key belongs to one tenant, so send one batch per tenant", b.Key, i+1, q.Tenant, t)
		}
	}
	return t, nil
}

func (b Batch) hash() string {
	h := sha256.New()
	for _, q := range b.Requests {
		q.canonical(h)
	}
	h.Write([]byte(b.whole))
	return hashVersion + hex.EncodeToString(h.Sum(nil))
}

// sameRequest reports whether stored, the hash recorded with a key, is
// b's, in either form of the hash.
func (b Batch) sameRequest(stored string) bool {
	if strings.HasPrefix(stored, hashVersion) {
		return stored == b.hash()
	}
	h := sha256.New()
	for _, q := range b.Requests {
		h.Write([]byte(q.legacyHash()))
	}
	return stored == hex.EncodeToString(h.Sum(nil))
}

// replay answers a request whose key was used before, in a view: the
// same assignments, if it is the same request.
func (r *Registry) replay(ctx context.Context, b Batch, prev Idempotent) (out []Assignment, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		out, err = replayIn(ctx, tx, b, prev)
		return err
	})
	return out, err
}

// replayIn answers a request whose key was used before, within tx.
func replayIn(ctx context.Context, tx Tx, b Batch, prev Idempotent) ([]Assignment, error) {
	if !b.sameRequest(prev.RequestHash) {
		return nil, fmt.Errorf("idempotency key %q: first used at %s for another request: %w", b.Key, prev.CreatedAt.Format(time.RFC3339), ErrIdempotency)
	}
	out := make([]Assignment, 0, len(prev.AssignmentIDs))
	for _, id := range prev.AssignmentIDs {
		a, err := tx.AssignmentByID(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := fillTags(ctx, tx, KindAssignment, out, func(a *Assignment) int64 { return a.ID }, func(a *Assignment, t Tags) { a.Tags = t }); err != nil {
		return nil, err
	}
	return out, nil
}

// AllocateAll answers every request of b in one transaction.
func (r *Registry) AllocateAll(ctx context.Context, b Batch) ([]Assignment, error) {
	if len(b.Requests) == 0 {
		return nil, invalid("no allocation requested")
	}
	if len(b.Requests) > 1000 {
		return nil, invalid("%d requests in one batch: at most 1000", len(b.Requests))
	}
	if len(b.Key) > 256 {
		return nil, invalid("idempotency key longer than 256 bytes")
	}
	if err := CheckText("idempotency key", b.Key); err != nil && b.whole == "" {
		return nil, err // a part of a larger batch has a derived key (batch.go)
	}
	total := 0
	for i := range b.Requests {
		if err := b.Requests[i].normalise(); err != nil {
			if len(b.Requests) > 1 {
				return nil, fmt.Errorf("request %d: %w", i+1, err)
			}
			return nil, err
		}
		total += b.Requests[i].Count
	}
	if total > MaxCount {
		return nil, invalid("%d prefixes in one batch: at most %d", total, MaxCount)
	}
	if err := oneTenantPerName(b.Requests); err != nil {
		return nil, err
	}
	if n := prefixes(b.Requests); n > r.maxBatch && r.maxBatch > 0 {
		return nil, &BatchLimitError{Limit: r.maxBatch, Asked: n}
	} else if n > chunkPrefixes {
		return r.allocateChunks(ctx, b) // batch.go: no writer waits long behind it
	}
	var scope string
	if b.Key != "" {
		var err error
		if scope, err = b.scope(); err != nil {
			return nil, err
		}
	}
	// Where a read costs a network round trip (SingleReader), the key is
	// not read before the allocation, nor under the region's lock, where
	// every round trip holds up every other allocation in the region: the
	// first run of the transaction takes it as absent (IdempotencyAssumer),
	// and the store's unique key on (tenant, key) refuses the record if it
	// is not; that run then fails with ErrConflict, and the next one reads
	// the key and replays. A key is new far more often than it is
	// replayed: looking it up first cost every keyed allocation a round
	// trip of its own (on PostgreSQL over HTTP, ~15 % of cadastre's CPU per
	// allocation: bench/README.md, session 14 pgcpu). A replay answers
	// what was allowed then, so a refusal of this run (a quota reached
	// since, a name no longer allowed) is checked against the key first
	// (replayOr).
	_, keyAssumed := r.store.(SingleReader)
	keyAssumed = keyAssumed && b.Key != ""
	assume := keyAssumed // the first run's, once
	if err := r.precheckNames(ctx, b.Requests); err != nil {
		return r.replayOr(ctx, b, scope, keyAssumed, err)
	}
	var out []Assignment
	// emptyAt is when the allocation's look found no ended quarantine,
	// remembered once the allocation has committed (reaper).
	var emptyAt time.Time
	queueUse := true // tenant.go: false once a run met a new tenant
	err := r.store.Update(ctx, func(tx Tx) error {
		out = out[:0]
		now := r.clock()
		if as, ok := tx.(IdempotencyAssumer); ok && assume {
			// Only the first run: a run after a conflict reads the key.
			assume = false
			as.AssumeAbsent(scope, b.Key)
		} else if b.Key != "" {
			prev, ok, err := tx.Idempotent(ctx, scope, b.Key)
			if err != nil {
				return err
			}
			if ok {
				out, err = replayIn(ctx, tx, b, prev)
				return err
			}
		}
		emptyAt = time.Time{}
		if !r.reaps.fresh(now) {
			n, err := r.reapSome(ctx, tx, now)
			if err != nil {
				return err
			}
			if n == 0 {
				emptyAt = now
			}
		}
		admitted, err := r.admit(ctx, tx, b.Requests, now, queueUse)
		if err != nil {
			return err
		}
		// From here on nothing is read back from a write but IDs.
		if d, ok := tx.(WriteDeferrer); ok {
			d.DeferWrites()
		}
		for i, q := range b.Requests {
			got, err := r.allocate(ctx, tx, q, now)
			if err != nil {
				// The tenant rules come first, as where they are not
				// queued: a request past its quota (or naming a name it
				// may not) is told so, not that the region is full. Only
				// after a refusal of the allocator's own: the transaction
				// is sound, and the queued statements can still be sent.
				if errors.Is(err, ErrNoSpace) || errors.Is(err, ErrPolicy) {
					if aerr := admitted(); aerr != nil {
						if errors.Is(aerr, errRecount) {
							queueUse = false
						}
						return aerr
					}
				}
				if len(b.Requests) > 1 {
					return fmt.Errorf("request %d: %w", i+1, err)
				}
				return err
			}
			out = append(out, got...)
		}
		if err := admitted(); err != nil {
			if errors.Is(err, errRecount) {
				queueUse = false
			}
			return err // tenant.go: quotas, when the store answered late
		}
		if b.Key != "" {
			ids := make([]int64, len(out))
			for i, x := range out {
				ids[i] = x.ID
			}
			return tx.PutIdempotent(ctx, Idempotent{Tenant: scope, Key: b.Key, RequestHash: b.hash(), AssignmentIDs: ids, CreatedAt: now})
		}
		return nil
	})
	if err != nil {
		return r.replayOr(ctx, b, scope, keyAssumed, err)
	}
	if !emptyAt.IsZero() {
		r.reaps.nothingAt(emptyAt)
	}
	return out, nil
}

// replayOr answers a keyed batch whose key was taken as absent (see
// AllocateAll) and which failed with err: the replay of the key's first
// request if it was recorded, as a look-up before the allocation would
// have answered, else err. A failure that is not the request's (the
// store's, a cancelled context) is returned as it is.
func (r *Registry) replayOr(ctx context.Context, b Batch, scope string, assumed bool, err error) ([]Assignment, error) {
	if !assumed || errors.Is(err, ErrStorage) || ctx.Err() != nil {
		return nil, err
	}
	var prev Idempotent
	var found bool
	if lerr := viewOne(ctx, r.store, func(tx Tx) (err error) {
		prev, found, err = tx.Idempotent(ctx, scope, b.Key)
		return err
	}); lerr != nil || !found {
		return nil, err
	}
	return r.replay(ctx, b, prev)
}

// allocate answers one normalised request inside tx.
func (r *Registry) allocate(ctx context.Context, tx Tx, q Request, now time.Time) ([]Assignment, error) {
	if q.Prefix.IsValid() {
		return r.allocateAt(ctx, tx, q, now)
	}
	if q.Pool != "" {
		return r.allocateIn(ctx, tx, q, now)
	}
	reg, err := tx.RegionByName(ctx, q.Region)
	if err != nil {
		return nil, err // the store names the region
	}
	if q.Space != "" {
		if _, err := tx.SpaceByName(ctx, q.Space); err != nil {
			return nil, err
		}
	}
	items := []item{{q.Family, q.Bits}}
	if q.DualStack {
		items = []item{{6, 128}, {4, 32}}
	}
	// A dual-stack request checks both lengths before it takes anything. A
	// single family is checked by take only when no free prefix fits: one
	// that fits lies in a pool of the region no longer than the request,
	// which is all checkLength asks, so the answer is the same and the
	// common case saves a query.
	if q.DualStack {
		for _, it := range items {
			if err := r.checkLength(ctx, tx, reg, q.Space, it); err != nil {
				return nil, err
			}
		}
	}
	a := allocator{r: r, tx: tx, reg: reg, q: q, now: now, unchecked: !q.DualStack}
	if q.DualStack {
		for i := 0; i < q.Count; i++ {
			for _, it := range items {
				if err := a.take(ctx, it, 1); err != nil {
					return nil, fmt.Errorf("allocate %d of %d: %w", i+1, q.Count, err)
				}
			}
		}
	} else if err := a.take(ctx, items[0], q.Count); err != nil {
		return nil, err
	}
	return a.out, nil
}

// checkLength refuses a length no pool of the region in space (see
// Request.Space) could ever give.
func (r *Registry) checkLength(ctx context.Context, tx Tx, reg Region, space string, it item) error {
	pools, err := tx.Pools(ctx, PoolFilter{RegionID: reg.ID, Family: it.family})
	if err != nil {
		return err
	}
	pools = slices.DeleteFunc(pools, func(p Pool) bool { return !spaceOK(space, p.Space) })
	in := ""
	if space != "" {
		in = " in space " + space
	}
	if len(pools) == 0 {
		if it.family == 4 && (reg.Borrow.Any || len(reg.Borrow.From) > 0) {
			return nil
		}
		return fmt.Errorf("region %s: has no IPv%d pool%s (add one with `cadastre pool add PREFIX --region %s`): %w", reg.Name, it.family, in, reg.Name, ErrNoSpace)
	}
	shortest := 129
	for _, p := range pools {
		shortest = min(shortest, p.Prefix.Bits())
	}
	if it.bits < shortest {
		return invalid("length /%d: shorter than every IPv%d pool%s of region %s (the largest is a /%d)", it.bits, it.family, in, reg.Name, shortest)
	}
	return nil
}

// spaceOK says whether an allocation from a region asking for space may
// take a pool of poolSpace: the space named only, or with none named the
// global and the built-in private space. A named space's pools are taken
// only when it is asked for, so adding a VPC's pool to a region never
// changes where its other allocations land.
func spaceOK(space, poolSpace string) bool {
	if space != "" {
		return poolSpace == space
	}
	return poolSpace == GlobalSpace || poolSpace == PrivateSpace
}

// spacePools lists the IDs of region's pools of family that an allocation
// asking for space may take from (spaceOK).
func spacePools(ctx context.Context, tx Tx, regionID int64, space string, family int) ([]int64, error) {
	pools, err := tx.Pools(ctx, PoolFilter{RegionID: regionID, Family: family})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, p := range pools {
		if spaceOK(space, p.Space) {
			ids = append(ids, p.ID)
		}
	}
	return ids, nil
}

// smallestFreeIn is SmallestFree among region's pools that an allocation
// asking for space may take from.
func smallestFreeIn(ctx context.Context, tx Tx, regionID int64, space string, family, bits int) (FreePrefix, bool, error) {
	ids, err := spacePools(ctx, tx, regionID, space, family)
	if err != nil {
		return FreePrefix{}, false, err
	}
	return tx.SmallestFreeOf(ctx, regionID, ids, family, bits)
}

// allocator carries one request's state through its transaction.
type allocator struct {
	r     *Registry
	tx    Tx
	reg   Region
	q     Request
	now   time.Time
	out   []Assignment
	pools map[int64]Pool
	// last is the pool read last (a request's allocations are usually all
	// in one), kept before the map, which it spares a single allocation.
	last Pool
	// unchecked: checkLength has not run yet for this request (see allocate).
	unchecked bool
	// child, when set, is the child pool the request takes from.
	child *Pool
	// inSpace: the region holds pools the request may not take (another
	// space's, spaceOK), so free space is searched among the others only;
	// set when the plain search first found one.
	inSpace bool
}

// scope is where the allocator searches free space: its region's, or its
// child pool's.
func (a *allocator) scope() int64 {
	if a.child != nil {
		return childScope(*a.child)
	}
	return a.reg.ID
}

// pool returns a pool by ID, read once per request.
func (a *allocator) pool(ctx context.Context, id int64) (Pool, error) {
	if a.last.ID == id && id != 0 {
		return a.last, nil
	}
	if p, ok := a.pools[id]; ok {
		return p, nil
	}
	p, err := a.tx.PoolByID(ctx, id)
	if err != nil {
		return Pool{}, err
	}
	if a.last.ID != 0 {
		if a.pools == nil {
			a.pools = map[int64]Pool{}
		}
		a.pools[a.last.ID] = a.last
	}
	a.last = p
	return p, nil
}

// take allocates n prefixes of one length. Buddy allocation always takes
// the longest free prefix that fits, lowest address first; the next n-1
// single takes would carve the rest of that same prefix in address order,
// so a batch takes them together and returns the remainder as maximal
// aligned prefixes, which is exactly what n single takes leave behind.
func (a *allocator) take(ctx context.Context, it item, n int) error {
	a.out = slices.Grow(a.out, min(n, 1<<16))
	done := 0
	ft, fast := a.tx.(FreeTaker)
	for done < n {
		var f FreePrefix
		var ok bool
		var err error
		if a.inSpace {
			f, ok, err = smallestFreeIn(ctx, a.tx, a.reg.ID, a.q.Space, it.family, it.bits)
		} else if fast {
			f, ok, err = ft.TakeSmallestFree(ctx, a.scope(), it.family, it.bits)
		} else {
			f, ok, err = a.tx.SmallestFree(ctx, a.scope(), it.family, it.bits)
		}
		if err != nil {
			return err
		}
		taken := ok && fast && !a.inSpace
		if !ok {
			// Borrowing is for ever and failing is final: neither happens
			// while ended quarantines wait, even when AllocateAll skipped
			// the look (reaper).
			if n, err := a.r.reap(ctx, a.tx, a.now); err != nil {
				return err
			} else if n > 0 {
				continue
			}
			if c := a.child; c != nil {
				return fmt.Errorf("child pool %s (%s): no free IPv%d /%d (%d of %d taken; child pools never borrow): %w", c.Name, c.Prefix, it.family, it.bits, done, n, ErrNoSpace)
			}
			if a.unchecked {
				a.unchecked = false
				if err := a.r.checkLength(ctx, a.tx, a.reg, a.q.Space, it); err != nil {
					return err
				}
			}
			f, err = a.borrow(ctx, it)
			if err != nil {
				if done > 0 && errors.Is(err, ErrNoSpace) {
					return fmt.Errorf("only %d of %d IPv%d /%d fit: %w", done, n, it.family, it.bits, err)
				}
				return err
			}
		}
		if !taken {
			if err := removeFree(ctx, a.tx, f); err != nil {
				return err
			}
		}
		pool, err := a.pool(ctx, f.PoolID)
		if err != nil {
			return err
		}
		if a.child == nil && !spaceOK(a.q.Space, pool.Space) {
			// Another space's pool: f goes back, and the search runs
			// again among the pools of the space asked for only.
			if err := a.tx.AddFree(ctx, f); err != nil {
				return err
			}
			a.inSpace = true
			continue
		}
		if it.bits > 64 && f.Prefix.Bits() <= 64 && policy6(pool) {
			// Splitting a /64 below a /64 keeps its anycast address back
			// (reserve.go): what is left of f goes back, and the search
			// runs again.
			if err := addFreeRange(ctx, a.tx, pool, f.RegionID, f.Prefix.Addr().Next(), prefix.Last(f.Prefix)); err != nil {
				return err
			}
			continue
		}
		// How many /bits fit in f, capped by what is still wanted.
		k := uint64(n - done)
		if d := it.bits - f.Prefix.Bits(); d < 63 {
			k = min(k, uint64(1)<<d)
		}
		cur := f.Prefix.Addr()
		if bt, ok := a.tx.(BatchWriter); ok && k > 1 {
			if cur, err = a.takeMany(ctx, bt, f, pool, it.bits, k); err != nil {
				return err
			}
		} else {
			for i := uint64(0); i < k; i++ {
				p := netip.PrefixFrom(cur, it.bits)
				if err := a.record(ctx, pool, p); err != nil {
					return err
				}
				cur = prefix.Last(p).Next()
			}
		}
		done += int(k)
		// Return what is left of f: [cur, last(f)].
		if last := prefix.Last(f.Prefix); cur.IsValid() && cur.Compare(last) <= 0 {
			if err := a.addFrees(ctx, f, prefix.Range(cur, last)); err != nil {
				return err
			}
		}
	}
	return nil
}

// addFrees returns rest, what is left of the free prefix f once a take
// carved its start, to f's pool's free space: in one call where the store
// can (FreeAdder), as most splits leave two or more prefixes.
func (a *allocator) addFrees(ctx context.Context, f FreePrefix, rest []netip.Prefix) error {
	if fa, ok := a.tx.(FreeAdder); ok && len(rest) > 1 {
		fs := make([]FreePrefix, len(rest))
		for i, p := range rest {
			fs[i] = FreePrefix{RegionID: f.RegionID, PoolID: f.PoolID, Prefix: p}
		}
		return fa.AddFrees(ctx, fs)
	}
	for _, p := range rest {
		if err := a.tx.AddFree(ctx, FreePrefix{RegionID: f.RegionID, PoolID: f.PoolID, Prefix: p}); err != nil {
			return err
		}
	}
	return nil
}

// record writes the assignment of p from pool, with its event.
func (a *allocator) record(ctx context.Context, pool Pool, p netip.Prefix) error {
	as := Assignment{Prefix: p, PoolID: pool.ID, Pool: pool.Prefix, RegionID: a.reg.ID, Region: a.reg.Name, Space: pool.Space,
		Tenant: a.q.Tenant, Resource: a.q.Resource, Name: a.q.Name, State: StateAssigned, CreatedAt: a.now,
		Borrowed: pool.Relocation != nil, Relocation: pool.Relocation, Tags: a.q.Tags}
	if err := a.tx.InsertAssignment(ctx, &as); err != nil {
		return err
	}
	if len(as.Tags) > 0 {
		if err := a.tx.SetTags(ctx, KindAssignment, as.ID, as.Tags); err != nil {
			return fmt.Errorf("assignment %s: %w", p, err)
		}
	}
	// &as: the assignment is not copied into the payload's interface; the
	// payload writes the subject and the pool's remembered text.
	subject := p.String()
	after := assignmentPayload{a: &as, prefix: subject, pool: a.r.poolTexts.text(pool.Prefix)}
	if err := a.r.event(ctx, a.tx, a.now, "assignment.allocate", "assignment", as.ID, subject, nil, after); err != nil {
		return err
	}
	a.out = append(a.out, as)
	return nil
}

// removeFree takes f out of free space. f was just found free in this
// transaction; if it is gone, a concurrent writer took it, and the whole
// transaction must run again (a store that serialises writers never sees
// this).
func removeFree(ctx context.Context, tx Tx, f FreePrefix) error {
	ok, err := tx.RemoveFree(ctx, f)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("free prefix %s of pool %d: taken by a concurrent writer: %w", f.Prefix, f.PoolID, ErrConflict)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// manyChunk bounds the assignments and events held in memory at once
// while a batch is written.
const manyChunk = 1024

// takeMany writes k consecutive /bits assignments from the start of f, each
// with its allocation event, exactly as take's one-by-one loop would, in a
// few statements; it returns the address after the last one.
func (a *allocator) takeMany(ctx context.Context, bt BatchWriter, f FreePrefix, pool Pool, bits int, k uint64) (netip.Addr, error) {
	cur := f.Prefix.Addr()
	actor := Actor(ctx)
	n := int(min(k, manyChunk))
	chunk := make([]Assignment, 0, n)
	events := make([]Event, 0, n)
	for k > 0 {
		n := int(min(k, manyChunk))
		chunk = chunk[:0]
		for range n {
			p := netip.PrefixFrom(cur, bits)
			chunk = append(chunk, Assignment{Prefix: p, PoolID: f.PoolID, Pool: pool.Prefix, RegionID: a.reg.ID, Region: a.reg.Name, Space: pool.Space,
				Tenant: a.q.Tenant, Resource: a.q.Resource, Name: a.q.Name, State: StateAssigned, CreatedAt: a.now,
				Borrowed: pool.Relocation != nil, Relocation: pool.Relocation, Tags: a.q.Tags})
			cur = prefix.Last(p).Next()
		}
		if err := bt.InsertAssignments(ctx, chunk); err != nil {
			return cur, err
		}
		if len(a.q.Tags) > 0 {
			for _, as := range chunk {
				if err := a.tx.SetTags(ctx, KindAssignment, as.ID, as.Tags); err != nil {
					return cur, fmt.Errorf("assignment %s: %w", as.Prefix, err)
				}
			}
		}
		// The events Registry.event would write. The assignments of a chunk
		// differ only in ID and prefix, so their JSON is one template with
		// those two spliced in; should the template not start with them
		// (the encoding changed), each is marshalled whole.
		tmpl := chunk[0]
		tmpl.ID, tmpl.Prefix = 0, netip.Prefix{}
		rest, err := json.Marshal(tmpl)
		if err != nil {
			return cur, err
		}
		const head = `{"id":0,"prefix":""`
		spliced := bytes.HasPrefix(rest, []byte(head))
		rest = rest[len(head)*btoi(spliced):]
		events = events[:0]
		for _, as := range chunk {
			subject := as.Prefix.String()
			var after []byte
			if spliced {
				after = make([]byte, 0, len(rest)+len(subject)+32)
				after = append(strconv.AppendInt(append(after, `{"id":`...), as.ID, 10), `,"prefix":"`...)
				after = append(append(append(after, subject...), '"'), rest...)
			} else if after, err = json.Marshal(as); err != nil {
				return cur, err
			}
			events = append(events, Event{At: a.now, Actor: actor, Action: "assignment.allocate", SubjectKind: "assignment",
				SubjectID: as.ID, Subject: subject, After: after})
		}
		if err := bt.AppendEvents(ctx, events); err != nil {
			return cur, err
		}
		a.out = append(a.out, chunk...)
		k -= uint64(n)
	}
	return cur, nil
}

// borrow carves a relocation unit for the region out of a lender's free
// IPv4 space, as the region's policy allows, and returns it as free space
// of a new pool of the region.
func (a *allocator) borrow(ctx context.Context, it item) (FreePrefix, error) {
	pol := a.reg.Borrow
	perr := &PolicyError{Region: a.reg.Name, Family: it.family, Policy: pol, Bits: it.bits, Space: a.q.Space}
	if it.family != 4 {
		in := ""
		if a.q.Space != "" {
			in = " of space " + a.q.Space
		}
		return FreePrefix{}, fmt.Errorf("region %s: no free IPv6 /%d in its pools%s (IPv6 is never borrowed: add a pool): %w", a.reg.Name, it.bits, in, ErrNoSpace)
	}
	if !pol.Any && len(pol.From) == 0 {
		return FreePrefix{}, perr
	}
	var lenders []Region
	if pol.Any {
		all, err := a.tx.Regions(ctx)
		if err != nil {
			return FreePrefix{}, err
		}
		for _, l := range all {
			if l.ID != a.reg.ID {
				lenders = append(lenders, l)
			}
		}
	} else {
		for _, name := range pol.From {
			l, err := a.tx.RegionByName(ctx, name)
			if err != nil {
				return FreePrefix{}, fmt.Errorf("region %s: lender: %w", a.reg.Name, err)
			}
			lenders = append(lenders, l)
		}
	}
	unit := min(a.reg.BorrowBits, it.bits)
	for _, l := range lenders {
		lf, ok, err := smallestFreeIn(ctx, a.tx, l.ID, a.q.Space, 4, unit)
		if err != nil {
			return FreePrefix{}, err
		}
		if !ok {
			continue
		}
		if err := removeFree(ctx, a.tx, lf); err != nil {
			return FreePrefix{}, err
		}
		take, rest, _ := prefix.Split(lf.Prefix, unit)
		for _, p := range rest {
			if err := a.tx.AddFree(ctx, FreePrefix{RegionID: l.ID, PoolID: lf.PoolID, Prefix: p}); err != nil {
				return FreePrefix{}, err
			}
		}
		from, err := a.pool(ctx, lf.PoolID)
		if err != nil {
			return FreePrefix{}, err
		}
		rel := Relocation{Prefix: take, FromPoolID: from.ID, FromRegion: l.Name, ToRegion: a.reg.Name, CreatedAt: a.now,
			Reason: fmt.Sprintf("%s ran out of IPv4 for a /%d; borrowed from %s under policy %q", a.reg.Name, it.bits, l.Name, pol.String())}
		if err := a.tx.InsertRelocation(ctx, &rel); err != nil {
			return FreePrefix{}, err
		}
		ref := &RelocationRef{ID: rel.ID, Prefix: take, FromRegion: l.Name, ToRegion: a.reg.Name}
		pool := Pool{Prefix: take, BlockID: from.BlockID, Block: from.Block, RegionID: a.reg.ID, Region: a.reg.Name,
			Purpose: from.Purpose, Relocation: ref, ParentID: from.ID, CreatedAt: a.now,
			// A lent unit is plain space of its lender's pool, whose edges
			// the lender's policy already kept back.
			UseAll: true}
		if err := a.tx.InsertPool(ctx, &pool); err != nil {
			return FreePrefix{}, err
		}
		rel.PoolID = pool.ID
		if err := a.r.event(ctx, a.tx, a.now, "relocation.create", "relocation", rel.ID, take.String(), nil, rel); err != nil {
			return FreePrefix{}, err
		}
		f := FreePrefix{RegionID: a.reg.ID, PoolID: pool.ID, Prefix: take}
		if err := a.tx.AddFree(ctx, f); err != nil {
			return FreePrefix{}, err
		}
		return f, nil
	}
	names := make([]string, len(lenders))
	for i, l := range lenders {
		names[i] = l.Name
	}
	perr.Detail = fmt.Sprintf("; no lender it may use (%s) has a free IPv4 /%d either", strings.Join(names, ", "), unit)
	perr.LendersFull = true
	return FreePrefix{}, perr
}

// reap returns every assignment whose quarantine has ended to free space,
// and says how many.
func (r *Registry) reap(ctx context.Context, tx Tx, now time.Time) (int, error) {
	// Every ended quarantine must be free before a region borrows or
	// fails, or it would do so while its own space sits reclaimable.
	n := 0
	for {
		k, more, err := r.reapBatch(ctx, tx, now)
		n += k
		if err != nil || !more {
			return n, err
		}
	}
}

// reapSome returns at most reapBatch of the oldest ended quarantines to
// free space (and every ended reservation once no quarantine is left),
// and says how many: what a write does before its own work, so that its
// cost does not grow with the quarantines that ended since the last write.
// Allocation stays exact without the rest: a region that finds no room
// returns them all before it borrows or fails (allocator.take), and a
// pinned prefix that is held returns those overlapping it before it is
// refused (allocateAt).
func (r *Registry) reapSome(ctx context.Context, tx Tx, now time.Time) (int, error) {
	n, _, err := r.reapBatch(ctx, tx, now)
	return n, err
}

// reapBatch returns up to reapBatch ended quarantines to free space (and,
// when they were the last, the ended reservations), says how many, and
// whether more may be left.
func (r *Registry) reapBatch(ctx context.Context, tx Tx, now time.Time) (int, bool, error) {
	ended, err := tx.QuarantineEnded(ctx, now, reapBatch)
	if err != nil {
		return 0, false, err
	}
	if err := r.reapEnded(ctx, tx, now, ended); err != nil {
		return 0, false, err
	}
	if len(ended) == reapBatch {
		return len(ended), true, nil
	}
	k, err := r.reapReservations(ctx, tx, now)
	return len(ended) + k, false, err
}

// reapOverlapping returns the ended quarantines of space that overlap p
// to free space, and says how many.
func (r *Registry) reapOverlapping(ctx context.Context, tx Tx, space string, p netip.Prefix, now time.Time) (int, error) {
	all, err := tx.AssignmentsAt(ctx, space, p)
	if err != nil {
		return 0, err
	}
	ended := slices.DeleteFunc(all, func(a Assignment) bool {
		return a.State != StateQuarantined || a.QuarantineUntil == nil || a.QuarantineUntil.After(now)
	})
	return len(ended), r.reapEnded(ctx, tx, now, ended)
}

// reapEnded returns ended, assignments whose quarantine has ended, to
// free space, each with its event.
func (r *Registry) reapEnded(ctx context.Context, tx Tx, now time.Time, ended []Assignment) error {
	if err := releaseUse(ctx, tx, ended); err != nil {
		return err
	}
	for _, a := range ended {
		before := a
		a.State = StateReleased
		if err := tx.UpdateAssignment(ctx, a); err != nil {
			return err
		}
		if err := r.free(ctx, tx, a); err != nil {
			return err
		}
		if err := r.eventAs(ctx, tx, "system", now, "assignment.free", a.ID, a.Prefix.String(), before, a); err != nil {
			return err
		}
	}
	return nil
}

func (r *Registry) eventAs(ctx context.Context, tx Tx, actor string, at time.Time, action string, id int64, subject string, before, after any) error {
	return r.event(WithActor(ctx, actor), tx, at, action, "assignment", id, subject, before, after)
}

// free returns a's prefix to its pool, merging it with its buddies.
func (r *Registry) free(ctx context.Context, tx Tx, a Assignment) error {
	pool, err := tx.PoolByID(ctx, a.PoolID)
	if err != nil {
		return err
	}
	return r.returnSpace(ctx, tx, pool, a.Prefix)
}

// DefaultQuarantine is how long a released assignment waits before re-use.
const DefaultQuarantine = 24 * time.Hour

// Target names an assignment by ID or by its exact prefix. Space, with
// Prefix, names the space it lies in; empty, the one space holding a
// live assignment of Prefix (two spaces holding one is ErrInvalid).
type Target struct {
	ID     int64
	Prefix netip.Prefix
	Space  string
}

// Release ends an assignment. With a positive quarantine it is held until
// then, so nobody inherits its names or reputation at once; with zero its
// space is free at once. tenant, when not nil, must own the assignment.
func (r *Registry) Release(ctx context.Context, t Target, quarantine time.Duration, tenant *string) (Assignment, error) {
	if quarantine < 0 {
		return Assignment{}, invalid("quarantine %s: must not be negative", quarantine)
	}
	var out Assignment
	err := r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if _, err := r.reapSome(ctx, tx, now); err != nil {
			return err
		}
		a, err := r.find(ctx, tx, t)
		if err != nil {
			return err
		}
		if tenant != nil && a.Tenant != *tenant {
			return fmt.Errorf("assignment %s: %w", t, ErrNotFound)
		}
		switch a.State {
		case StateQuarantined:
			return fmt.Errorf("assignment %d (%s): already released, in quarantine until %s: %w", a.ID, a.Prefix, a.QuarantineUntil.Format(time.RFC3339), ErrState)
		case StateReleased:
			return fmt.Errorf("assignment %d (%s): already released: %w", a.ID, a.Prefix, ErrState)
		}
		before := a
		a.ReleasedAt = &now
		if quarantine > 0 {
			until := now.Add(quarantine)
			r.reaps.ends(until)
			a.State, a.QuarantineUntil = StateQuarantined, &until
		} else {
			a.State = StateReleased
		}
		if err := tx.UpdateAssignment(ctx, a); err != nil {
			return err
		}
		if a.State == StateReleased {
			if err := r.free(ctx, tx, a); err != nil {
				return err
			}
			if err := releaseUse(ctx, tx, []Assignment{a}); err != nil {
				return err
			}
		}
		out = a
		return r.event(ctx, tx, now, "assignment.release", "assignment", a.ID, a.Prefix.String(), before, a)
	})
	return out, err
}

func (t Target) String() string {
	if t.Prefix.IsValid() {
		return t.Prefix.String()
	}
	return fmt.Sprint(t.ID)
}

// find resolves a target to its assignment: by ID any assignment, by
// prefix the live one with exactly that prefix.
func (r *Registry) find(ctx context.Context, tx Tx, t Target) (Assignment, error) {
	if !t.Prefix.IsValid() {
		a, err := tx.AssignmentByID(ctx, t.ID)
		if err != nil {
			return Assignment{}, err
		}
		return a, nil
	}
	a, ok, err := liveIn(ctx, tx, t.Space, t.Prefix)
	if err != nil {
		return Assignment{}, err
	}
	if !ok {
		return Assignment{}, fmt.Errorf("%s: not assigned: %w", t.Prefix, ErrNotFound)
	}
	if a.Prefix != t.Prefix {
		return Assignment{}, fmt.Errorf("%s: not assigned as such; %s assignment %d (%s), release that: %w", t.Prefix, relation(t.Prefix, a.Prefix), a.ID, a.Prefix, ErrNotFound)
	}
	return a, nil
}

// liveIn is LiveAssignment in space, or when space is empty in the one
// space holding a live assignment overlapping p: an address of 10.0.0.0/8
// held in two VPCs is never released in the wrong one.
func liveIn(ctx context.Context, tx Tx, space string, p netip.Prefix) (Assignment, bool, error) {
	spaces, err := spacesOf(ctx, tx, space)
	if err != nil {
		return Assignment{}, false, fmt.Errorf("%s: %w", p, err)
	}
	var hit []Assignment
	for _, s := range spaces {
		a, ok, err := tx.LiveAssignment(ctx, s, p)
		if err != nil {
			return Assignment{}, false, err
		}
		if ok {
			hit = append(hit, a)
		}
	}
	switch len(hit) {
	case 0:
		return Assignment{}, false, nil
	case 1:
		return hit[0], true, nil
	}
	names := make([]string, len(hit))
	for i, a := range hit {
		names[i] = fmt.Sprintf("assignment %d (%s) in space %s", a.ID, a.Prefix, a.Space)
	}
	return Assignment{}, false, invalid("%s: held in %d spaces (%s): name one with --space", p, len(hit), strings.Join(names, ", "))
}

// spacesOf is the one space named (checked to exist), or every space
// when none is.
func spacesOf(ctx context.Context, tx Tx, space string) ([]string, error) {
	if space != "" {
		if err := ValidateSpaceName(space); err != nil {
			return nil, err
		}
		if _, err := tx.SpaceByName(ctx, space); err != nil {
			return nil, err
		}
		return []string{space}, nil
	}
	all, err := tx.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(all))
	for i, s := range all {
		out[i] = s.Name
	}
	return out, nil
}

// Assignment returns one assignment by ID; tenant, when not nil, must own it.
func (r *Registry) Assignment(ctx context.Context, id int64, tenant *string) (a Assignment, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		a, err = tx.AssignmentByID(ctx, id)
		if err == nil && tenant != nil && a.Tenant != *tenant {
			err = fmt.Errorf("assignment %d: %w", id, ErrNotFound)
		}
		if err == nil {
			a.Tags, err = tagsOf(ctx, tx, KindAssignment, a.ID)
		}
		return err
	})
	return a, err
}

// Assignments lists assignments matching f.
func (r *Registry) Assignments(ctx context.Context, f AssignmentFilter) (out []Assignment, err error) {
	if err := f.Tags.Validate(); err != nil {
		return nil, err
	}
	if p, ok := r.store.(AssignmentPager); ok {
		return p.AssignmentPage(ctx, f)
	}
	err = r.store.View(ctx, func(tx Tx) error {
		if f.Region != "" {
			g, err := tx.RegionByName(ctx, f.Region)
			if err != nil {
				return err
			}
			f.RegionID = g.ID
		}
		if out, err = tx.Assignments(ctx, f); err != nil {
			return err
		}
		return fillTags(ctx, tx, KindAssignment, out, func(a *Assignment) int64 { return a.ID }, func(a *Assignment, t Tags) { a.Tags = t })
	})
	return out, err
}

// ValidateFQDN checks a DNS name for an assignment: at most 253 bytes,
// labels of 1 to 63 letters, digits and hyphens, not starting or ending
// with a hyphen, lower case; one trailing dot allowed. A control
// character is a TextError for the field "name" (400 over the API, as in
// every other text field), not a syntax error (422).
func ValidateFQDN(name string) error { return validateFQDN("name", name) }

// validateFQDN is ValidateFQDN for a name given in field (a TextError
// names it).
func validateFQDN(field, name string) error {
	if err := CheckText(field, name); err != nil {
		return err
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return fmt.Errorf("name %q: must be a DNS name of 1 to 253 bytes", name)
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("name %q: each label must be 1 to 63 bytes", name)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("name %q: label %q starts or ends with a hyphen", name, l)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("name %q: label %q: only lower-case letters, digits and hyphens", name, l)
			}
		}
	}
	return nil
}

// relation says how a queried prefix q relates to the live assignment a
// that overlaps it, for messages.
func relation(q, a netip.Prefix) string {
	if q.Bits() >= a.Bits() {
		return "it lies in"
	}
	return "it holds"
}
