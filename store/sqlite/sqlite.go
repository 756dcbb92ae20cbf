// Package sqlite is the embedded Store: one SQLite file (pure-Go driver,
// WAL, synchronous=FULL), created and migrated on first use. Writers are
// serialised through one connection, and concurrent writes are committed
// together (group commit): each caller's transaction runs inside its own
// savepoint of a shared transaction, so one fsync acknowledges many
// callers while a failing caller still rolls back alone.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/dnssql"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds how many callers share one commit.
const maxBatch = 512

// writerCache is the writer connection's page cache (negative: KiB).
const writerCache = "-32768"

// Options tune a Store.
type Options struct {
	// NoSync turns fsync off (synchronous=OFF). Only for benchmarks that
	// measure the CPU cost of allocation apart from the disk.
	NoSync bool
	// build is set by Build: a new file written in one go, thrown away
	// if that fails (build.go).
	build bool
}

// Store is the SQLite Store.
type Store struct {
	path string
	wdb  *sql.DB
	rdb  *sql.DB
	jobs chan *job
	quit chan struct{}
	done chan struct{}
	// readers hands out read connections, each with its own prepared
	// statements, so a View never needs a second connection (which, with
	// every connection held by a View, would deadlock).
	readers chan *reader
	closed  sync.Once
	// cmu guards sending on jobs against Close: once shut is set no job is
	// queued, so none waits for a writer that has exited.
	cmu  sync.RWMutex
	shut bool
	// readOnly is set for a file that cannot be written at all; it has no
	// writer and every Update fails.
	readOnly bool
	// DNS is the DNS store (zone.Store), with PostgreSQL's (dns.go).
	dnssql.DNS
}

type job struct {
	ctx context.Context
	fn  func(registry.Tx) error
	err chan error
}

// Open opens or creates the database at path and applies pending migrations.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("database: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("database %s: path must not contain '?' or '#'", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("database %s: is a directory", path)
	}
	sync := "FULL"
	if opt.NoSync || opt.build {
		sync = "OFF"
	}
	// temp_store=MEMORY keeps statement journals (every insert that may
	// fire an ABORT trigger opens one) off the disk. A build keeps the
	// default (files): its index builds sort the whole register, and in
	// memory that sort was most of a 10M build's 1.97 GB.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")"
	if !opt.build {
		common += "&_pragma=temp_store(MEMORY)"
	}
	// A build writes no journal at all: the file is new and thrown away
	// if the build fails, so nothing needs rolling back, and a write-ahead
	// log would hold the whole register beside the file until the one
	// commit (twice the disk).
	journal := "WAL"
	if opt.build {
		journal = "OFF"
	}
	// The writer keeps a larger page cache: the hot pages of a large
	// register (the right edges of the assignment and event indexes, the
	// free list) then stay in memory however large the file grows.
	wdb, err := sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=journal_mode("+journal+")&_pragma=cache_size("+writerCache+")&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := wdb.PingContext(ctx); err != nil {
		wdb.Close()
		if _, serr := os.Stat(path); serr == nil && errors.Is(explain(err), registry.ErrStorage) && !errors.Is(err, os.ErrNotExist) {
			s, rerr := readOnlyStore(ctx, path, common)
			if rerr == nil {
				return s, nil
			}
			if errors.Is(rerr, errStaleWAL) {
				return nil, rerr
			}
		}
		return nil, fmt.Errorf("database %s: %w", path, explain(err))
	}
	if err := checkSchema(ctx, wdb, true); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("database %s: %w", path, explain(err))
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("database %s: %w", path, explain(err))
	}
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(maxReaders)
	rdb.SetMaxIdleConns(maxReaders)
	s := &Store{path: path, wdb: wdb, rdb: rdb, jobs: make(chan *job, maxBatch), quit: make(chan struct{}), done: make(chan struct{}), readers: newReaders()}
	s.DNS = newDNS(s)
	go s.writer()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Out of order: numbers are handed to branches of work ahead, so a
	// register made by a build with 00021 still gets 00020 when it lands.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if !pending {
		return nil
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// explain turns SQLite's terse errors about the file itself into advice,
// marked registry.ErrStorage so that callers answer "database unusable".
func explain(err error) error {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("not a cadastre database, or corrupt (%v): %w", err, registry.ErrStorage)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("database file is corrupt (%v); restore it from a backup: %w", err, registry.ErrStorage)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("database is read-only (%v): check the file's and its folder's permissions: %w", err, registry.ErrStorage)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("cannot open the database file (%v): check that its folder exists and is writable: %w", err, registry.ErrStorage)
		case sqlite3.SQLITE_BUSY:
			return fmt.Errorf("database is locked by another process (%v): %w", err, registry.ErrStorage)
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL:
			return fmt.Errorf("cannot write the database file (%v): check the disk: %w", err, registry.ErrStorage)
		}
	}
	return err
}

// storageErr names the file in an error about the file itself.
func (s *Store) storageErr(err error) error {
	if err != nil && errors.Is(err, registry.ErrStorage) && !strings.Contains(err.Error(), s.path) {
		return fmt.Errorf("database %s: %w", s.path, err)
	}
	return err
}

// errStaleWAL marks a read-only database whose write-ahead log cannot be read.
var errStaleWAL = errors.New("write-ahead log unreadable")

// readOnlyStore opens a database that cannot be written at all (file and
// folder read-only, such as a backup on read-only media) for reading. It
// is opened immutable: SQLite then needs no lock or shared-memory file,
// and assumes nobody changes the file while it is open.
//
// Immutable mode ignores the write-ahead log, so it is used only when the
// log holds nothing: a log with committed changes is read through an
// ordinary read-only connection, which needs the -shm file (or a folder
// where SQLite can create it), and the database is refused if that fails,
// rather than served without its latest changes.
func readOnlyStore(ctx context.Context, path, common string) (*Store, error) {
	mode := "mode=ro&immutable=1"
	wal := path + "-wal"
	if fi, err := os.Stat(wal); err == nil && fi.Size() > 0 {
		mode = "mode=ro"
	}
	rdb, err := sql.Open("sqlite", "file:"+path+"?"+mode+"&"+common+"&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if err := checkSchema(ctx, rdb, false); err != nil {
		rdb.Close()
		if mode == "mode=ro" {
			return nil, fmt.Errorf("database %s: its write-ahead log %s holds changes that cannot be read without the shared-memory file %s-shm, "+
				"which cannot be created here (%v): make the folder writable, or copy the database with its -wal file to a writable place; "+
				"it is refused rather than read without its latest changes: %w: %w", path, wal, path, err, errStaleWAL, registry.ErrStorage)
		}
		return nil, fmt.Errorf("database %s (read-only): %w", path, explain(err))
	}
	s := &Store{path: path, rdb: rdb, readOnly: true, quit: make(chan struct{}), done: make(chan struct{}), readers: newReaders()}
	s.DNS = newDNS(s)
	close(s.done)
	return s, nil
}

// checkSchema refuses a SQLite file that holds another program's tables
// (migrating it would graft cadastre's schema onto it) and, with migrate
// false, one whose schema is not current.
func checkSchema(ctx context.Context, db *sql.DB, migrating bool) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return err
	}
	var names []string
	ours := false
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		if n == "goose_db_version" {
			ours = true
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(names) > 0 && !ours {
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return fmt.Errorf("not a cadastre database: it holds other tables (%s): %w", strings.Join(names, ", "), registry.ErrStorage)
	}
	if !migrating {
		if len(names) == 0 {
			return fmt.Errorf("empty database, and it cannot be written to create the register: %w", registry.ErrStorage)
		}
		sub, err := fs.Sub(migrations, "migrations")
		if err != nil {
			return err
		}
		p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true), goose.WithGoMigrations(goMigrations()...))
		if err != nil {
			return err
		}
		if pending, err := p.HasPending(ctx); err != nil || pending {
			return fmt.Errorf("the schema is older than this cadastre and the file cannot be written to migrate it: %w", registry.ErrStorage)
		}
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close waits for queued writes and closes the database.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() {
		s.cmu.Lock()
		s.shut = true
		s.cmu.Unlock()
		close(s.quit)
		<-s.done
		for range maxReaders {
			if r := <-s.readers; r != nil {
				r.close()
			}
		}
		err = s.rdb.Close()
		if s.wdb != nil {
			err = errors.Join(err, s.wdb.Close())
		}
	})
	return err
}

// Update implements registry.Store: fn runs in a savepoint of a write
// transaction that may be shared with other callers' and is durable when
// Update returns nil.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("database %s: read-only (the file and its folder cannot be written): check permissions: %w", s.path, registry.ErrStorage)
	}
	j := &job{ctx: ctx, fn: fn, err: make(chan error, 1)}
	s.cmu.RLock()
	if s.shut {
		s.cmu.RUnlock()
		return fmt.Errorf("database %s: closed", s.path)
	}
	select {
	case s.jobs <- j:
		s.cmu.RUnlock()
	case <-ctx.Done():
		s.cmu.RUnlock()
		return ctx.Err()
	}
	// Once queued, wait for the outcome even if ctx ends: the writer skips
	// a job whose context has ended before it starts, and otherwise the
	// caller must learn whether its change committed.
	return s.storageErr(<-j.err)
}

func (s *Store) writer() {
	defer close(s.done)
	ctx := context.Background()
	var conn *sql.Conn
	stmts := map[string]*sql.Stmt{}
	rows := &rowCache{} // lives with the connection (rowcache.go)
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
		for _, st := range []driver.Stmt{rows.fold, rows.front} {
			if st != nil {
				conn.Raw(func(any) error { return st.Close() })
			}
		}
		if conn != nil {
			rows.raw.close(conn)
		}
		if conn != nil {
			conn.Close()
		}
	}()
	batch := make([]*job, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		case <-s.quit:
			// Drain what was queued before Close.
			for {
				select {
				case j := <-s.jobs:
					batch = append(batch, j)
					continue
				default:
				}
				break
			}
			if len(batch) == 0 {
				return
			}
		}
	more:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		if conn == nil {
			c, err := s.wdb.Conn(ctx)
			if err != nil {
				for _, j := range batch {
					j.err <- fmt.Errorf("database %s: %w", s.path, explain(err))
				}
				continue
			}
			conn = c
			rows.fold, rows.front, _ = setUpFold(ctx, conn)
		}
		s.runBatch(ctx, conn, stmts, rows, batch)
		select {
		case <-s.quit:
			if len(s.jobs) == 0 {
				return
			}
		default:
		}
	}
}

func (s *Store) runBatch(ctx context.Context, conn *sql.Conn, stmts map[string]*sql.Stmt, rows *rowCache, batch []*job) {
	fail := func(err error) {
		for _, j := range batch {
			j.err <- err
		}
	}
	// Transaction control goes through the statement cache too: parsing
	// BEGIN, SAVEPOINT, RELEASE and COMMIT afresh for every caller costs
	// more than running them.
	w := &wtx{conn: conn, stmts: stmts, rows: rows}
	if _, err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		rows.reset()
		fail(fmt.Errorf("database %s: begin: %w", s.path, explain(err)))
		return
	}
	if err := rows.begin(ctx, w); err != nil {
		w.exec(ctx, "ROLLBACK")
		fail(fmt.Errorf("database %s: begin: %w", s.path, explain(err)))
		return
	}
	results := make([]error, len(batch))
	ok := 0
	// broken fails the whole batch after a savepoint command failed: the
	// transaction no longer holds what each caller's savepoint says (a
	// caller's writes may have joined the others', or theirs be gone), so
	// nothing of it may commit, and every caller learns that it failed.
	broken := func(i int, cmd string, err error) {
		w.exec(ctx, "ROLLBACK")
		err = fmt.Errorf("database %s: %s: %w; the shared transaction was rolled back: %w", s.path, cmd, explain(err), registry.ErrStorage)
		for k := range results {
			if results[k] == nil {
				results[k] = err
			} else if k == i {
				results[k] = errors.Join(results[k], err)
			}
		}
		for k, j := range batch {
			j.err <- mapErr(results[k])
		}
	}
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if len(batch) > 1 {
			if _, err := w.exec(ctx, "SAVEPOINT job"); err != nil {
				broken(i, "savepoint", err)
				return
			}
		}
		w.use.begin()
		w.cnt.begin()
		w.deferring, w.held, w.failed, w.front = false, held{}, nil, frontTake{}
		t := &tx{q: w}
		err := safeRun(j.fn, t)
		if err == nil && w.held.active() {
			err = w.flush(ctx) // a held write fails its caller
		}
		if err == nil {
			err = t.settleFront(ctx)
		}
		if err == nil && w.failed != nil {
			err = w.failed
		}
		w.deferring, w.held, w.failed, w.front = false, held{}, nil, frontTake{}
		w.use.end(err != nil)
		w.cnt.end(err != nil)
		results[i] = err
		if len(batch) > 1 {
			if err != nil {
				if _, rerr := w.exec(ctx, "ROLLBACK TO job"); rerr != nil {
					broken(i, "rollback to savepoint", rerr)
					return
				}
			}
			if _, rerr := w.exec(ctx, "RELEASE job"); rerr != nil {
				broken(i, "release savepoint", rerr)
				return
			}
		}
		if err == nil {
			ok++
		}
	}
	if ok == 0 || (len(batch) == 1 && results[0] != nil) {
		w.exec(ctx, "ROLLBACK") // nothing to keep; a failure leaves nothing either
	} else {
		err := w.use.flush(ctx, w)
		if err == nil {
			err = w.commitCounts(ctx)
		}
		if err == nil {
			_, err = w.exec(ctx, "COMMIT")
		}
		if err != nil {
			w.exec(ctx, "ROLLBACK")
			err = fmt.Errorf("database %s: commit: %w", s.path, explain(err))
			for i := range results {
				if results[i] == nil {
					results[i] = err
				}
			}
		}
	}
	for i, j := range batch {
		j.err <- mapErr(results[i])
	}
}

// safeRun turns a panic in fn into an error so one caller's bug cannot
// take down the writer and every other caller with it.
func safeRun(fn func(registry.Tx) error, t registry.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in transaction: %v", r)
		}
	}()
	return fn(t)
}

// View implements registry.Store.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	var r *reader
	select {
	case r = <-s.readers:
	case <-s.quit:
		// Closed: fail at once rather than wait for a reader that never
		// comes back.
		return fmt.Errorf("database %s: closed: %w", s.path, registry.ErrStorage)
	case <-ctx.Done():
		return ctx.Err()
	}
	if r == nil {
		c, err := s.rdb.Conn(ctx)
		if err != nil {
			s.readers <- nil
			return fmt.Errorf("database %s: %w", s.path, explain(err))
		}
		r = &reader{conn: c, stmts: map[string]*sql.Stmt{}}
	}
	healthy := false
	defer func() {
		if healthy {
			s.readers <- r
			return
		}
		r.close()
		s.readers <- nil
	}()
	if _, err := r.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("database %s: %w", s.path, explain(err))
	}
	err := safeRun(fn, &tx{q: &rtx{r: r}})
	_, rerr := r.conn.ExecContext(context.Background(), "ROLLBACK")
	healthy = rerr == nil
	return s.storageErr(mapErr(err))
}

// maxReaders bounds concurrent read transactions (and read connections).
const maxReaders = 8

// maxStmts bounds a connection's cache of prepared statements: queries with
// literal ID lists vary, and must not grow the cache without end.
const maxStmts = 512

// reader is one read connection with its prepared statements.
type reader struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (r *reader) close() {
	for _, st := range r.stmts {
		st.Close()
	}
	r.conn.Close()
}

func newReaders() chan *reader {
	c := make(chan *reader, maxReaders)
	for range maxReaders {
		c <- nil // a free slot; its connection is opened on first use
	}
	return c
}

// querier is what the tx methods need of a connection.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// wtx runs statements on the writer's connection, prepared once each.
type wtx struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	// use holds the batch's tenant use counts until COMMIT (usecache.go).
	use useCache
	// cnt holds the batch's pool counter changes until COMMIT (counters.go).
	cnt countCache
	// rows holds region and pool rows from one write transaction to the
	// next (rowcache.go); every statement is shown to it first.
	rows *rowCache
	// deferring: the running caller called DeferWrites; held is what it
	// holds back of an allocation (fold.go), sent before any other
	// statement and when the caller's function returns.
	deferring bool
	held      held
	// front is the running caller's take of a pool's frontier prefix,
	// until what follows it is settled (frontier.go).
	front frontTake
	// failed is the first failure of a held write in the running
	// caller's function: it fails the caller's transaction even if the
	// caller went on (heldFailed).
	failed error
}

func (w *wtx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxStmts {
		// Queries with literal lists vary without end: start the cache over.
		for k, st := range w.stmts {
			st.Close()
			delete(w.stmts, k)
		}
	}
	st, err := w.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	w.stmts[q] = st
	return st, nil
}

// The writer's statements are all short (point reads and single-row
// writes), so a caller's context is checked before each one instead of
// handed to the driver, which would start a goroutine per statement to
// watch it. A caller whose context ends mid-transaction still fails, and
// its writes roll back, at the next statement.
func (w *wtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if w.held.active() {
		if err := w.flush(ctx); err != nil {
			return nil, err
		}
	}
	return w.execNow(ctx, q, args...)
}

// execNow is exec without sending what is held first.
func (w *wtx) execNow(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if w.rows != nil {
		w.rows.written(q)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rs := w.raw(ctx, q); rs != nil {
		if res, ok, err := w.execRaw(ctx, rs, args); ok {
			return res, err
		}
	}
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.WithoutCancel(ctx), args...)
}

func (w *wtx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if w.held.active() {
		if err := w.flush(ctx); err != nil {
			return nil, err
		}
	}
	return w.queryNow(ctx, q, args...)
}

// queryNow is query without sending what is held first.
func (w *wtx) queryNow(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if w.rows != nil {
		w.rows.written(q)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := w.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.WithoutCancel(ctx), args...)
}

// rtx runs statements in a read transaction.
type rtx struct {
	r *reader
}

func (r *rtx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return nil, errors.New("write in a read-only view")
}

func (r *rtx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, ok := r.r.stmts[q]
	if !ok {
		if len(r.r.stmts) >= maxStmts {
			return r.r.conn.QueryContext(ctx, q, args...)
		}
		var err error
		if st, err = r.r.conn.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		r.r.stmts[q] = st
	}
	return st.QueryContext(ctx, args...)
}

// mapErr turns constraint failures into the registry's sentinel errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		msg := se.Error()
		switch {
		case strings.Contains(msg, "overlaps"):
			return fmt.Errorf("%w: %w", err, registry.ErrOverlap)
		case se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", err, registry.ErrExists)
		case se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, strings.Contains(msg, "FOREIGN KEY constraint failed"):
			// A row something still refers to (a block with pools, a space
			// with blocks): the registry names the dependents before it
			// deletes, so this is the database's own guard behind it.
			return fmt.Errorf("%w: still referenced: %w", err, registry.ErrState)
		}
		return explain(err)
	}
	return err
}
