package storetest

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Rows reads query's rows, each "COLUMN COLUMN ..." of two text columns.
func Rows(t testing.TB, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, a+" "+b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// SpacePerObjectMigration: migration 18 gives pools, assignments and
// reservations the space of their block, for rows made before it. A
// register of a vpc-a pool and a global pool, each with an assignment,
// and a reservation in vpc-a, taken back to version 17 and up again
// (goTo, which answers query's rows after), has vpc-a's rows in vpc-a and
// the global pool's in global; the backfilled rows are then checked per
// space as new ones are.
func SpacePerObjectMigration(t *testing.T, open Open, goTo func(t *testing.T, version int64, query string) []string) {
	ctx := context.Background()
	s := open(t)
	reg := registry.New(s)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := reg.AddSpace(ctx, registry.Space{Name: "vpc-a"})
	must(err)
	_, err = reg.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}})
	must(err)
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "vpc-a"})
	must(err)
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: mp("40.64.0.0/16"), Source: registry.SourceRIR, Registry: "arin"})
	must(err)
	for _, p := range []string{"10.1.0.0/16", "40.64.0.0/24"} {
		_, err = reg.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "r", UseAll: true})
		must(err)
	}
	for _, p := range []string{"10.1.0.0/24", "40.64.0.0/28"} {
		_, err = reg.Allocate(ctx, registry.Request{Prefix: mp(p)})
		must(err)
	}
	_, err = reg.Reserve(ctx, registry.ReservationSpec{Prefix: mp("10.1.2.0/29"), Reason: "gw"})
	must(err)
	must(s.Close())

	for _, c := range []struct {
		query string
		want  []string
	}{
		{`SELECT CAST(prefix AS TEXT), space FROM pools ORDER BY id`, []string{"10.1.0.0/16 vpc-a", "40.64.0.0/24 global"}},
		// By length: SQLite keeps no prefix text of an assignment (00033).
		{`SELECT bits, space FROM assignments ORDER BY id`, []string{"24 vpc-a", "28 global"}},
		{`SELECT CAST(prefix AS TEXT), space FROM reservations ORDER BY id`, []string{"10.1.2.0/29 vpc-a"}},
	} {
		if got := goTo(t, 17, c.query); !slices.Equal(got, c.want) {
			t.Errorf("after migrating from 17: %s: %q, want %q", c.query, got, c.want)
		}
	}

	s = open(t)
	defer s.Close()
	reg = registry.New(s)
	if _, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.128/25"), Space: "vpc-a"}); !errors.Is(err, registry.ErrOverlap) {
		t.Errorf("alloc over vpc-a's backfilled assignment: %v, want an overlap", err)
	}
	_, err = reg.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate})
	must(err)
	_, err = reg.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.1.0.0/16"), Region: "r", Space: registry.PrivateSpace, UseAll: true})
	must(err)
	if _, err := reg.Allocate(ctx, registry.Request{Prefix: mp("10.1.0.0/24"), Space: registry.PrivateSpace}); err != nil {
		t.Errorf("alloc 10.1.0.0/24 in space private beside vpc-a's: %v", err)
	}
}
