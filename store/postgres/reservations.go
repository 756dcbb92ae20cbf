package postgres

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// ---- reservations (registry.ReservationTx)

const reservationSelect = `SELECT v.id, v.prefix::text, v.pool_id, p.prefix::text, g.name, v.reason, v.until, v.created_at, v.space
	FROM reservations v JOIN pools p ON p.id = v.pool_id JOIN regions g ON g.id = p.region_id`

func (t *tx) InsertReservation(ctx context.Context, v *registry.Reservation) error {
	fam, first, last, bits := span(v.Prefix)
	return mapErr(t.row(ctx, `INSERT INTO reservations (prefix, family, first, last, bits, pool_id, reason, until, created_at, space)
		VALUES ($1::cidr, $2, $3, $4, $5, $6, $7, $8, $9, (SELECT space FROM pools WHERE id = $6)) RETURNING id, space`,
		v.Prefix.String(), fam, first, last, bits, v.PoolID, v.Reason, optMicros(v.Until), micros(v.CreatedAt)).Scan(&v.ID, &v.Space))
}

func (t *tx) DeleteReservation(ctx context.Context, id int64) error {
	tag, err := t.exec(ctx, `DELETE FROM reservations WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("reservation %d: %w", id, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) Reservations(ctx context.Context) ([]registry.Reservation, error) {
	rows, err := t.query(ctx, reservationSelect+` ORDER BY v.family, v.first`)
	return collect(rows, err, rowscan.Reservation)
}

func (t *tx) ReservationsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]registry.Reservation, error) {
	rows, err := t.query(ctx, reservationSelect+` WHERE v.prefix && $1::cidr AND v.space = $2 ORDER BY v.first`, p.String(), space)
	return collect(rows, err, rowscan.Reservation)
}

func (t *tx) FreeWithin(ctx context.Context, poolID int64, p netip.Prefix) ([]registry.FreePrefix, error) {
	_, first, last, _ := span(p)
	// A pool's free prefixes never overlap: the one starting last at or
	// before p may hold it; the others overlapping it start inside it.
	rows, err := t.query(ctx, freeWithinSQL, poolID, first, last)
	all, err := collect(rows, err, rowscan.Free)
	return rowscan.Overlapping(all, p), err
}
