package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// pageScope is a pool a page in address order reads: its space, family
// and range of first addresses.
type pageScope struct {
	id          int64
	space       string
	family      int
	first, last []byte
}

// assignmentsByAddress answers a page of f in address order
// (f.ByAddress: a pool's or a region's page): for each pool, a range of
// assignments_at over the pool's prefix in its space, filtered by the pool
// (units lent out and child pools lie inside their parent but are pools
// of their own; pools of other spaces may have the same prefix), after
// the cursor, at most a page; the pools' pages merged in (address,
// length, ID) order. There is no index of a pool's rows by ID (00065 dropped
// assignments_pool_id: one B-tree fewer written by every allocation).
func (t *tx) assignmentsByAddress(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	if err := f.CursorError(); err != nil {
		return nil, err
	}
	q := `SELECT id, space, family, first, last FROM pools WHERE id = ?`
	args := []any{f.PoolID}
	if f.PoolID == 0 {
		region := f.RegionID
		if region == 0 {
			r, err := t.RegionByName(ctx, f.Region)
			if errors.Is(err, registry.ErrNotFound) {
				return nil, nil // no such region: an empty page, as a join gave
			}
			if err != nil {
				return nil, err
			}
			region = r.ID
		}
		// Pools of the other family hold none of the page.
		q, args = `SELECT id, space, family, first, last FROM pools WHERE region_id = ? AND (? = 0 OR family = ?) ORDER BY family, first`, []any{region, f.Family, f.Family}
	}
	rows, err := t.q.query(ctx, q, args...)
	pools, err := collect(rows, err, func(r rowscan.Scanner) (pageScope, error) {
		var s pageScope
		return s, r.Scan(&s.id, &s.space, &s.family, &s.first, &s.last)
	})
	if err != nil {
		return nil, err
	}
	// The pools in address order, one statement each, their pages' rows
	// merged here; a pool starting after the last row of a full page
	// holds none of it (every row of a pool starts at its first address
	// or after), and ends the page. A region's page merged from a page of
	// every pool read 27 pages for one at 1M (1.4 ms of CPU against 0.85
	// in ID order, BenchmarkScaleAPI); sorting them in the statement cost
	// two sorts of each.
	//
	// Each pool's statement reads its rows whole: the range of
	// assignments_at reads every row's table entry anyway (the pool is
	// not in the index), so reading only the keys, then the page's rows
	// again by ID, read each row twice: a pool's web page cost 0.49 ms of
	// CPU against 0.31 in ID order at 1M (bench/README.md, session 16).
	var out []registry.Assignment
	for i, p := range pools {
		if f.Limit > 0 && len(out) >= f.Limit {
			last := out[len(out)-1].Prefix.Addr()
			lf := 4
			if last.Is6() {
				lf = 6
			}
			if p.family > lf || p.family == lf && bytes.Compare(p.first, addrBytes(last)) > 0 {
				break
			}
		}
		q, args := byAddressQuery(f, pools[i:i+1])
		if q == "" {
			continue
		}
		rows, err := t.q.query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		as, err := scanAssignmentList(rows)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 {
			// In the page's order already: the first pool read.
			out = as
			continue
		}
		out = rowscan.MergeByAddress(append(out, as...), f.Limit)
	}
	return out, t.fillPools(ctx, out)
}

// byAddressQuery is the statement of the pages of f in address order in
// pools, each page's rows (assignmentListSelect's columns) in its order;
// "" when the cursor is past all of them.
func byAddressQuery(f registry.AssignmentFilter, pools []pageScope) (string, []any) {
	g := f
	g.PoolID, g.RegionID, g.Region, g.AfterID, g.AfterPrefix, g.Limit = 0, 0, "", 0, netip.Prefix{}, 0
	where, rest := assignmentWhere(g)
	cond := ""
	if len(where) > 0 {
		cond = " AND " + strings.Join(where, " AND ")
	}
	lim := ""
	if f.Limit > 0 {
		lim = fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	// A pool's live rows do not overlap: one a first address, in the
	// index's order. Released ones may share it: sorted by length and ID
	// (a sort of each first address's rows, not of the pool's).
	order := " ORDER BY a.first"
	if len(f.States) == 0 || slices.Contains(f.States, registry.StateReleased) {
		order = " ORDER BY a.first, a.bits, a.id"
	}
	var parts []string
	var args []any
	for _, p := range pools {
		skip, from := rowscan.AfterCursor(f.AfterPrefix, p.family)
		if skip {
			continue
		}
		// The space, the family and a range of first addresses: a range
		// of assignments_at.
		// The range starts at the pool's first address or the cursor's,
		// the greater: given both, SQLite bounds the index by one and
		// filters by the other (a page deep in a pool walked the pool
		// from its start).
		lo := p.first
		var b []byte
		if from.IsValid() {
			if b = addrBytes(from.Addr()); bytes.Compare(b, lo) > 0 {
				lo = b
			}
			if bytes.Compare(lo, p.last) > 0 {
				continue
			}
		}
		head := "a.space = ? AND a.family = ? AND a.first >= ? AND a.first <= ? AND a.pool_id = ?"
		a := []any{p.space, p.family, lo, p.last, p.id}
		if from.IsValid() {
			head += " AND (a.first > ? OR a.bits > ? OR a.bits = ? AND a.id > ?)"
			a = append(a, b, from.Bits(), from.Bits(), f.AfterID)
		}
		parts = append(parts, assignmentListSelect+" INDEXED BY assignments_at WHERE "+head+cond+order+lim)
		args = append(append(args, a...), rest...)
	}
	if len(parts) == 0 {
		return "", nil
	}
	if len(parts) == 1 {
		return parts[0], args
	}
	for i, p := range parts {
		parts[i] = "SELECT * FROM (" + p + ")"
	}
	return strings.Join(parts, " UNION ALL "), args
}
