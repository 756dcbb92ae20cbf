package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	// An assignment's space is its pool's (00078); the pool is read here
	// (the trigger assignments_pool checks it, 00086) with its region,
	// whose lock every writer of the pool's assignments holds while it
	// checks and writes one (the overlap rule, 00074).
	spaces, regions, err := t.poolSpaces(ctx, as)
	if err != nil {
		return err
	}
	for _, id := range regions {
		if err := t.lockRegion(ctx, id); err != nil {
			return err
		}
	}
	rows := make([][]any, len(as))
	for i := range as {
		a := &as[i]
		a.ID = ids[i]
		a.Space = spaces[a.PoolID]
		// family and bits are the prefix's (00064).
		rows[i] = []any{a.ID, a.PoolID, micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil),
			a.Prefix, string(a.State), a.Tenant, a.Resource, a.Name}
	}
	if err := t.copy(ctx, "assignments", []string{"id", "pool_id", "created_at", "released_at", "quarantine_until",
		"prefix", "state", "tenant", "resource", "name"}, rows); err != nil {
		return err
	}
	if len(t.deferred) == 0 {
		// Into a register with assignments (an empty one's are checked
		// all at once by RestoreIndexes): the overlap rule, for the rows
		// just copied.
		if err := t.checkLoaded(ctx, as); err != nil {
			return err
		}
	}
	t.countInserted(as...)
	return nil
}

// checkLoaded refuses the load if a live row of as overlaps another live
// row of its space (overlapCheck's neighbours: the first live row within
// it, the one before it). If two rows overlap, two neighbours do, one of
// which is loaded: the rows there before did not overlap.
func (t *tx) checkLoaded(ctx context.Context, as []registry.Assignment) error {
	ids := make([]int64, 0, len(as))
	for _, a := range as {
		if a.State != registry.StateReleased {
			ids = append(ids, a.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return t.overlapErr(t.row(ctx, `SELECT a.id, a.prefix::text, o.id, o.prefix::text FROM assignments a CROSS JOIN LATERAL (
		(SELECT o.id, o.prefix FROM assignments o WHERE o.prefix >= a.prefix
			AND o.prefix <= set_masklen(broadcast(a.prefix), CASE family(a.prefix) WHEN 4 THEN 32 ELSE 128 END)::cidr
			AND o.id <> a.id AND o.state <> 'released' AND `+sameSpace("o.pool_id", "a.pool_id")+` LIMIT 1)
		UNION ALL (SELECT n.id, n.prefix FROM (SELECT o.id, o.prefix FROM assignments o WHERE o.prefix < a.prefix AND o.state <> 'released' AND `+sameSpace("o.pool_id", "a.pool_id")+`
			ORDER BY o.prefix DESC LIMIT 1) n WHERE n.prefix >> a.prefix)) o
		WHERE a.id = ANY($1) LIMIT 1`, ids))
}

// poolSpaces maps the pools of as to their spaces, and lists their
// regions in ID order.
func (t *tx) poolSpaces(ctx context.Context, as []registry.Assignment) (map[int64]string, []int64, error) {
	ids := make([]int64, 0, 4)
	for _, a := range as {
		if !slices.Contains(ids, a.PoolID) {
			ids = append(ids, a.PoolID)
		}
	}
	rows, err := t.query(ctx, `SELECT id, space, region_id FROM pools WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	out := make(map[int64]string, len(ids))
	var regions []int64
	var id, region int64
	var space string
	if _, err := pgx.ForEachRow(rows, []any{&id, &space, &region}, func() error {
		out[id] = space
		regions = append(regions, region)
		return nil
	}); err != nil {
		return nil, nil, mapErr(err)
	}
	slices.Sort(regions)
	return out, slices.Compact(regions), nil
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
	t.forget()
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

// LivePrefixes implements registry.LiveLister: a range of the index of
// prefixes (assignments_prefix), in address order, the released rows
// skipped on the table (about one in sixteen; an index of the live ones
// alone cost 31 bytes an assignment).
//
// The range is read in index order and stops at limit rows: the planner,
// which cannot tell that the pool's rows are its range's (it estimated
// 1,369 rows of a pool's 45,000 at 1M), chose a bitmap scan of the rest
// of the pool and a sort, for each page: at 10M, 0.9-2.0 s a page of a
// pool of 458,000 rows against 21 ms, and, a page at a time, the square
// of a pool's rows. Bitmap scans and sorts are off for this statement
// (SET LOCAL, then as they were), and so is JIT compilation: the index
// scan's high cost estimate set it off, 224 ms a page with it.
func (t *tx) LivePrefixes(ctx context.Context, poolID int64, within netip.Prefix, from netip.Addr, limit int) ([]netip.Prefix, error) {
	_, hi := withinRange(within)
	var bitmap, sort, jit string
	if err := t.row(ctx, `SELECT current_setting('enable_bitmapscan'), current_setting('enable_sort'), current_setting('jit'),
		set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true), set_config('jit', 'off', true)`).Scan(&bitmap, &sort, &jit, nil, nil, nil); err != nil {
		return nil, mapErr(err)
	}
	// ORDER BY a.prefix: the cidr, not the output column of its text.
	rows, err := t.query(ctx, `SELECT a.prefix::text FROM assignments a
		WHERE a.prefix >= $1::cidr AND a.prefix <= $2::cidr AND a.state <> 'released' AND a.pool_id = $3 ORDER BY a.prefix LIMIT $4`,
		fromValue(from), hi, poolID, limit)
	ps, err := collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var s string
		if err := rows.Scan(&s); err != nil {
			return netip.Prefix{}, err
		}
		return parsePrefix(s)
	})
	if err != nil {
		return nil, err
	}
	if _, err := t.exec(ctx, `SELECT set_config('enable_bitmapscan', $1, true), set_config('enable_sort', $2, true), set_config('jit', $3, true)`, bitmap, sort, jit); err != nil {
		return nil, err
	}
	return ps, nil
}

var _ registry.IndexDeferrer = (*tx)(nil)

// deferredObject is an index or a constraint of the assignments table
// that DeferIndexes dropped: its name and the statement that builds it.
type deferredObject struct {
	name, build string
	// exclusion marks a constraint whose rule RestoreIndexes checks
	// itself first (no two live assignments overlap), to name both rows.
	exclusion bool
	// poolRule marks the trigger assignments_pool (00086), disabled for
	// the load: RestoreIndexes checks its rule for every row at once
	// (firstOutsidePool) before it enables it again.
	poolRule bool
}

// poolTrigger is the trigger that checks each assignment's pool as it is
// written (00086): its rule for the rows of a load is firstOutsidePool.
const poolTrigger = "assignments_pool"

// DeferIndexes implements registry.IndexDeferrer. An import into an empty
// register writes millions of rows; each row inserted one by one into a
// dozen B-trees and an SP-GiST exclusion index, and checked against its
// pool by a trigger, costs the server ~70-100 µs, where a sort-based
// build of each index at the end costs a few. What is dropped is read
// from the catalog (every index but the primary key, the exclusion and
// foreign key constraints; the pool's trigger is disabled), so that what
// is built again is what the migrations made, whatever they add later.
// DDL is part of the transaction: a rollback (a failed import) leaves the
// table, its indexes and constraints as they were.
//
// The table is locked (ACCESS EXCLUSIVE, as DROP INDEX would) before it
// is found empty, so that no other transaction adds a row meanwhile; it
// stays locked to the end of the import: other connections' reads of
// assignments wait for it (or reach their statement_timeout) until the
// import commits or fails.
func (t *tx) DeferIndexes(ctx context.Context) (bool, error) {
	// NOWAIT: a load never waits behind other connections' reads (nor
	// fails on lock_timeout); if one holds the table, the rows go into
	// the indexes one by one, as into a register with assignments.
	if _, err := t.exec(ctx, `SAVEPOINT cadastre_defer`); err != nil {
		return false, err
	}
	// Straight to the connection, as copy does (the SAVEPOINT sent what
	// was pending): the lock's failure is told from others by its code.
	cctx, err := t.bctx(ctx)
	if err != nil {
		return false, err
	}
	if _, err := t.raw.Exec(cctx, `LOCK TABLE assignments IN ACCESS EXCLUSIVE MODE NOWAIT`); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55P03" {
			_, err := t.exec(ctx, `ROLLBACK TO SAVEPOINT cadastre_defer`)
			return false, err
		}
		return false, fmt.Errorf("lock assignments: %w", mapErr(err))
	}
	// A row committed since the loader looked: the lock goes with the
	// savepoint, and the load goes row by row.
	var some bool
	if err := t.row(ctx, `SELECT EXISTS (SELECT 1 FROM assignments)`).Scan(&some); err != nil {
		return false, mapErr(err)
	}
	release := `RELEASE SAVEPOINT cadastre_defer`
	if some {
		release = `ROLLBACK TO SAVEPOINT cadastre_defer`
	}
	if _, err := t.exec(ctx, release); err != nil || some {
		return false, err
	}
	rows, err := t.query(ctx, `SELECT c.conname, c.contype = 'x',
			format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid))
		FROM pg_constraint c WHERE c.conrelid = 'assignments'::regclass AND c.contype IN ('x', 'f')
		UNION ALL
		SELECT ic.relname, false, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid = 'assignments'::regclass AND NOT i.indisprimary
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x'))
		ORDER BY 2, 1`)
	objs, err := collect(rows, err, func(rows rowscan.Scanner) (deferredObject, error) {
		var o deferredObject
		return o, rows.Scan(&o.name, &o.exclusion, &o.build)
	})
	if err != nil {
		return false, fmt.Errorf("defer indexes: %w", err)
	}
	for _, o := range objs {
		drop := `DROP INDEX ` + pgx.Identifier{o.name}.Sanitize()
		if strings.HasPrefix(o.build, "ALTER TABLE") {
			drop = `ALTER TABLE assignments DROP CONSTRAINT ` + pgx.Identifier{o.name}.Sanitize()
		}
		if _, err := t.exec(ctx, drop); err != nil {
			return false, fmt.Errorf("defer %s: %w", o.name, err)
		}
		t.deferred = append(t.deferred, o)
	}
	// The pool rule (00086), a trigger, would look up each row's pool as
	// it is copied. Disabled, and checked for every row at once at the
	// end, as building the foreign key it replaced did (ALTER TABLE's
	// lock is the one already held).
	if _, err := t.exec(ctx, `ALTER TABLE assignments DISABLE TRIGGER `+poolTrigger); err != nil {
		return false, fmt.Errorf("defer %s: %w", poolTrigger, mapErr(err))
	}
	t.deferred = append(t.deferred, deferredObject{name: poolTrigger, build: `ALTER TABLE assignments ENABLE TRIGGER ` + poolTrigger, poolRule: true})
	return true, nil
}

// restoreMemory is the memory each index build of RestoreIndexes may sort
// in (maintenance_work_mem), and the overlap query's sort (work_mem): a
// sort that fits is one pass instead of merges through temporary files.
// 10,000,000 rows of (prefix) are ~300 MB; a build that needs more
// spills, and is not wrong.
const restoreMemory = "512MB"

// RestoreIndexes implements registry.IndexDeferrer: the indexes and
// constraints dropped are built again, the exclusion constraints (no two
// live assignments of a space overlap) last, in a savepoint. Building one
// checks every row against the others (a look-up in the new index each);
// if one overlaps, the savepoint is rolled back and a query names the
// two: every live row against the one before it in address order (of
// prefixes, one that overlaps another holds it: if any two overlap, two
// neighbours do). The query costs a sort of the live rows, paid only when
// the import is refused.
func (t *tx) RestoreIndexes(ctx context.Context) error {
	if len(t.deferred) == 0 {
		return nil
	}
	// Index builds of millions of rows take longer than a write's
	// statement bound: unbounded until the end of the import's
	// transaction (set_config(..., true) is SET LOCAL).
	var mwm, wm string
	if err := t.row(ctx, `SELECT current_setting('maintenance_work_mem'), current_setting('work_mem')`).Scan(&mwm, &wm); err != nil {
		return mapErr(err)
	}
	if _, err := t.exec(ctx, `SELECT set_config('statement_timeout', '0', true), set_config('maintenance_work_mem', $1, true), set_config('work_mem', $1, true)`, restoreMemory); err != nil {
		return err
	}
	saved := false
	for _, o := range t.deferred {
		if o.poolRule {
			if err := t.firstOutsidePool(ctx); err != nil {
				return err
			}
		}
		if o.exclusion && !saved {
			if _, err := t.exec(ctx, `SAVEPOINT cadastre_restore`); err != nil {
				return err
			}
			saved = true
		}
		_, err := t.exec(ctx, o.build)
		if err != nil && o.exclusion && errors.Is(err, registry.ErrOverlap) {
			if _, rerr := t.exec(ctx, `ROLLBACK TO SAVEPOINT cadastre_restore`); rerr != nil {
				return errors.Join(err, rerr)
			}
			x, ok, qerr := t.firstOverlap(ctx)
			if qerr != nil {
				return qerr
			}
			if ok {
				return x
			}
		}
		if err != nil {
			return fmt.Errorf("build again %s: %w", o.name, err)
		}
	}
	if saved {
		if _, err := t.exec(ctx, `RELEASE SAVEPOINT cadastre_restore`); err != nil {
			return err
		}
	} else {
		// No exclusion constraint (00074): the overlap rule, for every
		// live row at once.
		x, ok, err := t.firstOverlap(ctx)
		if err != nil {
			return err
		}
		if ok {
			return x
		}
	}
	// The planner's statistics of what was loaded: a register loaded at
	// once was never analysed (autovacuum's analyse comes later, and never
	// to a copy made with createdb -T, whose counters start at zero), and
	// without them every equality is taken to hold 0.5 % of the rows, so
	// a page by name, resource or tenant walked the primary key through
	// all ten million assignments for its ORDER BY id LIMIT (10 s a page).
	// A sample of 30,000 rows: seconds at ten million. Every table of the
	// register, not the loaded ones alone: with statistics of assignments
	// beside none of pool_counts (taken for one row) the overview's counts
	// became a nested loop that ran for minutes.
	if err := t.storeCounts(ctx); err != nil { // the pools' counts of the load, analysed too
		return err
	}
	if _, err := t.exec(ctx, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
			EXECUTE format('ANALYZE %I', r.tablename);
		END LOOP; END $$`); err != nil {
		return fmt.Errorf("statistics of the loaded assignments: %w", mapErr(err))
	}
	t.deferred = nil
	timeout := DefaultStatementTimeout.String()
	if t.s != nil {
		timeout = t.s.statementTimeout
	}
	_, err := t.exec(ctx, `SELECT set_config('statement_timeout', $1, true), set_config('maintenance_work_mem', $2, true), set_config('work_mem', $3, true)`, timeout, mwm, wm)
	return err
}

// firstOutsidePool is the rule of the trigger assignments_pool (00086)
// for every row at once: each assignment's pool exists and holds its
// prefix (the row's space is its pool's, 00078). One pass over the table joined to the pools by
// hash, as building the foreign key it replaced was (1.7 s at ten
// million, against 4.1-6.4 s for the constraint); an error names the
// first row that breaks it. min(), not LIMIT 1: the planner takes most
// rows to fail the containment (a default selectivity) and, to stop at
// the first, chose a look-up of the pool per row (17.5 s).
func (t *tx) firstOutsidePool(ctx context.Context) error {
	var id *int64
	if err := t.row(ctx, `SELECT min(a.id) FROM assignments a
		WHERE NOT EXISTS (SELECT FROM pools p WHERE p.id = a.pool_id AND p.prefix >>= a.prefix)`).Scan(&id); err != nil {
		return fmt.Errorf("check the assignments' pools: %w", mapErr(err))
	}
	if id == nil {
		return nil
	}
	var p string
	var pool int64
	if err := t.row(ctx, `SELECT prefix::text, pool_id FROM assignments WHERE id = $1`, *id).Scan(&p, &pool); err != nil {
		return fmt.Errorf("check the assignments' pools: %w", mapErr(err))
	}
	return fmt.Errorf("assignment %d (%s): pool %d is missing or does not hold it: %w", *id, p, pool, registry.ErrState)
}

// firstOverlap finds two live assignments of a space that overlap: the
// first in address order and the one before it.
func (t *tx) firstOverlap(ctx context.Context) (*registry.AssignmentOverlap, bool, error) {
	err := t.overlapErr(t.row(ctx, `SELECT id, prefix::text, pid, pprefix::text FROM (
		SELECT a.id, a.prefix, LAG(a.id) OVER w AS pid, LAG(a.prefix) OVER w AS pprefix FROM assignments a JOIN pools p ON p.id = a.pool_id
		WHERE a.state <> 'released' WINDOW w AS (PARTITION BY p.space ORDER BY a.prefix, a.id)) s WHERE pprefix >>= prefix LIMIT 1`))
	var x *registry.AssignmentOverlap
	if errors.As(err, &x) {
		return x, true, nil
	}
	return nil, false, err
}

// overlapErr reads a row of two overlapping assignments (ID and prefix
// of each) as the error that names them; no row is no error.
func (t *tx) overlapErr(row pgx.Row) error {
	var x registry.AssignmentOverlap
	var p, other string
	err := row.Scan(&x.ID, &p, &x.OtherID, &other)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check overlaps: %w", mapErr(err))
	}
	var err1, err2 error
	x.Prefix, err1 = parsePrefix(p)
	x.Other, err2 = parsePrefix(other)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return &x
}
