package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"

	"github.com/cadastre-ipam/cadastre/prefix"
	_ "github.com/cadastre-ipam/cadastre/store/sqlite" // cadastre_prefix: an assignment's prefix (00033)
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the embedded store uses
)

// rowScanner is what both pgx.Rows and *sql.Rows offer.
type rowScanner interface {
	Next() bool
	Scan(...any) error
	Err() error
}

type queryFunc func(ctx context.Context, q string) (rowScanner, func(), error)

// readState reads assignments, pools, the free list and the idempotency
// records with the same queries on either store; prefixText is how the
// store turns a prefix column into text.
func readState(ctx context.Context, query queryFunc, prefixText func(string) string, assignmentPrefix string) (*dbState, error) {
	st := &dbState{assignments: map[int64]dbAssignment{}, overlaps: -1}
	each := func(q string, fn func(rowScanner) error) error {
		rows, done, err := query(ctx, q)
		if err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		defer done()
		for rows.Next() {
			if err := fn(rows); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return rows.Err()
	}
	err := each(`SELECT id, `+assignmentPrefix+`, state, pool_id FROM assignments`, func(r rowScanner) error {
		var id, pool int64
		var p, state string
		if err := r.Scan(&id, &p, &state, &pool); err != nil {
			return err
		}
		pp, err := netip.ParsePrefix(p)
		st.assignments[id] = dbAssignment{prefix: pp, state: state, pool: pool}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT id, `+prefixText("prefix")+`, CASE WHEN relocation_id IS NULL THEN 0 ELSE 1 END FROM pools`, func(r rowScanner) error {
		var id, rel int64
		var p string
		if err := r.Scan(&id, &p, &rel); err != nil {
			return err
		}
		pp, err := netip.ParsePrefix(p)
		st.pools = append(st.pools, dbPool{id: id, prefix: pp, relocated: rel == 1})
		return err
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT pool_id, bits, addr FROM free`, func(r rowScanner) error {
		var pool, bits int64
		var addr []byte
		if err := r.Scan(&pool, &bits, &addr); err != nil {
			return err
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return fmt.Errorf("free address of %d bytes", len(addr))
		}
		st.free = append(st.free, dbFree{pool: pool, prefix: netip.PrefixFrom(a, int(bits))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = each(`SELECT COUNT(*) FROM idempotency`, func(r rowScanner) error { return r.Scan(&st.idempotency) })
	return st, err
}

// readPostgres reads the schema of dsn, and asks PostgreSQL itself
// whether any two live assignments overlap.
func readPostgres(ctx context.Context, dsn string) (*dbState, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	st, err := readState(ctx, func(ctx context.Context, q string) (rowScanner, func(), error) {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		return rows, rows.Close, nil
	}, func(col string) string { return col + "::text" }, "prefix::text")
	if err != nil {
		return nil, err
	}
	// Overlap is refused within a space (two VPCs may hold the same
	// prefixes); a row's space is its pool's (00078). Prefixes nest or are disjoint, so in address order any
	// overlap shows between neighbours (as for SQLite below): a self-join
	// on && over 35,000 private assignments, which no partial index
	// served, ran past the test's minute.
	err = conn.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT a.prefix, LAG(a.prefix) OVER (PARTITION BY p.space, family(a.prefix) ORDER BY a.prefix) AS prev
		FROM assignments a JOIN pools p ON p.id = a.pool_id WHERE a.state <> 'released') x WHERE prev >>= prefix`).Scan(&st.overlaps)
	return st, err
}

// readSQLite reads the file at path, read-only, while the server may still run.
func readSQLite(ctx context.Context, path string) (*dbState, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	st, err := readState(ctx, func(ctx context.Context, q string) (rowScanner, func(), error) {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	}, func(col string) string { return col }, "cadastre_prefix(first, bits)")
	if err != nil {
		return nil, err
	}
	// A pool's space above its frontier is a range, not rows
	// (store/sqlite/frontier.go): from one past the top row above the mark
	// (or the mark) to the pool's last address.
	rows, err := db.QueryContext(ctx, `SELECT m.pool_id, m.below, p.last,
		(SELECT a.last FROM assignments a WHERE a.space = p.space AND a.family = p.family AND a.first > m.below AND a.first <= p.last ORDER BY a.first DESC LIMIT 1)
		FROM pool_frontier m JOIN pools p ON p.id = m.pool_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pool int64
		var below, last, top []byte
		if err := rows.Scan(&pool, &below, &last, &top); err != nil {
			return nil, err
		}
		if top != nil {
			below = top
		}
		b, ok1 := netip.AddrFromSlice(below)
		l, ok2 := netip.AddrFromSlice(last)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("pool %d: frontier %x, last %x: not addresses", pool, below, last)
		}
		for _, p := range prefix.Range(b.Next(), l) {
			st.free = append(st.free, dbFree{pool: pool, prefix: p})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The same question the PostgreSQL check asks, on first/last bytes:
	// prefixes nest or are disjoint, so in address order any overlap shows
	// between neighbours.
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT first, LAG(last) OVER (PARTITION BY family ORDER BY first, last DESC) AS prev
		FROM assignments WHERE state <> 'released') WHERE prev >= first`).Scan(&st.overlaps)
	return st, err
}
