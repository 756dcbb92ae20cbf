package sqlite

import (
	"context"
	"fmt"
	"net/netip"

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

func (t *tx) UpdateRegion(ctx context.Context, r registry.Region) error {
	res, err := t.q.exec(ctx, `UPDATE regions SET country = ?, subdivision = ?, city = ?, borrow_policy = ?, borrow_bits = ? WHERE id = ?`,
		r.Location.Country, r.Location.Subdivision, r.Location.City, r.Borrow.String(), r.BorrowBits, r.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("region %s: %w", r.Name, registry.ErrNotFound)
	}
	return nil
}

// PoolSpans implements registry.SpanLister: one lean query, addresses read
// as bytes rather than parsed from text.
func (t *tx) PoolSpans(ctx context.Context) ([]registry.PoolSpan, error) {
	rows, err := t.q.query(ctx, `SELECT id, first, bits, region_id, COALESCE(relocation_id, 0) FROM pools ORDER BY family, first, bits`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registry.PoolSpan
	for rows.Next() {
		var s registry.PoolSpan
		var first []byte
		var bits int
		if err := rows.Scan(&s.ID, &first, &bits, &s.RegionID, &s.RelocationID); err != nil {
			return nil, err
		}
		a, ok := netip.AddrFromSlice(first)
		if !ok {
			return nil, fmt.Errorf("pool %d: stored address of %d bytes", s.ID, len(first))
		}
		s.Prefix = netip.PrefixFrom(a, bits)
		out = append(out, s)
	}
	return out, rows.Err()
}
