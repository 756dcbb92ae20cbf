// Command pgplans prints the plan of every kind of page of assignments
// (EXPLAIN (ANALYZE, BUFFERS)) on the PostgreSQL register a DSN names,
// with the assignment rows each plan's steps read: the measurement behind
// bench/README.md's page figures at a million assignments and more (what
// TestAssignmentPagePlans checks on a register of its own). It only reads;
// EXPLAIN ANALYZE runs each page's statement.
//
//	go run ./bench/pgplans 'postgres://postgres@127.0.0.1:5432/DB?sslmode=disable'
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/store/postgres"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pgplans DSN (the register's PostgreSQL database)")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "pgplans:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dsn string) error {
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return postgres.PrintPagePlans(ctx, db, os.Stdout)
}
