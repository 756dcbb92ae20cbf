package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/evcodec"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// tx implements registry.Tx over a querier.
type tx struct {
	q querier
	// deferred holds, between DeferIndexes and RestoreIndexes, the SQL of
	// the indexes and triggers of assignments that were dropped.
	deferred []string
}

// span gives the columns that place a prefix: family, first, last, bits.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, registry.ErrNotFound)
	}
	return err
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(rowscan.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// one scans the first row, or returns sql.ErrNoRows.
func one[T any](rows *sql.Rows, err error, scan func(rowscan.Scanner) (T, error)) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return zero, err
		}
		return zero, sql.ErrNoRows
	}
	return scan(rows)
}

// ---- regions

const regionCols = `id, name, country, subdivision, city, borrow_policy, borrow_bits, created_at`

func (t *tx) InsertRegion(ctx context.Context, r *registry.Region) error {
	res, err := t.q.exec(ctx, `INSERT INTO regions (name, country, subdivision, city, borrow_policy, borrow_bits, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Location.Country, r.Location.Subdivision, r.Location.City, r.Borrow.String(), r.BorrowBits, micros(r.CreatedAt))
	if err != nil {
		return mapErr(err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

func (t *tx) RegionByName(ctx context.Context, name string) (registry.Region, error) {
	c := t.cache()
	if r, ok := c.region(name); ok {
		return r, nil
	}
	rows, err := t.q.query(ctx, `SELECT `+regionCols+` FROM regions WHERE name = ?`, name)
	r, err := one(rows, err, scanRegion)
	if err == nil && c != nil {
		c.putRegion(r)
	}
	return r, notFound(err, "region "+name)
}

func (t *tx) RegionByID(ctx context.Context, id int64) (registry.Region, error) {
	rows, err := t.q.query(ctx, `SELECT `+regionCols+` FROM regions WHERE id = ?`, id)
	r, err := one(rows, err, scanRegion)
	return r, notFound(err, fmt.Sprintf("region %d", id))
}

func (t *tx) Regions(ctx context.Context) ([]registry.Region, error) {
	rows, err := t.q.query(ctx, `SELECT `+regionCols+` FROM regions ORDER BY name`)
	return collect(rows, err, scanRegion)
}

// ---- blocks

const blockCols = `id, prefix, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at, space`

func (t *tx) InsertBlock(ctx context.Context, b *registry.Block) error {
	fam, first, last, bits := span(b.Prefix)
	var price any
	cur := ""
	if b.Price != nil {
		price, cur = b.Price.Cents, b.Price.Currency
	}
	res, err := t.q.exec(ctx, `INSERT INTO blocks (prefix, family, first, last, bits, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at, space)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		b.Prefix.String(), fam, first, last, bits, string(b.Source), b.Registry, b.RegisteredCountry, b.From, price, cur, b.Date, b.Note, micros(b.CreatedAt), blockSpace(*b))
	if err != nil {
		return mapErr(err)
	}
	b.ID, err = res.LastInsertId()
	return err
}

func (t *tx) Blocks(ctx context.Context) ([]registry.Block, error) {
	rows, err := t.q.query(ctx, `SELECT `+blockCols+` FROM blocks ORDER BY family, first, space`)
	return collect(rows, err, scanBlock)
}

func (t *tx) BlocksOverlapping(ctx context.Context, p netip.Prefix) ([]registry.Block, error) {
	fam, first, last, _ := span(p)
	// Blocks of one space never overlap: the candidates are those starting
	// inside p and, in each space, the one starting last before it.
	rows, err := t.q.query(ctx, `SELECT `+blockCols+` FROM blocks WHERE id IN (
		SELECT id FROM blocks WHERE family = ?1 AND first >= ?2 AND first <= ?3
		UNION ALL
		SELECT (SELECT b.id FROM blocks b WHERE b.space = s.name AND b.family = ?1 AND b.first < ?2 ORDER BY b.first DESC LIMIT 1) FROM spaces s
	) AND last >= ?2 ORDER BY first, space`, fam, first, last)
	return collect(rows, err, scanBlock)
}

// ---- pools

const poolSelect = `SELECT p.id, p.prefix, p.block_id, b.prefix, p.region_id, g.name, p.purpose, COALESCE(p.parent_id, p.child_of), p.created_at,
	r.id, r.prefix, fg.name, p.use_all, p.name, p.tenant, p.dissolved_at, p.space
	FROM pools p JOIN blocks b ON b.id = p.block_id JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id`

func (t *tx) InsertPool(ctx context.Context, p *registry.Pool) error {
	fam, first, last, bits := span(p.Prefix)
	var rel, parent, child any
	if p.Relocation != nil {
		rel, parent = p.Relocation.ID, p.ParentID
	} else if p.IsChild() {
		child = p.ParentID
	}
	// A pool's space is its block's (the pools_space trigger holds it so).
	rows, err := t.q.query(ctx, `INSERT INTO pools (prefix, family, first, last, bits, block_id, region_id, purpose, relocation_id, parent_id, created_at, use_all,
		name, tenant, child_of, space)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, (SELECT space FROM blocks WHERE id = ?6)) RETURNING id, space`,
		p.Prefix.String(), fam, first, last, bits, p.BlockID, p.RegionID, p.Purpose, rel, parent, micros(p.CreatedAt), p.UseAll,
		p.Name, p.Tenant, child)
	return mapErr(idAndSpace(rows, err, &p.ID, &p.Space))
}

// idAndSpace reads the one row of an INSERT ... RETURNING id, space.
func idAndSpace(rows *sql.Rows, err error, id *int64, space *string) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(id, space); err != nil {
		return err
	}
	return rows.Close()
}

func (t *tx) PoolByID(ctx context.Context, id int64) (registry.Pool, error) {
	c := t.cache()
	if p, ok := c.pool(id); ok {
		return p, nil
	}
	rows, err := t.q.query(ctx, poolSelect+` WHERE p.id = ?`, id)
	p, err := one(rows, err, scanPool)
	if err == nil && c != nil {
		c.putPool(p)
	}
	return p, notFound(err, fmt.Sprintf("pool %d", id))
}

func (t *tx) Pools(ctx context.Context, f registry.PoolFilter) ([]registry.Pool, error) {
	rows, err := t.q.query(ctx, poolSelect+` WHERE (?1 = 0 OR p.region_id = ?1) AND (?2 = 0 OR p.family = ?2) AND (?3 = 0 OR p.block_id = ?3) AND (?4 = 0 OR p.id = ?4)
		ORDER BY p.family, p.first, p.bits`, f.RegionID, f.Family, f.BlockID, f.ID)
	return collect(rows, err, scanPool)
}

func (t *tx) PoolsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]registry.Pool, error) {
	fam, first, last, _ := span(p)
	spaces, err := t.spacesOr(ctx, space)
	if err != nil {
		return nil, err
	}
	var out []registry.Pool
	for _, sp := range spaces {
		// Index seeks, not a scan of every pool below p: the pools of
		// the space starting inside p, and of each kind that never
		// overlaps its own kind within a space (top-level pools, lent
		// units, live child pools) the one starting last before p, the
		// only one of that kind that may contain it.
		rows, err := t.q.query(ctx, poolSelect+` WHERE p.id IN (
			SELECT id FROM pools WHERE space = ?4 AND family = ?1 AND first >= ?2 AND first <= ?3
			UNION ALL
			SELECT id FROM (SELECT id FROM pools WHERE space = ?4 AND family = ?1 AND relocation_id IS NULL AND child_of IS NULL AND first < ?2 ORDER BY first DESC LIMIT 1)
			UNION ALL
			SELECT id FROM (SELECT id FROM pools WHERE space = ?4 AND family = ?1 AND relocation_id IS NOT NULL AND first < ?2 ORDER BY first DESC LIMIT 1)
			UNION ALL
			SELECT id FROM (SELECT id FROM pools WHERE space = ?4 AND family = ?1 AND child_of IS NOT NULL AND dissolved_at IS NULL AND first < ?2 ORDER BY first DESC LIMIT 1)
		) AND p.last >= ?2 AND p.dissolved_at IS NULL ORDER BY p.first, p.bits`, fam, first, last, sp)
		some, err := collect(rows, err, scanPool)
		if err != nil {
			return nil, err
		}
		out = append(out, some...)
	}
	return out, nil
}

// spacesOr is the one space named, or every space (by name) for "".
func (t *tx) spacesOr(ctx context.Context, space string) ([]string, error) {
	if space != "" {
		return []string{space}, nil
	}
	rows, err := t.q.query(ctx, `SELECT name FROM spaces ORDER BY name`)
	return collect(rows, err, func(rows rowscan.Scanner) (string, error) {
		var s string
		return s, rows.Scan(&s)
	})
}

// ChildPool finds the live child pool called name.
func (t *tx) ChildPool(ctx context.Context, name string) (registry.Pool, error) {
	rows, err := t.q.query(ctx, poolSelect+` WHERE p.name = ? AND p.child_of IS NOT NULL AND p.dissolved_at IS NULL`, name)
	p, err := one(rows, err, scanPool)
	return p, notFound(err, fmt.Sprintf("child pool %q", name))
}

// ChildPools lists the live child pools of parentID in address order.
func (t *tx) ChildPools(ctx context.Context, parentID int64) ([]registry.Pool, error) {
	rows, err := t.q.query(ctx, poolSelect+` WHERE p.child_of = ? AND p.dissolved_at IS NULL ORDER BY p.first`, parentID)
	return collect(rows, err, scanPool)
}

// DissolvePool drops a child pool's free space and marks it dissolved.
func (t *tx) DissolvePool(ctx context.Context, id int64, at time.Time) error {
	if err := t.settleFront(ctx); err != nil {
		return err
	}
	for _, q := range []string{poolFreeDeleteSQL, `DELETE FROM pool_frontier WHERE pool_id = ?`} {
		if _, err := t.q.exec(ctx, q, id); err != nil {
			return err
		}
	}
	res, err := t.q.exec(ctx, `UPDATE pools SET dissolved_at = ? WHERE id = ? AND child_of IS NOT NULL AND dissolved_at IS NULL`, micros(at), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("child pool %d: %w", id, registry.ErrNotFound)
	}
	return nil
}

// ---- free space
//
// A pool's free space is its free rows and, for a pool with a frontier
// (frontier.go), the frontier's prefixes, which have no rows: each reader
// merges the two, each writer keeps the frontier's invariants.

// AddFree implements registry.Tx: AddFrees of one prefix.
func (t *tx) AddFree(ctx context.Context, f registry.FreePrefix) error {
	return t.AddFrees(ctx, []registry.FreePrefix{f})
}

// freeCache is the writer's free list (freecache.go), nil in a view.
func (t *tx) freeCache() *freeCache {
	if c := t.cache(); c != nil {
		return &c.free
	}
	return nil
}

// addFrees[k] inserts 1<<k free prefixes: the rows of one AddFrees go in
// power-of-two slices (rowsOf), so these few texts stay prepared. What the
// rows of a split share (region, family, pool) is bound once.
var addFrees = func() (out [8]string) {
	for k := range out {
		out[k] = `INSERT INTO free (region_id, family, bits, addr, pool_id) SELECT ?1, ?2, column1, column2, ?3 FROM (VALUES ` + valuesList(1<<k, 2) + `)`
	}
	return out
}()

// AddFrees implements registry.FreeAdder. What a frontier take gives back
// of its prefix is the frontier's again and writes nothing (frontRest); a
// new pool's whole prefix becomes its frontier (newFrontier); the rest
// are rows, below their pool's frontier mark (aboveFrontier).
func (t *tx) AddFrees(ctx context.Context, fs []registry.FreePrefix) error {
	if len(fs) == 0 {
		return nil
	}
	if done, err := t.frontRest(ctx, fs); err != nil || done {
		return err
	}
	if len(fs) == 1 && t.wholePool(ctx, fs[0]) {
		if done, err := t.newFrontier(ctx, fs[0]); err != nil || done {
			return err
		}
	}
	if err := t.aboveFrontier(ctx, fs); err != nil {
		return err
	}
	return t.addFreeRows(ctx, fs)
}

// wholePool reports whether f is its pool's whole prefix (the pool is
// read once, then cached).
func (t *tx) wholePool(ctx context.Context, f registry.FreePrefix) bool {
	// Most single prefixes added are a split's rest or a release, of a
	// pool the writer has cached: compared without copying the pool.
	if pfx, ok := t.cache().poolPrefix(f.PoolID); ok {
		return pfx == f.Prefix
	}
	p, err := t.PoolByID(ctx, f.PoolID)
	return err == nil && p.Prefix == f.Prefix
}

// addFreeRows writes fs as free rows: one statement for up to maxRows
// prefixes of one region, family and pool (a split's), one each
// otherwise. The statements run inside the caller's transaction, so a
// failure of one fails the whole call's transaction.
func (t *tx) addFreeRows(ctx context.Context, fs []registry.FreePrefix) error {
	args := make([]any, 0, 3+2*min(len(fs), maxRows))
	for len(fs) > 0 {
		f0 := fs[0]
		fam := prefix.Family(f0.Prefix)
		n := 1
		for n < len(fs) && n < maxRows && fs[n].RegionID == f0.RegionID && fs[n].PoolID == f0.PoolID && prefix.Family(fs[n].Prefix) == fam {
			n++
		}
		n = rowsOf(n)
		if n == 1 {
			if _, err := t.q.exec(ctx, addFreeSQL, f0.RegionID, fam, f0.Prefix.Bits(), addrBytes(f0.Prefix.Addr()), f0.PoolID); err != nil {
				return mapErr(err)
			}
		} else {
			args = append(args[:0], f0.RegionID, fam, f0.PoolID)
			for _, f := range fs[:n] {
				args = append(args, f.Prefix.Bits(), addrBytes(f.Prefix.Addr()))
			}
			if _, err := t.q.exec(ctx, addFrees[bits.Len(uint(n))-1], args...); err != nil {
				return mapErr(err)
			}
		}
		if fc := t.freeCache(); fc != nil {
			for _, f := range fs[:n] {
				fc.added(f)
			}
		}
		fs = fs[n:]
	}
	return nil
}

// RemoveFree deletes f's row, or carves f out of its pool's frontier:
// the frontier's prefixes before it become rows, and the mark moves to
// its end.
func (t *tx) RemoveFree(ctx context.Context, f registry.FreePrefix) (bool, error) {
	if err := t.settleFront(ctx); err != nil {
		return false, err
	}
	taken, err := t.removeFreeRow(ctx, f)
	if err != nil || taken {
		return taken, err
	}
	fr, ok, err := t.poolFrontier(ctx, f)
	if err != nil || !ok || fr.region != f.RegionID || !fr.holds(f.Prefix) {
		return false, err
	}
	return true, t.carveFront(ctx, fr, f.Prefix.Addr().Prev(), prefix.Last(f.Prefix))
}

// poolFrontier is the frontier of f's pool, from the writer's free list
// when it holds the scope or the pool.
func (t *tx) poolFrontier(ctx context.Context, f registry.FreePrefix) (frontier, bool, error) {
	fc := t.freeCache()
	if fc != nil {
		if fr, has, known := fc.front(freeScope{f.RegionID, prefix.Family(f.Prefix)}, f.PoolID); known {
			return fr, has, nil
		}
		if fr, has, known := fc.poolFront(f.PoolID); known {
			return fr, has, nil
		}
	}
	fr, has, err := t.frontierOf(ctx, f.PoolID)
	if err == nil && fc != nil {
		if !has {
			fr = frontier{}
		}
		fc.putPoolFront(f.PoolID, fr)
	}
	return fr, has, err
}

// removeFreeRow deletes f's row.
func (t *tx) removeFreeRow(ctx context.Context, f registry.FreePrefix) (bool, error) {
	res, err := t.q.exec(ctx, removeFreeSQL,
		f.RegionID, prefix.Family(f.Prefix), f.Prefix.Bits(), addrBytes(f.Prefix.Addr()), f.PoolID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 1 {
		if fc := t.freeCache(); fc != nil {
			fc.removed(f)
		}
	}
	return n == 1, err
}

// smallestFreeSQL is SmallestFree's search of the rows: two index seeks,
// the longest length at most maxBits that has a free prefix, then the
// lowest address of that length.
const smallestFreeSQL = `SELECT bits, addr, pool_id, region_id FROM free WHERE region_id = ?1 AND family = ?2
		AND bits = (SELECT MAX(bits) FROM free WHERE region_id = ?1 AND family = ?2 AND bits <= ?3)
		ORDER BY addr, pool_id LIMIT 1`

func (t *tx) SmallestFree(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	f, _, ok, err := t.smallestFree(ctx, regionID, family, maxBits)
	return f, ok, err
}

// smallestFree is SmallestFree with the frontier its answer comes from
// (nil for a row).
func (t *tx) smallestFree(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, *frontier, bool, error) {
	if err := t.settleFront(ctx); err != nil {
		return registry.FreePrefix{}, nil, false, err
	}
	rows, err := t.q.query(ctx, smallestFreeSQL, regionID, family, maxBits)
	f, err := one(rows, err, rowscan.Free)
	ok := err == nil
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return f, nil, false, err
	}
	fs, err := t.frontiers(ctx, regionID, family)
	if err != nil {
		return f, nil, false, err
	}
	f, fr, ok := bestOf(f, ok, fs, maxBits)
	return f, fr, ok, nil
}

func (t *tx) SmallestFreeOf(ctx context.Context, regionID int64, poolIDs []int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	if len(poolIDs) == 0 {
		return registry.FreePrefix{}, false, nil
	}
	if err := t.settleFront(ctx); err != nil {
		return registry.FreePrefix{}, false, err
	}
	ids, err := json.Marshal(poolIDs)
	if err != nil {
		return registry.FreePrefix{}, false, err
	}
	rows, err := t.q.query(ctx, `SELECT bits, addr, pool_id, region_id FROM free WHERE region_id = ?1 AND family = ?2
		AND pool_id IN (SELECT value FROM json_each(?4))
		AND bits = (SELECT MAX(bits) FROM free WHERE region_id = ?1 AND family = ?2 AND bits <= ?3 AND pool_id IN (SELECT value FROM json_each(?4)))
		ORDER BY addr, pool_id LIMIT 1`, regionID, family, maxBits, string(ids))
	f, err := one(rows, err, rowscan.Free)
	ok := err == nil
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return f, false, err
	}
	fs, err := t.frontiers(ctx, regionID, family)
	if err != nil {
		return f, false, err
	}
	fs = slices.DeleteFunc(fs, func(fr frontier) bool { return !slices.Contains(poolIDs, fr.pool) })
	f, _, ok = bestOf(f, ok, fs, maxBits)
	return f, ok, nil
}

// TakeSmallestFree implements registry.FreeTaker: SmallestFree and
// RemoveFree in one step. The writer picks the prefix from its copy of the
// free list (freecache.go) and deletes it by its key, which proves it
// free; without a copy (a scope too large to keep) it searches the table
// and the scope's frontiers. Each is a statement fewer than SmallestFree
// and RemoveFree, and the cached one does neither the search nor
// RETURNING's temporary B-tree (bench/README.md, "Session 7" and "Session
// 10"). A frontier's prefix is taken with nothing written (takeFront).
func (t *tx) TakeSmallestFree(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	w, isW := t.q.(*wtx)
	if !isW {
		return registry.FreePrefix{}, false, errors.New("a take in a read-only view")
	}
	if err := t.settleFront(ctx); err != nil {
		return registry.FreePrefix{}, false, err
	}
	fc := t.freeCache()
	if fc != nil {
		f, fr, ok, known, err := fc.smallest(ctx, t.q, freeScope{regionID, family}, maxBits)
		if err != nil {
			return f, false, err
		}
		if known && !ok {
			return f, false, nil
		}
		if known && fr != nil {
			return f, true, t.takeFrontier(ctx, w, *fr, f)
		}
		if _, ok := t.deferring(); ok && known {
			if w.held.active() {
				if err := w.flush(ctx); err != nil {
					return f, false, err
				}
			}
			w.holdTake(f) // fold.go
			return f, true, nil
		}
		if known {
			taken, err := t.removeFreeRow(ctx, f)
			if err != nil || taken {
				return f, taken, mapErr(err)
			}
			// The table no longer holds it: the copy was wrong. Search
			// the table; the next take reads the scope afresh.
			fc.reset()
		}
	}
	f, fr, ok, err := t.smallestFree(ctx, regionID, family, maxBits)
	if err != nil || !ok {
		return f, false, mapErr(err)
	}
	if fr != nil {
		return f, true, t.takeFrontier(ctx, w, *fr, f)
	}
	taken, err := t.removeFreeRow(ctx, f)
	if err == nil && !taken {
		err = fmt.Errorf("free %s of pool %d: gone while the writer held the lock: %w", f.Prefix, f.PoolID, registry.ErrConflict)
	}
	return f, err == nil, mapErr(err)
}

// takeFrontier takes f, a prefix of the frontier fr, and holds the take
// for the fold when the caller defers its writes.
func (t *tx) takeFrontier(ctx context.Context, w *wtx, fr frontier, f registry.FreePrefix) error {
	if w.held.active() {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	if err := t.takeFront(ctx, w, fr, f); err != nil {
		return err
	}
	if _, ok := t.deferring(); ok {
		w.holdFront(f)
	}
	return nil
}

func (t *tx) FreeOfPool(ctx context.Context, poolID int64) ([]netip.Prefix, error) {
	if err := t.settleFront(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.query(ctx, freeOfPoolSQL, poolID)
	out, err := collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var addr []byte
		var bits int
		if err := rows.Scan(&addr, &bits); err != nil {
			return netip.Prefix{}, err
		}
		a, _ := netip.AddrFromSlice(addr)
		return netip.PrefixFrom(a, bits), nil
	})
	if err != nil {
		return nil, err
	}
	fr, ok, err := t.frontierOf(ctx, poolID)
	if err != nil || !ok {
		return out, err
	}
	// Every row lies at or below the mark, every frontier prefix above it.
	return append(out, fr.prefixes()...), nil
}

// ---- assignments

const assignmentSelect = `SELECT a.id, cadastre_prefix(a.first, a.bits), a.pool_id, p.prefix, p.region_id, g.name, a.tenant, a.resource, a.name, a.state,
	a.created_at, a.released_at, a.quarantine_until, r.id, r.prefix, fg.name, a.space
	FROM assignments a JOIN pools p ON p.id = a.pool_id JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id`

func (t *tx) InsertAssignment(ctx context.Context, a *registry.Assignment) error {
	fam, first, last, bits := span(a.Prefix)
	// An assignment's space is its pool's (the assignments_pool trigger
	// holds it so, 00069). The writer has usually just read the pool (the row
	// cache): its space is bound and the row's ID is the insert's rowid,
	// so the statement needs neither the subquery nor RETURNING (which
	// SQLite runs through a temporary B-tree): a few per cent of one
	// durable allocation's CPU (bench/README.md, "Session 9").
	if w, ok := t.deferring(); ok {
		// A held insert is counted by the statement that sends it.
		if held, err := w.holdInsert(ctx, a); err != nil || held {
			return err
		}
	}
	// A single row joins the counters' tail (00059, counters.go).
	w, writer := t.q.(*wtx)
	if writer {
		if err := w.beforeTail(ctx); err != nil {
			return err
		}
	}
	if space, ok := t.cache().poolSpace(a.PoolID); ok {
		res, err := t.q.exec(ctx, insertAssignment,
			a.PoolID, fam, first, last, bits, string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), space)
		if err != nil {
			return mapErr(err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		a.ID, a.Space = id, space
		t.insertedID(id)
		if writer {
			w.joinedTail(a.PoolID, a.Prefix.Bits(), a.State, micros(a.CreatedAt))
			w.frontInserted(a.PoolID, id, a.Prefix)
		}
		return nil
	}
	rows, err := t.q.query(ctx, insertAssignmentReturning,
		a.PoolID, fam, first, last, bits, string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil))
	if err := mapErr(idAndSpace(rows, err, &a.ID, &a.Space)); err != nil {
		return err
	}
	t.insertedID(a.ID)
	if writer {
		w.joinedTail(a.PoolID, a.Prefix.Bits(), a.State, micros(a.CreatedAt))
		w.frontInserted(a.PoolID, a.ID, a.Prefix)
	}
	return nil
}

// insertedID keeps the writer's next assignment ID (fold.go) past id.
func (t *tx) insertedID(id int64) {
	if c := t.cache(); c != nil && c.nextID != 0 && id >= c.nextID {
		c.nextID = id + 1
	}
}

// setSpaces sets the space of each of as to its pool's, as the INSERT
// that writes them does (a batch's rows are not read back).
func (t *tx) setSpaces(ctx context.Context, as []registry.Assignment) error {
	spaces := map[int64]string{}
	for i := range as {
		a := &as[i]
		s, ok := spaces[a.PoolID]
		if !ok {
			rows, err := t.q.query(ctx, `SELECT space FROM pools WHERE id = ?`, a.PoolID)
			s, err = one(rows, err, func(rows rowscan.Scanner) (string, error) {
				var s string
				return s, rows.Scan(&s)
			})
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			spaces[a.PoolID] = s
		}
		a.Space = s
	}
	return nil
}

// maxRows bounds the rows of one multi-row INSERT. Batches are written in
// power-of-two slices of at most maxRows rows, so a handful of statement
// texts serve every batch size and stay prepared.
const maxRows = 128

// rowsOf returns how many rows the next statement of a batch with n rows
// left takes: the largest power of two at most min(n, maxRows).
func rowsOf(n int) int {
	r := maxRows
	for r > n {
		r >>= 1
	}
	return r
}

// valuesList is "(?, ?, ...), (...)": rows groups of cols placeholders.
func valuesList(rows, cols int) string {
	one := "(" + strings.Repeat("?, ", cols-1) + "?)"
	return strings.Repeat(one+", ", rows-1) + one
}

// InsertAssignments inserts many assignments in few statements and sets
// their IDs. It gives each the ID SQLite would (one more than the largest
// so far, in order), so the result is that of InsertAssignment called on
// each in turn; the overlap trigger still checks every row.
func (t *tx) InsertAssignments(ctx context.Context, as []registry.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	if err := t.setSpaces(ctx, as); err != nil {
		return err
	}
	last, room, err := t.lastAssignmentID(ctx, len(as))
	if err != nil {
		return err
	}
	if !room {
		// SQLite would pick unused IDs at random from here on; let it.
		for i := range as {
			if err := t.InsertAssignment(ctx, &as[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := t.beforeCounted(ctx); err != nil {
		return err
	}
	// A batch's rows differ only in ID and prefix: the rest is bound once
	// per statement (?1 to ?10) and each row binds three (ID, first, last).
	const shared, cols = 10, 3
	args := make([]any, shared, shared+cols*min(len(as), maxRows))
	for len(as) > 0 {
		a0 := &as[0]
		fam, bits := prefix.Family(a0.Prefix), a0.Prefix.Bits()
		n := 1
		for n < len(as) && n < maxRows && sameButPrefix(a0, &as[n]) {
			n++
		}
		n = rowsOf(n)
		args = append(args[:0], a0.PoolID, fam, bits, string(a0.State), a0.Tenant, a0.Resource, a0.Name,
			micros(a0.CreatedAt), optMicros(a0.ReleasedAt), optMicros(a0.QuarantineUntil))
		for i := range as[:n] {
			a := &as[i]
			last++
			a.ID = last
			args = append(args, a.ID, addrBytes(a.Prefix.Addr()), addrBytes(prefix.Last(a.Prefix)))
		}
		if err := t.insertRows(ctx, n, `INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		SELECT column1, ?1, ?2, column2, column3, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, (SELECT space FROM pools WHERE id = ?1) FROM (VALUES `+valuesList(n, cols)+`)`, args...); err != nil {
			return mapErr(err)
		}
		t.countInserted(as[:n]...)
		if w, ok := t.q.(*wtx); ok {
			for i := range as[:n] {
				w.frontInserted(as[i].PoolID, as[i].ID, as[i].Prefix)
			}
		}
		as = as[n:]
	}
	return nil
}

// insertRows runs q, an INSERT of n rows into assignments, as a statement
// that fails whole: the triggers that check each row (00070) refuse one
// with RAISE(FAIL), which keeps the rows the statement inserted before it,
// so a statement of several rows runs in a savepoint of its own, rolled
// back if it fails. A caller that goes on after the error (a load names
// the line that overlaps by reading the register) sees none of its rows.
func (t *tx) insertRows(ctx context.Context, n int, q string, args ...any) error {
	if n == 1 {
		_, err := t.q.exec(ctx, q, args...)
		return err
	}
	if _, err := t.q.exec(ctx, "SAVEPOINT insert_rows"); err != nil {
		return err
	}
	if _, err := t.q.exec(ctx, q, args...); err != nil {
		_, rerr := t.q.exec(ctx, "ROLLBACK TO insert_rows")
		if rerr == nil {
			_, rerr = t.q.exec(ctx, "RELEASE insert_rows")
		}
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("roll back the rows: %w", rerr))
			if w, ok := t.q.(*wtx); ok && w.failed == nil {
				w.failed = err // what the statement wrote may be kept
			}
		}
		return err
	}
	_, err := t.q.exec(ctx, "RELEASE insert_rows")
	return err
}

// lastAssignmentID is the largest assignment ID so far; room says whether
// n more IDs follow it without overflow (else SQLite picks unused IDs at
// random, and the caller lets it, one row at a time).
func (t *tx) lastAssignmentID(ctx context.Context, n int) (last int64, room bool, err error) {
	rows, err := t.q.query(ctx, `SELECT COALESCE(MAX(id), 0) FROM assignments`)
	last, err = one(rows, err, func(rows rowscan.Scanner) (int64, error) {
		var v int64
		return v, rows.Scan(&v)
	})
	return last, last <= math.MaxInt64-int64(n), err
}

// sameButPrefix reports whether a and b differ at most in ID and prefix
// (and so may share one multi-row INSERT), their prefixes being of one
// family and length.
func sameButPrefix(a, b *registry.Assignment) bool {
	return a.PoolID == b.PoolID && a.Prefix.Bits() == b.Prefix.Bits() && a.Prefix.Addr().BitLen() == b.Prefix.Addr().BitLen() &&
		a.State == b.State && a.Tenant == b.Tenant && a.Resource == b.Resource && a.Name == b.Name &&
		a.CreatedAt.Equal(b.CreatedAt) && optEqual(a.ReleasedAt, b.ReleasedAt) && optEqual(a.QuarantineUntil, b.QuarantineUntil)
}

func optEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func (t *tx) UpdateAssignment(ctx context.Context, a registry.Assignment) error {
	c := t.counts()
	var pool int64
	var bits int
	var was registry.State
	var counted bool
	if c != nil {
		// The mark past the rows the batch counted, so that stateBefore
		// tells counted rows from the tail; the changes stay in the cache.
		if err := t.q.(*wtx).settle(ctx); err != nil {
			return err
		}
		var err error
		if pool, bits, was, counted, err = t.stateBefore(ctx, a.ID); err != nil {
			return err
		}
	}
	res, err := t.q.exec(ctx, `UPDATE assignments SET state = ?, released_at = ?, quarantine_until = ?, name = ?, resource = ? WHERE id = ?`,
		string(a.State), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), a.Name, a.Resource, a.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("assignment %d: %w", a.ID, registry.ErrNotFound)
	}
	if c != nil && counted && was != a.State {
		c.change()
		c.d.Moved(pool, bits, was, a.State)
	}
	return nil
}

func (t *tx) AssignmentByID(ctx context.Context, id int64) (registry.Assignment, error) {
	rows, err := t.q.query(ctx, assignmentSelect+` WHERE a.id = ?`, id)
	a, err := one(rows, err, scanAssignment)
	return a, notFound(err, fmt.Sprintf("assignment %d", id))
}

func (t *tx) LiveAssignment(ctx context.Context, space string, p netip.Prefix) (registry.Assignment, bool, error) {
	fam, first, last, _ := span(p)
	// Live assignments of a space never overlap, so the candidate is the
	// live one starting last at or before p's end.
	rows, err := t.q.query(ctx, assignmentSelect+` WHERE a.id = (SELECT id FROM assignments WHERE space = ? AND family = ? AND state <> 'released' AND first <= ?
		ORDER BY first DESC LIMIT 1) AND a.last >= ?`, space, fam, last, first)
	a, err := one(rows, err, scanAssignment)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	return a, err == nil, err
}

func (t *tx) AssignmentsAt(ctx context.Context, space string, p netip.Prefix) ([]registry.Assignment, error) {
	// Assignments are aligned prefixes: one overlapping p either starts
	// inside p or contains it, and then starts at p's address masked to
	// its own length, no shorter than its pool's. So: a range of first
	// addresses plus a few exact ones, each an index seek (a scan from the
	// pool's start read every assignment before the address: half a
	// million rows in the middle of a pool of a million /128s).
	minBits := 0
	if pools, err := t.PoolsOverlapping(ctx, space, p); err == nil && len(pools) > 0 {
		minBits = p.Bits()
		for _, pl := range pools {
			minBits = min(minBits, pl.Prefix.Bits())
		}
	}
	q, args := assignmentsAtQuery(space, p, minBits)
	return t.listAssignments(ctx, q, args...)
}

// assignmentsAtQuery is AssignmentsAt's statement: the rows of space
// starting inside p, and those starting where p's supernets down to
// minBits start, each a seek of assignments_at (the space leads it). The
// space is named inside only: a condition on a.space outside made SQLite
// walk the space's rows of that index instead (1.1 s at 10M).
func assignmentsAtQuery(space string, p netip.Prefix, minBits int) (string, []any) {
	fam, first, last, _ := span(p)
	args := []any{space, fam, first, last, space, fam}
	in := "NULL"
	for b := minBits; b < p.Bits(); b++ {
		in += ", ?"
		args = append(args, addrBytes(netip.PrefixFrom(p.Addr(), b).Masked().Addr()))
	}
	args = append(args, first)
	return assignmentListSelect + ` WHERE a.id IN (
		SELECT id FROM assignments WHERE space = ? AND family = ? AND first >= ? AND first <= ?
		UNION ALL SELECT id FROM assignments WHERE space = ? AND family = ? AND first IN (` + in + `))
		AND a.last >= ? ORDER BY a.id`, args
}

// maxRegionUnion bounds the pages (one per pool, or per pool and past
// state) that assignmentsOfRegion merges in one statement (SQLite allows 500
// terms in a compound SELECT).
const maxRegionUnion = 200

func (t *tx) Assignments(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	if f.ByAddress() {
		return t.assignmentsByAddress(ctx, f)
	}
	if f.RegionID != 0 && f.PoolID == 0 && f.Limit > 0 && f.Tenant == nil && f.Name == "" && f.Resource == "" &&
		(len(f.Tags) == 0 && !f.Named || len(f.Tags) > 0 && !f.Contains.IsValid()) {
		// A page of a region: the first rows in ID order of each of its
		// pools, merged. Joining the region's pools and sorting would read
		// every assignment of the region for one page (seconds at a
		// million); this reads at most a page per pool. A tenant, name or
		// resource is more selective by its own index. A tag in a region:
		// the first of the tag's entries in each of the region's pools
		// (tags_pool_match, 00057), merged; through tags_match the page
		// read the tag's entries of every region until it was full.
		if out, ok, err := t.assignmentsOfRegion(ctx, f); ok || err != nil {
			return out, err
		}
	}
	q, args := assignmentQuery(f)
	if familyPage(f) {
		// A page of one family: assignments_family_id (family, id), 14
		// bytes an assignment, was dropped (00032); the page is read
		// either in ID order from the table, keeping the family's rows
		// (about limit/share rows read), or from the family's rows in
		// address order (assignments_at, in each space), sorted (share × all rows
		// read): whichever reads fewer, from the live counts per family.
		// At worst about sqrt(limit × all) rows: 32,000 at 10 million.
		fam, all, err := t.familyRows(ctx, f.Family)
		if err != nil {
			return nil, err
		}
		q = familyQuery(q, fam, all, f.Limit)
	}
	return t.listAssignments(ctx, q, args...)
}

// familyQuery is q, a page of limit rows of a family with fam of all
// live assignments, read the cheaper way: in ID order from the table
// (NOT INDEXED: limit × all / fam rows read) or from the family's rows
// in address order, sorted (fam rows read).
func familyQuery(q string, fam, all int64, limit int) string {
	if fam*fam < int64(limit)*all {
		// The family's rows of each space that holds assignments.
		q = strings.Replace(q, " WHERE ", " WHERE a.space IN ("+assignmentSpaces+") AND ", 1)
		return strings.Replace(q, "FROM assignments a ", "FROM assignments a INDEXED BY assignments_at ", 1)
	}
	return strings.Replace(q, "FROM assignments a ", "FROM assignments a NOT INDEXED ", 1)
}

// assignmentSpaces lists the spaces an assignment can be in: a look-up by
// address across spaces is a seek of assignments_at in each (00058: the
// index of every row by address alone, written by every allocation, is
// gone). Every assignment's space is its pool's, its block's
// (assignments_pool, pools_space), and a block's names a space (a foreign
// key): a space with rows cannot be deleted. The spaces are a handful. A
// recursive CTE of the index's distinct spaces cost ~60 µs a statement
// (?contains= at 10M, bench/README.md "Session 14"); the table ~0.
const assignmentSpaces = `SELECT name FROM spaces`

// familyPage reports whether f is a page of a family alone (states
// aside): the shape without an index of its own.
func familyPage(f registry.AssignmentFilter) bool {
	return f.Family != 0 && f.Limit > 0 && f.RegionID == 0 && f.PoolID == 0 && f.Tenant == nil && f.Name == "" && f.Resource == "" &&
		len(f.Tags) == 0 && !pastOnly(f.States) && !f.Within.IsValid() && !f.Contains.IsValid()
}

// familyRows counts the live assignments of family fam and of both,
// from the pools' counters (a few hundred rows): an estimate of the rows
// a page of the family chooses its plan by.
func (t *tx) familyRows(ctx context.Context, fam int) (int64, int64, error) {
	if err := t.flushCounts(ctx); err != nil {
		return 0, 0, err
	}
	rows, err := t.q.query(ctx, `SELECT p.family, SUM(c.n) FROM (
		SELECT pool_id, n FROM pool_counts WHERE kind IN ('assigned', 'quarantined')
		UNION ALL
		SELECT a.pool_id, 1 FROM assignments a WHERE `+tailWhere+` AND +a.state IN ('assigned', 'quarantined')) c
		JOIN pools p ON p.id = c.pool_id GROUP BY 1`)
	counts, err := collect(rows, err, func(r rowscan.Scanner) ([2]int64, error) {
		var c [2]int64
		return c, r.Scan(&c[0], &c[1])
	})
	if err != nil {
		return 0, 0, err
	}
	var n, all int64
	for _, c := range counts {
		all += c[1]
		if c[0] == int64(fam) {
			n = c[1]
		}
	}
	return n, all, nil
}

// assignmentQuery is the statement of a page of f, other than a region's
// page (assignmentsOfRegion). Without statistics SQLite picks an index by
// the shape of the condition alone, so the shape is chosen here for the
// cases where its pick reads the whole table for a page:
//   - a tag (without a name, resource or tenant, which their own indexes
//     serve): the page is read from the tag's entries of index tags_match in
//     ID order, so a rare tag costs its entries and a common one a page,
//     not a walk of every assignment probing its tags; in a pool, from the
//     tag's entries in that pool (tags_pool_match, 00057); in a region,
//     see tagRegionQuery;
//   - past states alone (quarantined, released): each state's page from
//     the partial index assignments_state_past (state, id), merged, instead
//     of a walk of every assignment in ID order (the quarantined ones are
//     the newest: a walk through nearly all of them).
func assignmentQuery(f registry.AssignmentFilter) (string, []any) {
	byIndex := f.Name == "" && f.Resource == "" && f.Tenant == nil
	if byIndex && len(f.Tags) > 0 && !f.Contains.IsValid() {
		keys := sortedKeys(f.Tags)
		k := keys[0]
		g := f
		g.Tags = maps.Clone(f.Tags)
		delete(g.Tags, k)
		from := "FROM tags tg CROSS JOIN assignments a ON a.id = tg.object_id"
		head := "tg.kind = 'assignment' AND tg.key = ? AND tg.value = ? AND tg.object_id > ?"
		headArgs := []any{k, f.Tags[k], f.AfterID}
		if f.PoolID != 0 {
			// A range of tags_pool_match (00057): the tag's entries in the
			// pool, not every entry of the tag.
			from = "FROM tags tg INDEXED BY tags_pool_match CROSS JOIN assignments a ON a.id = tg.object_id"
			head = "tg.kind = 'assignment' AND tg.key = ? AND tg.value = ? AND tg.pool_id = ? AND tg.object_id > ?"
			headArgs = []any{k, f.Tags[k], f.PoolID, f.AfterID}
			g.PoolID = 0
		}
		where, args := assignmentWhere(g)
		where = append([]string{head}, where...)
		args = append(headArgs, args...)
		// CROSS JOIN keeps tags first: its index gives the IDs in order.
		q := strings.Replace(listSelect(f), "FROM assignments a", from, 1) +
			" WHERE " + strings.Join(where, " AND ") + " ORDER BY tg.object_id"
		if f.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", f.Limit)
		}
		return q, args
	}
	if byIndex && (f.Limit > 0 || f.PoolID != 0) && pastOnly(f.States) && f.RegionID == 0 && !f.Within.IsValid() && !f.Contains.IsValid() {
		// A pool's past: each state's page from assignments_pool_past
		// (pool_id, state, id). `<> 'assigned'` is the partial index's
		// condition, which SQLite does not prove from a list of states.
		index := "assignments_state_past"
		if f.PoolID != 0 {
			index = "assignments_pool_past"
		}
		g := f
		g.Limit = 0
		lim := ""
		if f.Limit > 0 {
			lim = fmt.Sprintf(" LIMIT %d", f.Limit)
		}
		var parts []string
		var args []any
		for _, s := range f.States {
			g.States = []registry.State{s}
			where, a := assignmentWhere(g)
			parts = append(parts, fmt.Sprintf("SELECT id FROM (SELECT a.id FROM assignments a INDEXED BY %s WHERE a.state <> 'assigned' AND %s ORDER BY a.id%s)",
				index, strings.Join(where, " AND "), lim))
			args = append(args, a...)
		}
		return assignmentListSelect + " WHERE a.id IN (" + strings.Join(parts, " UNION ALL ") + ") ORDER BY a.id" + lim, args
	}
	where, args := assignmentWhere(f)
	q := listSelect(f)
	if f.Contains.IsValid() && f.Name == "" && f.Resource == "" {
		// The holders of a prefix are a few look-ups by first address; a
		// tenant's are otherwise read from assignments_tenant, every one
		// of the tenant's rows for the handful holding the prefix.
		q = strings.Replace(q, "FROM assignments a", "FROM assignments a INDEXED BY assignments_at", 1)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY a.id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, args
}

// listSelect is assignmentListSelect with the join to pools when f has
// a condition on the pool's region (assignmentWhere's p.region_id).
func listSelect(f registry.AssignmentFilter) string {
	if f.RegionID != 0 {
		return assignmentListSelect + " JOIN pools p ON p.id = a.pool_id"
	}
	return assignmentListSelect
}

// pastOnly reports whether states is not empty and holds no live state
// other than quarantined: the rows of the partial indexes
// assignments_state_past and assignments_pool_past.
func pastOnly(states []registry.State) bool {
	return len(states) > 0 && !slices.Contains(states, registry.StateAssigned)
}

// assignmentWhere is the condition of f on assignments a (and pools p).
func assignmentWhere(f registry.AssignmentFilter) ([]string, []any) {
	var where []string
	var args []any
	if f.RegionID != 0 {
		where, args = append(where, "p.region_id = ?"), append(args, f.RegionID)
	}
	if f.PoolID != 0 {
		where, args = append(where, "a.pool_id = ?"), append(args, f.PoolID)
	}
	if f.Family != 0 {
		where, args = append(where, "a.family = ?"), append(args, f.Family)
	}
	if f.Tenant != nil {
		if *f.Tenant != "" {
			// The condition of the partial index assignments_tenant (00040),
			// so it is used.
			where, args = append(where, "a.tenant = ? AND a.tenant <> ''"), append(args, *f.Tenant)
		} else {
			// Untenanted: not in assignments_tenant (00040); the page is
			// read in ID order, keeping the untenanted rows.
			where = append(where, "a.tenant = ''")
		}
	}
	if f.Name != "" {
		// The conditions of the partial index assignments_name, so it is used.
		where, args = append(where, "a.name = ? AND a.name <> '' AND a.state <> 'released'"), append(args, f.Name)
	}
	if f.Named {
		where = append(where, "a.name <> ''")
	}
	if f.Resource != "" {
		// The condition of the partial index assignments_resource, so it is used.
		where, args = append(where, "a.resource = ? AND a.resource <> ''"), append(args, f.Resource)
	}
	if len(f.States) > 0 {
		ph := strings.Repeat("?,", len(f.States))
		where = append(where, "a.state IN ("+ph[:len(ph)-1]+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.Within.IsValid() {
		fam, first, last, _ := span(f.Within)
		where, args = append(where, "a.space IN ("+assignmentSpaces+") AND a.family = ? AND a.first >= ? AND a.first <= ? AND a.last <= ?"), append(args, fam, first, last, last)
	}
	if f.Contains.IsValid() {
		// An assignment holding the prefix starts at the first address of
		// one of its supernets: at most 33 (IPv4) or 129 (IPv6) look-ups
		// of assignments_at in each space that holds assignments. "first <= ?" was a range of half the
		// family's rows on that index, every one read and tested (645 ms
		// of CPU per GET ?contains= at 1M: bench/README.md, session 9).
		fam, _, last, _ := span(f.Contains)
		firsts := rowscan.SupernetFirsts(f.Contains)
		ph := strings.Repeat("?,", len(firsts))
		where, args = append(where, "a.space IN ("+assignmentSpaces+") AND a.family = ? AND a.first IN ("+ph[:len(ph)-1]+") AND a.last >= ?"), append(args, fam)
		for _, b := range firsts {
			args = append(args, b)
		}
		args = append(args, last)
	}
	if f.AfterID != 0 {
		where, args = append(where, "a.id > ?"), append(args, f.AfterID)
	}
	for _, k := range sortedKeys(f.Tags) {
		where = append(where, "EXISTS (SELECT 1 FROM tags t WHERE t.kind = 'assignment' AND t.object_id = a.id AND t.key = ? AND t.value = ?)")
		args = append(args, k, f.Tags[k])
	}
	return where, args
}

// assignmentsOfRegion answers a page of f (with RegionID, without PoolID)
// of past states or of a tag from a page of each of the region's pools
// (index assignments_pool_past or tags_pool_match), merged in ID order. ok is false when the region has too many pools for
// one statement: the caller then joins.
func (t *tx) assignmentsOfRegion(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, bool, error) {
	// Pools of the other family hold none of the page: reading them
	// would walk every assignment they hold.
	rows, err := t.q.query(ctx, `SELECT id FROM pools WHERE region_id = ? AND (? = 0 OR family = ?) ORDER BY id`, f.RegionID, f.Family, f.Family)
	pools, err := collect(rows, err, func(r rowscan.Scanner) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
	terms := len(pools)
	if pastOnly(f.States) {
		terms *= len(f.States)
	}
	if err != nil || terms > maxRegionUnion {
		return nil, false, err
	}
	if len(pools) == 0 {
		return nil, true, nil
	}
	q, args := regionPageQuery(f, pools)
	out, err := t.listAssignments(ctx, q, args...)
	return out, err == nil, err
}

// regionPageQuery is the statement of a page of f (with RegionID,
// without PoolID) merged from pools, the region's pools: of a tag
// (tagRegionQuery) or not (regionQuery).
func regionPageQuery(f registry.AssignmentFilter, pools []int64) (string, []any) {
	if len(f.Tags) > 0 {
		return tagRegionQuery(f, pools)
	}
	return regionQuery(f, pools)
}

// regionQuery is the statement of a page of f (with RegionID, without
// PoolID) merged from a page of each of pools, the region's pools.
func regionQuery(f registry.AssignmentFilter, pools []int64) (string, []any) {
	// A page of past or quarantined assignments is read per pool and state
	// in ID order from the partial index assignments_pool_past (pool_id,
	// state, id): sorting each pool's past rows for a page grew with the
	// pool (a twelfth of a cloud register is released). Any other page of
	// a region is in address order (assignmentsByAddress).
	g := f
	g.RegionID, g.Limit = 0, 0
	var parts []string
	var args []any
	part := func(index, cond string) {
		where, a := assignmentWhere(g)
		parts = append(parts, fmt.Sprintf("SELECT id FROM (SELECT a.id FROM assignments a INDEXED BY %s WHERE %s%s ORDER BY a.id LIMIT %d)", index, cond, strings.Join(where, " AND "), f.Limit))
		args = append(args, a...)
	}
	for _, id := range pools {
		g.PoolID = id
		for _, s := range f.States {
			g.States = []registry.State{s}
			part("assignments_pool_past", "a.state <> 'assigned' AND ")
		}
	}
	return assignmentListSelect + " WHERE a.id IN (" + strings.Join(parts, " UNION ALL ") + fmt.Sprintf(") ORDER BY a.id LIMIT %d", f.Limit), args
}

// tagRegionQuery is the statement of a page of a tag in a region (f.Tags
// and f.RegionID, without a pool or a prefix held) merged from pools,
// the region's pools of f's family: for each, the first f.Limit of the
// first tag's entries in that pool in ID order (a range of
// tags_pool_match, 00057) whose assignments meet the rest of f. It reads
// at most a page of the tag's entries per pool, wherever else the tag
// is.
func tagRegionQuery(f registry.AssignmentFilter, pools []int64) (string, []any) {
	k := sortedKeys(f.Tags)[0]
	g := f
	g.Tags = maps.Clone(f.Tags)
	delete(g.Tags, k)
	// The pools are the region's of f's family: a pool's assignments
	// are of its family.
	g.RegionID, g.Limit, g.Family, g.AfterID = 0, 0, 0, 0
	where, rest := assignmentWhere(g)
	cond := ""
	if len(where) > 0 {
		cond = " AND " + strings.Join(where, " AND ")
	}
	parts := make([]string, 0, len(pools))
	args := make([]any, 0, len(pools)*(4+len(rest)))
	for _, id := range pools {
		parts = append(parts, fmt.Sprintf("SELECT id FROM (SELECT tg.object_id AS id FROM tags tg INDEXED BY tags_pool_match CROSS JOIN assignments a ON a.id = tg.object_id"+
			" WHERE tg.kind = 'assignment' AND tg.key = ? AND tg.value = ? AND tg.pool_id = ? AND tg.object_id > ?%s ORDER BY tg.object_id LIMIT %d)", cond, f.Limit))
		args = append(append(args, k, f.Tags[k], id, f.AfterID), rest...)
	}
	return assignmentListSelect + " WHERE a.id IN (" + strings.Join(parts, " UNION ALL ") + fmt.Sprintf(") ORDER BY a.id LIMIT %d", f.Limit), args
}

func (t *tx) QuarantineEnded(ctx context.Context, now time.Time, limit int) ([]registry.Assignment, error) {
	return t.listAssignments(ctx, assignmentListSelect+` WHERE a.state = 'quarantined' AND a.quarantine_until <= ? ORDER BY a.quarantine_until, a.id LIMIT ?`, micros(now), limit)
}

func idList(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// Activity implements registry.Tx. The assignments made on whole UTC days
// inside [from, to) are read from the pools' day counters (pool_counts,
// kind 'created'), a row per pool, length and day: counting them from the
// rows read every assignment of the region's pools made in the window (the
// region page's 90 days, in proportion to the register: issue 16). The
// window is the whole days [from, to) touches (registry.Tx.Activity), so
// no row is read for a partial day (the index of every assignment by
// creation time that did was dropped: issue 16, storage); the releases
// are read from the rows of the partial index assignments_released.
func (t *tx) Activity(ctx context.Context, poolIDs []int64, from, to time.Time) ([]registry.DayActivity, error) {
	if len(poolIDs) == 0 {
		return nil, nil
	}
	if err := t.flushCounts(ctx); err != nil {
		return nil, err
	}
	var acc rowscan.Activity
	ids := idList(poolIDs)
	scan := func(released bool, q string, args ...any) error {
		rows, err := t.q.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var day, fam, n int64
			if err := rows.Scan(&day, &fam, &n); err != nil {
				return err
			}
			acc.Add(day, fam, n, released)
		}
		return rows.Err()
	}
	lo, hi := poolcount.WholeDays(micros(from), micros(to))
	if lo == hi {
		return nil, nil
	}
	err := scan(false, `SELECT c.day, p.family, SUM(c.n) FROM (
		SELECT pool_id, day, n FROM pool_counts WHERE pool_id IN (`+ids+`) AND kind = 'created' AND day >= ?1 AND day < ?2
		UNION ALL
		SELECT pool_id, day, 1 FROM (SELECT a.pool_id, `+poolcount.DaySQL("a.created_at")+` AS day FROM assignments a
			WHERE `+tailWhere+` AND +a.pool_id IN (`+ids+`)) WHERE day >= ?1 AND day < ?2) c
		JOIN pools p ON p.id = c.pool_id GROUP BY 1, 2`, lo, hi)
	if err == nil {
		err = scan(true, rowscan.ActivityQuery("released_at", `pool_id IN (`+ids+`)`, "?", "?"), lo*poolcount.DayMicros, hi*poolcount.DayMicros)
	}
	if err != nil {
		return nil, err
	}
	return acc.Days(), nil
}

// ---- relocations

func (t *tx) InsertRelocation(ctx context.Context, r *registry.Relocation) error {
	fam, first, last, bits := span(r.Prefix)
	res, err := t.q.exec(ctx, `INSERT INTO relocations (prefix, family, first, last, bits, from_pool_id, from_region_id, to_region_id, reason, created_at, space)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT id FROM regions WHERE name = ?7), (SELECT id FROM regions WHERE name = ?8), ?9, ?10,
			(SELECT space FROM pools WHERE id = ?6))`,
		r.Prefix.String(), fam, first, last, bits, r.FromPoolID, r.FromRegion, r.ToRegion, r.Reason, micros(r.CreatedAt))
	if err != nil {
		return mapErr(err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

func (t *tx) Relocations(ctx context.Context) ([]registry.Relocation, error) {
	// pools.relocation_id has no index: joined to every pool, SQLite built
	// an automatic index of all of them on each call (1,260 in a cloud
	// register: 12 % of the region page's CPU). The borrowed pools alone
	// make a partial one of a few rows.
	rows, err := t.q.query(ctx, `SELECT r.id, r.prefix, r.from_pool_id, f.name, g.name, COALESCE(p.id, 0), r.reason, r.created_at
		FROM relocations r JOIN regions f ON f.id = r.from_region_id JOIN regions g ON g.id = r.to_region_id
		LEFT JOIN (SELECT id, relocation_id FROM pools WHERE relocation_id IS NOT NULL) p ON p.relocation_id = r.id ORDER BY r.id`)
	return collect(rows, err, func(rows rowscan.Scanner) (registry.Relocation, error) {
		var r registry.Relocation
		var p string
		var created int64
		if err := rows.Scan(&r.ID, &p, &r.FromPoolID, &r.FromRegion, &r.ToRegion, &r.PoolID, &r.Reason, &created); err != nil {
			return r, err
		}
		var err error
		r.Prefix, err = parsePrefix(p)
		r.CreatedAt = fromMicros(created)
		return r, err
	})
}

// ---- events

func (t *tx) AppendEvent(ctx context.Context, e *registry.Event) error {
	if w, ok := t.deferring(); ok {
		if folded, err := w.foldEvent(ctx, e); folded {
			return err
		}
	}
	res, err := t.q.exec(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		micros(e.At), e.Actor, e.Action, e.SubjectKind, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e))
	if err != nil {
		return mapErr(err)
	}
	e.Seq, err = res.LastInsertId()
	return err
}

// AppendEvents appends many events in few statements and sets their Seq.
func (t *tx) AppendEvents(ctx context.Context, es []registry.Event) error {
	// As in InsertAssignments, what the rows share is bound once (?1 to ?4).
	const shared, cols = 4, 4
	args := make([]any, shared, shared+cols*min(len(es), maxRows))
	for len(es) > 0 {
		e0 := &es[0]
		n := 1
		for n < len(es) && n < maxRows && es[n].At.Equal(e0.At) && es[n].Actor == e0.Actor && es[n].Action == e0.Action && es[n].SubjectKind == e0.SubjectKind {
			n++
		}
		n = rowsOf(n)
		args = append(args[:0], micros(e0.At), e0.Actor, e0.Action, e0.SubjectKind)
		for i := range es[:n] {
			e := &es[i]
			args = append(args, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e))
		}
		res, err := t.q.exec(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		SELECT ?1, ?2, ?3, ?4, column1, column2, column3, column4 FROM (VALUES `+valuesList(n, cols)+`)`, args...)
		if err != nil {
			return mapErr(err)
		}
		// AUTOINCREMENT numbers the rows of one statement consecutively.
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i := range es[:n] {
			es[i].Seq = last - int64(n-1-i)
		}
		es = es[n:]
	}
	return nil
}

// payload is the stored form of an event's before or after: NULL, a
// BLOB in the compact encoding (store/internal/evcodec), or JSON TEXT
// when the codec declines it; events written before migration 00027
// are TEXT and are read as they are.
func payload(b json.RawMessage, e *registry.Event) any {
	if len(b) == 0 {
		return nil
	}
	if enc := evcodec.Encode(b, evcodec.Subject{ID: e.SubjectID, Text: e.Subject}); enc != nil {
		return enc
	}
	return string(b)
}

// Events implements registry.Tx: every event f selects, in seq order.
func (t *tx) Events(ctx context.Context, f registry.EventFilter) ([]registry.Event, error) {
	return t.events(ctx, f, nil, nil, "seq")
}

// LoadEventOf implements registry.Tx: the index on subject_id read
// backwards from id.
func (t *tx) LoadEventOf(ctx context.Context, id int64) (registry.Event, bool, error) {
	es, err := t.events(ctx, registry.EventFilter{SubjectKind: registry.SubjectImport, Limit: 1}, []string{"subject_id <= ?"}, []any{id}, "subject_id DESC")
	if err != nil || len(es) == 0 {
		return registry.Event{}, false, err
	}
	return es[0], true, nil
}

// events reads the events matching where and f's time and subject
// filters, in the given order, at most f.Limit.
func (t *tx) events(ctx context.Context, f registry.EventFilter, where []string, args []any, order string) ([]registry.Event, error) {
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, micros(f.Since))
	}
	if f.SubjectKind != "" {
		where, args = append(where, "subject_kind = ?"), append(args, f.SubjectKind)
	}
	if len(f.SubjectIDs) > 0 {
		where = append(where, "subject_id IN ("+idList(f.SubjectIDs)+")")
	}
	q := `SELECT seq, at, actor, action, subject_kind, subject_id, subject, before, after FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := t.q.query(ctx, q, args...)
	return collect(rows, err, func(rows rowscan.Scanner) (registry.Event, error) {
		var e registry.Event
		var at int64
		var before, after []byte
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.SubjectKind, &e.SubjectID, &e.Subject, &before, &after); err != nil {
			return e, err
		}
		e.At = fromMicros(at)
		s := evcodec.Subject{ID: e.SubjectID, Text: e.Subject}
		var err error
		if e.Before, err = evcodec.Read(before, s); err != nil {
			return e, fmt.Errorf("event %d: before: %w", e.Seq, err)
		}
		if e.After, err = evcodec.Read(after, s); err != nil {
			return e, fmt.Errorf("event %d: after: %w", e.Seq, err)
		}
		return e, nil
	})
}

// ---- idempotency

func (t *tx) Idempotent(ctx context.Context, tenant, key string) (registry.Idempotent, bool, error) {
	rows, err := t.q.query(ctx, `SELECT request_hash, assignment_ids, created_at FROM idempotency WHERE tenant = ? AND key = ?`, tenant, key)
	r, err := one(rows, err, func(rows rowscan.Scanner) (registry.Idempotent, error) {
		r := registry.Idempotent{Tenant: tenant, Key: key}
		var ids string
		var created int64
		if err := rows.Scan(&r.RequestHash, &ids, &created); err != nil {
			return r, err
		}
		r.CreatedAt = fromMicros(created)
		return r, json.Unmarshal([]byte(ids), &r.AssignmentIDs)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

func (t *tx) PutIdempotent(ctx context.Context, r registry.Idempotent) error {
	ids, err := json.Marshal(r.AssignmentIDs)
	if err != nil {
		return err
	}
	_, err = t.q.exec(ctx, `INSERT INTO idempotency (tenant, key, request_hash, assignment_ids, created_at) VALUES (?, ?, ?, ?, ?)`,
		r.Tenant, r.Key, r.RequestHash, string(ids), micros(r.CreatedAt))
	return mapErr(err)
}

// The registry's optional capabilities this store has (registry/capability.go).
var (
	_ registry.Tx          = (*tx)(nil)
	_ registry.BatchWriter = (*tx)(nil)
	_ registry.FreeAdder   = (*tx)(nil)
	_ registry.SpanLister  = (*tx)(nil)
)

var (
	_ registry.BulkLoader  = (*tx)(nil)
	_ registry.EventLoader = (*tx)(nil)
)

// LoadEvents implements registry.EventLoader: an import's events share
// their time, actor and action, so AppendEvents' statements serve.
func (t *tx) LoadEvents(ctx context.Context, es []registry.Event) error {
	return t.AppendEvents(ctx, es)
}

// LoadAssignments inserts many assignments, each row binding all its
// columns, maxRows rows a statement; IDs as InsertAssignments gives them.
// The overlap trigger still checks every row.
func (t *tx) LoadAssignments(ctx context.Context, as []registry.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	if err := t.setSpaces(ctx, as); err != nil {
		return err
	}
	last, room, err := t.lastAssignmentID(ctx, len(as))
	if err != nil {
		return err
	}
	if !room {
		for i := range as {
			if err := t.InsertAssignment(ctx, &as[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := t.beforeCounted(ctx); err != nil {
		return err
	}
	const cols = 13
	args := make([]any, 0, cols*min(len(as), maxRows))
	for len(as) > 0 {
		n := rowsOf(min(len(as), maxRows))
		args = args[:0]
		for i := range as[:n] {
			a := &as[i]
			last++
			a.ID = last
			fam, first, end, bits := span(a.Prefix)
			args = append(args, a.ID, a.PoolID, fam, first, end, bits, string(a.State), a.Tenant, a.Resource, a.Name,
				micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil))
		}
		if err := t.insertRows(ctx, n, `INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10, column11, column12, column13,
			(SELECT space FROM pools WHERE id = column2) FROM (VALUES `+valuesList(n, cols)+`)`, args...); err != nil {
			return mapErr(err)
		}
		t.countInserted(as[:n]...)
		if w, ok := t.q.(*wtx); ok {
			for i := range as[:n] {
				w.frontInserted(as[i].PoolID, as[i].ID, as[i].Prefix)
			}
		}
		as = as[n:]
	}
	return nil
}

var _ registry.LiveLister = (*tx)(nil)

// LivePrefixes implements registry.LiveLister: a range of an index of
// assignments by first address, in address order.
func (t *tx) LivePrefixes(ctx context.Context, poolID int64, within netip.Prefix, from netip.Addr, limit int) ([]netip.Prefix, error) {
	fam, _, last, _ := span(within)
	rows, err := t.q.query(ctx, `SELECT first, bits FROM assignments
		WHERE space = (SELECT space FROM pools WHERE id = ?4) AND family = ?1 AND first >= ?2 AND first <= ?3 AND state <> 'released' AND pool_id = ?4
		ORDER BY first LIMIT ?5`,
		fam, addrBytes(from), last, poolID, limit)
	return collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var first []byte
		var bits int
		if err := rows.Scan(&first, &bits); err != nil {
			return netip.Prefix{}, err
		}
		return prefixOf(first, bits)
	})
}

var _ registry.IndexDeferrer = (*tx)(nil)

// firstOutsidePool is the rule of the trigger assignments_pool (00069) for
// every row at once, for a load that dropped it (DeferIndexes): each
// assignment's pool exists, is of its space and holds its addresses. One
// walk of the table with a look-up of the pool per row (what the foreign
// key it replaced did row by row); an error names the first row that
// breaks it.
func (t *tx) firstOutsidePool(ctx context.Context) error {
	rows, err := t.q.query(ctx, `SELECT a.id, cadastre_prefix(a.first, a.bits), a.pool_id FROM assignments a
		WHERE NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = a.pool_id AND p.space = a.space AND p.family = a.family
			AND p.first <= a.first AND p.last >= a.last) LIMIT 1`)
	type outside struct {
		id, pool int64
		prefix   string
	}
	o, err := one(rows, err, func(rows rowscan.Scanner) (outside, error) {
		var o outside
		return o, rows.Scan(&o.id, &o.prefix, &o.pool)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check the assignments' pools: %w", err)
	}
	return fmt.Errorf("assignment %d (%s): pool %d is missing, of another space, or does not hold it: %w", o.id, o.prefix, o.pool, registry.ErrState)
}

// DeferIndexes implements registry.IndexDeferrer. The indexes and
// triggers are read from the schema, so that what is built again is what
// the migrations made, whatever they add later. Schema changes are part
// of the transaction: a rollback leaves them as they were.
func (t *tx) DeferIndexes(ctx context.Context) (bool, error) {
	rows, err := t.q.query(ctx, `SELECT EXISTS (SELECT 1 FROM assignments)`)
	some, err := one(rows, err, func(rows rowscan.Scanner) (bool, error) {
		var b bool
		return b, rows.Scan(&b)
	})
	if err != nil || some {
		return false, err
	}
	rows, err = t.q.query(ctx, `SELECT type, name, sql FROM sqlite_master
		WHERE tbl_name = 'assignments' AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name`)
	type object struct{ kind, name, sql string }
	objs, err := collect(rows, err, func(rows rowscan.Scanner) (object, error) {
		var o object
		return o, rows.Scan(&o.kind, &o.name, &o.sql)
	})
	if err != nil {
		return false, err
	}
	for _, o := range objs {
		if _, err := t.q.exec(ctx, `DROP `+strings.ToUpper(o.kind)+` "`+o.name+`"`); err != nil {
			return false, fmt.Errorf("defer %s %s: %w", o.kind, o.name, err)
		}
		// Indexes sort before triggers: built again first.
		t.deferred = append(t.deferred, o.sql)
	}
	return true, nil
}

// RestoreIndexes implements registry.IndexDeferrer: the overlap rule of
// the trigger assignments_no_overlap, for every live row at once (each
// against the one before it in address order), then the indexes and
// triggers.
func (t *tx) RestoreIndexes(ctx context.Context) error {
	if len(t.deferred) == 0 {
		return nil
	}
	// The plain indexes first: the check below reads live rows in
	// address order from assignments_at instead of sorting them;
	// then the unique ones and the triggers, which could fail on what
	// the check names better.
	var later []string
	for _, q := range t.deferred {
		if strings.HasPrefix(q, "CREATE INDEX") {
			if _, err := t.q.exec(ctx, q); err != nil {
				return fmt.Errorf("build again %q: %w", q, mapErr(err))
			}
		} else {
			later = append(later, q)
		}
	}
	rows, err := t.q.query(ctx, `SELECT id, cadastre_prefix(first, bits), pid, cadastre_prefix(pfirst, pbits) FROM (
		SELECT id, first, bits, LAG(last) OVER w AS plast, LAG(id) OVER w AS pid, LAG(first) OVER w AS pfirst, LAG(bits) OVER w AS pbits FROM assignments
		WHERE state <> 'released' WINDOW w AS (PARTITION BY space, family ORDER BY first, id)) WHERE plast >= first LIMIT 1`)
	over, err := one(rows, err, func(rows rowscan.Scanner) (registry.AssignmentOverlap, error) {
		var x registry.AssignmentOverlap
		var p, prev string
		if err := rows.Scan(&x.ID, &p, &x.OtherID, &prev); err != nil {
			return x, err
		}
		var err1, err2 error
		x.Prefix, err1 = parsePrefix(p)
		x.Other, err2 = parsePrefix(prev)
		return x, errors.Join(err1, err2)
	})
	if err == nil {
		return &over
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if err := t.firstOutsidePool(ctx); err != nil {
		return err
	}
	for _, q := range later {
		if _, err := t.q.exec(ctx, q); err != nil {
			return fmt.Errorf("build again %q: %w", q, mapErr(err))
		}
	}
	t.deferred = nil
	return nil
}
