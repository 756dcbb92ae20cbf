package sqlite

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// ---- reservations (registry.ReservationTx)

const reservationSelect = `SELECT v.id, v.prefix, v.pool_id, p.prefix, g.name, v.reason, v.until, v.created_at, v.space
	FROM reservations v JOIN pools p ON p.id = v.pool_id JOIN regions g ON g.id = p.region_id`

func (t *tx) InsertReservation(ctx context.Context, v *registry.Reservation) error {
	fam, first, last, bits := span(v.Prefix)
	rows, err := t.q.query(ctx, `INSERT INTO reservations (prefix, family, first, last, bits, pool_id, reason, until, created_at, space)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, (SELECT space FROM pools WHERE id = ?6)) RETURNING id, space`,
		v.Prefix.String(), fam, first, last, bits, v.PoolID, v.Reason, optMicros(v.Until), micros(v.CreatedAt))
	err = mapErr(idAndSpace(rows, err, &v.ID, &v.Space))
	return err
}

func (t *tx) DeleteReservation(ctx context.Context, id int64) error {
	res, err := t.q.exec(ctx, `DELETE FROM reservations WHERE id = ?`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err == nil {
			err = fmt.Errorf("reservation %d: %w", id, registry.ErrNotFound)
		}
		return err
	}
	return nil
}

func (t *tx) Reservations(ctx context.Context) ([]registry.Reservation, error) {
	rows, err := t.q.query(ctx, reservationSelect+` ORDER BY v.family, v.first`)
	return collect(rows, err, rowscan.Reservation)
}

func (t *tx) ReservationsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]registry.Reservation, error) {
	fam, first, last, _ := span(p)
	// Reservations of a space never overlap: those starting inside p, and
	// the one starting last before it.
	rows, err := t.q.query(ctx, reservationSelect+` WHERE v.id IN (
		SELECT id FROM reservations WHERE space = ?4 AND family = ?1 AND first >= ?2 AND first <= ?3
		UNION ALL
		SELECT id FROM (SELECT id FROM reservations WHERE space = ?4 AND family = ?1 AND first < ?2 ORDER BY first DESC LIMIT 1)
	) AND v.last >= ?2 ORDER BY v.first`, fam, first, last, space)
	return collect(rows, err, rowscan.Reservation)
}

func (t *tx) FreeWithin(ctx context.Context, poolID int64, p netip.Prefix) ([]registry.FreePrefix, error) {
	_, first, last, _ := span(p)
	// A pool's free prefixes never overlap: the one starting last at or
	// before p may hold it; the others overlapping it start inside it.
	if err := t.settleFront(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.query(ctx, freeWithinSQL, poolID, first, last)
	all, err := collect(rows, err, rowscan.Free)
	if err != nil {
		return nil, err
	}
	// And the frontier's prefixes (frontier.go), which have no rows.
	fr, ok, err := t.frontierOf(ctx, poolID)
	if err != nil {
		return nil, err
	}
	if ok {
		for _, q := range fr.prefixes() {
			all = append(all, fr.free(q))
		}
	}
	return rowscan.Overlapping(all, p), nil
}
