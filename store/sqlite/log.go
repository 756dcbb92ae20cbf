package sqlite

import (
	"context"

	"github.com/cadastre-ipam/cadastre/registry"
)

func (t *tx) LastEvent(ctx context.Context) (registry.Position, error) {
	rows, err := t.q.query(ctx, `SELECT seq, at FROM events ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return registry.Position{}, err
	}
	defer rows.Close()
	var p registry.Position
	if rows.Next() {
		var at int64
		if err := rows.Scan(&p.Seq, &at); err != nil {
			return p, err
		}
		p.At = fromMicros(at)
	}
	return p, rows.Err()
}
