package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestPoolsPlanReadsRegionsOnce: the list of every pool, which the DNS
// server reads at each change of the register (authdns/server
// readDelta), joins each small table once, in its generic plan too (pgx's
// prepared statement after its fifth run on a connection). With its
// filters written as `($1 = 0 OR p.region_id = $1)` the generic plan
// estimated one pool and read the regions and relocations once per pool:
// at the cloud demo's 1,280 pools 86,000 region rows and 40 ms of a
// backend at every DNS change (bench/README.md, "Session 13: DNS at 10M
// names on PostgreSQL").
func TestPoolsPlanReadsRegionsOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := registry.New(s)
	const regions, poolsPer = 16, 8
	for r := range regions {
		name := fmt.Sprintf("r%02d", r)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(fmt.Sprintf("40.%d.0.0/16", 64+r)), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
			t.Fatal(err)
		}
		for p := range poolsPer {
			if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(fmt.Sprintf("40.%d.%d.0/24", 64+r, p)), Region: name}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, q := range []string{`ANALYZE pools`, `ANALYZE regions`, `ANALYZE blocks`, `ANALYZE relocations`} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var region int64
	if err := s.View(ctx, func(tx registry.Tx) error {
		r, err := tx.RegionByName(ctx, "r03")
		region = r.ID
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		f     registry.PoolFilter
		pools int
	}{
		{"every pool", registry.PoolFilter{}, regions * poolsPer},
		{"a region's", registry.PoolFilter{RegionID: region}, poolsPer},
		{"a family", registry.PoolFilter{Family: 4}, regions * poolsPer},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []registry.Pool
			if err := s.View(ctx, func(tx registry.Tx) error {
				got, err = tx.Pools(ctx, c.f)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != c.pools {
				t.Fatalf("%d pools, want %d", len(got), c.pools)
			}
			q, args := poolsQuery(c.f)
			for _, plan := range []struct {
				name    string
				explain func(context.Context, *Store, string, string, []any) (planFacts, error)
			}{
				{"custom plan", func(ctx context.Context, s *Store, rel, q string, args []any) (planFacts, error) {
					return explainOn(ctx, s.pool, rel, q, args, false)
				}},
				{"generic plan", func(ctx context.Context, s *Store, rel, q string, args []any) (planFacts, error) {
					return explainGeneric(ctx, s.pool, rel, q, args, false)
				}},
			} {
				p, err := plan.explain(ctx, s, "regions", q, args)
				if err != nil {
					t.Fatal(err)
				}
				// Two joins to regions (the pool's and a relocation's
				// lender), each reading the table at most once.
				if p.read > 2*regions {
					t.Errorf("%s: %d region rows read for %d pools of %d regions, want <= %d (a scan per pool?):\n%s",
						plan.name, p.read, len(got), regions, 2*regions, p.text)
				}
				if strings.TrimSpace(p.text) == "" {
					t.Errorf("%s: no plan", plan.name)
				}
			}
		})
	}
}
