// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server, so that tests of several packages (stores, DNS, end to end) can
// share one server without seeing each other's data.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// BaseDSN is the test server: $CADASTRE_TEST_POSTGRES, or the one these
// machines run on loopback (trust auth, database test).
func BaseDSN() string {
	if d := os.Getenv("CADASTRE_TEST_POSTGRES"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var seq atomic.Int64

// FreshSchema makes an empty schema for one test, dropped when it ends,
// and returns a DSN whose search_path is that schema. Without a server it
// stops the test as testenv.Need says: it skips, or fails under $CI.
func FreshSchema(t testing.TB) string {
	t.Helper()
	base := BaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		testenv.Need(t, "PostgreSQL at "+base, fmt.Sprintf("%v (scripts/setup starts it)", err))
	}
	name := fmt.Sprintf("cadastre_t%d_%d", time.Now().UnixNano()%1e9, seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			c.Exec(ctx, "DROP SCHEMA "+name+" CASCADE")
			c.Close(ctx)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + name
}
