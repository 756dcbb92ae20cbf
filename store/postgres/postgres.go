// Package postgres is the Store for more than one machine: any number of
// stateless `cadastre serve` replicas on one PostgreSQL database. It keeps
// the schema and semantics of the SQLite store. Every write transaction is
// SERIALIZABLE and retried on a serialisation failure, so concurrent
// allocations in one region queue behind each other while other regions go
// on (no global lock); exclusion constraints on cidr columns make the
// database itself refuse overlapping blocks, pools and live assignments,
// whatever any replica does.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cadastre-ipam/cadastre/registry"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxAttempts bounds retries of a transaction that keeps conflicting.
const maxAttempts = 50

// Store is the PostgreSQL Store.
type Store struct {
	pool *pgxpool.Pool
	name string // the DSN without its password, for messages
}

// Options tune a Store.
type Options struct {
	// MaxConns bounds the pool (default 16).
	MaxConns int32
}

// Open connects to dsn and applies pending migrations. The schema used is
// the DSN's search_path (default public).
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	cfg.MaxConns = 16
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, registry.ErrStorage)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w: %w", name, err, registry.ErrStorage)
	}
	s := &Store{pool: pool, name: name}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
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
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// retryable reports a serialisation failure or deadlock: the transaction
// did nothing and may run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Update implements registry.Store.
func (s *Store) Update(ctx context.Context, fn func(registry.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = s.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
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
	return fmt.Errorf("%s: transaction kept conflicting after %d attempts: %w", s.name, maxAttempts, registry.ErrStorage)
}

// View implements registry.Store with a read-only snapshot.
func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	return mapErr(s.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn))
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(registry.Tx) error) (err error) {
	t, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("%s: begin: %w: %w", s.name, err, registry.ErrStorage)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Rollback(context.Background())
			err = fmt.Errorf("panic in transaction: %v", r)
		}
	}()
	if err := fn(&tx{t: t}); err != nil {
		t.Rollback(context.Background())
		return err
	}
	return t.Commit(ctx)
}

// mapErr turns constraint failures into the registry's sentinel errors.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23P01": // exclusion_violation
		return fmt.Errorf("%s overlaps existing space (%s): %w", tableWord(pe.TableName), pe.ConstraintName, registry.ErrOverlap)
	case "23505": // unique_violation
		return fmt.Errorf("%s already exists (%s): %w", tableWord(pe.TableName), pe.ConstraintName, registry.ErrExists)
	case "P0001":
		return fmt.Errorf("%s: %w", pe.Message, registry.ErrState)
	case "25006": // read_only_sql_transaction
		return fmt.Errorf("write in a read-only view: %w", registry.ErrStorage)
	case "57P01", "57P02", "57P03", "53300", "08006", "08001":
		return fmt.Errorf("database unavailable: %s: %w", pe.Message, registry.ErrStorage)
	}
	return err
}

func tableWord(t string) string {
	return strings.TrimSuffix(t, "s")
}

// querier is what tx needs of a pgx transaction.
type tx struct{ t pgx.Tx }

var _ registry.Tx = (*tx)(nil)

func (t *tx) exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.t.Exec(ctx, q, args...)
	return tag, mapErr(err)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (pgx.Rows, error) {
	return t.t.Query(ctx, q, args...)
}

// keep database/sql imported for stdlib's pool adapter above.
var _ = sql.ErrNoRows
