package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// An import (registry.Load) writes a million assignments and as many
// events: one INSERT each is two million round trips, hours at ten
// million. Here they go with COPY, their IDs reserved first from the
// tables' own sequences, so that each row's ID is set as InsertAssignment
// and AppendEvent would set it, in order.

var (
	_ registry.BulkLoader  = (*tx)(nil)
	_ registry.EventLoader = (*tx)(nil)
)

// LoadAssignments implements registry.BulkLoader.
func (t *tx) LoadAssignments(ctx context.Context, as []registry.Assignment) error {
	if len(as) == 0 {
		return nil
	}
	ids, err := t.reserve(ctx, "assignments_id_seq", len(as))
	if err != nil {
		return err
	}
	// COPY takes no subquery: an assignment's space, its pool's, is read
	// here (assignments_pool_space_fk checks it).
	spaces, err := t.poolSpaces(ctx, as)
	if err != nil {
		return err
	}
	rows := make([][]any, len(as))
	for i := range as {
		a := &as[i]
		a.ID = ids[i]
		a.Space = spaces[a.PoolID]
		fam, first, last, bits := span(a.Prefix)
		rows[i] = []any{a.ID, a.PoolID, a.Prefix, fam, first, last, bits, string(a.State), a.Tenant, a.Resource, a.Name,
			micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), a.Space}
	}
	if err := t.copy(ctx, "assignments", []string{"id", "pool_id", "prefix", "family", "first", "last", "bits", "state", "tenant", "resource", "name",
		"created_at", "released_at", "quarantine_until", "space"}, rows); err != nil {
		return err
	}
	t.countInserted(as...)
	return nil
}

// poolSpaces maps the pools of as to their spaces.
func (t *tx) poolSpaces(ctx context.Context, as []registry.Assignment) (map[int64]string, error) {
	ids := make([]int64, 0, 4)
	for _, a := range as {
		if !slices.Contains(ids, a.PoolID) {
			ids = append(ids, a.PoolID)
		}
	}
	rows, err := t.query(ctx, `SELECT id, space FROM pools WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, mapErr(err)
	}
	out := make(map[int64]string, len(ids))
	var id int64
	var space string
	if _, err := pgx.ForEachRow(rows, []any{&id, &space}, func() error {
		out[id] = space
		return nil
	}); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// LoadEvents implements registry.EventLoader.
func (t *tx) LoadEvents(ctx context.Context, es []registry.Event) error {
	if len(es) == 0 {
		return nil
	}
	seqs, err := t.reserve(ctx, "events_seq_seq", len(es))
	if err != nil {
		return err
	}
	rows := make([][]any, len(es))
	for i := range es {
		e := &es[i]
		e.Seq = seqs[i]
		rows[i] = []any{e.Seq, micros(e.At), e.Actor, e.Action, e.SubjectKind, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e)}
	}
	return t.copy(ctx, "events", []string{"seq", "at", "actor", "action", "subject_kind", "subject_id", "subject", "before", "after"}, rows)
}

// reserve takes n values of the sequence seq, in increasing order.
func (t *tx) reserve(ctx context.Context, seq string, n int) ([]int64, error) {
	rows, err := t.query(ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, seq, n)
	if err != nil {
		return nil, mapErr(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, mapErr(err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("sequence %s: %d values for %d rows", seq, len(ids), n)
	}
	slices.Sort(ids)
	return ids, nil
}

// copy sends rows into table with COPY. Statements before it go out
// first (exec), and a large COPY may take longer than a write's statement
// bound (Options.StatementTimeout), which is back after it.
func (t *tx) copy(ctx context.Context, table string, cols []string, rows [][]any) error {
	if _, err := t.exec(ctx, `SELECT set_config('statement_timeout', '0', true)`); err != nil {
		return err
	}
	cctx, err := t.bctx(ctx)
	if err != nil {
		return err
	}
	if _, err := t.raw.CopyFrom(cctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("%s: %w", table, mapErr(err))
	}
	timeout := DefaultStatementTimeout.String()
	if t.s != nil {
		timeout = t.s.statementTimeout
	}
	_, err = t.exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, timeout)
	return err
}

var _ registry.LiveLister = (*tx)(nil)

// LivePrefixes implements registry.LiveLister: a range of the partial
// index of live assignments (assignments_live_first), in address order.
func (t *tx) LivePrefixes(ctx context.Context, poolID int64, within netip.Prefix, from netip.Addr, limit int) ([]netip.Prefix, error) {
	fam, _, last, _ := span(within)
	rows, err := t.query(ctx, `SELECT prefix::text FROM assignments
		WHERE family = $1 AND first >= $2 AND first <= $3 AND state <> 'released' AND pool_id = $4 ORDER BY family, first LIMIT $5`,
		fam, addrBytes(from), last, poolID, limit)
	return collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var s string
		if err := rows.Scan(&s); err != nil {
			return netip.Prefix{}, err
		}
		return parsePrefix(s)
	})
}
