package sqlite

import (
	"context"
	"fmt"
	"math/bits"
	"regexp"
	"slices"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// The free table's tail (issue 16: one caller's durable allocation
// writes 7.5 WAL frames against an empty commit's 4.2, one of them the
// free table's leaf; bench/README.md, "Session 18: sqlitedurable7").
// A single allocation folded into one statement (fold.go) that takes its
// own prefix, first in its transaction to write free (heldWorth), no
// longer deletes the prefix's free row, so that the commit does not write
// the free table's page: the row stays, held by the assignment, which is in the pool
// counters' tail (00059, counters.go: the rows after
// pool_counts_mark.through). So the free table is exact as of the mark,
// like the counters, and a free row is free unless a live assignment of
// the tail starts at its address, of its pool, inside it (freeLive).
// The next fold that writes free anyway (a take that splits, or a later
// caller's of a group commit) deletes a held row in its statement, on the
// page its commit writes (fold.go: h_addr); the rest are deleted before
// the mark moves (foldTail, settle), at COMMIT once freeHeldMax are held,
// and before anything but the fold reads or writes the free table or writes
// assignments (foldFree, called by the writer before such a statement:
// stmtKind.foldsFree), so that
//   - the writer's reads of free (the takes, its cache's loads, a pool's
//     free space) and its deletes of free rows see the table exact;
//   - a held row is gone before its assignment is released, quarantined,
//     deleted or changed, so a prefix released and returned is never
//     deleted by a later fold, and a returned prefix never meets its own
//     held row's key;
//   - a read transaction, or another process, which cannot fold, leaves
//     the held rows out (freeLive in every reader of free).
//
// The rows of a split's rest (AddFree, AddFrees) go in without a fold:
// they are disjoint from every live assignment, so they never share a
// held row's key (a fold before them would come ~0.6 times an allocation).
//
// The writer knows the rows it kept (rowCache.freeHeld) while its caches
// are exact (rowcache.go's rules: a rollback, another connection's
// commit, a restart or any write it does not follow drops them); it then
// deletes them by their keys (removeFrees). Otherwise freeTailSQL finds them from the
// tail: for each live row of the tail, the free rows of its pool starting
// at its address whose length holds it. A live assignment and a free row
// never overlap otherwise, so for the tail's other rows (batches,
// specific addresses, imports) it deletes nothing.

// freeLive is the condition, on a free row named f, that no live
// assignment of its pool starts at its address inside it: a held row
// (only the tail's assignments hold any; for a row the table holds
// exactly, no live assignment overlaps it, so the condition is true).
// One seek of assignments_at (space, family, first, state), the space
// the pool's.
const freeLive = `NOT EXISTS (SELECT 1 FROM assignments h WHERE h.space = (SELECT space FROM pools WHERE id = f.pool_id) AND h.family = f.family
		AND h.first = f.addr AND h.state <> 'released' AND h.pool_id = f.pool_id AND h.bits >= f.bits)`

// freeTailSQL deletes every free row a live assignment of the tail
// holds: for each, the lengths from its pool's to its own (b), in the
// pool's region and its child scope (as freeScopes), one key seek each.
const freeTailSQL = `DELETE FROM free WHERE (region_id, family, bits, addr, pool_id) IN (WITH RECURSIVE b(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM b WHERE n < 128)
	SELECT f.region_id, f.family, f.bits, f.addr, f.pool_id FROM assignments a CROSS JOIN pools p CROSS JOIN b CROSS JOIN free f
	WHERE a.id > (SELECT through FROM pool_counts_mark) AND a.state <> 'released' AND p.id = a.pool_id AND b.n >= p.bits AND b.n <= a.bits
		AND f.region_id IN (p.region_id, -p.id) AND f.family = a.family AND f.bits = b.n AND f.addr = a.first AND f.pool_id = a.pool_id)`

// mentionsFree finds a statement that names the free table.
var mentionsFree = regexp.MustCompile(`(?i)\bfree\b`)

// foldsFree reports whether the held free rows must be gone before q
// runs: q names the free table, other than to insert a split's rest or to
// delete the held rows, or writes assignments other than by the texts
// that insert a new row.
func foldsFree(q string) bool {
	if q == foldSQL || q == freeTailSQL || q == addFreeSQL || slices.Contains(addFrees[:], q) {
		return false
	}
	return mentionsFree.MatchString(q) || (writesAssignments(q) && !idKept[q])
}

// heldFree records that the fold kept f's row in the free table.
func (c *rowCache) heldFree(f registry.FreePrefix) {
	if c.freeKnown {
		c.freeHeld = append(c.freeHeld, f)
	}
}

// heldWorth reports whether the fold of h should keep its free row: only
// when that spares the commit the free table's page, that is when the
// take is the assignment's own prefix (a take that splits writes the
// rest to free after the fold) and nothing before it in the transaction
// (another caller of a group commit) wrote free or kept a row. Each row kept costs
// more to delete later than in the fold's statement (~20k instructions
// against ~8k, bench/README.md, "Session 21: sqlitefreetail").
func (c *rowCache) heldWorth(h *held) bool {
	return !c.freeWritten && h.take.Prefix.Bits() == int(h.ins[5].(int64))
}

// heldOf is the index of the last held row of family fam, -1 if none
// (or the held rows are not known).
func (c *rowCache) heldOf(fam int) int {
	if !c.freeKnown {
		return -1
	}
	for i := len(c.freeHeld) - 1; i >= 0; i-- {
		if prefix.Family(c.freeHeld[i].Prefix) == fam {
			return i
		}
	}
	return -1
}

// freeHeldMax is the number of held rows at which the writer deletes them
// at COMMIT, before the counters' tail is long enough to fold: kept few,
// they stay on the free table's few pages (each a row more to compare
// in each seek, and a page more to balance when they go).
const freeHeldMax = 32

// freeDue reports whether free rows may be held.
func (c *rowCache) freeDue() bool { return !c.freeKnown || len(c.freeHeld) > 0 }

// foldFree deletes the free rows the tail's assignments hold.
func (w *wtx) foldFree(ctx context.Context) error {
	c := w.rows
	if c == nil || !c.freeDue() || c.freeFolding {
		return nil
	}
	c.freeFolding = true
	defer func() { c.freeFolding = false }()
	if c.freeKnown {
		if err := w.removeFrees(ctx, c.freeHeld); err != nil {
			c.reset()
			return fmt.Errorf("free: delete the prefixes the tail holds: %w", mapErr(err))
		}
	} else if _, err := w.execNow(ctx, freeTailSQL); err != nil {
		c.reset()
		return fmt.Errorf("free: delete the prefixes the tail holds: %w", mapErr(err))
	}
	c.freeHeld, c.freeKnown = c.freeHeld[:0], true
	return nil
}

// removeFreesSQL[k] deletes 1<<k free rows of one region, family and
// pool by their keys: one statement for the held rows (in power-of-two
// slices, as addFrees, so that these few texts stay prepared; each key
// one seek of the table's key). Measured: ~22k instructions a row, as
// one statement a row on the driver's own statement costs, against ~8k
// for the row's delete inside the fold's statement (bench/README.md,
// "Session 21: sqlitefreetail").
var removeFreesSQL = func() (out [8]string) {
	for k := range out {
		out[k] = `DELETE FROM free WHERE region_id = ?1 AND family = ?2 AND pool_id = ?3 AND (bits, addr) IN (VALUES ` + valuesList(1<<k, 2) + `)`
	}
	return out
}()

// removeFrees deletes fs's rows, those of one region, family and pool
// together.
func (w *wtx) removeFrees(ctx context.Context, fs []registry.FreePrefix) error {
	args := make([]any, 0, 3+2*min(len(fs), maxRows))
	for len(fs) > 0 {
		f0 := fs[0]
		fam := prefix.Family(f0.Prefix)
		n := 1
		for n < len(fs) && n < maxRows && fs[n].RegionID == f0.RegionID && fs[n].PoolID == f0.PoolID && prefix.Family(fs[n].Prefix) == fam {
			n++
		}
		n = rowsOf(n)
		args = append(args[:0], f0.RegionID, int64(fam), f0.PoolID)
		for _, f := range fs[:n] {
			args = append(args, int64(f.Prefix.Bits()), addrBytes(f.Prefix.Addr()))
		}
		if _, err := w.execNow(ctx, removeFreesSQL[bits.Len(uint(n))-1], args...); err != nil {
			return err
		}
		fs = fs[n:]
	}
	return nil
}
