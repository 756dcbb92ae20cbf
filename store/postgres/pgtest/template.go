package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// Migrate brings the empty database at dsn up to the current schema
// (postgres.Open and Close: pgtest cannot import the store, whose own
// tests import pgtest).
type Migrate func(ctx context.Context, dsn string) error

// MigratedDatabase gives the test a database of its own, already migrated,
// dropped when the test ends, and returns its DSN (schema public).
//
// Why: migrating an empty schema costs the server about 0.5 s of CPU (35
// migrations, each its own transaction, under one advisory lock that
// every test process on the server waits for); a copy of a migrated
// template (CREATE DATABASE ... TEMPLATE) costs about 0.17 s and waits
// for nobody. The template is made once per test process, by the first
// caller's migrate: every caller in one process must pass the same. It
// is named after a random number the process holds a session advisory
// lock on, so a later process can tell that a template or database was
// left behind by one that died (a timeout's panic runs no cleanups) and
// drops it. A test that needs an empty schema or several schemas of one
// database (migration tests, schema-keyed locks) uses FreshSchema.
func MigratedDatabase(t testing.TB, migrate Migrate) string {
	t.Helper()
	tpl.Lock()
	defer tpl.Unlock()
	if tpl.name == "" {
		if err := tpl.make(t, migrate); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("%s_%d", tpl.prefix, tpl.seq.Add(1))
	if _, err := tpl.conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tpl.name); err != nil {
		t.Fatalf("pgtest: copying the migrated template %s: %v", tpl.name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tpl.Lock()
		defer tpl.Unlock()
		// FORCE: a store the test left open must not keep its database.
		if _, err := tpl.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})
	return withDatabase(BaseDSN(), name)
}

// tpl is the process's template: its name, the connection that holds
// the process's advisory lock and runs CREATE and DROP DATABASE (one
// connection for the process, under the mutex), the copies' numbers.
var tpl template

type template struct {
	sync.Mutex
	name, prefix string
	conn         *pgx.Conn
	seq          atomic.Int64
}

// ownerLock is the advisory lock class a test process holds, with its
// number as the key, while its template and copies may be in use.
const ownerLock = 7271879

// leftBehind matches the names MigratedDatabase gives: prefix, the tag of
// the base database (baseTag), the owner's number, then a copy's number
// (none for the template).
var leftBehind = regexp.MustCompile(`^cadastre_tdb_([0-9a-f]{8})_([0-9]+)(_tpl|_[0-9]+)$`)

// baseTag names the database conn is connected to (the base DSN's), in
// the names of the templates and copies made from it. An owner's advisory
// lock is held in that database, and PostgreSQL's advisory locks are per
// database: a process whose base is another database (another checkout's
// tests on the same server) cannot see the lock, and without the tag took
// the owner for dead and dropped a live process's template under it.
func baseTag(ctx context.Context, conn *pgx.Conn) (string, error) {
	var db string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		return "", fmt.Errorf("pgtest: current database: %w", err)
	}
	sum := sha256.Sum256([]byte(db))
	return hex.EncodeToString(sum[:4]), nil
}

// make creates and migrates the template, after dropping what dead
// processes left behind.
func (p *template) make(t testing.TB, migrate Migrate) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := BaseDSN()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		testenv.Need(t, "PostgreSQL at "+base, fmt.Sprintf("%v (scripts/setup starts it)", err))
	}
	owner := rand.Int32N(1 << 30)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", ownerLock, owner); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("pgtest: owner lock: %w", err)
	}
	tag, err := baseTag(ctx, conn)
	if err == nil {
		err = dropLeftBehind(ctx, conn, tag, owner)
	}
	if err != nil {
		conn.Close(ctx)
		return err
	}
	prefix := "cadastre_tdb_" + tag + "_" + strconv.Itoa(int(owner))
	name := prefix + "_tpl"
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("pgtest: template: %w", err)
	}
	if err := migrate(ctx, withDatabase(base, name)); err != nil {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
		return fmt.Errorf("pgtest: migrating the template %s: %w", name, err)
	}
	// Nobody connects to the template again: a connection would make
	// every copy fail ("being accessed by other users").
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" WITH ALLOW_CONNECTIONS false"); err != nil {
		conn.Close(ctx)
		return fmt.Errorf("pgtest: template: %w", err)
	}
	p.name, p.prefix, p.conn = name, prefix, conn
	return nil
}

// dropLeftBehind drops the templates and copies made from the base
// database of tag (baseTag) by test processes that no longer hold their
// advisory lock (they ended without their cleanups).
func dropLeftBehind(ctx context.Context, conn *pgx.Conn, tag string, self int32) error {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'cadastre\\_tdb\\_%'")
	if err != nil {
		return fmt.Errorf("pgtest: listing databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("pgtest: listing databases: %w", err)
	}
	gone := map[int64]bool{}
	for _, n := range names {
		m := leftBehind.FindStringSubmatch(n)
		if m == nil || m[1] != tag {
			continue // another base database's: its owners' locks are not visible here
		}
		owner, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil || int32(owner) == self {
			continue
		}
		if _, seen := gone[owner]; !seen {
			var free bool
			if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", ownerLock, int32(owner)).Scan(&free); err != nil {
				return fmt.Errorf("pgtest: owner lock of %s: %w", n, err)
			}
			if free {
				// Keep it while dropping, so that two processes do not both drop.
				defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, $2)", ownerLock, int32(owner))
			}
			gone[owner] = free
		}
		if gone[owner] {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("pgtest: dropping %s, left behind: %w", n, err)
			}
		}
	}
	return nil
}

// withDatabase is dsn with its database replaced by name and search_path
// public (a URL, or keyword=value pairs, in which the last of a key
// counts). A URL always has a query then, as FreshSchema's had, so that
// tests may append "&key=value".
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		q := u.Query()
		q.Set("search_path", "public")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn) + " dbname=" + name + " search_path=public"
}
