package sqlite

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Position implements registry.Tx. SQLite runs one write transaction at a
// time on a database file (this store's one writer connection, and the
// file's write lock across processes, a CLI beside a server): a
// transaction takes its sequence numbers and commits before the next one
// begins, so number order is commit order and the newest event is a
// position no commit can precede.
// At is the latest event time (two lookups, each answered by an index).
func (t *tx) Position(ctx context.Context) (registry.Position, error) {
	rows, err := t.q.query(ctx, `SELECT COALESCE((SELECT MAX(seq) FROM events), 0), COALESCE((SELECT MAX(at) FROM events), 0)`)
	if err != nil {
		return registry.Position{}, mapErr(err)
	}
	defer rows.Close()
	var p registry.Position
	if rows.Next() {
		var at int64
		if err := rows.Scan(&p.Seq, &at); err != nil {
			return p, mapErr(err)
		}
		if p.Seq != 0 {
			p.At = fromMicros(at)
		}
	}
	return p, rows.Err()
}

// EventsAfter implements registry.Tx: in seq order, which is commit order
// here (see Position), after the cursor's event.
func (t *tx) EventsAfter(ctx context.Context, f registry.EventFilter) ([]registry.Event, error) {
	if f.AfterSeq == 0 {
		return t.events(ctx, f, nil, nil, "seq")
	}
	rows, err := t.q.query(ctx, `SELECT 1 FROM events WHERE seq = ?`, f.AfterSeq)
	if err != nil {
		return nil, mapErr(err)
	}
	found := rows.Next()
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("after %d: no event has this sequence number (pass the seq of the last event read, or 0 from the start): %w", f.AfterSeq, registry.ErrInvalid)
	}
	return t.events(ctx, f, []string{"seq > ?"}, []any{f.AfterSeq}, "seq")
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
	rows, err := t.q.query(ctx, `SELECT id, first, bits, region_id, COALESCE(relocation_id, 0), block_id FROM pools WHERE child_of IS NULL ORDER BY family, first, bits`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registry.PoolSpan
	for rows.Next() {
		var s registry.PoolSpan
		var first []byte
		var bits int
		if err := rows.Scan(&s.ID, &first, &bits, &s.RegionID, &s.RelocationID, &s.BlockID); err != nil {
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
