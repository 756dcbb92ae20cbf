package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// dumpSelect reads what a dump keeps of an assignment from the table
// alone: the pool's prefix and region are the dump's, which holds every
// pool (assignmentSelect's four joins were a quarter of an export).
const dumpSelect = `SELECT id, cadastre_prefix(first, bits), pool_id, state, tenant, resource, name, created_at, released_at, quarantine_until, space
	FROM assignments WHERE id > ? ORDER BY id LIMIT ?`

// DumpAssignments implements registry.AssignmentDumper. The columns are
// scanned into interfaces: database/sql then hands over the driver's
// values as they are, where scanning into typed fields converts each
// integer by reflection.
func (t *tx) DumpAssignments(ctx context.Context, after int64, limit int, into []registry.Assignment) ([]registry.Assignment, error) {
	rows, err := t.q.query(ctx, dumpSelect, after, limit)
	if err != nil {
		return into, err
	}
	defer rows.Close()
	var v [11]any
	var dest [11]any
	for i := range dest {
		dest[i] = &v[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest[:]...); err != nil {
			return into, err
		}
		into = append(into, registry.Assignment{})
		a := &into[len(into)-1]
		var ok [9]bool
		a.ID, ok[0] = v[0].(int64)
		pfx, ok1 := v[1].(string)
		a.PoolID, ok[1] = v[2].(int64)
		state, ok2 := v[3].(string)
		a.Tenant, ok[2] = v[4].(string)
		a.Resource, ok[3] = v[5].(string)
		a.Name, ok[4] = v[6].(string)
		created, ok3 := v[7].(int64)
		a.Space, ok[5] = v[10].(string)
		ok[6], ok[7], ok[8] = ok1, ok2, ok3
		for _, o := range ok {
			if !o {
				return into, fmt.Errorf("stored assignment after %d: a column of an unexpected type: %v", after, v)
			}
		}
		if a.Prefix, err = rowscan.ParsePrefix(pfx); err != nil {
			return into, err
		}
		a.State = registry.State(state)
		a.CreatedAt = rowscan.FromMicros(created)
		if a.ReleasedAt, err = optMicrosValue(v[8]); err != nil {
			return into, err
		}
		if a.QuarantineUntil, err = optMicrosValue(v[9]); err != nil {
			return into, err
		}
	}
	return into, rows.Err()
}

// optMicrosValue reads an optional time scanned into an interface.
func optMicrosValue(v any) (*time.Time, error) {
	switch us := v.(type) {
	case nil:
		return nil, nil
	case int64:
		t := rowscan.FromMicros(us)
		return &t, nil
	}
	return nil, fmt.Errorf("stored time %v: not an integer", v)
}
