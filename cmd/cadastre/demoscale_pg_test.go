package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestDemoScaleOnPostgreSQL: `demo --scale` on PostgreSQL builds the
// register the SQLite build of the same seed builds (their exports are
// equal, byte for byte), in one load: every assignment is written by one
// transaction into the empty register, the path that builds the
// assignments' indexes once at the end (issue 16). Before, the demo made
// a load per region, and every region after the first went into every
// index row by row. The indexes and constraints are then those of a
// freshly migrated schema, whatever the migrations made.
func TestDemoScaleOnPostgreSQL(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	args := []string{"demo", "--scale", "3000", "--seed", "5", "--child-pools", "0", "--until", "2026-11-01"}
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	mustCLI(t, db, args...)
	want := mustCLI(t, db, "export")
	unused := filepath.Join(dir, "unused.db")
	mustCLI(t, unused, append([]string{"--postgres", dsn}, args...)...)
	if got := mustCLI(t, unused, "--postgres", dsn, "export"); got != want {
		t.Errorf("the PostgreSQL build exports another register than SQLite's (%d and %d bytes)", len(got), len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var writers, rows int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT xmin::text), count(*) FROM assignments`).Scan(&writers, &rows); err != nil {
		t.Fatal(err)
	}
	if writers != 1 || rows != 3000 {
		t.Errorf("%d assignments written by %d transactions, want 3000 by one (one load into the empty register)", rows, writers)
	}

	// The schema after the build against one only migrated.
	fresh := pgtest.FreshSchema(t)
	mustCLI(t, unused, "--postgres", fresh, "report")
	defs := func(dsn string) []string {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		// Index definitions name the schema (each test's own), taken out.
		rows, err := c.Query(ctx, `SELECT replace(pg_get_indexdef(indexrelid), current_schema() || '.', '') FROM pg_index WHERE indrelid = 'assignments'::regclass
			UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'assignments'::regclass`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	if got, want := defs(dsn), defs(fresh); !slices.Equal(got, want) {
		t.Errorf("indexes and constraints of assignments after the build:\n%q\nwant those of a migrated schema:\n%q", got, want)
	}
}
