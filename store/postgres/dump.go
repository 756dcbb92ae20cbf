package postgres

import (
	"context"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// dumpSelect reads what a dump keeps of an assignment from the table and
// its pool's space (00078): the pool's prefix and region are the dump's,
// which holds every pool, so the other joins of assignmentSelect are not
// made for each row.
const dumpSelect = `SELECT a.id, a.prefix::text, a.pool_id, a.state, a.tenant, a.resource, a.name, a.created_at, a.released_at, a.quarantine_until, p.space
	FROM assignments a JOIN pools p ON p.id = a.pool_id WHERE a.id > $1 ORDER BY a.id LIMIT $2`

// DumpAssignments implements registry.AssignmentDumper.
func (t *tx) DumpAssignments(ctx context.Context, after int64, limit int, into []registry.Assignment) ([]registry.Assignment, error) {
	rows, err := t.query(ctx, dumpSelect, after, limit)
	if err != nil {
		return into, mapErr(err)
	}
	defer rows.Close()
	var pfx, state string
	var created int64
	var released, until *int64
	for rows.Next() {
		into = append(into, registry.Assignment{})
		a := &into[len(into)-1]
		if err := rows.Scan(&a.ID, &pfx, &a.PoolID, &state, &a.Tenant, &a.Resource, &a.Name, &created, &released, &until, &a.Space); err != nil {
			return into, mapErr(err)
		}
		if a.Prefix, err = rowscan.ParsePrefix(pfx); err != nil {
			return into, err
		}
		a.State, a.CreatedAt = registry.State(state), rowscan.FromMicros(created)
		a.ReleasedAt, a.QuarantineUntil = rowscan.OptTime(released), rowscan.OptTime(until)
	}
	return into, mapErr(rows.Err())
}
