package postgres

import (
	"context"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/dnssql"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// The DNS store's statements are dnssql's, shared with SQLite; this file
// binds them to PostgreSQL: $n placeholders, an insert's id from
// RETURNING id.

// newDNS gives s its DNS store (the embedded dnssql.DNS).
func newDNS(s *Store) dnssql.DNS {
	return dnssql.New(s, func(rt registry.Tx) dnssql.Tx { return dnsTx{rt.(*tx)} }, dnssql.Dollars)
}

// dnsTx is a tx as the DNS statements use it.
type dnsTx struct{ *tx }

var _ zone.Store = (*Store)(nil)

func (x dnsTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := x.exec(ctx, q, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

func (x dnsTx) Insert(ctx context.Context, q string, args ...any) (id int64, err error) {
	if err := x.row(ctx, q+" RETURNING id", args...).Scan(&id); err != nil {
		return 0, mapErr(err)
	}
	return id, nil
}

func (x dnsTx) Query(ctx context.Context, q string, args []any, each func(rowscan.Scanner) error) error {
	rows, err := x.query(ctx, q, args...)
	_, err = collect(rows, err, func(r rowscan.Scanner) (struct{}, error) { return struct{}{}, each(r) })
	return err
}
