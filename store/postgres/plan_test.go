package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// planRows is the size of the register TestAssignmentPagePlans plans on:
// large enough that a page read in proportion to the register reads
// thousands of rows, small enough to fill in seconds.
const planRows = 96000

// pageCase is one kind of page of assignments (the API's lists and
// searches, the web UI's pages).
type pageCase struct {
	name string
	f    registry.AssignmentFilter
	// bounded: the page's assignment rows read are at most a page per
	// pool and state; false where they are the rows of one tenant.
	bounded bool
	// maxRead, if set, bounds the rows read instead (those of the
	// prefix the caller named).
	maxRead int64
}

// pageCases are the kinds of page, with values from the register's
// sample: a region, a pool of it, a tenant, a name, a resource.
func pageCases(region, pool int64, tenant, name, resource string) []pageCase {
	past := []registry.State{registry.StateQuarantined, registry.StateReleased}
	assigned := []registry.State{registry.StateAssigned}
	tags := func(kv ...string) registry.Tags {
		t := registry.Tags{}
		for i := 0; i < len(kv); i += 2 {
			t[kv[i]] = kv[i+1]
		}
		return t
	}
	return []pageCase{
		{name: "first page", f: registry.AssignmentFilter{}, bounded: true},
		{name: "after a cursor", f: registry.AssignmentFilter{AfterID: 500}, bounded: true},
		{name: "family", f: registry.AssignmentFilter{Family: 4}, bounded: true},
		{name: "tenant", f: registry.AssignmentFilter{Tenant: &tenant}, bounded: true},
		{name: "tenant's quarantined", f: registry.AssignmentFilter{Tenant: &tenant, States: past[:1]}},
		{name: "name", f: registry.AssignmentFilter{Name: name}, bounded: true},
		{name: "resource", f: registry.AssignmentFilter{Resource: resource}, bounded: true},
		{name: "quarantined", f: registry.AssignmentFilter{States: past[:1]}, bounded: true},
		{name: "released, after a cursor", f: registry.AssignmentFilter{States: past[1:], AfterID: 500}, bounded: true},
		{name: "quarantined or released", f: registry.AssignmentFilter{States: past}, bounded: true},
		{name: "IPv4 released", f: registry.AssignmentFilter{Family: 4, States: past[1:]}, bounded: true},
		{name: "a tag", f: registry.AssignmentFilter{Tags: tags("env", "e3")}, bounded: true},
		{name: "a rare tag", f: registry.AssignmentFilter{Tags: tags("rare", "yes")}, bounded: true},
		{name: "two tags and a family", f: registry.AssignmentFilter{Tags: tags("env", "e3", "rare", "yes"), Family: 6}, bounded: true},
		{name: "a tag in a region", f: registry.AssignmentFilter{Tags: tags("env", "e3"), RegionID: region}, bounded: true},
		{name: "a pool", f: registry.AssignmentFilter{PoolID: pool}, bounded: true},
		{name: "a pool's quarantined", f: registry.AssignmentFilter{PoolID: pool, States: past[:1], AfterID: 9}, bounded: true},
		{name: "a pool's past", f: registry.AssignmentFilter{PoolID: pool, States: past}, bounded: true},
		{name: "a region", f: registry.AssignmentFilter{RegionID: region}, bounded: true},
		{name: "a region's IPv4 assigned", f: registry.AssignmentFilter{RegionID: region, Family: 4, States: assigned}, bounded: true},
		{name: "a region's IPv6", f: registry.AssignmentFilter{RegionID: region, Family: 6}, bounded: true},
		{name: "a region's quarantined", f: registry.AssignmentFilter{RegionID: region, States: past[:1]}, bounded: true},
		{name: "a region's released", f: registry.AssignmentFilter{RegionID: region, States: past[1:]}, bounded: true},
		{name: "a region's past, after a cursor", f: registry.AssignmentFilter{RegionID: region, States: past, AfterID: 77}, bounded: true},
		{name: "within a prefix", f: registry.AssignmentFilter{Within: netip.MustParsePrefix("40.64.1.0/24")}, maxRead: 3 * 256},
		{name: "holding an address", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("40.64.1.7/32")}, bounded: true},
	}
}

// TestAssignmentPagePlans: every kind of page of assignments is read
// through an index in ID order and stops when the page is full: no
// sequential scan of the assignments, and no more assignment rows read
// (kept or filtered out) than a page per pool and state. A page that read
// rows in proportion to the register costs seconds at ten million (issue
// 16). PostgreSQL plans by statistics, so the register is filled
// (planRows, in the proportions of the cloud demo: 8 % past, a third named,
// a tag on one in a hundred) and analysed first; the plans are run
// (EXPLAIN ANALYZE) and the rows each step read are counted.
func TestAssignmentPagePlans(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The shape of the cloud demo (demo/cloud.go), smaller: regions
	// loaded one after another (a region's rows together), each with IPv4
	// and IPv6 pools its allocations alternate between, one in twelve
	// released, one in twenty quarantined (a week's releases at ten million), a third named, 200 tenants,
	// a tag on one in a hundred.
	reg := registry.New(s)
	const regions, poolsPer = 16, 4
	for r := range regions {
		name := fmt.Sprintf("r%02d", r)
		if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{fmt.Sprintf("40.%d.0.0/16", 64+r), fmt.Sprintf("2603:10%02x::/32", r)} {
			if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(b), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{fmt.Sprintf("40.%d.0.0/20", 64+r), fmt.Sprintf("40.%d.16.0/20", 64+r),
			fmt.Sprintf("2603:10%02x::/48", r), fmt.Sprintf("2603:10%02x:1::/48", r)} {
			if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: name}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Row i is in region r = i*regions/planRows, pool i mod 4 of it, at
	// that pool's next address (first and last its bytes).
	per := planRows / regions
	for _, q := range []string{
		`INSERT INTO assignments (pool_id, prefix, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until)
		SELECT p.id, set_masklen(network(p.prefix) + ((g.i % ` + fmt.Sprint(per) + `) / 4), CASE p.family WHEN 4 THEN 32 ELSE 128 END)::cidr, p.family,
			ad.addr, ad.addr, CASE p.family WHEN 4 THEN 32 ELSE 128 END, g.state,
			't' || (g.i * 7919 % 200), 'vm-' || g.i, CASE WHEN g.i % 3 = 0 THEN 'vm-' || g.i || '.example.' ELSE '' END,
			1700000000000000 + g.i * 1000000,
			CASE WHEN g.state <> 'assigned' THEN 1700000000000000 + g.i * 1000000 + 86400000000 END,
			CASE WHEN g.state = 'quarantined' THEN 1700000000000000 + g.i * 1000000 + 7 * 86400000000 END
		FROM (SELECT i, CASE WHEN i % 20 = 1 THEN 'quarantined' WHEN i % 12 = 5 THEN 'released' ELSE 'assigned' END AS state
			FROM generate_series(0::bigint, ` + fmt.Sprint(planRows-1) + `) i) g
		JOIN (SELECT id, prefix, family, first, row_number() OVER (ORDER BY id) - 1 AS k FROM pools) p
			ON p.k = (g.i / ` + fmt.Sprint(per) + `) * ` + fmt.Sprint(poolsPer) + ` + g.i % ` + fmt.Sprint(poolsPer) + `
		CROSS JOIN LATERAL (SELECT CASE p.family
			WHEN 4 THEN decode(lpad(to_hex((network(p.prefix) - '0.0.0.0'::inet) + (g.i % ` + fmt.Sprint(per) + `) / 4), 8, '0'), 'hex')
			ELSE substring(p.first FROM 1 FOR 12) || decode(lpad(to_hex((g.i % ` + fmt.Sprint(per) + `) / 4), 8, '0'), 'hex') END AS addr) ad`,
		`INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'env', 'e' || (id / 100 % 10) FROM assignments WHERE id % 100 = 0`,
		`INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'rare', 'yes' FROM assignments WHERE id % 30000 = 7`,
		`VACUUM ANALYZE assignments`, `VACUUM ANALYZE tags`, `ANALYZE pools`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	var region, pool int64
	if err := s.pool.QueryRow(ctx, `SELECT region_id, id FROM pools WHERE family = 4 ORDER BY id LIMIT 1`).Scan(&region, &pool); err != nil {
		t.Fatal(err)
	}
	const limit = 101
	cases := append(pageCases(region, pool, "t17", "vm-300.example.", "vm-4321"),
		pageCase{name: "within an IPv6 prefix", f: registry.AssignmentFilter{Within: netip.MustParsePrefix("2603:1003::/120")}, maxRead: 3 * 256},
		pageCase{name: "holding an IPv6 address", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("2603:1003:1::2a/128")}, bounded: true},
		pageCase{name: "holding a prefix no assignment holds", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("40.64.1.0/24")}, bounded: true},
		pageCase{name: "a region's past IPv4", f: registry.AssignmentFilter{RegionID: region, Family: 4, States: []registry.State{registry.StateQuarantined, registry.StateReleased}}, bounded: true},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Limit = limit
			// The page is the one the plain statement (every condition on
			// the rows, in ID order) gives.
			got, want := pageIDs(t, ctx, s.pool, assignmentQuery, f), pageIDs(t, ctx, s.pool, plainQuery, f)
			if !slices.Equal(got, want) {
				t.Errorf("page %v, want %v", got, want)
			}
			if c.f.Within.IsValid() || c.f.Contains.IsValid() || c.name == "holding an IPv6 address" {
				if len(want) == 0 && c.name != "holding a prefix no assignment holds" {
					t.Errorf("the plain statement finds nothing: the case tests nothing")
				}
			}
			p := explain(t, ctx, s.pool, f, false)
			if p.seqScan {
				t.Errorf("a sequential scan of the assignments:\n%s", p.text)
			}
			// A page per pool (4 in a region) and past state (2), and the
			// page's rows read again by ID.
			if c.maxRead > 0 && p.read > c.maxRead {
				t.Errorf("%d assignment rows read, more than %d:\n%s", p.read, c.maxRead, p.text)
			}
			if c.bounded && p.read > 9*limit {
				t.Errorf("%d assignment rows read for a page of %d:\n%s", p.read, limit, p.text)
			}
		})
	}
}

// TestAssignmentPagePlansOnRegister prints EXPLAIN (ANALYZE, BUFFERS) of
// every kind of page on the register $CADASTRE_PLAN_REGISTER names (a DSN;
// a benchmark aid, skipped without it: bench/README.md's figures at a
// million), with values drawn from it.
func TestAssignmentPagePlansOnRegister(t *testing.T) {
	dsn := os.Getenv("CADASTRE_PLAN_REGISTER")
	if dsn == "" {
		t.Skip("CADASTRE_PLAN_REGISTER (a DSN of a large register) is not set")
	}
	ctx := context.Background()
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var region, pool, mid int64
	var tenant, name, resource string
	if err := db.QueryRow(ctx, `SELECT p.region_id, p.id FROM pools p JOIN regions g ON g.id = p.region_id WHERE p.family = 4 ORDER BY g.name, p.id LIMIT 1`).Scan(&region, &pool); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT max(id) / 2 FROM assignments`).Scan(&mid); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT tenant, name, resource FROM assignments WHERE id >= $1 AND name <> '' AND state = 'assigned' AND resource <> '' ORDER BY id LIMIT 1`, mid).Scan(&tenant, &name, &resource); err != nil {
		t.Fatal(err)
	}
	for _, c := range pageCases(region, pool, tenant, name, resource) {
		f := c.f
		f.Limit = 100
		p := explain(t, ctx, db, f, true)
		t.Logf("%s: %d assignment rows read, seq scan %v\n%s", c.name, p.read, p.seqScan, p.text)
	}
}

// planFacts is what explain found in a page's plan.
type planFacts struct {
	text    string
	seqScan bool  // a Seq Scan on assignments
	read    int64 // assignment rows the plan's steps on assignments returned or filtered out
}

// explain runs f's statement under EXPLAIN ANALYZE and sums, over the
// plan's steps on the assignments table, the rows they produced and the
// rows their filters removed, every loop counted.
func explain(t *testing.T, ctx context.Context, db *pgxpool.Pool, f registry.AssignmentFilter, buffers bool) planFacts {
	t.Helper()
	q, args := assignmentQuery(f)
	opts := "ANALYZE, FORMAT JSON"
	if buffers {
		opts = "ANALYZE, BUFFERS, FORMAT JSON"
	}
	var raw []byte
	if err := db.QueryRow(ctx, "EXPLAIN ("+opts+") "+q, args...).Scan(&raw); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	var doc []struct {
		Plan          map[string]any `json:"Plan"`
		ExecutionTime float64        `json:"Execution Time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
		t.Fatalf("EXPLAIN output %s: %v", raw, err)
	}
	var p planFacts
	var b strings.Builder
	fmt.Fprintf(&b, "statement: %s\nargs: %v\nexecution %.3f ms\n", q, args, doc[0].ExecutionTime)
	var walk func(n map[string]any, depth int)
	walk = func(n map[string]any, depth int) {
		num := func(k string) int64 {
			v, _ := n[k].(float64)
			return int64(v)
		}
		kind, _ := n["Node Type"].(string)
		rel, _ := n["Relation Name"].(string)
		idx, _ := n["Index Name"].(string)
		rows, loops := num("Actual Rows"), num("Actual Loops")
		// EXPLAIN shows the rows removed per loop.
		removed := (num("Rows Removed by Filter") + num("Rows Removed by Index Recheck")) * max(loops, 1)
		fmt.Fprintf(&b, "%s%s %s %s rows=%d loops=%d removed=%d", strings.Repeat("  ", depth), kind, rel, idx, rows, loops, removed)
		if buffers {
			fmt.Fprintf(&b, " shared hit=%d read=%d", num("Shared Hit Blocks"), num("Shared Read Blocks"))
		}
		b.WriteByte('\n')
		if rel == "assignments" {
			if kind == "Seq Scan" {
				p.seqScan = true
			}
			if kind != "Bitmap Heap Scan" { // its rows are its index's, counted there
				p.read += rows*loops + removed
			} else {
				p.read += removed
			}
		}
		if kind == "Bitmap Index Scan" && strings.HasPrefix(idx, "assignments_") {
			p.read += rows * loops
		}
		children, _ := n["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m, depth+1)
			}
		}
	}
	walk(doc[0].Plan, 0)
	p.text = b.String()
	return p
}

// plainQuery is a page of f written as plainly as possible: every
// condition on the rows, in ID order; what assignmentQuery's page must be.
func plainQuery(f registry.AssignmentFilter) (string, []any) {
	var args sqlArgs
	g := f
	g.Within, g.Contains = netip.Prefix{}, netip.Prefix{}
	where := assignmentWhere(g, &args)
	if f.Within.IsValid() {
		where = append(where, "a.prefix <<= "+args.add(f.Within.String())+"::cidr")
	}
	if f.Contains.IsValid() {
		where = append(where, "a.prefix >>= "+args.add(f.Contains.String())+"::cidr")
	}
	q := assignmentSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY a.id" + limit(f.Limit), args
}

// pageIDs runs the statement query makes of f and returns the IDs.
func pageIDs(t *testing.T, ctx context.Context, db *pgxpool.Pool, query func(registry.AssignmentFilter) (string, []any), f registry.AssignmentFilter) []int64 {
	t.Helper()
	q, args := query(f)
	rows, err := db.Query(ctx, q, args...)
	as, err := collect(rows, err, scanAssignment)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}
