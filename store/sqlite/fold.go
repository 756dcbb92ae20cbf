package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// One allocation as one statement (issue 16: one caller's durable
// allocation is bound by the CPU of its statements; bench/README.md,
// "Session 10"). After DeferWrites (registry.WriteDeferrer) the writer
// holds back the three writes of a single allocation, each of whose
// results it already knows:
//   - TakeSmallestFree's DELETE, when the free list is cached (freecache.go):
//     the prefix is known without the table;
//   - InsertAssignment's INSERT, when the pool's space is cached (rowcache.go)
//     and the next assignment ID is known (rowCache.nextID: the largest ID
//     plus one, which is the ID SQLite gives an INTEGER PRIMARY KEY row);
//   - AppendEvent's INSERT of the allocation's event,
//
// and sends them as one INSERT into a TEMP view whose INSTEAD OF trigger
// runs the three (and the pool counters' upsert) in SQLite's VM: one
// database/sql round trip, one set of bindings and one statement's set-up
// instead of four; one statement, so all of it or nothing. The trigger
// deletes the free prefix by its key and aborts the whole statement
// unless it deleted exactly one row, so a prefix is handed out only if the
// free table held it (if not, the copy was wrong: the caller fails with
// registry.ErrConflict and the copy is dropped; no test has seen it but
// the one that spoils the copy on purpose); the assignment's own triggers
// (no overlap, its pool's space), its foreign keys and the explicit ID's
// primary key still check every row.
//
// Whatever else comes between (another statement, a read, the end of the
// caller's function) first sends what is held, as separate statements in
// the order the calls came: reads see every write made before them. A
// failure of a held write is returned by the call that sent it, or by
// Update, and fails the caller's transaction either way; it also drops
// the writer's caches, whose copy already counted the held writes.

// foldView and foldTrigger are created on the writer's connection once
// (TEMP: per connection, nothing is written to the file). The free
// prefix's pool and family are the assignment's (holdInsert checks). The
// pool's counters are not written: the row joins their tail (00059,
// counters.go), which their readers add up; the writer folds it into them
// every tailMax rows.
const foldView = `CREATE TEMP VIEW IF NOT EXISTS alloc_fold (
		f_region, f_bits, f_addr,
		id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space,
		e_at, e_actor, e_action, e_kind, e_subject_id, e_subject, e_before, e_after) AS
		SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`

// foldWrites ends both folds' triggers: the assignment's row and its event.
const foldWrites = `
		INSERT INTO assignments (pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (NEW.pool_id, NEW.family, NEW.first, COALESCE(NEW.last, NEW.first), NEW.bits, COALESCE(NEW.state, '` + foldState + `'),
			COALESCE(NEW.tenant, ''), COALESCE(NEW.resource, ''), COALESCE(NEW.name, ''), NEW.created_at, NEW.released_at, NEW.quarantine_until, NEW.space);
		INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		VALUES (NEW.e_at, NEW.e_actor, COALESCE(NEW.e_action, '` + foldAction + `'), COALESCE(NEW.e_kind, '` + foldKind + `'), NEW.e_subject_id, NEW.e_subject, NEW.e_before, NEW.e_after);
	END`

var foldTrigger = `CREATE TEMP TRIGGER IF NOT EXISTS alloc_fold INSTEAD OF INSERT ON alloc_fold
	BEGIN
		SELECT RAISE(FAIL, 'cadastre: ` + errFreeGone + `') WHERE NOT EXISTS (SELECT 1 FROM free
			WHERE region_id = NEW.f_region AND family = NEW.family AND bits = NEW.f_bits AND addr = COALESCE(NEW.f_addr, NEW.first) AND pool_id = NEW.pool_id);
		SELECT RAISE(FAIL, 'cadastre: ` + errIDNotNext + `') WHERE COALESCE((SELECT id FROM assignments ORDER BY id DESC), 0) <> NEW.id - 1;
		DELETE FROM free WHERE region_id = NEW.f_region AND family = NEW.family AND bits = NEW.f_bits AND addr = COALESCE(NEW.f_addr, NEW.first) AND pool_id = NEW.pool_id;
` + foldWrites

// frontView and frontTrigger fold a take of a pool's frontier prefix
// (frontier.go): nothing of free is read or written. The view has the
// fold's columns; its first and third say where the take stands: f_region
// is the ID of the run's top row (NULL when the run is empty) and f_addr
// the address before the take (F-1). The check proves, with the
// assignments' own overlap checks, what the free row's DELETE proves for
// a row: the mark B lies at or below F-1 (equal when the run is empty),
// and the top row is the pool's and ends at F-1. A take below the true
// frontier lands on a row of the run (its overlap check fails), one above
// it names a top row that is not there, one below the mark fails the mark.
const frontView = `CREATE TEMP VIEW IF NOT EXISTS alloc_front AS SELECT * FROM alloc_fold`

var frontTrigger = `CREATE TEMP TRIGGER IF NOT EXISTS alloc_front INSTEAD OF INSERT ON alloc_front
	BEGIN
		SELECT RAISE(FAIL, 'cadastre: ` + errNotFrontier + `') WHERE NOT EXISTS (SELECT 1 FROM pool_frontier WHERE pool_id = NEW.pool_id
				AND CASE WHEN NEW.f_region IS NULL THEN below = NEW.f_addr ELSE below <= NEW.f_addr END)
			OR (NEW.f_region IS NOT NULL AND NOT EXISTS (SELECT 1 FROM assignments WHERE id = NEW.f_region AND pool_id = NEW.pool_id AND last = NEW.f_addr));
		SELECT RAISE(FAIL, 'cadastre: ` + errIDNotNext + `') WHERE COALESCE((SELECT id FROM assignments ORDER BY id DESC), 0) <> NEW.id - 1;
` + foldWrites

const (
	// frontSQL is foldSQL for a frontier take.
	frontSQL = `INSERT OR FAIL INTO alloc_front VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// foldSQL is INSERT OR FAIL: with the trigger's RAISE(FAIL)s and
	// 00070's, nothing in the statement may abort, so SQLite opens no
	// statement journal for it (see "No statement journal" above).
	foldSQL = `INSERT OR FAIL INTO alloc_fold VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// insertWithID is InsertAssignment's INSERT with the ID it was given.
	insertWithID = `INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// insertAssignment is InsertAssignment's INSERT when the pool's space is cached.
	insertAssignment = `INSERT INTO assignments (pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertAssignmentReturning = `INSERT INTO assignments (pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, (SELECT space FROM pools WHERE id = ?1)) RETURNING id, space`
	maxIDSQL = `SELECT COALESCE(MAX(id), 0), (SELECT through FROM pool_counts_mark) FROM assignments`
)

// errFreeGone marks a held take whose prefix the free table no longer
// held; errIDNotNext a held insert whose ID is not the one the row gets
// (one more than the largest).
const (
	errFreeGone    = "the free prefix to take is gone"
	errIDNotNext   = "the assignment ID is not the next one"
	errNotFrontier = "the take is not at the frontier of its pool"
)

// idKept are the texts that insert assignments and keep rowCache.nextID in
// step; any other text that inserts or deletes assignments drops it.
var idKept = map[string]bool{insertWithID: true, insertAssignment: true, insertAssignmentReturning: true, foldSQL: true, frontSQL: true}

// setUpFold creates the views and their triggers on the writer's
// connection and prepares the fold's statements (a row's take, a
// frontier's) on the driver itself; without them (an error) the writer
// sends each write on its own.
func setUpFold(ctx context.Context, conn *sql.Conn) (fold, front driver.Stmt, ok bool) {
	for _, q := range []string{foldView, foldTrigger, frontView, frontTrigger} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, nil, false
		}
	}
	err := conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("the driver prepares no statement with a context")
		}
		prepare := func(q string) (driver.Stmt, error) {
			st, err := p.PrepareContext(ctx, q)
			if err != nil {
				return nil, err
			}
			if _, ok := st.(driver.StmtExecContext); !ok {
				st.Close()
				return nil, errors.New("the driver's statement runs with no context")
			}
			return st, nil
		}
		var err error
		if fold, err = prepare(foldSQL); err != nil {
			return err
		}
		if front, err = prepare(frontSQL); err != nil {
			fold.Close()
			fold = nil
			return err
		}
		return nil
	})
	return fold, front, err == nil
}

// foldArgs is the number of the folded statement's arguments.
const foldArgs = 25

// The texts the fold's trigger writes for a NULL: what a plain
// allocation's row and event hold. Each text argument the driver copies
// into C memory (a malloc, a copy and a free) and records for freeing;
// a NULL it binds as it is (~1.4k instructions an allocation for the
// three: bench/README.md, "Session 20: sqlitecpu"). The space is not
// one: a pool's is its block's, "global" or "private" as often.
const (
	foldState  = string(registry.StateAssigned)
	foldAction = "assignment.allocate"
	foldKind   = registry.KindAssignment
)

// execFold runs the folded statement on the driver's own statement, with
// values of the driver's types: database/sql would copy its arguments
// into a new slice, check each (by reflection for an int or a pointer)
// and wrap the result: ~1.3 KB of Go heap a single allocation
// (bench/README.md, "Session 15").
func (w *wtx) execFold(ctx context.Context, args *[foldArgs]any, front bool) error {
	st, q := w.rows.fold, foldSQL
	if front {
		st, q = w.rows.front, frontSQL
	}
	w.rows.written(q)
	if err := ctx.Err(); err != nil {
		return err
	}
	nv := &w.rows.foldArgs
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	defer clear(nv[:]) // nothing kept alive until the next allocation
	return w.conn.Raw(func(any) error {
		_, err := st.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), nv[:])
		return err
	})
}

// held is what the writer holds back of one allocation.
type held struct {
	take    registry.FreePrefix
	hasTake bool
	front   bool         // the take is of a frontier prefix: no free row
	p       netip.Prefix // the held insert's prefix
	ins     [14]any      // insertWithID's arguments
	hasIns  bool
	counted tailRow // what the inserted row adds to the counters' tail
}

// tailRow is what a row adds to the counters' tail (poolcount.Deltas.Inserted).
type tailRow struct {
	pool    int64
	bits    int
	state   registry.State
	created int64
}

func (h *held) active() bool { return h.hasTake || h.hasIns }

// DeferWrites implements registry.WriteDeferrer: until the caller's
// function returns, an allocation's take, insert and event may be held
// and sent as one statement.
func (t *tx) DeferWrites() {
	if w, ok := t.q.(*wtx); ok && w.rows != nil && w.rows.fold != nil {
		w.deferring = true
	}
}

// deferring reports whether t's writes may be held.
func (t *tx) deferring() (*wtx, bool) {
	w, ok := t.q.(*wtx)
	return w, ok && w.deferring
}

// holdTake holds the DELETE of f, just taken from the cached free list.
func (w *wtx) holdTake(f registry.FreePrefix) {
	w.held = held{take: f, hasTake: true}
	w.rows.free.removed(f)
}

// holdFront holds a take of f, a frontier prefix (frontier.go), which
// writes no free row: the fold checks it.
func (w *wtx) holdFront(f registry.FreePrefix) {
	w.held = held{take: f, hasTake: true, front: true}
}

// holdInsert holds a's INSERT behind a held take, with the next ID, when
// that ID and the pool's space are known; it reports whether it did.
func (w *wtx) holdInsert(ctx context.Context, a *registry.Assignment) (bool, error) {
	if !w.held.hasTake || w.held.hasIns || w.held.take.PoolID != a.PoolID || prefix.Family(w.held.take.Prefix) != prefix.Family(a.Prefix) {
		return false, nil
	}
	space, ok := w.rows.poolSpace(a.PoolID)
	if !ok {
		return false, nil
	}
	if w.rows.nextID == 0 {
		rows, err := w.queryNow(ctx, maxIDSQL)
		ids, err := one(rows, err, func(rows rowscan.Scanner) (ids [2]int64, err error) {
			return ids, rows.Scan(&ids[0], &ids[1])
		})
		if err != nil {
			return false, err
		}
		w.rows.loadedIDs(ids[0], ids[1])
	}
	a.ID, a.Space = w.rows.nextID, space
	w.rows.nextID++
	// Values of the driver's own types (int64, not int or *int64), which
	// it binds as they are; one slice for a single address's first and last.
	fam, first, last, bits := span(a.Prefix)
	if bytes.Equal(first, last) {
		last = first
	}
	w.held.ins = [14]any{a.ID, a.PoolID, int64(fam), first, last, int64(bits), string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicrosArg(a.ReleasedAt), optMicrosArg(a.QuarantineUntil), space}
	w.held.hasIns = true
	w.held.p = a.Prefix
	w.held.counted = tailRow{a.PoolID, bits, a.State, micros(a.CreatedAt)}
	return true, nil
}

// foldEvent sends the held take and insert with e's INSERT as one
// statement; it reports whether it did (nothing held: e goes on its own).
func (w *wtx) foldEvent(ctx context.Context, e *registry.Event) (bool, error) {
	if !w.held.hasTake || !w.held.hasIns {
		return false, nil
	}
	h := w.held
	w.held = held{}
	args := h.foldValues(e)
	if h.front {
		args[0], args[1], args[2] = nil, nil, addrBytes(h.take.Prefix.Addr().Prev())
		if w.front.prevID != 0 {
			args[0] = w.front.prevID
		}
	}
	if err := w.beforeTail(ctx); err != nil {
		return true, w.heldFailed(err)
	}
	if err := w.execFold(ctx, &args, h.front); err != nil {
		return true, w.heldFailed(err)
	}
	w.joinedHeld(&h)
	return true, nil
}

// foldValues are the folded statement's arguments for h and its event e.
func (h *held) foldValues(e *registry.Event) (args [foldArgs]any) {
	f := h.take
	args[0], args[1] = f.RegionID, int64(f.Prefix.Bits())
	copy(args[3:17], h.ins[:])
	// What the trigger can tell from other columns goes as NULL: the driver
	// copies each text and blob into C memory (a malloc, a copy and a free
	// a value), and most of a single allocation's are these. The take
	// starts at the assignment (a single take's does), a single address's
	// last is its first, and a plain allocation has no tenant, resource or
	// name.
	first := h.ins[3].([]byte)
	if f.Prefix.Addr() != a16(first) {
		args[2] = addrBytes(f.Prefix.Addr())
	}
	if last, ok := h.ins[4].([]byte); ok && len(last) > 0 && &last[0] == &first[0] {
		args[7] = nil
	}
	for i := 10; i <= 12; i++ { // tenant, resource, name
		if args[i] == "" {
			args[i] = nil
		}
	}
	args[17], args[18], args[21], args[22], args[23], args[24] = micros(e.At), e.Actor, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e)
	// So do the texts a plain allocation's row and event hold, which the
	// trigger writes for a NULL (foldState, foldAction, foldKind); the
	// event's are compared before they are put in an interface (each
	// string put in one is a Go allocation).
	if args[9] == foldState {
		args[9] = nil
	}
	if e.Action != foldAction {
		args[19] = e.Action
	}
	if e.SubjectKind != foldKind {
		args[20] = e.SubjectKind
	}
	return args
}

// flush sends what is held, each write on its own, in the order of the
// calls: before any other statement and at the end of the caller's function.
func (w *wtx) flush(ctx context.Context) error {
	h := w.held
	w.held = held{}
	if h.hasTake && !h.front {
		f := h.take
		res, err := w.execNow(ctx, removeFreeSQL, f.RegionID, prefix.Family(f.Prefix), f.Prefix.Bits(), addrBytes(f.Prefix.Addr()), f.PoolID)
		if err != nil {
			return w.heldFailed(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return w.heldFailed(errors.Join(err, errors.New(errFreeGone)))
		}
	}
	if h.hasIns {
		if err := w.beforeTail(ctx); err != nil {
			return w.heldFailed(err)
		}
		if _, err := w.execNow(ctx, insertWithID, h.ins[:]...); err != nil {
			return w.heldFailed(err)
		}
		w.joinedHeld(&h)
	}
	return nil
}

// joinedHeld is joinedTail for the held insert's row, which may join its
// pool's frontier run.
func (w *wtx) joinedHeld(h *held) {
	r := h.counted
	w.joinedTail(r.pool, r.bits, r.state, r.created)
	w.frontInserted(r.pool, h.ins[0].(int64), h.p)
}

// optMicrosArg is optMicros as a driver value: NULL or an int64.
func optMicrosArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// a16 is the address in b (addrBytes), the zero Addr if none.
func a16(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// heldFailed drops the writer's caches, which counted the held writes,
// and says what failed. A take whose prefix is gone is a conflict, as a
// concurrent writer's take is on the plain path (registry.removeFree).
//
// The caller's transaction fails whatever the caller does with the error
// (runBatch): the folded statement is INSERT OR FAIL, and a RAISE(FAIL)
// or a constraint that fails keeps what the statement wrote before it (the
// free row's DELETE, the assignment's row), which only the caller's
// rollback undoes.
func (w *wtx) heldFailed(err error) error {
	w.rows.reset()
	failed := fmt.Errorf("held allocation: %w", mapErr(err))
	for _, conflict := range []string{errFreeGone, errIDNotNext, errNotFrontier} {
		if strings.Contains(err.Error(), conflict) {
			failed = fmt.Errorf("held allocation: %s: %w", conflict, registry.ErrConflict)
			break
		}
	}
	if w.failed == nil {
		w.failed = failed
	}
	return failed
}
