package sqlite

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// freeCache is the writer's copy of the free table of the regions and
// families it allocates from, so that TakeSmallestFree picks the prefix
// in memory and deletes it by its key: one indexed DELETE instead of a
// search of the free B-tree with RETURNING (issue 16: one caller's
// durable allocation is bound by the CPU of its statements;
// bench/README.md, "Session 10").
//
// It is exact while it is kept, under the same rules as rowCache (whose
// data_version check and rollbacks drop it too):
//   - it lives with the writer connection, the only one of this Store that
//     writes; another connection or process that commits changes PRAGMA
//     data_version, read at every BEGIN under the write lock (rowCache.begin);
//   - every statement the writer runs is shown to it first (written): one
//     that writes the free table by a text other than the four the tx
//     methods keep the cache in step with (freeKept), or that is not
//     cacheSafe (a rollback, whole or to a caller's savepoint, a write to
//     pools), drops it all;
//   - the tx methods that write free by the kept texts update it after
//     their statement succeeded (a failed statement changed nothing).
//
// And the DELETE by key proves each take: a prefix the cache offers that
// the table no longer holds deletes no row, and the take drops the cache
// and searches the table instead. Nothing is handed out that the free
// table does not hold, so a wrong cache could cost the buddy order, never
// an address twice.
type freeCache struct {
	// scopes holds the free prefixes of each cached region and family; a
	// nil set marks a scope found too large to cache (maxFreeScope).
	scopes map[freeScope]*freeSet
	rows   int
	// fronts holds pools' frontiers read one by one (frontier.go), a
	// pool without one as the zero frontier, for the writes of free that
	// check them (AddFrees, RemoveFree); kept and dropped with the rest.
	fronts map[int64]frontier
}

// freeScope is what TakeSmallestFree searches: a region's (or a child
// pool's scope's) free prefixes of one family.
type freeScope struct {
	region int64
	family int
}

// freeSet is a scope's free prefixes by length, each length's in the free
// table's key order (address, then pool).
type freeSet struct {
	byBits [129][]freeKey
	// fronts are the frontiers of the scope's pools (frontier.go), whose
	// free prefixes have no rows.
	fronts []frontier
}

type freeKey struct {
	addr netip.Addr
	pool int64
}

func (a freeKey) compare(b freeKey) int {
	if c := a.addr.Compare(b.addr); c != 0 {
		return c
	}
	switch {
	case a.pool < b.pool:
		return -1
	case a.pool > b.pool:
		return 1
	}
	return 0
}

// maxFreeScope bounds the free prefixes of one cached scope: a buddy
// split leaves at most one a length, so a region's few pools stay far
// below it; a scope with more is searched in the table as before.
// maxFreeRows bounds the whole cache.
const (
	maxFreeScope = 1024
	maxFreeRows  = 1 << 16
)

// reset forgets every scope and frontier.
func (c *freeCache) reset() {
	c.scopes, c.rows, c.fronts = nil, 0, nil
}

// poolFront is pool's frontier as last read by itself (has false: none),
// if known.
func (c *freeCache) poolFront(pool int64) (fr frontier, has, known bool) {
	fr, known = c.fronts[pool]
	return fr, known && fr.pool != 0, known
}

// putPoolFront keeps a frontier read by itself (the zero frontier: none).
func (c *freeCache) putPoolFront(pool int64, fr frontier) {
	if c.fronts == nil || len(c.fronts) >= maxCachedRows {
		c.fronts = map[int64]frontier{}
	}
	c.fronts[pool] = fr
}

// load reads scope s into the cache, unless it holds more than
// maxFreeScope prefixes (then it is marked too large until the next reset).
func (c *freeCache) load(ctx context.Context, q querier, s freeScope) (*freeSet, error) {
	rows, err := q.query(ctx, `SELECT bits, addr, pool_id FROM free WHERE region_id = ?1 AND family = ?2 LIMIT ?3`, s.region, s.family, maxFreeScope+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := &freeSet{}
	n := 0
	for rows.Next() {
		var bits int
		var addr []byte
		var k freeKey
		if err := rows.Scan(&bits, &addr, &k.pool); err != nil {
			return nil, err
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok || bits < 0 || bits > 128 {
			// Not a row this store writes: leave the scope to the table.
			set = nil
			break
		}
		k.addr = a
		set.byBits[bits] = append(set.byBits[bits], k) // the key's order
		if n++; n > maxFreeScope {
			set = nil
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if set != nil {
		frows, err := q.query(ctx, frontiersOfScopeSQL, s.region, s.family)
		if set.fronts, err = collect(frows, err, scanFrontier); err != nil {
			return nil, err
		}
		if n += len(set.fronts); n > maxFreeScope {
			set = nil
		}
	}
	if c.scopes == nil || c.rows+n > maxFreeRows {
		c.reset()
		c.scopes = map[freeScope]*freeSet{}
	}
	c.scopes[s] = set
	if set != nil {
		c.rows += n
	}
	return set, nil
}

// smallest is SmallestFree from the cache: the longest length at most
// maxBits that has a free prefix, and its lowest; fr is the frontier it
// comes from, nil for a row. known is false when the scope is not cached
// (too large): ask the table.
func (c *freeCache) smallest(ctx context.Context, q querier, s freeScope, maxBits int) (f registry.FreePrefix, fr *frontier, ok, known bool, err error) {
	set, cached := c.scopes[s]
	if !cached {
		if set, err = c.load(ctx, q, s); err != nil {
			c.reset()
			return f, nil, false, false, err
		}
	}
	if set == nil {
		return f, nil, false, false, nil
	}
	for bits := min(maxBits, 128); bits >= 0; bits-- {
		if ks := set.byBits[bits]; len(ks) > 0 {
			f, ok = registry.FreePrefix{RegionID: s.region, PoolID: ks[0].pool, Prefix: netip.PrefixFrom(ks[0].addr, bits)}, true
			break
		}
	}
	if len(set.fronts) == 0 {
		return f, nil, ok, true, nil
	}
	f, fr, ok = bestOf(f, ok, set.fronts, maxBits)
	if fr != nil {
		cp := *fr
		fr = &cp
	}
	return f, fr, ok, true, nil
}

// front is the cached frontier of pool in scope s, if the scope is cached.
func (c *freeCache) front(s freeScope, pool int64) (fr frontier, has, known bool) {
	set := c.scopes[s]
	if set == nil {
		return fr, false, false
	}
	for _, fr := range set.fronts {
		if fr.pool == pool {
			return fr, true, true
		}
	}
	return fr, false, true
}

// frontMoved keeps a cached frontier in step with a row that joined its run.
func (c *freeCache) frontMoved(region int64, family int, pool, top int64, next netip.Addr) {
	if fr, ok := c.fronts[pool]; ok && fr.pool != 0 {
		fr.top, fr.next = top, next
		c.fronts[pool] = fr
	}
	set := c.scopes[freeScope{region, family}]
	if set == nil {
		return
	}
	for i := range set.fronts {
		if fr := &set.fronts[i]; fr.pool == pool {
			fr.top, fr.next = top, next
			return
		}
	}
}

// added and removed keep a cached scope in step with a row the writer
// inserted into or deleted from free.
func (c *freeCache) added(f registry.FreePrefix) {
	set := c.set(f)
	if set == nil {
		return
	}
	if c.rows >= maxFreeRows {
		c.reset()
		return
	}
	k := freeKey{f.Prefix.Addr(), f.PoolID}
	ks := set.byBits[f.Prefix.Bits()]
	i, found := slices.BinarySearchFunc(ks, k, freeKey.compare)
	if found {
		return // the table's key refused it
	}
	set.byBits[f.Prefix.Bits()] = slices.Insert(ks, i, k)
	c.rows++
}

func (c *freeCache) removed(f registry.FreePrefix) {
	set := c.set(f)
	if set == nil {
		return
	}
	k := freeKey{f.Prefix.Addr(), f.PoolID}
	ks := set.byBits[f.Prefix.Bits()]
	if i, found := slices.BinarySearchFunc(ks, k, freeKey.compare); found {
		set.byBits[f.Prefix.Bits()] = slices.Delete(ks, i, i+1)
		c.rows--
	}
}

func (c *freeCache) set(f registry.FreePrefix) *freeSet {
	if c.scopes == nil || !f.Prefix.IsValid() {
		return nil
	}
	return c.scopes[freeScope{f.RegionID, prefix.Family(f.Prefix)}]
}

// The texts that write the free table and keep the cache in step (the tx
// methods call added or removed once their statement succeeded); any
// other write of free drops the cache (rowCache.written).
const (
	addFreeSQL    = `INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (?, ?, ?, ?, ?)`
	removeFreeSQL = `DELETE FROM free WHERE region_id = ? AND family = ? AND bits = ? AND addr = ? AND pool_id = ?`
)

// A pool's free prefixes are read and deleted through the free table's
// key (00053 dropped free_pool, which every take and every split wrote:
// one B-tree and one WAL frame an allocation). freeScopes names, for the
// pool ?1, where its free prefixes can be: s, its region and its child
// scope (the registry files a child pool's free space under the pool's
// negated ID), with the pool's address range; b, the prefix lengths from
// the pool's own to the family's longest. Each (s, b) is one seek of the
// key and one range of addresses (TestFreePlans); CROSS JOIN keeps
// that order, which the planner, without statistics, does not choose.
const freeScopes = `WITH RECURSIVE
	s(r, fam, id, first, last) AS (
		SELECT region_id, family, id, first, last FROM pools WHERE id = ?1
		UNION ALL SELECT -id, family, id, first, last FROM pools WHERE id = ?1),
	b(n, top) AS (
		SELECT bits, CASE family WHEN 4 THEN 32 ELSE 128 END FROM pools WHERE id = ?1
		UNION ALL SELECT n + 1, top FROM b WHERE n < top)
	`

// Each statement starts with its verb, the WITH inside it, so that the
// writer's caches know it (rowCache.kind: a read keeps them, this DELETE
// drops the free list only).
const (
	freeOfPoolSQL = `SELECT addr, bits FROM (` + freeScopes + `SELECT f.addr, f.bits FROM s CROSS JOIN b CROSS JOIN free f
		WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = b.n AND f.addr >= s.first AND f.addr <= s.last AND f.pool_id = s.id)
		ORDER BY addr`
	// freeWithinSQL: a pool's free prefixes never overlap: of each
	// length, the one starting last at or before the range may hold it;
	// the others overlapping it start inside it.
	freeWithinSQL = `SELECT * FROM (` + freeScopes + `SELECT f.bits, f.addr, f.pool_id, f.region_id FROM s CROSS JOIN b CROSS JOIN free f
		WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = b.n AND f.pool_id = s.id
		AND f.addr = (SELECT g.addr FROM free g WHERE g.region_id = s.r AND g.family = s.fam AND g.bits = b.n AND g.addr <= ?2 ORDER BY g.addr DESC LIMIT 1)
		UNION ALL
		SELECT f.bits, f.addr, f.pool_id, f.region_id FROM s CROSS JOIN b CROSS JOIN free f
		WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = b.n AND f.addr > ?2 AND f.addr <= ?3 AND f.pool_id = s.id)`
	poolFreeDeleteSQL = `DELETE FROM free WHERE (region_id, family, bits, addr, pool_id) IN (` + freeScopes + `SELECT f.region_id, f.family, f.bits, f.addr, f.pool_id FROM s CROSS JOIN b CROSS JOIN free f
		WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = b.n AND f.addr >= s.first AND f.addr <= s.last AND f.pool_id = s.id)`
)

// freeKept is the set of those texts.
var freeKept = func() map[string]bool {
	m := map[string]bool{addFreeSQL: true, removeFreeSQL: true}
	for _, q := range addFrees {
		m[q] = true
	}
	return m
}()

// writesFree reports whether q writes the free table or the pools'
// frontiers (frontier.go).
func writesFree(q string) bool {
	m := writeTarget.FindStringSubmatch(strings.TrimSpace(q))
	return m != nil && (strings.EqualFold(m[1], "free") || strings.EqualFold(m[1], "pool_frontier"))
}
