package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"

	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// A pool's frontier (migration 00071): the free space of a pool above the
// highest address it ever handed out is kept as a range, not as rows of
// the free table, so that an allocation at the frontier writes no free
// page: one B-tree and one WAL frame fewer (issue 16, one caller's durable
// allocation; bench/README.md, "Session 22: sqlitebump" sized it, "Session
// 23" built it).
//
// pool_frontier holds, for each pool that has one, the address below its
// run ("below", B). The run is the pool's assignments that start above B:
// each was taken at the frontier, in address order, with no gap, and none
// has changed state since (I1). The frontier F is one past the last
// address of the run's top row, or B+1 when the run is empty; every
// address of the pool from F to its last is free and has no row: its free
// prefixes are prefix.Range(F, last), as the buddy allocator leaves them.
// Every free row of the pool lies at or below B (I2). The free rows and the
// frontier's prefixes together are what the free table alone held before
// (I3), so every reader answers as before.
//
// What keeps them so:
//   - A pool gets a row only when its whole prefix is first added to its
//     free space (AddPool, a borrowed unit, a child pool) and nothing of
//     the space lies in it yet; every other pool keeps rows, as before.
//   - A take of the frontier's prefix writes nothing of free; the rows it
//     inserts join the run, and what the take returns of the prefix (a
//     split's rest) is the frontier's again, with nothing written
//     (frontTake). The fold checks each such take against B and the run's
//     top row (fold.go, alloc_front).
//   - Taking or carving out (a reservation, a specific prefix, a child
//     pool, a lent unit) a frontier prefix that is not its first writes the
//     prefixes before it as rows and moves B to the end of what was taken.
//   - A change of state or a delete of a row of the run moves B to that
//     row's last address first (the triggers below; a rename, which writes
//     the same state, does not), so the rows above it
//     stay a run and the row's space, when it is returned, is a hole below B.
//   - B only grows, so a row once below B stays below it.
//
// A pool whose first address is the family's first has no address below
// it and so no frontier: it keeps rows.
const (
	frontierTable = `CREATE TABLE pool_frontier (
		pool_id   INTEGER PRIMARY KEY,
		region_id INTEGER NOT NULL,
		family    INTEGER NOT NULL,
		below     BLOB NOT NULL
	)`
	frontierIndex   = `CREATE INDEX pool_frontier_scope ON pool_frontier (region_id, family)`
	frontierUpdated = `CREATE TRIGGER pool_frontier_update BEFORE UPDATE OF pool_id, family, first, last, state ON assignments
		WHEN (NEW.state IS NOT OLD.state OR NEW.pool_id IS NOT OLD.pool_id OR NEW.family IS NOT OLD.family OR NEW.first IS NOT OLD.first OR NEW.last IS NOT OLD.last)
			AND OLD.first > (SELECT below FROM pool_frontier WHERE pool_id = OLD.pool_id)
		BEGIN UPDATE pool_frontier SET below = OLD.last WHERE pool_id = OLD.pool_id; END`
	frontierDeleted = `CREATE TRIGGER pool_frontier_delete BEFORE DELETE ON assignments
		WHEN OLD.first > (SELECT below FROM pool_frontier WHERE pool_id = OLD.pool_id)
		BEGIN UPDATE pool_frontier SET below = OLD.last WHERE pool_id = OLD.pool_id; END`
	frontierPoolGone = `CREATE TRIGGER pool_frontier_pool BEFORE DELETE ON pools
		BEGIN DELETE FROM pool_frontier WHERE pool_id = OLD.id; END`
)

// poolFrontier is migration 00071. Up creates the table and its
// triggers and gives each pool whose free rows end in a frontier's shape
// its frontier (toFrontiers). Down writes each frontier's prefixes back
// as rows.
func poolFrontier() *goose.Migration {
	return goose.NewGoMigration(71,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			for _, q := range []string{frontierTable, frontierIndex, frontierUpdated, frontierDeleted, frontierPoolGone} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("pool_frontier: %w", err)
				}
			}
			return toFrontiers(ctx, tx)
		}},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, frontierSelect+` WHERE 1`)
			fs, err := collect(rows, err, scanFrontier)
			if err != nil {
				return fmt.Errorf("pool_frontier: %w", err)
			}
			for _, fr := range fs {
				for _, p := range fr.prefixes() {
					if _, err := tx.ExecContext(ctx, addFreeSQL, fr.region, prefix.Family(p), p.Bits(), addrBytes(p.Addr()), fr.pool); err != nil {
						return fmt.Errorf("pool %d: free %s: %w", fr.pool, p, err)
					}
				}
			}
			for _, q := range []string{`DROP TRIGGER pool_frontier_pool`, `DROP TRIGGER pool_frontier_delete`, `DROP TRIGGER pool_frontier_update`, `DROP TABLE pool_frontier`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("pool_frontier: %w", err)
				}
			}
			return nil
		}},
	)
}

// toFrontiers gives each pool of a register made before 00071 the
// frontier its free rows allow: the longest run of its top free rows that
// is exactly prefix.Range(X, the pool's last), with no assignment row of
// any state starting at X or above, becomes the frontier (B = X-1) and
// those rows go. A pool whose space above its last assignment is not so
// (the IPv4 broadcast address kept back, a reservation at its end) keeps
// its rows: the answer of every reader is the same either way.
func toFrontiers(ctx context.Context, tx *sql.Tx) error {
	type poolRow struct {
		id, region  int64
		space       string
		fam         int
		first, last netip.Addr
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, CASE WHEN child_of IS NULL THEN region_id ELSE -id END, space, family, first, last FROM pools WHERE dissolved_at IS NULL`)
	pools, err := collect(rows, err, func(rows rowscan.Scanner) (p poolRow, err error) {
		var first, last []byte
		err = rows.Scan(&p.id, &p.region, &p.space, &p.fam, &first, &last)
		p.first, p.last = a16(first), a16(last)
		return p, err
	})
	if err != nil {
		return fmt.Errorf("pool_frontier: pools: %w", err)
	}
	for _, p := range pools {
		if !p.first.Prev().IsValid() || !p.last.IsValid() {
			continue
		}
		rows, err := tx.QueryContext(ctx, `SELECT bits, addr FROM free WHERE region_id = ?1 AND family = ?2 AND pool_id = ?3 AND addr >= ?4 AND addr <= ?5 ORDER BY addr DESC`,
			p.region, p.fam, p.id, addrBytes(p.first), addrBytes(p.last))
		free, err := collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
			var bits int
			var addr []byte
			err := rows.Scan(&bits, &addr)
			return netip.PrefixFrom(a16(addr), bits), err
		})
		if err != nil {
			return fmt.Errorf("pool_frontier: free of pool %d: %w", p.id, err)
		}
		var used []byte
		if err := tx.QueryRowContext(ctx, `SELECT MAX(first) FROM assignments WHERE space = ?1 AND family = ?2 AND first >= ?3 AND first <= ?4`,
			p.space, p.fam, addrBytes(p.first), addrBytes(p.last)).Scan(&used); err != nil {
			return fmt.Errorf("pool_frontier: assignments of pool %d: %w", p.id, err)
		}
		// Walk down from the top: free[:n] (in descending order) is
		// Range(its lowest address, last) while each row ends where the
		// one above starts and is the first prefix of the range from it.
		n, end := 0, p.last
		for _, f := range free {
			if prefix.Last(f) != end || !f.Addr().IsValid() || (used != nil && !a16(used).Less(f.Addr())) || prefix.Range(f.Addr(), p.last)[0] != f {
				break
			}
			n, end = n+1, f.Addr().Prev()
		}
		if n == 0 {
			continue
		}
		for _, f := range free[:n] {
			if _, err := tx.ExecContext(ctx, removeFreeSQL, p.region, p.fam, f.Bits(), addrBytes(f.Addr()), p.id); err != nil {
				return fmt.Errorf("pool_frontier: pool %d: %w", p.id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, insertFrontierSQL, p.id, p.region, p.fam, addrBytes(end)); err != nil {
			return fmt.Errorf("pool_frontier: pool %d: %w", p.id, err)
		}
	}
	return nil
}

// frontier is one pool's frontier as read with its run's top row.
type frontier struct {
	pool   int64
	region int64 // the scope its free prefixes are filed under
	below  netip.Addr
	next   netip.Addr // F; invalid past the family's last address
	last   netip.Addr // the pool's last address
	top    int64      // the run's top row, 0 when the run is empty
}

// prefixes are the frontier's free prefixes, in address order.
func (fr *frontier) prefixes() []netip.Prefix {
	if !fr.next.IsValid() || fr.last.Less(fr.next) {
		return nil
	}
	return prefix.Range(fr.next, fr.last)
}

// best is the frontier's prefix a take of maxBits would choose.
func (fr *frontier) best(maxBits int) (netip.Prefix, bool) {
	if !fr.next.IsValid() || fr.last.Less(fr.next) {
		return netip.Prefix{}, false
	}
	return prefix.RangeBest(fr.next, fr.last, maxBits)
}

// free is p of the frontier's pool as a FreePrefix.
func (fr *frontier) free(p netip.Prefix) registry.FreePrefix {
	return registry.FreePrefix{RegionID: fr.region, PoolID: fr.pool, Prefix: p}
}

// holds reports whether p is one of the frontier's prefixes.
func (fr *frontier) holds(p netip.Prefix) bool {
	if !fr.next.IsValid() || p.Addr().Less(fr.next) || fr.last.Less(prefix.Last(p)) {
		return false
	}
	// p is one of Range(F, last) if Range(F, last of p) ends with it.
	ps := prefix.Range(fr.next, prefix.Last(p))
	return ps[len(ps)-1] == p
}

// frontierSelect reads frontiers with their run's top row: the row of the
// pool's space and family that starts highest above B within the pool
// (assignments_at, one descending seek), and that row's last address.
const frontierSelect = `SELECT m.pool_id, m.region_id, m.below, p.last, t.id, t.last, t.pool_id
	FROM pool_frontier m JOIN pools p ON p.id = m.pool_id
	LEFT JOIN assignments t ON t.id = (SELECT a.id FROM assignments a
		WHERE a.space = p.space AND a.family = p.family AND a.first > m.below AND a.first <= p.last ORDER BY a.first DESC LIMIT 1)`

const (
	frontiersOfScopeSQL = frontierSelect + ` WHERE m.region_id = ?1 AND m.family = ?2`
	frontierOfPoolSQL   = frontierSelect + ` WHERE m.pool_id = ?1`
	// The writes of pool_frontier: each drops the writer's free list
	// (rowCache.written), which reads the table again when next asked.
	insertFrontierSQL = `INSERT INTO pool_frontier (pool_id, region_id, family, below) VALUES (?, ?, ?, ?)`
	moveFrontierSQL   = `UPDATE pool_frontier SET below = ?2 WHERE pool_id = ?1 AND below < ?2`
)

// errFrontierRun marks a run's top row of another pool: the pools'
// frontiers do not hold what this store writes.
var errFrontierRun = errors.New("the run above the pool's frontier mark holds another pool's assignment")

func scanFrontier(rows rowscan.Scanner) (frontier, error) {
	var fr frontier
	var below, last, topLast []byte
	var top, topPool sql.NullInt64
	if err := rows.Scan(&fr.pool, &fr.region, &below, &last, &top, &topLast, &topPool); err != nil {
		return fr, err
	}
	fr.below, fr.last = a16(below), a16(last)
	if !fr.below.IsValid() || !fr.last.IsValid() {
		return fr, fmt.Errorf("pool %d: frontier %x / %x: not an address", fr.pool, below, last)
	}
	fr.next = fr.below.Next()
	if top.Valid {
		if topPool.Int64 != fr.pool {
			return fr, fmt.Errorf("pool %d: assignment %d: %w", fr.pool, top.Int64, errFrontierRun)
		}
		fr.top = top.Int64
		fr.next = a16(topLast).Next()
	}
	return fr, nil
}

// frontiers reads the frontiers of a scope (a region, or a child pool's
// own) and family.
func (t *tx) frontiers(ctx context.Context, region int64, family int) ([]frontier, error) {
	rows, err := t.q.query(ctx, frontiersOfScopeSQL, region, family)
	return collect(rows, err, scanFrontier)
}

// frontierOf reads pool's frontier; ok is false if it has none.
func (t *tx) frontierOf(ctx context.Context, pool int64) (frontier, bool, error) {
	rows, err := t.q.query(ctx, frontierOfPoolSQL, pool)
	fr, err := one(rows, err, scanFrontier)
	if errors.Is(err, sql.ErrNoRows) {
		return fr, false, nil
	}
	return fr, err == nil, err
}

// better reports whether a is the free prefix SmallestFree prefers to b:
// more bits, then the lower address, then the lower pool (the free
// table's key order).
func better(a, b registry.FreePrefix) bool {
	if a.Prefix.Bits() != b.Prefix.Bits() {
		return a.Prefix.Bits() > b.Prefix.Bits()
	}
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c < 0
	}
	return a.PoolID < b.PoolID
}

// bestOf merges the frontiers' choices into row, the free table's: the
// prefix SmallestFree returns, and the frontier it comes from (nil for a
// row).
func bestOf(row registry.FreePrefix, rowOK bool, fs []frontier, maxBits int) (registry.FreePrefix, *frontier, bool) {
	best, ok := row, rowOK
	var from *frontier
	for i := range fs {
		p, fits := fs[i].best(maxBits)
		if !fits {
			continue
		}
		if f := fs[i].free(p); !ok || better(f, best) {
			best, ok, from = f, true, &fs[i]
		}
	}
	return best, from, ok
}

// frontTake is what the writer knows of a take of a frontier prefix in
// the running caller's function, until what follows it is settled: the
// rows the allocator inserts from the prefix's start join the run, and
// what it gives back of the prefix (the split's rest; all of it for a
// pool of another space) is the frontier's again, with nothing written.
type frontTake struct {
	f      registry.FreePrefix
	next   netip.Addr // where the run's next row starts
	prevID int64      // the run's top row, 0 when empty
}

func (ft *frontTake) active() bool { return ft.f.Prefix.IsValid() }

// takeFront takes the frontier prefix f of fr: a prefix after the
// frontier's first is carved out (the prefixes before it become rows and
// B moves to just below it), then the take is noted, to be settled by
// what follows. Nothing else is written.
func (t *tx) takeFront(ctx context.Context, w *wtx, fr frontier, f registry.FreePrefix) error {
	if err := t.settleFront(ctx); err != nil {
		return err
	}
	prev := fr.top
	if start := f.Prefix.Addr(); start != fr.next {
		if err := t.carveFront(ctx, fr, start.Prev(), start.Prev()); err != nil {
			return err
		}
		prev = 0
	}
	w.front = frontTake{f: f, next: f.Prefix.Addr(), prevID: prev}
	return nil
}

// carveFront writes the frontier fr's prefixes up to rowsTo as free rows
// and moves B to below: what lies between (a prefix taken or carved out)
// is neither a row nor the frontier's any more.
func (t *tx) carveFront(ctx context.Context, fr frontier, rowsTo, below netip.Addr) error {
	if _, err := t.q.exec(ctx, moveFrontierSQL, fr.pool, addrBytes(below)); err != nil {
		return mapErr(err)
	}
	if !fr.next.IsValid() || !rowsTo.IsValid() || rowsTo.Less(fr.next) {
		return nil
	}
	holes := prefix.Range(fr.next, rowsTo)
	fs := make([]registry.FreePrefix, len(holes))
	for i, p := range holes {
		fs[i] = fr.free(p)
	}
	return t.addFreeRows(ctx, fs)
}

// settleFront ends the running caller's frontier take, if any, when
// something other than its rows and its rest comes: what the allocator
// did not insert nor give back of the taken prefix is taken, as when its
// row was deleted from free, so B moves to the prefix's last address.
func (t *tx) settleFront(ctx context.Context) error {
	w, ok := t.q.(*wtx)
	if !ok || !w.front.active() {
		return nil
	}
	ft := w.front
	w.front = frontTake{}
	last := prefix.Last(ft.f.Prefix)
	if ft.next.IsValid() && !last.Less(ft.next) {
		if _, err := t.q.exec(ctx, moveFrontierSQL, ft.f.PoolID, addrBytes(last)); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// frontInserted follows a row the writer inserted: a row of the pool at
// the running frontier take's next address joins the run.
func (w *wtx) frontInserted(pool, id int64, p netip.Prefix) {
	ft := &w.front
	if !ft.active() || ft.f.PoolID != pool || p.Addr() != ft.next || prefix.Last(ft.f.Prefix).Less(prefix.Last(p)) {
		return
	}
	ft.next, ft.prevID = prefix.Last(p).Next(), id
	if w.rows != nil {
		w.rows.free.frontMoved(ft.f.RegionID, prefix.Family(p), pool, id, ft.next)
	}
}

// frontRest gives fs, prefixes of one pool, back to free while a frontier
// take of that pool runs: the take's rest is the frontier's again, with
// nothing written, when fs is exactly Range(next, the taken prefix's
// last), as the allocator's split returns it (or all of it, for a pool of
// another space). ok is false otherwise: the take is settled and fs are
// written as rows (the registry's IPv6 anycast rule returns a split /64
// one prefix at a time, after its first address).
func (t *tx) frontRest(ctx context.Context, fs []registry.FreePrefix) (bool, error) {
	w, isW := t.q.(*wtx)
	if !isW || !w.front.active() || len(fs) == 0 {
		return false, nil
	}
	ft := w.front
	last := prefix.Last(ft.f.Prefix)
	if !ft.next.IsValid() || last.Less(ft.next) {
		return false, t.settleFront(ctx)
	}
	if !isRangeOf(fs, ft.f, ft.next, last) {
		return false, t.settleFront(ctx)
	}
	w.front = frontTake{}
	return true, nil
}

// isRangeOf reports whether fs are prefix.Range(lo, hi) of like's pool and
// scope, where hi ends an aligned prefix holding lo (a taken prefix's
// rest): each is the longest prefix its start's alignment allows
// (prefix.RangeBest with any length, in O(1)), with nothing allocated.
func isRangeOf(fs []registry.FreePrefix, like registry.FreePrefix, lo, hi netip.Addr) bool {
	cur := lo
	for i, f := range fs {
		if !cur.IsValid() || f.PoolID != like.PoolID || f.RegionID != like.RegionID {
			return false
		}
		p, ok := prefix.RangeBest(cur, hi, cur.BitLen())
		if !ok || f.Prefix != p {
			return false
		}
		if cur = prefix.Last(p).Next(); prefix.Last(p) == hi {
			return i == len(fs)-1
		}
	}
	return false
}

// newFrontier gives pool its frontier in place of a free row for its
// whole prefix, when f is that (a new pool, a borrowed unit, a child
// pool: AddPool and its kind add the whole prefix unless an address
// policy keeps an address back) and nothing of the space lies in it: no
// assignment row of any state, no free row and no frontier yet. ok is
// false otherwise.
func (t *tx) newFrontier(ctx context.Context, f registry.FreePrefix) (bool, error) {
	below := f.Prefix.Addr().Prev()
	if !below.IsValid() {
		return false, nil
	}
	rows, err := t.q.query(ctx, `SELECT p.space, p.prefix, p.family,
		EXISTS (SELECT 1 FROM pool_frontier WHERE pool_id = p.id),
		EXISTS (SELECT 1 FROM assignments a WHERE a.space = p.space AND a.family = p.family AND a.first >= p.first AND a.first <= p.last)
		FROM pools p WHERE p.id = ?`, f.PoolID)
	type poolRow struct {
		space, pfx  string
		fam         int
		front, used bool
	}
	pr, err := one(rows, err, func(rows rowscan.Scanner) (r poolRow, err error) {
		return r, rows.Scan(&r.space, &r.pfx, &r.fam, &r.front, &r.used)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil || pr.front || pr.used || pr.pfx != f.Prefix.String() {
		return false, err
	}
	free, err := t.FreeOfPool(ctx, f.PoolID)
	if err != nil || len(free) > 0 {
		return false, err
	}
	if _, err := t.q.exec(ctx, insertFrontierSQL, f.PoolID, f.RegionID, prefix.Family(f.Prefix), addrBytes(below)); err != nil {
		return false, mapErr(err)
	}
	return true, nil
}

// aboveFrontier fails an add of a free row above pool's frontier mark: no
// path of the registry returns space there (a row of the run changes
// state only after the triggers moved B past it), so such a row would
// break the frontier; the caller's transaction fails instead.
func (t *tx) aboveFrontier(ctx context.Context, fs []registry.FreePrefix) error {
	var fr frontier
	for i, f := range fs {
		if i == 0 || f.PoolID != fs[i-1].PoolID {
			var ok bool
			var err error
			if fr, ok, err = t.poolFrontier(ctx, f); err != nil {
				return err
			}
			if !ok {
				fr = frontier{}
			}
		}
		if !fr.below.IsValid() || !fr.below.Less(prefix.Last(f.Prefix)) {
			continue
		}
		if fr.next.IsValid() && !prefix.Last(f.Prefix).Less(fr.next) {
			// What the free table's key refused when the space was rows.
			return fmt.Errorf("free %s of pool %d: the pool's free space from %s holds it already: %w", f.Prefix, f.PoolID, fr.next, registry.ErrExists)
		}
		return fmt.Errorf("free %s of pool %d: above the pool's frontier mark %s, where only its run of assignments lies: %w", f.Prefix, f.PoolID, fr.below, registry.ErrConflict)
	}
	return nil
}

// AddFreeTail implements registry.FreeTailer (a load's space above the
// last thing used in a pool): prefix.Range(lo, the pool's last) becomes
// the pool's frontier, but for its prefixes at or below the highest
// assignment row of any state there (released rows are history, and the
// run above the mark must be the frontier's takes alone), which are rows,
// as is all of it when the pool has a frontier already or none fits.
func (t *tx) AddFreeTail(ctx context.Context, pool registry.Pool, scope int64, lo netip.Addr) error {
	blocks := prefix.Range(lo, prefix.Last(pool.Prefix))
	rows := func(ps []netip.Prefix) error {
		if len(ps) == 0 {
			return nil
		}
		fs := make([]registry.FreePrefix, len(ps))
		for i, p := range ps {
			fs[i] = registry.FreePrefix{RegionID: scope, PoolID: pool.ID, Prefix: p}
		}
		return t.AddFrees(ctx, fs)
	}
	if len(blocks) == 0 {
		return nil
	}
	type state struct {
		has  bool
		used []byte
	}
	qr, err := t.q.query(ctx, `SELECT EXISTS (SELECT 1 FROM pool_frontier WHERE pool_id = ?1),
		(SELECT MAX(first) FROM assignments WHERE space = ?2 AND family = ?3 AND first >= ?4 AND first <= ?5)`,
		pool.ID, pool.Space, prefix.Family(pool.Prefix), addrBytes(lo), addrBytes(prefix.Last(pool.Prefix)))
	st, err := one(qr, err, func(rows rowscan.Scanner) (st state, err error) {
		return st, rows.Scan(&st.has, &st.used)
	})
	if err != nil {
		return err
	}
	has, used := st.has, st.used
	k := 0
	if used != nil {
		for top := a16(used); k < len(blocks) && !top.Less(blocks[k].Addr()); k++ {
		}
	}
	if has || k == len(blocks) || !blocks[k].Addr().Prev().IsValid() {
		return rows(blocks)
	}
	if err := rows(blocks[:k]); err != nil {
		return err
	}
	if _, err := t.q.exec(ctx, insertFrontierSQL, pool.ID, scope, prefix.Family(pool.Prefix), addrBytes(blocks[k].Addr().Prev())); err != nil {
		return mapErr(err)
	}
	return nil
}
