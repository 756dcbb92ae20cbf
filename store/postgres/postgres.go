// Package postgres is the Store for more than one machine: any number of
// stateless `cadastre serve` replicas on one PostgreSQL database. It keeps
// the schema and semantics of the SQLite store.
//
// Write transactions run at READ COMMITTED with explicit row locks, so that
// concurrent allocations in one region queue behind each other instead of
// failing and retrying, while other regions go on (no global lock):
//   - a write transaction locks a region's row (FOR NO KEY UPDATE, which
//     does not block foreign-key checks) before its first statement that
//     reads or changes the region's free space, or when it looks the region
//     up by name; every later statement sees what the previous holder
//     committed, so no free prefix is ever taken twice;
//   - an assignment read by ID or prefix in a write transaction is locked
//     (FOR UPDATE), and ended quarantines are claimed with SKIP LOCKED and
//     their state re-checked, so a release or a reap happens once;
//   - a lost race that the locks do not order (two requests with the same
//     idempotency key, a deadlock, registry.ErrConflict) rolls back and runs
//     again, a bounded number of times.
//
// Exclusion constraints on cidr columns remain the last line of defence:
// the database itself refuses overlapping blocks, pools and live
// assignments, whatever any replica does.
package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/dnssql"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxAttempts bounds retries of a transaction that keeps conflicting.
const maxAttempts = 50

// Store is the PostgreSQL Store.
type Store struct {
	pool *pgxpool.Pool
	name string // the DSN without its password, for messages
	// pools caches pools read by ID: a pool never changes once committed.
	pools sync.Map // int64 -> registry.Pool
	// pagePools holds what a page of assignments shows of their pools
	// (AssignmentPage).
	pagePools pagePoolCache
	// regions holds each region as last read under its lock (name ->
	// registry.Region), so that an allocation's first statement, the
	// region's lock, can go out with its second (tx.RegionByName).
	regions sync.Map
	// lockFirst maps a region's ID to the lower-ID regions that
	// transactions holding its lock were found to need (lockErr): a
	// borrower's lenders. A transaction whose first region lock is that
	// region takes theirs with it, in ID order (lockLearned), rather than
	// trying them later (NOWAIT) and running again alone when another
	// writer holds one. Values are []int64, replaced, never changed.
	lockFirst sync.Map
	// folds holds the statements fold.go made of queued writes (foldCache).
	folds foldCache

	// Group commit (group.go): an Update that finds a writer idle runs
	// as that writer; the others queue jobs for the writers.
	jobs     chan *job
	idle     chan *writer
	maxBatch int
	// savepointBatches counts the next batches to run with a savepoint
	// per job (group.go, runBatch).
	savepointBatches atomic.Int32
	// noMemTake turns the take from the queue off (memtake.go; tests
	// compare with it); memTakes counts the takes answered so.
	noMemTake bool
	memTakes  atomic.Int64
	// idFresh is how long an ID reserve is used (defaultIDFresh; tests
	// whose batches must find their connection's reserve still there
	// lengthen it: a refill is a statement, which forgets a take's
	// candidate, so on a loaded machine whether a take was answered from
	// the queue depended on the clock).
	idFresh time.Duration
	// next is what the next take of a transaction alone is expected to
	// answer, by region (expect.go).
	next nextFree
	// expectFails counts the transactions alone that expected and failed
	// (and ran again).
	expectFails atomic.Int64

	cmu  sync.RWMutex // guards shut against Update's send
	shut bool
	// lockTimeout and statementTimeout are set on every write
	// transaction, in PostgreSQL's syntax ("0" is none).
	lockTimeout, statementTimeout string

	// idMu guards ids: assignment IDs reserved from the sequence, per
	// physical connection they were reserved on (see assignmentID).
	idMu sync.Mutex
	ids  map[*pgx.Conn]idRun

	// DNS is the DNS store (zone.Store), with SQLite's (dns.go).
	dnssql.DNS

	// schemaKey is hashtext(current_schema()): the second key of the
	// register-wide advisory locks (names' fence, tenants' suffixes) and
	// mixed into each name's lock. Advisory locks belong to the database,
	// not to a schema: without it two registers in two schemas of one
	// database waited on each other's name locks (a bulk load in one held
	// every allocation of the other for up to lock_timeout).
	schemaKey int32
	// fenceShared is the condition that takes the names' fence shared
	// inside a tenant's use update (countUse), made once at Open.
	fenceShared string

	// mark is the furthest followers' horizon a Position has read here
	// and the latest event time below it (see positionMark), guarded by
	// markMu.
	markMu sync.Mutex
	mark   positionMark
}

const (
	// idReserve is how many assignment IDs one sequence round trip
	// reserves.
	idReserve = 64
	// defaultIDFresh is how long a reserve is used: an idle replica must
	// not sit on IDs far below the others' and commit them much later (a
	// client paging assignments by ID would miss them), so the window
	// stays that of any transaction in flight.
	defaultIDFresh = time.Second
)

// idRun is a run of assignment IDs reserved from the sequence, and
// when.
type idRun struct {
	ids []int64
	at  time.Time
}

// assignmentID hands out an assignment ID without a round trip of its
// own in most allocations: IDs are reserved idReserve at a time. The
// reserve is fetched through the transaction's own connection (a second
// connection, wanted while the region's lock is held, could wait for
// ever on a pool held by transactions queued behind that lock), and
// nextval is not transactional, so a reserve is never handed out twice,
// by this replica or another, whatever rolls back. IDs stay unique; like
// any sequence's, they are not in commit order.
//
// A reserve is used only on the physical connection that fetched it.
// nextval's WAL record reaches a standby only with a later commit, so
// after a failover the promoted server's sequence may stand below IDs
// this process still holds: used there, they collided with the IDs the
// promoted server hands out (assignments_pkey, seen in
// e2e TestFailoverToSynchronousStandby). A connection never outlives its
// server, so a reserve tied to it dies with the old primary.
func (s *Store) assignmentID(ctx context.Context, t *tx) (int64, error) {
	var conn *pgx.Conn
	if pc, ok := t.raw.(*pgxpool.Conn); ok {
		conn = pc.Conn()
	}
	if id, ok := s.takeID(conn); ok {
		return id, nil
	}
	rows, err := t.query(ctx, `SELECT nextval('assignments_id_seq') FROM generate_series(1, $1)`, idReserve)
	if err != nil {
		return 0, mapErr(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, mapErr(err)
	}
	if conn == nil {
		return ids[0], nil
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	now := time.Now()
	if s.ids == nil {
		s.ids = map[*pgx.Conn]idRun{}
	}
	// Reserves of closed or idle connections go once stale: the map
	// holds at most one per live connection of the pool.
	for c, r := range s.ids {
		if now.Sub(r.at) > s.idFresh {
			delete(s.ids, c)
		}
	}
	s.ids[conn] = idRun{ids[1:], now}
	return ids[0], nil
}

// takeID takes an ID from a fresh reserve fetched on conn.
func (s *Store) takeID(conn *pgx.Conn) (int64, bool) {
	if conn == nil {
		return 0, false
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	r, ok := s.ids[conn]
	if !ok || len(r.ids) == 0 || time.Since(r.at) > s.idFresh {
		return 0, false
	}
	id := r.ids[0]
	r.ids = r.ids[1:]
	s.ids[conn] = r
	return id, true
}

// Options tune a Store.
type Options struct {
	// MaxConns bounds the pool (default 16).
	MaxConns int32
	// Writers is how many group-commit transactions may be open at once
	// (default 1), MaxBatch how many Updates one may hold (default 64;
	// 1 turns group commit off).
	Writers, MaxBatch int
	// LockTimeout and StatementTimeout bound every write transaction's
	// waits for a lock and statements (PostgreSQL's lock_timeout and
	// statement_timeout, set on the transaction alone, never on reads):
	// one connection that holds a lock and hangs must not stall every
	// region of the replica behind it. Zero takes the DSN's lock_timeout
	// and statement_timeout parameters, else DefaultLockTimeout and
	// DefaultStatementTimeout; negative turns the bound off.
	LockTimeout, StatementTimeout time.Duration
	// Tracer, if set, sees every statement and batch of the Store's
	// connections (pgx's ConnConfig.Tracer: a pgx.QueryTracer, and a
	// pgx.BatchTracer to see batches). For benchmarks that count round
	// trips and statements per operation (bench/pgdurable_bench_test.go).
	Tracer pgx.QueryTracer
}

// The bounds of a write transaction when neither Options nor the DSN set
// them. Allocations in one region queue at its lock for milliseconds, a
// long import's COPY is exempt from the statement bound, and anything
// longer is a connection that will not come back.
const (
	DefaultLockTimeout      = 10 * time.Second
	DefaultStatementTimeout = time.Minute
)

// timeoutSetting is d as a PostgreSQL setting: dsn (the DSN's value) when
// d is zero and dsn is set, def when both are unset, "0" (none) when d is
// negative.
func timeoutSetting(d time.Duration, dsn string, def time.Duration) string {
	switch {
	case d < 0:
		return "0"
	case d == 0 && dsn != "":
		return dsn
	case d == 0:
		d = def
	}
	return fmt.Sprintf("%dms", max(d.Milliseconds(), 1))
}

// Open connects to dsn and applies pending migrations. The schema used is
// the DSN's search_path (default public).
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	// 16 connections unless the DSN (pool_max_conns) or opt says
	// otherwise; at least 2, as migrations hold one for their lock.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	cfg.MaxConns = max(cfg.MaxConns, 2)
	// lock_timeout and statement_timeout in the DSN bound writes only
	// (Options): as connection settings they would cut long reads too.
	lockTimeout := timeoutSetting(opt.LockTimeout, cfg.ConnConfig.RuntimeParams["lock_timeout"], DefaultLockTimeout)
	statementTimeout := timeoutSetting(opt.StatementTimeout, cfg.ConnConfig.RuntimeParams["statement_timeout"], DefaultStatementTimeout)
	delete(cfg.ConnConfig.RuntimeParams, "lock_timeout")
	delete(cfg.ConnConfig.RuntimeParams, "statement_timeout")
	// No JIT compilation unless the DSN asks for it: PostgreSQL compiles a
	// statement whose estimate passes jit_above_cost (100,000), and at ten
	// million assignments the region page's 90 days of releases and the
	// overview's counts pass it: 100-140 ms of LLVM per run, more than
	// such a statement's own work (bench/README.md, session 12, pgapi2).
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if opt.Tracer != nil {
		cfg.ConnConfig.Tracer = opt.Tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, registry.ErrStorage)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w: %w", name, err, registry.ErrStorage)
	}
	// A search_path that names no existing schema leaves current_schema()
	// NULL: every table would be created nowhere, and the migration tool
	// then mistakes another schema's version table for ours and fails with
	// "relation goose_db_version does not exist". Say what is wrong.
	var schema *string
	var schemaKey int32
	if err := pool.QueryRow(ctx, `SELECT current_schema(), COALESCE(hashtext(current_schema()), 0)`).Scan(&schema, &schemaKey); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w: %w", name, err, registry.ErrStorage)
	}
	if schema == nil {
		sp := cfg.ConnConfig.RuntimeParams["search_path"]
		pool.Close()
		return nil, fmt.Errorf("%s: search_path %q names no schema that exists: create it first (CREATE SCHEMA ...), or leave search_path out to use public: %w", name, sp, registry.ErrInvalid)
	}
	writers := cmp.Or(opt.Writers, defaultWriters)
	s := &Store{pool: pool, name: name, jobs: make(chan *job), idle: make(chan *writer, writers),
		maxBatch: cmp.Or(opt.MaxBatch, defaultMaxBatch), lockTimeout: lockTimeout, statementTimeout: statementTimeout, idFresh: defaultIDFresh,
		schemaKey: schemaKey, fenceShared: fmt.Sprintf(` AND pg_advisory_xact_lock_shared(%d, %d) IS NOT NULL`, nameFenceClass, schemaKey)}
	s.DNS = newDNS(s)
	if err := s.checkTimeouts(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for range writers {
		s.idle <- &writer{batch: make([]*job, 0, s.maxBatch)}
	}
	return s, nil
}

// checkTimeouts refuses write bounds PostgreSQL would refuse at every
// write, naming them.
func (s *Store) checkTimeouts(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", s.name, err, registry.ErrStorage)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, setTimeouts, s.lockTimeout, s.statementTimeout); err != nil {
		return fmt.Errorf("%s: lock_timeout %q or statement_timeout %q: %w: %w", s.name, s.lockTimeout, s.statementTimeout, err, registry.ErrInvalid)
	}
	return nil
}

// setTimeouts bounds the write transaction it runs in (setWrite).
const setTimeouts = `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`

// beginWriteIn queues the start of a write transaction in b: BEGIN, and
// the transaction's bounds, sent with its first statement.
func (s *Store) beginWriteIn(b *pgx.Batch) {
	b.Queue(beginWrite)
	b.Queue(setTimeouts, s.lockTimeout, s.statementTimeout)
}

// migrate applies pending migrations under an advisory lock, so that
// replicas starting together do not race.
func (s *Store) migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7271878)`); err != nil {
		return fmt.Errorf("migrations: lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7271878)`)
	// Out of order: numbers are handed to branches of work ahead, so a
	// register made by a build with 00021 still gets 00020 when it lands.
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(compactEvents()))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	done, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range done {
		if r.Source.Version == compactedEvents && r.Direction == "up" && r.Error == nil {
			// The rewritten events' old row versions are dead: give their
			// space back. Best effort: the migration is done either way,
			// and autovacuum makes the space reusable if this cannot run
			// now (another transaction holds the table; README says to
			// run it again then).
			_, _ = conn.ExecContext(ctx, `VACUUM FULL events`)
		}
	}
	return nil
}

// Close waits for the Updates under way to finish (each holds cmu
// shared until its writer is idle again, or its job handed to one), then
// closes the pool. Updates after Close fail.
func (s *Store) Close() error {
	s.cmu.Lock()
	if s.shut {
		s.cmu.Unlock()
		return nil
	}
	s.shut = true
	s.cmu.Unlock()
	s.pool.Close()
	return nil
}

// retryable reports a serialisation failure, a deadlock or a conflict the
// caller detected (registry.ErrConflict): the transaction did nothing and
// may run again.
func retryable(err error) bool {
	if err == nil {
		// Before pe below, which escapes: a heap object for every
		// Update that succeeds otherwise.
		return false
	}
	if errors.Is(err, registry.ErrConflict) {
		return true
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Update implements registry.Store: fn runs in a savepoint of a write
// transaction that may be shared with other callers' (group.go), and has
// committed when Update returns nil. A conflict runs fn again alone.
//
// An Update that finds a writer idle runs as that writer, on the
// caller's goroutine; otherwise it queues its job until a writer takes it
// in or becomes idle.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	j := &job{ctx: ctx, fn: fn}
	s.cmu.RLock()
	if s.shut {
		s.cmu.RUnlock()
		return fmt.Errorf("%s: %w: %w", s.name, errClosed, registry.ErrStorage)
	}
	var w *writer
	select {
	case w = <-s.idle:
	default:
		// Every writer busy: queue, and run as the first writer that
		// becomes idle unless one takes the job in first.
		j.err = make(chan error, 1)
		select {
		case w = <-s.idle:
		case s.jobs <- j:
		case <-ctx.Done():
			s.cmu.RUnlock()
			return ctx.Err()
		}
	}
	var err error
	if w != nil {
		err = s.asWriter(w, j)
	} else {
		s.cmu.RUnlock()
		// Once queued, wait for the outcome even if ctx ends: the caller
		// must learn whether its change committed.
		err = <-j.err
	}
	if !retryable(err) {
		return mapErr(err)
	}
	return s.updateAlone(ctx, fn, j.hints)
}

// asWriter runs j as writer w (runAsWriter), then makes w idle and
// releases cmu, whatever happens.
func (s *Store) asWriter(w *writer, j *job) error {
	defer s.cmu.RUnlock()
	defer func() { s.idle <- w }()
	return s.runAsWriter(w, j)
}

// updateAlone runs fn in a transaction of its own until it does not
// conflict, taking first the region locks earlier attempts needed.
func (s *Store) updateAlone(ctx context.Context, fn func(registry.Tx) error, hints []int64) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = s.run(ctx, true, &hints, fn)
		if !retryable(err) {
			return mapErr(err)
		}
		// Back off a little, with jitter, so conflicting replicas part.
		d := time.Duration(rand.IntN(1<<min(attempt, 8))) * 200 * time.Microsecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	return fmt.Errorf("%s: transaction kept conflicting after %d attempts (last: %v): %w", s.name, maxAttempts, err, registry.ErrStorage)
}

// View implements registry.Store with a read-only snapshot.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	return mapErr(s.run(ctx, false, nil, fn))
}

// ViewOne implements registry.SingleReader: fn's one read goes straight
// to the pool, one round trip instead of three (BEGIN, the read, COMMIT).
// A second statement, or one that is not a SELECT, fails.
func (s *Store) ViewOne(ctx context.Context, fn func(registry.Tx) error) error {
	return mapErr(fn(&tx{raw: s.pool, one: true, s: s}))
}

// BEGIN for write transactions and for views.
const (
	beginWrite = "BEGIN ISOLATION LEVEL READ COMMITTED"
	beginView  = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
)

// run runs fn once in a transaction of its own; hints is nil for a
// read-only view. BEGIN goes out with fn's first statement and, after a
// write, COMMIT with its last deferred writes: an allocation alone is
// four round trips, not seven.
func (s *Store) run(ctx context.Context, write bool, hints *[]int64, fn func(registry.Tx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", s.name, err, registry.ErrStorage)
	}
	// The pool closes a connection released inside a transaction, so an
	// unfinished one (a lost connection, an ended context) ends there.
	defer c.Release()
	first := &pgx.Batch{}
	if write {
		s.beginWriteIn(first)
	} else {
		first.Queue(beginView)
	}
	// What BEGIN and the bounds queue (a region's lock may take the
	// bounds' place: lockExpected); more is a statement of fn's.
	begun := first.Len()
	x := &tx{raw: c, write: write, hints: hints, s: s, pending: first}
	err = safeRun(fn, x)
	if write && err == nil && len(x.readers) > 0 {
		// A queued read whose answer only the client checks (a tenant's
		// use, a name) is read before the COMMIT is sent.
		err = x.flush(ctx)
	}
	err = s.afterExpected(x, err)
	if x.pending == first && first.Len() == begun && (!write || first.QueuedQueries[begun-1].SQL == setTimeouts) {
		return err // nothing was sent or queued: no transaction to end
	}
	if x.pending == first && err != nil {
		return err // queued writes of a failed fn: never sent
	}
	if err != nil {
		c.Exec(context.Background(), "ROLLBACK")
		return err
	}
	// The caller's context no longer counts once fn has succeeded: ended
	// mid-COMMIT it would close the connection and leave the caller
	// told of a failure for a change that may have committed.
	// The pool counters' changes go with the COMMIT, in its round trip.
	if len(x.counts) > 0 {
		if x.pending == nil {
			x.pending = &pgx.Batch{}
		}
		queueCounts(x.pending, x.counts)
	}
	tag, err := x.exec(context.WithoutCancel(ctx), "COMMIT")
	if err != nil {
		c.Exec(context.Background(), "ROLLBACK")
		return s.afterExpected(x, err)
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("%s: commit: the transaction had failed (%s): %w", s.name, tag, registry.ErrStorage)
	}
	s.settleAlone(x)
	return nil
}

// mapErr turns constraint failures into the registry's sentinel errors,
// and a connection lost under a statement into registry.ErrStorage.
func mapErr(err error) error {
	if err == nil {
		// Before pe below, which escapes: a heap object for every
		// statement and Update that succeeds otherwise.
		return err
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return connLost(err)
	}
	switch pe.Code {
	case "23P01": // exclusion_violation
		return fmt.Errorf("%s overlaps existing space (%s): %w", tableWord(pe.TableName), pe.ConstraintName, registry.ErrOverlap)
	case "23505": // unique_violation
		return fmt.Errorf("%s already exists (%s): %w", tableWord(pe.TableName), pe.ConstraintName, registry.ErrExists)
	case "P0001":
		return fmt.Errorf("%s: %w", pe.Message, registry.ErrState)
	case "23503": // foreign_key_violation: a row something still refers to
		return fmt.Errorf("%s is still referenced (%s): %w", tableWord(pe.TableName), pe.ConstraintName, registry.ErrState)
	case "25006": // read_only_sql_transaction
		return fmt.Errorf("write in a read-only view: %w", registry.ErrStorage)
	case "55P03": // lock_not_available
		if pe.Routine != "ProcessInterrupts" {
			// A lock only tried (NOWAIT) that another writer holds, raised
			// where the lock is taken (heap_lock_tuple), not where a
			// lock_timeout ends the wait. lockErr and queueTenantLock turn
			// theirs into conflicts that carry hints; any other that gets
			// here is a conflict too, run again alone, never a 503.
			return fmt.Errorf("a lock another writer holds (%s): %w", pe.Message, registry.ErrConflict)
		}
		return fmt.Errorf("gave up waiting for a lock another connection holds (lock_timeout: %s): %w", pe.Message, registry.ErrStorage)
	case "57014": // query_canceled
		return fmt.Errorf("statement cancelled by the database (statement_timeout, or an operator): %s: %w", pe.Message, registry.ErrStorage)
	case "57P01", "57P02", "57P03", "53300", "08006", "08001":
		return fmt.Errorf("database unavailable: %s: %w", pe.Message, registry.ErrStorage)
	}
	return err
}

// connLost marks an error of the connection itself (the server went
// away: a failover, a restart, a network cut) as registry.ErrStorage, so
// that the caller hears "unavailable, try again" (HTTP 503), not an
// internal error: the pool has dropped the broken connection, and the
// next attempt connects afresh, to whichever host of a multi-host DSN
// takes writes now. A retry is safe with an idempotency key even if the
// COMMIT went through before the connection broke.
func connLost(err error) error {
	if errors.Is(err, registry.ErrStorage) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("database connection lost: %w: %w", err, registry.ErrStorage)
	}
	return err
}

func tableWord(t string) string {
	return strings.TrimSuffix(t, "s")
}

// tx is one transaction. In a write transaction (READ COMMITTED) it
// remembers which regions' rows it has locked.
type tx struct {
	// raw is the connection or pool. Statements go through exec, query
	// and row, never raw directly: BEGIN and deferred writes wait in
	// pending and must go out first.
	raw querier
	// ctx, when set, replaces the callers' contexts (see bctx).
	ctx context.Context
	// In a shared transaction (group.go), the first carried statements of
	// pending are the last writes of the previous job, prev; carryErr is
	// their failure.
	carried  int
	prev     *tx
	carryErr error
	// regions are the regions read under this transaction's lock, by name.
	// regionsShared: the map is a group commit's shared one (group.go),
	// copied before it is changed (ownRegions).
	regions       map[string]registry.Region
	regionsShared bool
	// one marks a ViewOne transaction; n counts its statements.
	one    bool
	n      int
	write  bool
	locked []int64 // region IDs locked FOR NO KEY UPDATE
	// ownLocks is where this job's own locks begin in locked: a job of a
	// group commit starts with the locks of the jobs before it, which say
	// nothing of what its own region needs (learnLockOrder).
	ownLocks int
	// hints are regions to lock first, in order, learnt by earlier
	// attempts of the same Update; hinted says they are locked.
	hints  *[]int64
	hinted bool
	s      *Store
	// inserted are the pools this transaction inserted (not cached).
	inserted []int64
	// deferring: writes whose results nobody reads are queued in pending.
	deferring bool
	pending   *pgx.Batch
	// missed are the idempotency keys (tenant, key) looked up and not
	// found: inserting one of them later can only fail on a race.
	missed [][2]string
	// readers read the rows of queued statements whose answer is wanted
	// (QueueTenantUse), by position in pending.
	readers map[int]func(pgx.Rows) error
	// tenantLocks counts the tenants' rows and names this transaction
	// holds (tenant.go's lock order).
	tenantLocks int
	// batched marks a job's transaction in a group commit (group.go).
	batched bool
	// cand is the database's next free row for a take from the queue
	// (memtake.go), shared by the jobs of a batch without savepoints;
	// nil elsewhere. tookQueued marks a job that took from the queue.
	cand       *takeCand
	tookQueued bool
	// use are the tenants whose rows a group commit's transaction has
	// locked by counting their use, as the transaction sees them: later
	// jobs count in memory, and the counts are stored once, with the
	// COMMIT (tenant.go, usedRow).
	use map[string]*usedRow
	// spec is what a transaction alone learnt of its take for the next
	// one, freeWritten that it wrote free rows otherwise (expect.go).
	spec        *specTake
	freeWritten bool
	// countedHeld: a use was counted in memory (countHeld).
	countedHeld bool
	// counts are the pool counters' changes not stored yet (counters.go).
	counts poolcount.Deltas
	// namesFenced: the transaction holds every DNS name (LockAllNames).
	namesFenced bool
	// addressLocks: the spaces' prefixes whose regions LockAddresses
	// locked.
	addressLocks []addressLock
	// deferred holds, between DeferIndexes and RestoreIndexes, what was
	// dropped from the assignments table, to build again (bulk.go).
	deferred []deferredObject
}

// lockRegion takes the region's lock, once per transaction, before the
// transaction's first look at its free space. A read-only view takes none.
//
// Region locks are taken in ID order, so two writers never wait for each
// other in a cycle: a lock on a region with a lower ID than one already
// held is only tried (NOWAIT), and if that fails the transaction runs again
// and takes every region it needed, in order, with its first lock (hints).
func (t *tx) lockRegion(ctx context.Context, id int64) error {
	if !t.write || slices.Contains(t.locked, id) {
		return nil
	}
	if err := t.lockHinted(ctx); err != nil || slices.Contains(t.locked, id) {
		return err
	}
	if err := t.lockLearned(ctx, id); err != nil || slices.Contains(t.locked, id) {
		return err
	}
	var one int
	clause := t.lockClause(id)
	err := t.row(ctx, `SELECT 1 FROM regions WHERE id = $1`+clause, id).Scan(&one)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return t.lockErr(err, id, clause)
	}
	t.locked = append(t.locked, id)
	return nil
}

// lockClause is how to lock region id given the locks already held.
func (t *tx) lockClause(id int64) string {
	if len(t.locked) > 0 && id < slices.Max(t.locked) {
		return ` FOR NO KEY UPDATE NOWAIT`
	}
	return ` FOR NO KEY UPDATE`
}

// lockErr turns a failed NOWAIT into a conflict that runs the transaction
// again, with id among the regions to lock first. The same error after a
// wait (clause without NOWAIT) is lock_timeout: mapErr's.
func (t *tx) lockErr(err error, id int64, clause string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" && strings.HasSuffix(clause, "NOWAIT") { // lock_not_available
		if t.hints != nil {
			for _, h := range append(slices.Clone(t.locked), id) {
				if !slices.Contains(*t.hints, h) {
					*t.hints = append(*t.hints, h)
				}
			}
		}
		t.learnLockOrder(id)
		return fmt.Errorf("region %d: held by another writer: %w", id, registry.ErrConflict)
	}
	return mapErr(err)
}

// learnLockOrder records that a transaction holding its own locks of
// t.locked needed the lock of region id, lower than one of them
// (Store.lockFirst).
func (t *tx) learnLockOrder(id int64) {
	if t.s == nil {
		return
	}
	for _, h := range t.locked[min(t.ownLocks, len(t.locked)):] {
		if h <= id {
			continue
		}
		v, _ := t.s.lockFirst.Load(h)
		have, _ := v.([]int64)
		if slices.Contains(have, id) || len(have) >= maxLockFirst {
			continue
		}
		t.s.lockFirst.Store(h, append(slices.Clip(have), id))
	}
}

// maxLockFirst bounds the lenders a region's transactions take first.
const maxLockFirst = 8

// lockLearned takes, as the first region lock of a write transaction,
// region id's lock together with those its transactions were found to
// need first (Store.lockFirst), in ID order and waiting for each: nothing
// is held yet, so no two writers can wait for each other in a cycle.
func (t *tx) lockLearned(ctx context.Context, id int64) error {
	if !t.write || len(t.locked) > 0 || t.s == nil || t.one {
		return nil
	}
	v, ok := t.s.lockFirst.Load(id)
	if !ok {
		return nil
	}
	return t.lockInOrder(ctx, append(slices.Clone(v.([]int64)), id))
}

// lockInOrder locks the regions ids in ID order, waiting for each: only
// while this transaction holds no region lock, or holds none above them.
func (t *tx) lockInOrder(ctx context.Context, ids []int64) error {
	rows, err := t.query(ctx, `SELECT id FROM regions WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, slices.Sorted(slices.Values(ids)))
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		if !slices.Contains(t.locked, id) {
			t.locked = append(t.locked, id)
		}
	}
	return mapErr(rows.Err())
}

// lockHinted locks, once and in ID order, the regions an earlier attempt
// of this transaction found it needed.
func (t *tx) lockHinted(ctx context.Context) error {
	if t.hinted || t.hints == nil || len(*t.hints) == 0 {
		return nil
	}
	t.hinted = true
	return t.lockInOrder(ctx, *t.hints)
}

// The registry's optional capabilities this store has (registry/capability.go).
var (
	_ registry.Tx                 = (*tx)(nil)
	_ registry.SingleReader       = (*Store)(nil)
	_ registry.FreeTaker          = (*tx)(nil)
	_ registry.IdempotencyAssumer = (*tx)(nil)
	_ registry.WriteDeferrer      = (*tx)(nil)
)

// querier is what a tx sends statements through: a pgx.Tx, or the pool
// itself for a single read that needs no transaction (ViewOne).
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// bctx is the context statements run under. Inside a shared (group
// commit) transaction it is the writer's, not the caller's: a caller whose
// context ends mid-statement must not make pgx close the connection under
// every other caller of the batch. The caller's context is still checked
// before each statement, so a caller that has given up writes no more.
func (t *tx) bctx(ctx context.Context) (context.Context, error) {
	if t.ctx == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return t.ctx, nil
}

// counted enforces ViewOne's promise of a single read.
func (t *tx) counted(q string) error {
	if t.one {
		t.n++
		if t.n > 1 || !strings.HasPrefix(q, "SELECT ") {
			return errors.New("postgres: ViewOne ran more than one statement or a write (a bug: use View)")
		}
	}
	return nil
}

// send queues q behind the pending writes and sends them all in one round
// trip; it returns the batch's results positioned at q's. A failure of a
// pending write is returned instead.
func (t *tx) send(ctx context.Context, q string, args ...any) (pgx.BatchResults, error) {
	b := t.pending
	t.pending = nil
	t.fold(b)
	n := b.Len()
	b.Queue(q, args...)
	br := t.raw.SendBatch(ctx, b)
	if err := t.drain(br, n); err != nil {
		br.Close()
		return nil, err
	}
	return br, nil
}

// errCarried stops a job whose first round trip carried the previous
// job's last writes, when one of those failed: the previous job failed,
// and this one runs again (group.go).
var errCarried = errors.New("postgres: the previous job in this transaction failed")

// drain reads the results of the first n statements of a sent batch. In
// a shared transaction the first t.carried of them are the previous job's
// last writes (group.go): their failure is that job's (t.carryErr), not
// this one's.
func (t *tx) drain(br pgx.BatchResults, n int) error {
	readers := t.readers
	t.readers = nil
	for k := range n {
		if rd, ok := readers[k]; ok {
			rows, err := br.Query()
			if err == nil {
				err = rd(rows)
			}
			if err != nil {
				t.carried = 0
				return mapErr(err)
			}
			continue
		}
		if _, err := br.Exec(); err != nil {
			if k < t.carried {
				t.carryErr = t.prev.idempotencyErr(err)
				t.carried = 0
				return errCarried
			}
			t.carried = 0
			return t.idempotencyErr(err)
		}
	}
	t.carried = 0
	return nil
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	t.forget()
	ctx, err := t.bctx(ctx)
	if err == nil {
		err = t.counted(q)
	}
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	if t.pending != nil && t.pending.Len() > 0 {
		br, err := t.send(ctx, q, args...)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		tag, err := br.Exec()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return tag, mapErr(err)
	}
	tag, err := t.raw.Exec(ctx, q, args...)
	return tag, mapErr(err)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (pgx.Rows, error) {
	t.forget()
	ctx, err := t.bctx(ctx)
	if err == nil {
		err = t.counted(q)
	}
	if err != nil {
		return nil, err
	}
	if t.pending != nil && t.pending.Len() > 0 {
		br, err := t.send(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return nil, err
		}
		return batchRows{Rows: rows, br: br}, nil
	}
	return t.raw.Query(ctx, q, args...)
}

func (t *tx) row(ctx context.Context, q string, args ...any) pgx.Row {
	t.forget()
	ctx, err := t.bctx(ctx)
	if err == nil {
		err = t.counted(q)
	}
	if err != nil {
		return errRow{err}
	}
	if t.pending != nil && t.pending.Len() > 0 {
		br, err := t.send(ctx, q, args...)
		if err != nil {
			return errRow{err}
		}
		return batchRow{row: br.QueryRow(), br: br}
	}
	return t.raw.QueryRow(ctx, q, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// batchRows and batchRow close the batch a statement was sent in once its
// result has been read.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r batchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// later queues a statement whose result nobody reads; it goes out, with
// the others queued, in the same round trip as the transaction's next
// statement (or at flush). Allocations defer their writes (DeferWrites):
// the registry code reads nothing back from them, and every statement of
// the store sends the queue first, so the order of statements is
// unchanged. A failure surfaces with the next statement and fails the
// transaction.
func (t *tx) later(q string, args ...any) {
	if t.pending == nil {
		t.pending = &pgx.Batch{}
	}
	t.pending.Queue(q, args...)
}

// flush sends the queued statements.
func (t *tx) flush(ctx context.Context) error {
	t.forget()
	if t.pending == nil || t.pending.Len() == 0 {
		return nil
	}
	ctx, err := t.bctx(ctx)
	if err != nil {
		return err
	}
	b := t.pending
	t.pending = nil
	t.fold(b)
	br := t.raw.SendBatch(ctx, b)
	err = t.drain(br, b.Len())
	if cerr := br.Close(); err == nil && cerr != nil {
		err = t.idempotencyErr(cerr)
	}
	return err
}

// CheckWritable says whether the database takes writes: an error
// wrapping registry.ErrStorage when it is a hot standby (in recovery) or
// its transactions are read-only by default (default_transaction_read_only,
// as set on a database or a server being switched over). An empty write
// transaction commits there, yet every write fails; /readyz asks this so
// that such a server leaves the load balancer's rotation.
func (s *Store) CheckWritable(ctx context.Context) error {
	var readOnly string
	var recovery bool
	if err := s.pool.QueryRow(ctx, `SELECT current_setting('transaction_read_only'), pg_is_in_recovery()`).Scan(&readOnly, &recovery); err != nil {
		return mapErr(fmt.Errorf("%s: %w", s.name, err))
	}
	if readOnly == "on" || recovery {
		return fmt.Errorf("%s: the database takes no writes (transaction_read_only %s, in recovery %t): %w", s.name, readOnly, recovery, registry.ErrStorage)
	}
	return nil
}
