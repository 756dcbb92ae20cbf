package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// baseDSN is the test server: $CADASTRE_TEST_POSTGRES, or the one these
// machines run on loopback (trust auth, database test).
func baseDSN() string {
	if d := os.Getenv("CADASTRE_TEST_POSTGRES"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

var schemaSeq atomic.Int64

// freshSchema makes an empty schema for one test and drops it afterwards,
// returning a DSN whose search_path is that schema.
func freshSchema(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, baseDSN())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s: %v", baseDSN(), err)
		}
		t.Skipf("no PostgreSQL at %s (%v); scripts/setup starts it", baseDSN(), err)
	}
	name := fmt.Sprintf("cadastre_t%d_%d", time.Now().UnixNano()%1e9, schemaSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), baseDSN())
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
			c.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(baseDSN(), "?") {
		sep = "&"
	}
	return baseDSN() + sep + "search_path=" + name
}

func open(t *testing.T) registry.Store {
	s, err := postgres.Open(context.Background(), freshSchema(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

// A search_path naming no existing schema is refused with a message that
// says so, not the migration tool's confusing "relation does not exist".
func TestOpenRefusesMissingSchema(t *testing.T) {
	dsn := freshSchema(t) // proves the server is there (or skips)
	dsn = dsn[:strings.LastIndex(dsn, "search_path=")] + "search_path=cadastre_no_such_schema"
	_, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "cadastre_no_such_schema") || !strings.Contains(err.Error(), "CREATE SCHEMA") {
		t.Fatalf("Open with a missing schema: %v", err)
	}
}
