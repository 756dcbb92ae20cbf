package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// One allocation as one statement (issue 16: one caller's durable
// allocation is bound by the CPU of its statements; bench/README.md,
// "Session 10" and "Session 15"). After DeferWrites
// (registry.WriteDeferrer) the writer holds back the writes of a single
// allocation, each of whose results it already knows:
//   - TakeSmallestFree's DELETE, when the free list is cached (freecache.go):
//     the prefix is known without the table;
//   - InsertAssignment's INSERT, when the pool's space is cached (rowcache.go)
//     and the next assignment ID is known (rowCache.nextID: the largest ID
//     plus one, which is the ID SQLite gives an INTEGER PRIMARY KEY row);
//   - AppendEvent's INSERT of the allocation's event;
//   - AddFree's or AddFrees' INSERT of what the take left of its prefix
//     (the split's rest, at most foldRest prefixes),
//
// and sends them as one INSERT into a TEMP view whose INSTEAD OF triggers
// run them in SQLite's VM: one database/sql round trip, one set of
// bindings and one statement's set-up instead of four or five; one
// statement, so all of it or nothing. The trigger deletes the free prefix
// by its key and aborts the whole statement unless it deleted exactly one
// row, so a prefix is handed out only if the free table held it (if not,
// the copy was wrong: the caller fails with registry.ErrConflict and the
// copy is dropped; no test has seen it but the one that spoils the copy on
// purpose); the assignment's own triggers (no overlap, its pool's space),
// its foreign keys and the explicit ID's primary key still check every
// row, and the free table's key every rest.
//
// Whatever else comes between (another statement, a read, the end of the
// caller's function) first sends what is held: the whole fold once the
// event is held, else the take and insert as separate statements in the
// order the calls came. Reads see every write made before them. A failure
// of a held write is returned by the call that sent it, or by Update, and
// fails the caller's transaction either way; it also drops the writer's
// caches, whose copy already counted the held writes.

// foldView and its triggers are created on the writer's connection once
// (TEMP: per connection, nothing is written to the file). The free
// prefix's pool and family are the assignment's, and its address the
// assignment's first (holdInsert checks). The
// pool's counters are not written: the row joins their tail (00059,
// counters.go), which their readers add up; the writer folds it into them
// every tailMax rows.
const foldView = `CREATE TEMP VIEW IF NOT EXISTS alloc_fold (
		f_region, f_bits,
		id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space,
		e_at, e_actor, e_action, e_kind, e_subject_id, e_subject, e_before, e_after,
		r1_bits, r1_addr, r2_bits, r2_addr, r3_bits, r3_addr) AS
		SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`

// foldTrigger takes the free prefix that starts at the assignment (its
// first address: holdInsert checks), inserts the assignment and its event.
// foldRestTrigger returns what is left of the taken prefix to free space,
// up to foldRest prefixes (r1 first; a split that leaves more sends its
// rest on its own): it runs only where there is a rest, so a take of a
// whole prefix costs its WHEN alone.
var foldTrigger = `CREATE TEMP TRIGGER IF NOT EXISTS alloc_fold INSTEAD OF INSERT ON alloc_fold
	BEGIN
		DELETE FROM free WHERE region_id = NEW.f_region AND family = NEW.family AND bits = NEW.f_bits AND addr = NEW.first AND pool_id = NEW.pool_id;
		SELECT RAISE(ABORT, 'cadastre: ` + errFreeGone + `') WHERE changes() <> 1;
		INSERT INTO assignments (id, pool_id, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
		VALUES (NEW.id, NEW.pool_id, NEW.family, NEW.first, NEW.last, NEW.bits, NEW.state, NEW.tenant, NEW.resource, NEW.name, NEW.created_at, NEW.released_at, NEW.quarantine_until, NEW.space);
		INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		VALUES (NEW.e_at, NEW.e_actor, NEW.e_action, NEW.e_kind, NEW.e_subject_id, NEW.e_subject, NEW.e_before, NEW.e_after);
	END`

const foldRestTrigger = `CREATE TEMP TRIGGER IF NOT EXISTS alloc_fold_rest INSTEAD OF INSERT ON alloc_fold WHEN NEW.r1_bits IS NOT NULL
	BEGIN
		INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES (NEW.f_region, NEW.family, NEW.r1_bits, NEW.r1_addr, NEW.pool_id);
		INSERT INTO free (region_id, family, bits, addr, pool_id) SELECT NEW.f_region, NEW.family, NEW.r2_bits, NEW.r2_addr, NEW.pool_id WHERE NEW.r2_bits IS NOT NULL;
		INSERT INTO free (region_id, family, bits, addr, pool_id) SELECT NEW.f_region, NEW.family, NEW.r3_bits, NEW.r3_addr, NEW.pool_id WHERE NEW.r3_bits IS NOT NULL;
	END`

// foldRest is how many prefixes of a split's rest the fold carries: a
// take of a prefix k bits shorter than the request leaves k, so three
// cover seven takes in eight (half take a whole prefix).
const foldRest = 3

const (
	foldSQL = `INSERT INTO alloc_fold VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
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

// errFreeGone marks a held take whose prefix the free table no longer held.
const errFreeGone = "the free prefix to take is gone"

// idKept are the texts that insert assignments and keep rowCache.nextID in
// step; any other text that inserts or deletes assignments drops it.
var idKept = map[string]bool{insertWithID: true, insertAssignment: true, insertAssignmentReturning: true, foldSQL: true}

// setUpFold creates the view and its triggers on the writer's connection
// and prepares the fold's statement on the driver itself; without them
// (an error) the writer sends each write on its own.
func setUpFold(ctx context.Context, conn *sql.Conn) (driver.Stmt, bool) {
	for _, q := range []string{foldView, foldTrigger, foldRestTrigger} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, false
		}
	}
	var st driver.Stmt
	err := conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("the driver prepares no statement with a context")
		}
		var err error
		if st, err = p.PrepareContext(ctx, foldSQL); err != nil {
			return err
		}
		if _, ok := st.(driver.StmtExecContext); !ok {
			st.Close()
			st = nil
			return errors.New("the driver's statement runs with no context")
		}
		return nil
	})
	return st, err == nil
}

// foldArgs is the number of the folded statement's arguments.
const foldArgs = 30

// execFold runs the folded statement on the driver's own statement, with
// values of the driver's types: database/sql would copy its 30 arguments
// into a new slice, check each, and wrap the result (~1.3 KB and ~3k
// instructions a single allocation; bench/README.md, "Session 15").
func (w *wtx) execFold(ctx context.Context, args *[foldArgs]any) error {
	w.rows.written(foldSQL)
	if err := ctx.Err(); err != nil {
		return err
	}
	nv := &w.rows.foldArgs
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	defer clear(nv[:]) // nothing kept alive until the next allocation
	return w.conn.Raw(func(any) error {
		_, err := w.rows.fold.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), nv[:])
		return err
	})
}

// held is what the writer holds back of one allocation.
type held struct {
	take    registry.FreePrefix
	hasTake bool
	ins     [14]any // insertWithID's arguments
	hasIns  bool
	ev      [8]any // the event's columns
	hasEv   bool
	// rest is what the take left of its prefix, returned to free space by
	// the fold (at most foldRest prefixes).
	rest  [foldRest]registry.FreePrefix
	nRest int
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

// holdInsert holds a's INSERT behind a held take of the prefix a starts,
// with the next ID, when that ID and the pool's space are known; it
// reports whether it did.
func (w *wtx) holdInsert(ctx context.Context, a *registry.Assignment) (bool, error) {
	if !w.held.hasTake || w.held.hasIns || w.held.take.PoolID != a.PoolID || w.held.take.Prefix.Addr() != a.Prefix.Addr() {
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
		w.rows.nextID, w.rows.counted = ids[0]+1, ids[1]
	}
	a.ID, a.Space = w.rows.nextID, space
	w.rows.nextID++
	// Values of the driver's own types (int64, not int or *int64), which
	// database/sql passes on as they are instead of converting each by
	// reflection; one slice for a single address's first and last.
	fam, first, last, bits := span(a.Prefix)
	if bytes.Equal(first, last) {
		last = first
	}
	w.held.ins = [14]any{a.ID, a.PoolID, int64(fam), first, last, int64(bits), string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicrosArg(a.ReleasedAt), optMicrosArg(a.QuarantineUntil), space}
	w.held.hasIns = true
	return true, nil
}

// foldEvent holds e's INSERT behind a held take and insert; it reports
// whether it did (nothing held: e goes on its own). The three are sent as
// one statement before the next other statement, or when the caller's
// function returns, with the take's rest if it comes first (holdRest).
func (w *wtx) foldEvent(e *registry.Event) bool {
	if !w.held.hasTake || !w.held.hasIns || w.held.hasEv {
		return false
	}
	w.held.ev = [8]any{micros(e.At), e.Actor, e.Action, e.SubjectKind, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e)}
	w.held.hasEv = true
	return true
}

// holdRest adds fs, what the held take left of its prefix, to the held
// statement; it reports whether it did (if not, fs are written on their
// own, after what is held).
func (w *wtx) holdRest(fs ...registry.FreePrefix) bool {
	h := &w.held
	if !h.hasEv || h.nRest+len(fs) > foldRest {
		return false
	}
	for _, f := range fs {
		if f.RegionID != h.take.RegionID || f.PoolID != h.take.PoolID || prefix.Family(f.Prefix) != prefix.Family(h.take.Prefix) {
			return false
		}
	}
	for _, f := range fs {
		h.rest[h.nRest] = f
		h.nRest++
		w.rows.free.added(f)
	}
	return true
}

// flush sends what is held: the folded statement, or each write on its
// own in the order of the calls (the event did not come), before any
// other statement and at the end of the caller's function.
func (w *wtx) flush(ctx context.Context) error {
	h := w.held
	w.held = held{}
	if h.hasEv {
		return w.sendFold(ctx, &h)
	}

	if h.hasTake {
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
		w.joinedTail()
	}
	return nil
}

// sendFold sends h's take, insert, event and rest as one statement.
func (w *wtx) sendFold(ctx context.Context, h *held) error {
	var args [foldArgs]any
	args[0], args[1] = h.take.RegionID, int64(h.take.Prefix.Bits())
	copy(args[2:16], h.ins[:])
	copy(args[16:24], h.ev[:])
	for i, f := range h.rest[:h.nRest] {
		args[24+2*i], args[25+2*i] = int64(f.Prefix.Bits()), addrBytes(f.Prefix.Addr())
	}
	if err := w.beforeTail(ctx); err != nil {
		return w.heldFailed(err)
	}
	if err := w.execFold(ctx, &args); err != nil {
		return w.heldFailed(err)
	}
	w.joinedTail()
	return nil
}

// optMicrosArg is optMicros as a driver value: NULL or an int64.
func optMicrosArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// heldFailed drops the writer's caches, which counted the held writes,
// and says what failed. A take whose prefix is gone is a conflict, as a
// concurrent writer's take is on the plain path (registry.removeFree).
func (w *wtx) heldFailed(err error) error {
	w.rows.reset()
	if strings.Contains(err.Error(), errFreeGone) {
		return fmt.Errorf("held allocation: %s: %w", errFreeGone, registry.ErrConflict)
	}
	return fmt.Errorf("held allocation: %w", mapErr(err))
}
