package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// planRows is the size of the register TestAssignmentPagePlans plans on:
// large enough that a page read in proportion to the register reads
// thousands of rows, small enough to fill in seconds.
const planRows = 96000

// migrateTo brings the database at dsn to the current schema, for
// pgtest.MigratedDatabase (as package migrated does for the external
// tests, which this package's cannot import).
func migrateTo(ctx context.Context, dsn string) error {
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		return err
	}
	return s.Close()
}

// allVisible waits until VACUUM has marked every page of table all-visible
// (pg_class.relallvisible, which the planner reads), vacuuming it again
// meanwhile, and fails the test after a minute naming the transactions
// that keep it from that.
//
// Why: an index-only scan costs the planner a heap fetch per row on the
// pages not marked. With none marked, a page of quarantined assignments
// read every quarantined row by assignments_quarantine and sorted them
// (9,701 rows for a page of 101) rather than walk assignments_state_past4
// in ID order: TestAssignmentPagePlans failed so under load in session 16,
// when a transaction of another test in the shared database, older than
// the set-up's rows, held VACUUM's horizon back (reproduced by holding a
// REPEATABLE READ transaction open in it). The visibility map is the
// precondition the plans rest on; a register the vacuum has caught up
// with is the state they are meant for.
func allVisible(t *testing.T, ctx context.Context, db *pgxpool.Pool, table string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var pages, visible int64
		if err := db.QueryRow(ctx, `SELECT relpages, relallvisible FROM pg_class WHERE oid = $1::regclass`, table).Scan(&pages, &visible); err != nil {
			t.Fatal(err)
		}
		if visible >= pages {
			return
		}
		if time.Now().After(deadline) {
			var holders string
			if err := db.QueryRow(ctx, `SELECT coalesce(string_agg(pid || ' (' || coalesce(application_name, '') || ', since ' || xact_start || ')', ', '), 'none')
				FROM pg_stat_activity WHERE datname = current_database() AND backend_xmin IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&holders); err != nil {
				t.Fatal(err)
			}
			t.Fatalf("%s: %d of %d pages all-visible after a minute of VACUUM; the plans tested rest on all; transactions holding the horizon: %s", table, visible, pages, holders)
		}
		time.Sleep(100 * time.Millisecond)
		if _, err := db.Exec(ctx, `VACUUM `+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Fatal(err)
		}
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
	// A database of the test's own, not a schema of the shared one: the
	// plans rest on the set-up's VACUUM marking every page of the table
	// all-visible (allVisible), and a transaction of any other test in
	// the same database older than the rows keeps it from doing so.
	dsn := pgtest.MigratedDatabase(t, migrateTo)
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
		`INSERT INTO assignments (pool_id, prefix, state, tenant, resource, name, created_at, released_at, quarantine_until)
		SELECT p.id, set_masklen(network(p.prefix) + ((g.i % ` + fmt.Sprint(per) + `) / 4), CASE p.family WHEN 4 THEN 32 ELSE 128 END)::cidr, g.state,
			't' || (g.i * 7919 % 200), 'vm-' || g.i, CASE WHEN g.i % 3 = 0 THEN 'vm-' || g.i || '.example.' ELSE '' END,
			1700000000000000 + g.i * 1000000,
			CASE WHEN g.state <> 'assigned' THEN 1700000000000000 + g.i * 1000000 + 86400000000 END,
			CASE WHEN g.state = 'quarantined' THEN 1700000000000000 + g.i * 1000000 + 7 * 86400000000 END
		FROM (SELECT i, CASE WHEN i % 20 = 1 THEN 'quarantined' WHEN i % 12 = 5 THEN 'released' ELSE 'assigned' END::assignment_state AS state
			FROM generate_series(0::bigint, ` + fmt.Sprint(planRows-1) + `) i) g
		JOIN (SELECT id, prefix, family, row_number() OVER (ORDER BY id) - 1 AS k FROM pools) p
			ON p.k = (g.i / ` + fmt.Sprint(per) + `) * ` + fmt.Sprint(poolsPer) + ` + g.i % ` + fmt.Sprint(poolsPer),
		`INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'env', 'e' || (id / 100 % 10) FROM assignments WHERE id % 100 = 0`,
		`INSERT INTO tags (kind, object_id, key, value) SELECT 'assignment', id, 'rare', 'yes' FROM assignments WHERE id % 30000 = 7`,
		`VACUUM ANALYZE assignments`, `VACUUM ANALYZE tags`, `ANALYZE pools`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	allVisible(t, ctx, s.pool, "assignments")
	var region, pool int64
	var regionName string
	if err := s.pool.QueryRow(ctx, `SELECT p.region_id, g.name, p.id FROM pools p JOIN regions g ON g.id = p.region_id WHERE p.family = 4 ORDER BY p.id LIMIT 1`).Scan(&region, &regionName, &pool); err != nil {
		t.Fatal(err)
	}
	const limit = 101
	cases := append(pageCases(region, regionName, pool, "t17", "vm-300.example.", "vm-4321"),
		pageCase{name: "within an IPv6 prefix", f: registry.AssignmentFilter{Within: netip.MustParsePrefix("2603:1003::/120")}, maxRead: 3 * 256},
		pageCase{name: "holding an IPv6 address", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("2603:1003:1::2a/128")}, bounded: true},
		pageCase{name: "holding a prefix no assignment holds", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("40.64.1.0/24")}, bounded: true},
		pageCase{name: "a region's past IPv4", f: registry.AssignmentFilter{RegionID: region, Family: 4, States: []registry.State{registry.StateQuarantined, registry.StateReleased}}, bounded: true},
	)
	// The same statements where the planner prefers a walk in ID order to
	// a sort (enable_sort off): at ten million its estimates did, for a
	// page holding an address (the primary key walked through every
	// assignment, 10.8 s). A shape that leaves it no such walk holds.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["enable_sort"] = "off"
	ordered, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ordered.Close()
	t.Run("tags of a page", func(t *testing.T) { checkTagsOfPlan(t, ctx, s) })
	t.Run("assignments at a prefix", func(t *testing.T) { checkAssignmentsAtPlan(t, ctx, s) })
	t.Run("usage, generic plan", func(t *testing.T) { checkUsagePlan(t, ctx, s) })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Limit = limit
			// The page is the one the plain statement (every condition on
			// the rows, in the page's order) gives.
			got, want := pageIDs(t, ctx, s.pool, assignmentQuery, f), pageIDs(t, ctx, s.pool, plainQuery, f)
			if !slices.Equal(got, want) {
				t.Errorf("page %v, want %v", got, want)
			}
			if c.f.Within.IsValid() || c.f.Contains.IsValid() || c.name == "holding an IPv6 address" {
				if len(want) == 0 && c.name != "holding a prefix no assignment holds" {
					t.Errorf("the plain statement finds nothing: the case tests nothing")
				}
			}
			if got := pageIDs(t, ctx, s.pool, pageQuery, f); !slices.Equal(got, want) {
				t.Errorf("AssignmentPage's statement: page %v, want %v", got, want)
			}
			// The custom plan, and the generic plan (pgx's prepared
			// statement after its fifth run on a connection; every run of
			// AssignmentPage's), each held to the case's bounds, of the
			// store's statement (tx.Assignments) and of the API's
			// (AssignmentPage: the same with its tags).
			q, args := assignmentQuery(f)
			pq, pargs := pageQuery(f)
			for _, plan := range []struct {
				name    string
				q       string
				args    []any
				explain func(context.Context, *pgxpool.Pool, string, string, []any, bool) (planFacts, error)
			}{{"custom plan", q, args, explainOn}, {"generic plan", q, args, explainGeneric}, {"AssignmentPage's generic plan", pq, pargs, explainPage}} {
				p, err := plan.explain(ctx, s.pool, "assignments", plan.q, plan.args, false)
				if err != nil {
					t.Fatal(err)
				}
				if p.seqScan {
					t.Errorf("%s: a sequential scan of the assignments:\n%s", plan.name, p.text)
				}
				// A page per pool (4 in a region) and past state (2), and the
				// page's rows read again by ID.
				if c.maxRead > 0 && p.read > c.maxRead {
					t.Errorf("%s: %d assignment rows read, more than %d:\n%s", plan.name, p.read, c.maxRead, p.text)
				}
				if c.genericMaxRead > 0 && plan.name != "custom plan" && p.read > c.genericMaxRead {
					t.Errorf("%s: %d assignment rows read, more than %d:\n%s", plan.name, p.read, c.genericMaxRead, p.text)
				}
				if c.bounded && p.read > 9*limit {
					t.Errorf("%s: %d assignment rows read for a page of %d:\n%s", plan.name, p.read, limit, p.text)
				}
			}
			// The page's entries of a tag in a region and at most a few
			// more per pool; as many again per further tag of the filter,
			// looked for among each candidate's tags (through
			// tags_assignment, 00084, each candidate's tags are read: at
			// most two here).
			tagsInRegion := int64(2*len(want)+2*poolsPer) * int64(len(c.f.Tags))
			if c.tagsBounded {
				tp, err := explainOn(ctx, s.pool, "tags", q, args, false)
				if err != nil {
					t.Fatal(err)
				}
				if tp.read > tagsInRegion {
					t.Errorf("%d tag entries read for a page of %d:\n%s", tp.read, len(want), tp.text)
				}
			}
			// AssignmentPage's tags: each assignment's of the page (a probe
			// each, at most two entries) beside what the page itself reads
			// of them (the bounds above; a tag page without a region walks
			// the tag's entries, as its assignment rows are bounded).
			tp, err := explainPage(ctx, s.pool, "tags", pq, pargs, false)
			if err != nil {
				t.Fatal(err)
			}
			maxTags := int64(2 * len(want))
			switch {
			case c.tagsBounded:
				maxTags += tagsInRegion
			case len(c.f.Tags) > 0:
				maxTags += 9 * limit
			}
			if tp.seqScan || tp.read > maxTags {
				t.Errorf("AssignmentPage's generic plan: %d tag entries read for a page of %d (at most %d), seq scan %v:\n%s", tp.read, len(want), maxTags, tp.seqScan, tp.text)
			}
			// The page's pools' prefix, region and relocation come from the
			// store (pagePools), not from a join in each page's statement:
			// that CTE and its hash joins were a quarter of the backend's
			// CPU of a list page at ten million (session 15, pglists2).
			if rp, err := explainPage(ctx, s.pool, "relocations", pq, pargs, false); err != nil {
				t.Fatal(err)
			} else if rp.steps > 0 {
				t.Errorf("AssignmentPage's generic plan reads the relocations:\n%s", rp.text)
			}
			if c.f.Contains.IsValid() {
				p, err := explain(ctx, ordered, f, false)
				if err != nil {
					t.Fatal(err)
				}
				if p.seqScan || p.read > 9*limit {
					t.Errorf("planner preferring a walk in ID order: %d assignment rows read for a page of %d, seq scan %v:\n%s", p.read, limit, p.seqScan, p.text)
				}
			}
		})
	}
}

// checkAssignmentsAtPlan: the assignments overlapping a prefix (the
// address page's history, DNS changes, an import's rows) are read through
// assignments_prefix, in proportion to what is found; the same as the
// plain `&&` statement.
func checkAssignmentsAtPlan(t *testing.T, ctx context.Context, s *Store) {
	for _, p := range []string{"40.64.1.7/32", "40.64.1.0/24", "40.64.0.0/16", "40.64.1.7/31", "2603:1003:1::2a/128", "2603:1003::/120", "2603:1003::/32", "10.0.0.0/8"} {
		pfx := netip.MustParsePrefix(p)
		q, args := assignmentsAtQuery(registry.GlobalSpace, pfx)
		got := pageIDs(t, ctx, s.pool, func(registry.AssignmentFilter) (string, []any) { return q, args }, registry.AssignmentFilter{})
		want := pageIDs(t, ctx, s.pool, func(registry.AssignmentFilter) (string, []any) {
			return assignmentSelect + ` WHERE a.prefix && $1::cidr AND p.space = $2 ORDER BY a.id`, []any{pfx.Masked().String(), registry.GlobalSpace}
		}, registry.AssignmentFilter{})
		if !slices.Equal(got, want) {
			t.Errorf("at %s: %v, want %v", p, got, want)
		}
		pl, err := explainOn(ctx, s.pool, "assignments", q, args, false)
		if err != nil {
			t.Fatal(err)
		}
		if pl.seqScan || pl.read > int64(3*len(want)+64) {
			t.Errorf("at %s (%d assignments): %d assignment rows read, seq scan %v:\n%s", p, len(want), pl.read, pl.seqScan, pl.text)
		}
		if pl, err = explainGeneric(ctx, s.pool, "assignments", q, args, false); err != nil {
			t.Fatal(err)
		}
		if pl.seqScan || pl.read > int64(3*len(want)+64) {
			t.Errorf("at %s (%d assignments), generic plan: %d assignment rows read, seq scan %v:\n%s", p, len(want), pl.read, pl.seqScan, pl.text)
		}
	}
}

// checkUsagePlan: the pools' usage (the overview, /tree, a region page)
// counts the ended quarantines once, in the generic plan PostgreSQL uses
// for a prepared statement after its fifth run as well: not once per
// counter row.
func checkUsagePlan(t *testing.T, ctx context.Context, s *Store) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO pool_counts (pool_id, kind, bits, day, n)
		SELECT pool_id, state, masklen(prefix), 0, count(*) FROM assignments WHERE state <> 'released' GROUP BY 1, 2, 3
		ON CONFLICT (pool_id, kind, bits, day) DO UPDATE SET n = excluded.n`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE pool_counts`); err != nil {
		t.Fatal(err)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	// The generic plan at ten million: a nested loop, nothing
	// materialised (its estimates: one counter row). Here the planner is
	// left no other join.
	for _, q := range []string{`SET plan_cache_mode = force_generic_plan`, `SET enable_hashjoin = off`, `SET enable_mergejoin = off`, `SET enable_material = off`,
		`PREPARE usage_plan(bigint[], bigint) AS ` + usageQuery} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer c.Exec(context.Background(), `DEALLOCATE usage_plan; RESET plan_cache_mode; RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material`)
	var ids string
	if err := c.QueryRow(ctx, `SELECT array_agg(id)::text FROM pools`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	var raw string
	if err := c.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE usage_plan('`+ids+`', 1800000000000000)`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	// Every step on assignments runs once.
	for _, m := range regexp.MustCompile(`"Relation Name": "assignments",[^}]*?"Actual Loops": (\d+)`).FindAllStringSubmatch(raw, -1) {
		if m[1] != "1" {
			t.Errorf("the ended quarantines counted %s times:\n%s", m[1], raw)
		}
	}
	if !strings.Contains(raw, `"Relation Name": "assignments"`) {
		t.Errorf("no step on assignments:\n%s", raw)
	}
}

// TestAssignmentPagePlans's tags of a page, and what they must read.
func checkTagsOfPlan(t *testing.T, ctx context.Context, s *Store) {
	// A page's tags (every list page and GET asks TagsOf for its IDs):
	// a look-up per ID in tags_pkey, not a pass over every tag (the
	// planner's choice for `object_id = ANY($2)`: a Seq Scan of the
	// register's tags, each compared with every ID of the page).
	for _, n := range []int{1, 101, tagsByID} {
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = int64(1 + i*planRows/n) // spread over the register, some tagged
		}
		p, err := explainOn(ctx, s.pool, "tags", tagsOfQuery(n), []any{registry.KindAssignment, ids}, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.seqScan || p.read > int64(2*n) {
			t.Errorf("tags of %d assignments: %d tag rows read, seq scan %v:\n%s", n, p.read, p.seqScan, p.text)
		}
		if p, err = explainGeneric(ctx, s.pool, "tags", tagsOfQuery(n), []any{registry.KindAssignment, ids}, false); err != nil {
			t.Fatal(err)
		}
		if p.seqScan || p.read > int64(2*n) {
			t.Errorf("tags of %d assignments, generic plan: %d tag rows read, seq scan %v:\n%s", n, p.read, p.seqScan, p.text)
		}
		got, err := s.tagsOfIDs(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, id := range ids {
			if id%100 == 0 {
				want++
			}
			if id%30000 == 7 {
				want++
			}
		}
		if got != want {
			t.Errorf("tags of %d assignments: %d, want %d", n, got, want)
		}
	}
}

// tagsOfIDs counts the tags TagsOf finds of the assignments ids.
func (s *Store) tagsOfIDs(ctx context.Context, ids []int64) (int, error) {
	n := 0
	err := s.View(ctx, func(tx registry.Tx) error {
		m, err := tx.TagsOf(ctx, registry.KindAssignment, ids)
		for _, tags := range m {
			n += len(tags)
		}
		return err
	})
	return n, err
}

// plainQuery is a page of f written as plainly as possible: every
// condition on the rows, in ID order; what assignmentQuery's page must be.
func plainQuery(f registry.AssignmentFilter) (string, []any) {
	var args sqlArgs
	g := f
	g.Within, g.Contains = netip.Prefix{}, netip.Prefix{}
	order := " ORDER BY a.id"
	if f.ByAddress() {
		// A pool's or a region's page: in (prefix, ID) order after the
		// cursor (AfterPrefix, AfterID).
		g.AfterID, g.AfterPrefix, order = 0, netip.Prefix{}, " ORDER BY a.prefix, a.id"
	}
	where := assignmentWhere(g, &args)
	if f.ByAddress() && f.AfterPrefix.IsValid() {
		where = append(where, "(a.prefix, a.id) > ("+args.add(f.AfterPrefix.String())+"::cidr, "+args.add(f.AfterID)+"::bigint)")
	}
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
	return q + order + limit(f.Limit), args
}

// pageIDs runs the statement query makes of f and returns the IDs.
func pageIDs(t *testing.T, ctx context.Context, db *pgxpool.Pool, query func(registry.AssignmentFilter) (string, []any), f registry.AssignmentFilter) []int64 {
	t.Helper()
	q, args := query(f)
	rows, err := db.Query(ctx, q, args...)
	// The first column, of whichever statement's columns.
	ids, err := collect(rows, err, func(rows rowscan.Scanner) (int64, error) {
		vs, err := rows.(pgx.Rows).Values()
		if err != nil {
			return 0, err
		}
		return vs[0].(int64), nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	return ids
}
