package sqlite

import (
	"context"
	"database/sql/driver"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
)

// rowCache keeps the writer's region rows (by name) and pool rows (by ID)
// from one write transaction to the next: every allocation reads its
// region and its pool, two of the ~9 statements of a single allocation
// (issue 16: one caller's durable allocation is bound by the CPU of its
// statements; bench/README.md, "Session 7: allocation cost").
//
// It is exact, not a guess:
//   - the writer connection is the only one of this Store that writes, and
//     every statement it runs goes through wtx, which drops the cache
//     before any write to a table other than those allocations write
//     (cacheSafe): regions, pools, blocks, relocations and spaces (what a
//     Pool is read from) are never written with the cache kept;
//   - another process or connection that commits (the CLI beside `serve`)
//     changes PRAGMA data_version, which the writer reads once per write
//     transaction, under its write lock (begin);
//   - a rollback, whole or to a caller's savepoint, drops it, so nothing
//     read inside undone writes survives.
type rowCache struct {
	version int64
	valid   bool
	regions map[string]registry.Region
	pools   map[int64]registry.Pool
	// kinds remembers cacheSafe's and writesFree's answers for each
	// statement text: the writer runs a few texts over and over, and
	// matching the regular expression on every write was ~3 % of a
	// durable allocation's CPU.
	kinds map[string]stmtKind
	// free is the writer's free list (freecache.go), kept by the same rules.
	free freeCache
	// nextID is the ID the next assignment row gets (the largest plus
	// one), 0 when unknown (fold.go); kept by the same rules, and dropped
	// by a write of assignments other than idKept's.
	nextID int64
	// counted is pool_counts_mark.through (00059, counters.go) when
	// nextID is known, read with it and dropped with it.
	counted int64
	// tail counts the rows after counted as foldTailSQL would, when
	// tailKnown: the mark moved to the last row (or was read there) and
	// every row since was written by this writer through a text of idKept
	// and counted as it joined (joinedTail), with no other write to
	// assignments since (a change of state, a delete: tailKnown is
	// dropped and the tail is folded by its SQL). Kept by the same rules
	// as nextID, and dropped with it.
	tail      poolcount.Deltas
	tailKnown bool
	// fold is the statement that folds an allocation, prepared on the
	// driver's connection (fold.go); nil without it. foldArgs are its
	// arguments, kept for the next.
	fold     driver.Stmt
	front    driver.Stmt // the fold of a frontier take
	foldArgs [foldArgs]driver.NamedValue
	// raw are the writer's other statements on the driver (rawstmt.go).
	raw rawStmts
}

// stmtKind is what written needs to know of a statement text.
type stmtKind struct {
	safe bool // cacheSafe
	free bool // writes the free table by a text other than freeKept's
	ids  bool // inserts or deletes assignments by a text other than idKept's
	rows bool // writes assignments by a text other than idKept's
}

// reset forgets every row.
func (c *rowCache) reset() {
	c.regions, c.pools = nil, nil
	c.free.reset()
	c.nextID = 0
	c.forgetTail()
}

// forgetTail drops what the cache counted of the counters' tail.
func (c *rowCache) forgetTail() { c.tail, c.tailKnown = nil, false }

// begin checks, at the start of a write transaction, that no other
// connection committed since the cache was filled.
func (c *rowCache) begin(ctx context.Context, w *wtx) error {
	v, err := w.dataVersion(ctx)
	if err != nil {
		c.reset()
		c.valid = false
		return err
	}
	if !c.valid || v != c.version {
		c.reset()
	}
	c.version, c.valid = v, true
	return nil
}

// written is told of every statement the writer runs, before it runs.
func (c *rowCache) written(q string) {
	if c.regions == nil && c.pools == nil && c.free.scopes == nil && c.free.fronts == nil && c.nextID == 0 {
		return
	}
	k := c.kind(q)
	if !k.safe {
		c.reset()
		return
	}
	if k.free {
		c.free.reset()
	}
	if k.ids {
		c.nextID = 0
	}
	if k.rows {
		// A change of a row's state may move its pool's frontier mark
		// (the triggers of 00071, frontier.go).
		c.forgetTail()
		c.free.reset()
	}
}

// kind is q's stmtKind, remembered. Texts with literal lists vary without
// end, so the memo starts over when it holds maxStmts of them.
func (c *rowCache) kind(q string) stmtKind {
	if k, seen := c.kinds[q]; seen {
		return k
	}
	if c.kinds == nil || len(c.kinds) >= maxStmts {
		c.kinds = make(map[string]stmtKind, 64)
	}
	k := stmtKind{safe: cacheSafe(q), free: writesFree(q) && !freeKept[q], ids: writesAssignmentIDs(q) && !idKept[q], rows: writesAssignments(q) && !idKept[q]}
	if q == foldSQL || q == frontSQL {
		// The view's trigger writes free, assignments and events only,
		// and the writer keeps its caches in step with each.
		k = stmtKind{safe: true}
	}
	c.kinds[q] = k
	return k
}

// writeTarget finds the table a writing statement names first.
var writeTarget = regexp.MustCompile(`^(?i)(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"?(\w+)`)

// cacheSafe reports whether q leaves every cached row as it is: a read,
// transaction control, or a write to a table no cached row is read from
// (no trigger of these tables writes elsewhere but those of assignments,
// which move a pool's frontier mark: written drops the free list for any
// write of assignments it does not keep). Anything else, a WITH
// or an unknown statement included, is taken to change them.
func cacheSafe(q string) bool {
	q = strings.TrimSpace(q)
	head, _, _ := strings.Cut(q, " ")
	switch strings.ToUpper(head) {
	case "SELECT", "SAVEPOINT", "RELEASE", "BEGIN", "COMMIT":
		return true
	case "PRAGMA":
		return strings.EqualFold(q, "PRAGMA data_version")
	}
	m := writeTarget.FindStringSubmatch(q)
	if m == nil {
		return false
	}
	switch strings.ToLower(m[1]) {
	case "free", "pool_frontier", "assignments", "events", "pool_counts", "pool_counts_mark", "tenants", "idempotency", "tags":
		return true
	}
	return false
}

// writesAssignmentIDs reports whether q inserts or deletes assignment rows
// (an UPDATE keeps their IDs).
func writesAssignmentIDs(q string) bool {
	return writesAssignments(q) && !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "UPDATE")
}

// writesAssignments reports whether q writes assignment rows.
func writesAssignments(q string) bool {
	m := writeTarget.FindStringSubmatch(strings.TrimSpace(q))
	return m != nil && strings.EqualFold(m[1], "assignments")
}

// region and pool answer from the cache; a nil cache (a view) has nothing.
func (c *rowCache) region(name string) (registry.Region, bool) {
	if c == nil {
		return registry.Region{}, false
	}
	r, ok := c.regions[name]
	if !ok {
		return r, false
	}
	return cloneRegion(r), true
}

func (c *rowCache) putRegion(r registry.Region) {
	if c.regions == nil {
		c.regions = map[string]registry.Region{}
	}
	if len(c.regions) >= maxCachedRows {
		clear(c.regions)
	}
	c.regions[r.Name] = cloneRegion(r)
}

func (c *rowCache) pool(id int64) (registry.Pool, bool) {
	if c == nil {
		return registry.Pool{}, false
	}
	p, ok := c.pools[id]
	if !ok {
		return p, false
	}
	return clonePool(p), true
}

// poolSpace is the cached pool's space, without copying the pool.
func (c *rowCache) poolSpace(id int64) (string, bool) {
	if c == nil {
		return "", false
	}
	p, ok := c.pools[id]
	return p.Space, ok
}

// poolPrefix is the cached pool's prefix, without copying the pool.
func (c *rowCache) poolPrefix(id int64) (netip.Prefix, bool) {
	if c == nil {
		return netip.Prefix{}, false
	}
	p, ok := c.pools[id]
	return p.Prefix, ok
}

func (c *rowCache) putPool(p registry.Pool) {
	if c.pools == nil {
		c.pools = map[int64]registry.Pool{}
	}
	if len(c.pools) >= maxCachedRows {
		clear(c.pools)
	}
	c.pools[p.ID] = clonePool(p)
}

// maxCachedRows bounds each map: a register of 100,000 pools must not be
// held in memory because each was allocated from once.
const maxCachedRows = 4096

// cloneRegion and clonePool copy what a caller could change in place.
func cloneRegion(r registry.Region) registry.Region {
	r.Borrow.From = slices.Clone(r.Borrow.From)
	r.Tags = maps.Clone(r.Tags)
	return r
}

func clonePool(p registry.Pool) registry.Pool {
	if p.Relocation != nil {
		rel := *p.Relocation
		p.Relocation = &rel
	}
	if p.DissolvedAt != nil {
		at := *p.DissolvedAt
		p.DissolvedAt = &at
	}
	p.Tags = maps.Clone(p.Tags)
	return p
}

// cache is the writer's row cache, nil in a view.
func (t *tx) cache() *rowCache {
	if w, ok := t.q.(*wtx); ok && w.rows != nil {
		return w.rows
	}
	return nil
}

// countedTo records that the counters' mark moved to last, the last row:
// the tail is empty.
func (c *rowCache) countedTo(last int64) {
	if c.nextID != 0 {
		c.counted = last
		c.tail, c.tailKnown = nil, true
	}
}

// loadedIDs records the next assignment ID and the counters' mark, read
// from the table: the tail is known only when it is empty.
func (c *rowCache) loadedIDs(maxID, through int64) {
	c.nextID, c.counted = maxID+1, through
	c.tail, c.tailKnown = nil, through == maxID
}

// joinedTail counts a row that joined the tail, if the tail is known.
func (c *rowCache) joinedTail(pool int64, bits int, st registry.State, createdMicros int64) {
	if c.tailKnown {
		c.tail.Inserted(pool, bits, st, createdMicros)
	}
}

// tailLen is the length of the counters' tail in IDs, if known.
func (c *rowCache) tailLen() (int64, bool) {
	return c.nextID - 1 - c.counted, c.nextID != 0
}
