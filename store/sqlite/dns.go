package sqlite

import (
	"context"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/dnssql"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// The DNS store's statements are dnssql's, shared with PostgreSQL; this
// file binds them to SQLite: ? placeholders as written, an insert's id
// from LastInsertId.
var _ zone.Store = (*Store)(nil)

// dnsTx is a tx as the DNS statements use it.
type dnsTx struct{ *tx }

func (x dnsTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := x.q.exec(ctx, q, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (x dnsTx) Insert(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := x.q.exec(ctx, q, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return res.LastInsertId()
}

func (x dnsTx) Query(ctx context.Context, q string, args []any, each func(rowscan.Scanner) error) error {
	rows, err := x.q.query(ctx, q, args...)
	_, err = collect(rows, err, func(r rowscan.Scanner) (struct{}, error) { return struct{}{}, each(r) })
	return err
}

// newDNS gives s its DNS store (the embedded dnssql.DNS).
func newDNS(s *Store) dnssql.DNS {
	return dnssql.New(s, func(rt registry.Tx) dnssql.Tx { return dnsTx{rt.(*tx)} }, nil)
}
