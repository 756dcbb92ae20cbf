package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// The writer's most frequent statements outside the fold run on the
// driver's own prepared statements, as the fold does (fold.go): through
// database/sql each would copy its arguments into a new slice, check each
// (by reflection for an int), wrap the result and, for a query, build a
// sql.Rows and scan through its conversions (issue 16: one caller's
// durable allocation; bench/README.md, "Session 16 ... sqlitedurable4").
// They are the transaction's control (every write transaction runs BEGIN
// IMMEDIATE, PRAGMA data_version and COMMIT; a batch of callers a
// SAVEPOINT and a RELEASE each) and the split's rest going back to the
// free table (AddFree, AddFrees: ~0.6 statements a single allocation).
// The statement text, its bindings and what SQLite does are the same;
// only the Go path to the driver is shorter. Arguments of a type other
// than the driver's own (and int, which database/sql turns into int64),
// or a statement the driver cannot prepare, go through database/sql as
// before.
var rawTexts = func() map[string]bool {
	m := map[string]bool{
		"BEGIN IMMEDIATE": true, "COMMIT": true, "SAVEPOINT job": true, "RELEASE job": true,
		dataVersionSQL: true, addFreeSQL: true,
	}
	for _, q := range addFrees {
		m[q] = true
	}
	return m
}()

const dataVersionSQL = `PRAGMA data_version`

// rawStmts are the writer's driver statements, prepared on first use and
// closed with its connection.
type rawStmts struct {
	stmts map[string]driver.Stmt // nil: the driver could not prepare it
	args  []driver.NamedValue    // kept for the next statement
	dest  [1]driver.Value        // data_version's column
}

// raw is q's driver statement, nil if q is not one of rawTexts or the
// driver has none.
func (w *wtx) raw(ctx context.Context, q string) driver.Stmt {
	if w.rows == nil || !rawTexts[q] {
		return nil
	}
	r := &w.rows.raw
	if st, ok := r.stmts[q]; ok {
		return st
	}
	if r.stmts == nil {
		r.stmts = make(map[string]driver.Stmt, len(rawTexts))
	}
	var st driver.Stmt
	err := w.conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("the driver prepares no statement with a context")
		}
		s, err := p.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		_, okx := s.(driver.StmtExecContext)
		_, okq := s.(driver.StmtQueryContext)
		if !okx || !okq {
			s.Close()
			return errors.New("the driver's statement runs with no context")
		}
		st = s
		return nil
	})
	if err != nil {
		st = nil // database/sql's path from now on
	}
	r.stmts[q] = st
	return st
}

// rawArgs turns args into the driver's values, as database/sql's default
// converter would for these types; false for any other type.
func (r *rawStmts) rawArgs(args []any) bool {
	r.args = r.args[:0]
	for i, v := range args {
		switch x := v.(type) {
		case int:
			v = int64(x)
		case nil, int64, float64, bool, string, []byte:
		default:
			clear(r.args)
			return false
		}
		r.args = append(r.args, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	return true
}

// execRaw runs st with args; false when args hold a type the driver's
// statement is not given directly (the caller goes through database/sql).
func (w *wtx) execRaw(ctx context.Context, st driver.Stmt, args []any) (sql.Result, bool, error) {
	r := &w.rows.raw
	if !r.rawArgs(args) {
		return nil, false, nil
	}
	defer clear(r.args) // nothing kept alive until the next statement
	var res driver.Result
	err := w.conn.Raw(func(any) error {
		var err error
		res, err = st.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), r.args)
		return err
	})
	if err != nil {
		return nil, true, err
	}
	return res, true, nil
}

// dataVersion reads PRAGMA data_version at the start of a write
// transaction (rowCache.begin).
func (w *wtx) dataVersion(ctx context.Context) (int64, error) {
	w.rows.written(dataVersionSQL)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	st := w.raw(ctx, dataVersionSQL)
	if st == nil {
		rows, err := w.queryNow(ctx, dataVersionSQL)
		return one(rows, err, func(rows rowscan.Scanner) (int64, error) {
			var v int64
			return v, rows.Scan(&v)
		})
	}
	r := &w.rows.raw
	var v int64
	err := w.conn.Raw(func(any) error {
		rows, err := st.(driver.StmtQueryContext).QueryContext(context.WithoutCancel(ctx), nil)
		if err != nil {
			return err
		}
		err = rows.Next(r.dest[:])
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		n, ok := r.dest[0].(int64)
		if !ok {
			return errors.New("PRAGMA data_version: not an integer")
		}
		v = n
		return nil
	})
	r.dest[0] = nil
	return v, err
}

// close closes the driver statements (the writer's connection ends).
func (r *rawStmts) close(conn *sql.Conn) {
	if len(r.stmts) == 0 {
		return
	}
	conn.Raw(func(any) error {
		for q, st := range r.stmts {
			if st != nil {
				st.Close()
			}
			delete(r.stmts, q)
		}
		return nil
	})
}
