package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// assignmentListSelect reads the columns of assignments alone, for pages
// of many rows: what an assignment says of its pool (prefix, region,
// relocation) is the same for every row of the pool, so fillPools reads it
// once per pool of the page instead of four joins and six columns a row,
// and the prefix comes as its stored first address and length instead of
// text made by cadastre_prefix and parsed back. A 100-row page cost 1.0-1.8
// ms of CPU, most of it per row (bench/README.md, "Session 10: list
// pages"). A condition on the pool (p.region_id) adds the join to pools
// (assignmentFrom).
const assignmentListSelect = `SELECT a.id, a.first, a.bits, a.pool_id, a.tenant, a.resource, a.name, a.state,
	a.created_at, a.released_at, a.quarantine_until, a.space FROM assignments a`

// assignmentListCols is the number of columns of assignmentListSelect.
const assignmentListCols = 12

// listAssignments runs q (a statement of assignmentListSelect) and returns
// its rows with their pools' parts filled in.
func (t *tx) listAssignments(ctx context.Context, q string, args ...any) ([]registry.Assignment, error) {
	rows, err := t.q.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := scanAssignmentList(rows)
	if err != nil {
		return nil, err
	}
	return out, t.fillPools(ctx, out)
}

// scanAssignmentList scans the rows of assignmentListSelect. The columns
// are scanned into interfaces, as DumpAssignments does: database/sql then
// hands over the driver's values as they are.
func scanAssignmentList(rows *sql.Rows) ([]registry.Assignment, error) {
	defer rows.Close()
	var out []registry.Assignment
	var v [assignmentListCols]any
	var dest [assignmentListCols]any
	for i := range dest {
		dest[i] = &v[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return nil, err
		}
		out = append(out, registry.Assignment{})
		a := &out[len(out)-1]
		var ok [10]bool
		a.ID, ok[0] = v[0].(int64)
		first, ok1 := v[1].([]byte)
		bits, ok2 := v[2].(int64)
		a.PoolID, ok[1] = v[3].(int64)
		a.Tenant, ok[2] = v[4].(string)
		a.Resource, ok[3] = v[5].(string)
		a.Name, ok[4] = v[6].(string)
		state, ok3 := v[7].(string)
		created, ok4 := v[8].(int64)
		a.Space, ok[5] = v[11].(string)
		ok[6], ok[7], ok[8], ok[9] = ok1, ok2, ok3, ok4
		for _, o := range ok {
			if !o {
				return nil, fmt.Errorf("stored assignment %v: a column of an unexpected type", v)
			}
		}
		p, err := prefixOf(first, int(bits))
		if err != nil {
			return nil, fmt.Errorf("stored assignment %d: %w", a.ID, err)
		}
		a.Prefix, a.State, a.CreatedAt = p, registry.State(state), rowscan.FromMicros(created)
		if a.ReleasedAt, err = optMicrosValue(v[9]); err != nil {
			return nil, fmt.Errorf("stored assignment %d: released_at: %w", a.ID, err)
		}
		if a.QuarantineUntil, err = optMicrosValue(v[10]); err != nil {
			return nil, fmt.Errorf("stored assignment %d: quarantine_until: %w", a.ID, err)
		}
	}
	return out, rows.Err()
}

// poolPart is what an assignment says of its pool.
type poolPart struct {
	prefix   netip.Prefix
	regionID int64
	region   string
	rel      *registry.RelocationRef // nil: not a relocated unit's pool
}

// poolPartsSelect reads the poolPart of pools by ID (the joins of
// assignmentSelect); the IDs are bound as padded placeholders (idArgs).
const poolPartsSelect = `SELECT p.id, p.prefix, p.region_id, g.name, r.id, r.prefix, fg.name
	FROM pools p JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id
	WHERE p.id IN (`

// fillPools sets the pool's parts of each of as (from its PoolID), as
// assignmentSelect's joins give them: one statement for the page's
// distinct pools (a region page's few dozen; one for most pages).
func (t *tx) fillPools(ctx context.Context, as []registry.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	parts := map[int64]poolPart{}
	var ids []int64
	for _, a := range as {
		if _, ok := parts[a.PoolID]; !ok {
			parts[a.PoolID] = poolPart{}
			ids = append(ids, a.PoolID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), maxIDList)
		k, args := idArgs(ids[:n])
		rows, err := t.q.query(ctx, poolPartsSelect+placeholders(k)+`)`, args...)
		if err != nil {
			return err
		}
		if err := scanPoolParts(rows, parts); err != nil {
			return err
		}
		ids = ids[n:]
	}
	for i := range as {
		a := &as[i]
		pp := parts[a.PoolID]
		if !pp.prefix.IsValid() {
			return fmt.Errorf("assignment %d: pool %d: %w", a.ID, a.PoolID, registry.ErrNotFound)
		}
		a.Pool, a.RegionID, a.Region = pp.prefix, pp.regionID, pp.region
		if pp.rel != nil {
			// A copy each, as the joined select gave: callers may change one.
			rel := *pp.rel
			rel.ToRegion = pp.region
			a.Borrowed, a.Relocation = true, &rel
		}
	}
	return nil
}

// scanPoolParts adds the rows of poolPartsSelect to parts.
func scanPoolParts(rows *sql.Rows, parts map[int64]poolPart) error {
	defer rows.Close()
	for rows.Next() {
		var id, regionID int64
		var prefix, region string
		var relID *int64
		var relPrefix, relFrom *string
		if err := rows.Scan(&id, &prefix, &regionID, &region, &relID, &relPrefix, &relFrom); err != nil {
			return err
		}
		p, err := parsePrefix(prefix)
		if err != nil {
			return fmt.Errorf("pool %d: %w", id, err)
		}
		pp := poolPart{prefix: p, regionID: regionID, region: region}
		if relID != nil {
			rp, err := parsePrefix(*relPrefix)
			if err != nil {
				return fmt.Errorf("pool %d: relocation %d: %w", id, *relID, err)
			}
			pp.rel = &registry.RelocationRef{ID: *relID, Prefix: rp, FromRegion: *relFrom}
		}
		parts[id] = pp
	}
	return rows.Err()
}

// idArgs binds ids (at most maxIDList) to a list of placeholders padded
// to a power of two with the last ID repeated, so that lists of any
// length are one of ten statements, each prepared once per connection.
// It returns the number of placeholders and the arguments.
func idArgs(ids []int64) (int, []any) {
	n := 1
	for n < len(ids) {
		n *= 2
	}
	args := make([]any, n)
	for i := range n {
		args[i] = ids[min(i, len(ids)-1)]
	}
	return n, args
}
