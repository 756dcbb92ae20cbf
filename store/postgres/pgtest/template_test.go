package pgtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// The copies' DSNs name the copy and schema public, and keep a query a
// test can append "&key=value" to.
func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/cadastre_tdb_1_2?search_path=public&sslmode=disable"},
		{"postgres://postgres@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/cadastre_tdb_1_2?search_path=public"},
		{"postgresql://u@h/test?search_path=other", "postgresql://u@h/cadastre_tdb_1_2?search_path=public"},
		{"host=127.0.0.1 dbname=test", "host=127.0.0.1 dbname=test dbname=cadastre_tdb_1_2 search_path=public"},
	} {
		if got := withDatabase(c.dsn, "cadastre_tdb_1_2"); got != c.want {
			t.Errorf("withDatabase(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
	for _, n := range []string{"cadastre_tdb_0123abcd_5_tpl", "cadastre_tdb_0123abcd_5_12"} {
		if m := leftBehind.FindStringSubmatch(n); m == nil || m[1] != "0123abcd" || m[2] != "5" {
			t.Errorf("%s: not recognised as left behind by owner 5 of base 0123abcd: %v", n, m)
		}
	}
	if leftBehind.MatchString("cadastre_tdb_0123abcd_5_x") || leftBehind.MatchString("cadastre_tdb_5_tpl") || leftBehind.MatchString("test") {
		t.Error("leftBehind matches a name MigratedDatabase does not give")
	}
}

// A copy holds what the template's migrate wrote, is the test's alone, and
// the databases of an owner whose lock is free are dropped by the next
// process, those of a live owner are not.
func TestMigratedDatabaseAndLeftBehind(t *testing.T) {
	ctx := context.Background()
	migrate := func(ctx context.Context, dsn string) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "CREATE TABLE migrated (n int); INSERT INTO migrated VALUES (1)")
		return err
	}
	a, b := MigratedDatabase(t, migrate), MigratedDatabase(t, migrate)
	for _, dsn := range []string{a, b} {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM migrated").Scan(&n); err != nil || n != 1 {
			t.Errorf("%s: %d rows, %v; want the template's 1", dsn, n, err)
		}
		c.Exec(ctx, "INSERT INTO migrated VALUES (2)")
		c.Close(ctx)
	}

	base, err := pgx.Connect(ctx, BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close(ctx)
	live, err := pgx.Connect(ctx, BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(ctx)
	dead, alive := int32(1<<30+1), int32(1<<30+2) // outside rand.Int32N(1<<30)
	if _, err := live.Exec(ctx, "SELECT pg_advisory_lock($1, $2)", ownerLock, alive); err != nil {
		t.Fatal(err)
	}
	tag, err := baseTag(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	// The last: a template of a dead owner made from another base
	// database, whose owners' locks are not visible from this one (a live
	// process of another checkout's tests, as far as this one can tell).
	names := []string{fmt.Sprintf("cadastre_tdb_%s_%d_tpl", tag, dead), fmt.Sprintf("cadastre_tdb_%s_%d_3", tag, dead), fmt.Sprintf("cadastre_tdb_%s_%d_tpl", tag, alive),
		fmt.Sprintf("cadastre_tdb_%s_%d_tpl", otherTag(tag), dead)}
	for _, n := range names {
		if _, err := base.Exec(ctx, "CREATE DATABASE "+n); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		base.Exec(ctx, "DROP DATABASE IF EXISTS "+names[2])
		base.Exec(ctx, "DROP DATABASE IF EXISTS "+names[3])
	})
	if err := dropLeftBehind(ctx, base, tag, 0); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		var there bool
		if err := base.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", n).Scan(&there); err != nil {
			t.Fatal(err)
		}
		if there != (i >= 2) {
			t.Errorf("%s there = %v after dropLeftBehind, want %v", n, there, i >= 2)
		}
	}
}

// otherTag is a base tag that is not tag.
func otherTag(tag string) string {
	if tag == "00000000" {
		return "11111111"
	}
	return "00000000"
}
