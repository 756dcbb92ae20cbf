package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestFreePlans: a pool's free prefixes are read and deleted through the
// free table's key, one range of the pool's addresses a prefix length and
// scope (freescope.go; 00059 dropped free_pool, which every allocation
// wrote), never by a walk of the free table; and they are the ones a
// condition on the pool alone finds. Fails on main: free_pool exists.
func TestFreePlans(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := registry.New(s)
	// Pools of two regions, IPv4 and IPv6, side by side in the free key.
	var pools []netip.Prefix
	for r := range 2 {
		name := fmt.Sprintf("r%d", r)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{fmt.Sprintf("40.%d.0.0/16", 64+r), fmt.Sprintf("2603:10%02x::/32", r)} {
			if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(b), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{fmt.Sprintf("40.%d.0.0/20", 64+r), fmt.Sprintf("40.%d.16.0/22", 64+r),
			fmt.Sprintf("2603:10%02x::/48", r), fmt.Sprintf("2603:10%02x:1::/56", r)} {
			pp := netip.MustParsePrefix(p)
			if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: pp, Region: name}); err != nil {
				t.Fatal(err)
			}
			pools = append(pools, pp)
		}
	}
	// Each pool's free space, cut into one prefix of each length from the
	// pool's to the family's longest (halves, the last one twice), every
	// other one filed under the pool's child scope (minus its ID).
	type poolRow struct {
		id, region int64
		p          netip.Prefix
	}
	var rows []poolRow
	r, err := s.pool.Query(ctx, `SELECT id, region_id, prefix::text FROM pools ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var pr poolRow
		var txt string
		if err := r.Scan(&pr.id, &pr.region, &txt); err != nil {
			t.Fatal(err)
		}
		pr.p = netip.MustParsePrefix(txt)
		rows = append(rows, pr)
	}
	r.Close()
	if len(rows) != len(pools) {
		t.Fatalf("%d pools, want %d", len(rows), len(pools))
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM free`); err != nil {
		t.Fatal(err)
	}
	for _, pr := range rows {
		cur := pr.p
		for i := 0; cur.Bits() < cur.Addr().BitLen(); i++ {
			lo := netip.PrefixFrom(cur.Addr(), cur.Bits()+1)
			hi := netip.PrefixFrom(prefix.Last(cur), cur.Bits()+1).Masked()
			scope := pr.region
			if i%2 == 1 {
				scope = -pr.id
			}
			if _, err := s.pool.Exec(ctx, `INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES ($1, $2, $3, $4, $5)`,
				scope, prefix.Family(hi), hi.Bits(), addrBytes(hi.Addr()), pr.id); err != nil {
				t.Fatal(err)
			}
			cur = lo
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES ($1, $2, $3, $4, $5)`,
			pr.region, prefix.Family(cur), cur.Bits(), addrBytes(cur.Addr()), pr.id); err != nil {
			t.Fatal(err)
		}
	}
	// And the free lists of other scopes, as many as a register of a
	// million assignments holds in a few of its regions (95,000 rows in
	// all there), so that the planner weighs a walk of the table as it
	// would there: under the other scopes' numbers, of a pool of their own.
	var pad int64
	if err := s.pool.QueryRow(ctx, `INSERT INTO pools (prefix, family, first, last, bits, block_id, region_id, created_at)
		SELECT '2603:10ff::/48', 6, '\x260310ff000000000000000000000000'::bytea, '\x260310ff0000ffffffffffffffffffff'::bytea, 48, block_id, region_id, 0
		FROM pools LIMIT 1 RETURNING id`).Scan(&pad); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO free (region_id, family, bits, addr, pool_id)
		SELECT 1000000 + i % 50, 6, 128, decode(lpad(to_hex(i), 32, '0'), 'hex'), $1 FROM generate_series(1, 30000) i`, pad); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE free`); err != nil {
		t.Fatal(err)
	}

	t.Run("no index of the free table but its key", func(t *testing.T) {
		var idx []string
		r, err := s.pool.Query(ctx, `SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'free'::regclass ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
			var n string
			if err := r.Scan(&n); err != nil {
				t.Fatal(err)
			}
			idx = append(idx, n)
		}
		r.Close()
		if !slices.Equal(idx, []string{"free_pkey"}) {
			t.Errorf("indexes of free: %v, want [free_pkey]", idx)
		}
	})

	// freeOf is what a condition on the pool alone finds (the answer
	// free_pool gave).
	freeOf := func(id int64) []registry.FreePrefix {
		r, err := s.pool.Query(ctx, `SELECT bits, addr, pool_id, region_id FROM free WHERE pool_id = $1 ORDER BY addr`, id)
		all, err := collect(r, err, rowscan.Free)
		if err != nil {
			t.Fatal(err)
		}
		return all
	}
	for _, pr := range rows {
		t.Run("pool "+pr.p.String(), func(t *testing.T) {
			want := freeOf(pr.id)
			if len(want) != pr.p.Addr().BitLen()-pr.p.Bits()+1 {
				t.Fatalf("%d free prefixes set up", len(want))
			}
			var got []netip.Prefix
			if err := s.View(ctx, func(rt registry.Tx) error {
				got, err = rt.(*tx).FreeOfPool(ctx, pr.id)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			var wantP []netip.Prefix
			for _, f := range want {
				wantP = append(wantP, f.Prefix)
			}
			if !slices.Equal(got, wantP) {
				t.Errorf("FreeOfPool: %v, want %v", got, wantP)
			}
			last := netip.PrefixFrom(prefix.Last(pr.p), pr.p.Addr().BitLen())
			for _, p := range []netip.Prefix{pr.p, netip.PrefixFrom(pr.p.Addr(), pr.p.Bits()+2), last, netip.PrefixFrom(last.Addr(), pr.p.Bits()+3).Masked()} {
				var got []registry.FreePrefix
				if err := s.View(ctx, func(rt registry.Tx) error {
					got, err = rt.(*tx).FreeWithin(ctx, pr.id, p)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				if w := rowscan.Overlapping(slices.Clone(want), p); !slices.Equal(got, w) || len(w) == 0 {
					t.Errorf("FreeWithin %v: %v, want %v", p, got, w)
				}
			}
			_, first, last2, _ := span(pr.p)
			for _, c := range []struct {
				name, q string
				args    []any
			}{
				{"free of a pool", freeOfPoolSQL, []any{pr.id}},
				{"free within", freeWithinSQL, []any{pr.id, first, last2}},
				{"delete a pool's free", poolFreeDeleteSQL, []any{pr.id}},
			} {
				tx, err := s.pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var lines []string
				r, err := tx.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF) "+c.q, c.args...)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				for r.Next() {
					var l string
					if err := r.Scan(&l); err != nil {
						t.Fatal(err)
					}
					lines = append(lines, l)
				}
				r.Close()
				if c.name == "delete a pool's free" {
					var n int
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM free WHERE pool_id = $1`, pr.id).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != 0 {
						t.Errorf("%d free prefixes of the pool left after its delete", n)
					}
				}
				if err := tx.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
				plan := strings.Join(lines, "\n")
				if strings.Contains(plan, "Seq Scan on free") || !strings.Contains(plan, "using free_pkey on free") {
					t.Errorf("%s: not by the free table's key:\n%s", c.name, plan)
				}
			}
		})
	}
}
