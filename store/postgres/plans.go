package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/registry"
)

// The plans of the pages of assignments, for TestAssignmentPagePlans
// (which checks them on a register of its own) and for PrintPagePlans (a
// measurement aid on a large register: bench/pgplans, bench/README.md).

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
	// genericMaxRead, if set, bounds the rows the generic plans read (the
	// API's, and a connection's from a statement's sixth run): a custom
	// plan may read and sort a small tenant's rows, which it estimates
	// cheaper.
	genericMaxRead int64
	// tagsBounded: the tag entries read are at most a page per pool of
	// the region, not the tag's entries in every region.
	tagsBounded bool
}

// pageCases are the kinds of page, with values from the register's
// sample: a region, a pool of it, a tenant, a name, a resource.
func pageCases(region int64, regionName string, pool int64, tenant, name, resource string) []pageCase {
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
		// A range of assignments_tenant's key from the cursor (00077), in
		// order up to the page: not every row of the tenant read and
		// sorted (two pages of 101).
		{name: "tenant", f: registry.AssignmentFilter{Tenant: &tenant}, bounded: true, genericMaxRead: 2 * 101},
		{name: "tenant, after a cursor", f: registry.AssignmentFilter{Tenant: &tenant, AfterID: 500}, bounded: true, genericMaxRead: 2 * 101},
		{name: "tenant's assigned IPv6", f: registry.AssignmentFilter{Tenant: &tenant, Family: 6, States: assigned}, bounded: true},
		// A tenant's past: its page of each state (and the page read again
		// by ID), not the tenant's rows (maxRead: three pages of 101).
		{name: "tenant's quarantined", f: registry.AssignmentFilter{Tenant: &tenant, States: past[:1]}, maxRead: 3 * 101},
		{name: "tenant's past", f: registry.AssignmentFilter{Tenant: &tenant, States: past}, maxRead: 3 * 101},
		{name: "tenant's IPv4 released, after a cursor", f: registry.AssignmentFilter{Tenant: &tenant, Family: 4, States: past[1:], AfterID: 500}, maxRead: 3 * 101},
		{name: "name", f: registry.AssignmentFilter{Name: name}, bounded: true},
		{name: "resource", f: registry.AssignmentFilter{Resource: resource}, bounded: true},
		{name: "quarantined", f: registry.AssignmentFilter{States: past[:1]}, bounded: true},
		{name: "released, after a cursor", f: registry.AssignmentFilter{States: past[1:], AfterID: 500}, bounded: true},
		{name: "quarantined or released", f: registry.AssignmentFilter{States: past}, bounded: true},
		{name: "IPv4 released", f: registry.AssignmentFilter{Family: 4, States: past[1:]}, bounded: true},
		{name: "a tag", f: registry.AssignmentFilter{Tags: tags("env", "e3")}, bounded: true},
		{name: "a rare tag", f: registry.AssignmentFilter{Tags: tags("rare", "yes")}, bounded: true},
		{name: "two tags and a family", f: registry.AssignmentFilter{Tags: tags("env", "e3", "rare", "yes"), Family: 6}, bounded: true},
		{name: "a tag in a region", f: registry.AssignmentFilter{Tags: tags("env", "e3"), RegionID: region}, bounded: true, tagsBounded: true},
		{name: "a tag in a region's IPv4 assigned, after a cursor", f: registry.AssignmentFilter{Tags: tags("env", "e3"), RegionID: region, Family: 4, States: assigned, AfterID: 9}, bounded: true, tagsBounded: true},
		{name: "two tags in a region", f: registry.AssignmentFilter{Tags: tags("env", "e3", "rare", "yes"), RegionID: region}, bounded: true, tagsBounded: true},
		{name: "a tag in a pool", f: registry.AssignmentFilter{Tags: tags("env", "e3"), PoolID: pool}, bounded: true, tagsBounded: true},
		{name: "a pool", f: registry.AssignmentFilter{PoolID: pool}, bounded: true},
		{name: "a pool, after a cursor", f: registry.AssignmentFilter{PoolID: pool, AfterPrefix: netip.MustParsePrefix("40.64.0.0/32"), AfterID: 9}, bounded: true},
		{name: "a pool's live, after a cursor", f: registry.AssignmentFilter{PoolID: pool, States: []registry.State{registry.StateAssigned, registry.StateQuarantined},
			AfterPrefix: netip.MustParsePrefix("40.64.0.0/32"), AfterID: 1 << 62}, bounded: true},
		{name: "a pool's quarantined", f: registry.AssignmentFilter{PoolID: pool, States: past[:1], AfterID: 9}, bounded: true},
		{name: "a pool's past", f: registry.AssignmentFilter{PoolID: pool, States: past}, bounded: true},
		{name: "a region", f: registry.AssignmentFilter{RegionID: region}, bounded: true},
		{name: "a region's IPv4 assigned", f: registry.AssignmentFilter{RegionID: region, Family: 4, States: assigned}, bounded: true},
		{name: "a region's assigned, after a cursor", f: registry.AssignmentFilter{RegionID: region, States: assigned, AfterPrefix: netip.MustParsePrefix("40.64.0.0/32"), AfterID: 9}, bounded: true},
		{name: "a region's IPv6", f: registry.AssignmentFilter{RegionID: region, Family: 6}, bounded: true},
		{name: "a region's quarantined", f: registry.AssignmentFilter{RegionID: region, States: past[:1]}, bounded: true},
		{name: "a region's released", f: registry.AssignmentFilter{RegionID: region, States: past[1:]}, bounded: true},
		{name: "a region's past, after a cursor", f: registry.AssignmentFilter{RegionID: region, States: past, AfterID: 77}, bounded: true},
		// The API's pages name the region (AssignmentPage looks it up in
		// the statement).
		{name: "a region by name, assigned", f: registry.AssignmentFilter{Region: regionName, States: assigned}, bounded: true},
		{name: "a region by name, quarantined", f: registry.AssignmentFilter{Region: regionName, States: past[:1]}, bounded: true},
		{name: "a tag in a region by name", f: registry.AssignmentFilter{Tags: tags("env", "e3"), Region: regionName}, bounded: true, tagsBounded: true},
		{name: "within a prefix", f: registry.AssignmentFilter{Within: netip.MustParsePrefix("40.64.1.0/24")}, maxRead: 3 * 256},
		{name: "holding an address", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("40.64.1.7/32")}, bounded: true},
	}
}

// PrintPagePlans writes to w the plan of every kind of page of
// assignments (EXPLAIN (ANALYZE, BUFFERS), pages of 100; the custom plan,
// then the generic plan a prepared statement may get, then the generic
// plan of the API's statement, AssignmentPage's) on the register
// db holds, with values drawn from it (the first IPv4 pool of the first
// region by name, a live named assignment from the middle of the IDs),
// and the assignment rows each plan's steps read: what grows with the
// register shows there.
func PrintPagePlans(ctx context.Context, db *pgxpool.Pool, w io.Writer) error {
	var region, pool, mid int64
	var regionName, tenant, name, resource string
	if err := db.QueryRow(ctx, `SELECT p.region_id, g.name, p.id FROM pools p JOIN regions g ON g.id = p.region_id WHERE p.family = 4 ORDER BY g.name, p.id LIMIT 1`).Scan(&region, &regionName, &pool); err != nil {
		return fmt.Errorf("an IPv4 pool: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT coalesce(max(id), 0) / 2 FROM assignments`).Scan(&mid); err != nil {
		return fmt.Errorf("assignments: %w", err)
	}
	if err := db.QueryRow(ctx, `SELECT tenant, name, resource FROM assignments WHERE id >= $1 AND name <> '' AND state = 'assigned' AND resource <> '' ORDER BY id LIMIT 1`, mid).Scan(&tenant, &name, &resource); err != nil {
		return fmt.Errorf("a named assignment with a resource: %w", err)
	}
	for _, c := range pageCases(region, regionName, pool, tenant, name, resource) {
		f := c.f
		f.Limit = 100
		p, err := explain(ctx, db, f, true)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		q, args := assignmentQuery(f)
		g, err := explainGeneric(ctx, db, "assignments", q, args, true)
		if err != nil {
			return fmt.Errorf("%s, generic plan: %w", c.name, err)
		}
		// The API's statement (AssignmentPage: the page with its tags),
		// which always runs its generic plan.
		pq, pargs := pageQuery(f)
		ap, err := explainPage(ctx, db, "assignments", pq, pargs, true)
		if err != nil {
			return fmt.Errorf("%s, AssignmentPage's generic plan: %w", c.name, err)
		}
		if _, err := fmt.Fprintf(w, "== %s: %d assignment rows read, seq scan %v\n%s\n== %s, generic plan: %d assignment rows read, seq scan %v\n%s\n== %s, AssignmentPage's generic plan: %d assignment rows read, seq scan %v\n%s\n",
			c.name, p.read, p.seqScan, p.text, c.name, g.read, g.seqScan, g.text, c.name, ap.read, ap.seqScan, ap.text); err != nil {
			return err
		}
	}
	return nil
}

// planFacts is what explain found in a page's plan.
type planFacts struct {
	text    string
	seqScan bool  // a Seq Scan on the table (assignments)
	read    int64 // the table's rows the plan's steps on it returned or filtered out
	steps   int   // the plan's steps on the table, run or not
}

// explain runs f's statement under EXPLAIN ANALYZE and sums, over the
// plan's steps on the assignments table, the rows they produced and the
// rows their filters removed, every loop counted.
func explain(ctx context.Context, db *pgxpool.Pool, f registry.AssignmentFilter, buffers bool) (planFacts, error) {
	q, args := assignmentQuery(f)
	return explainOn(ctx, db, "assignments", q, args, buffers)
}

// explainOn runs q under EXPLAIN ANALYZE and sums, over the plan's steps
// on the table rel (and its indexes), the rows they produced and the rows
// their filters removed, every loop counted.
func explainOn(ctx context.Context, db *pgxpool.Pool, rel, q string, args []any, buffers bool) (planFacts, error) {
	opts := "ANALYZE, FORMAT JSON"
	if buffers {
		opts = "ANALYZE, BUFFERS, FORMAT JSON"
	}
	var raw []byte
	if err := db.QueryRow(ctx, "EXPLAIN ("+opts+") "+q, args...).Scan(&raw); err != nil {
		return planFacts{}, fmt.Errorf("%w\n%s", err, q)
	}
	return planOf(raw, rel, q, args, buffers)
}

// explainGeneric is explainOn with PostgreSQL's generic plan of q: the
// plan of a prepared statement made without its arguments' values, which
// pgx's statement cache gets after a statement's fifth run on a
// connection when the planner costs it no higher than the custom plans
// (plan_cache_mode auto). q is prepared on one connection with
// plan_cache_mode force_generic_plan and run by EXECUTE with args written
// as literals.
func explainGeneric(ctx context.Context, db *pgxpool.Pool, rel, q string, args []any, buffers bool) (planFacts, error) {
	return explainGenericWith(ctx, db, nil, rel, q, args, buffers)
}

// explainPage is explainGeneric with AssignmentPage's settings
// (pagePlans): its generic plan, without sequential scans.
func explainPage(ctx context.Context, db *pgxpool.Pool, rel, q string, args []any, buffers bool) (planFacts, error) {
	return explainGenericWith(ctx, db, []string{"enable_seqscan"}, rel, q, args, buffers)
}

// explainGenericWith is explainGeneric with the settings off (boolean
// planner settings: enable_seqscan) as well.
func explainGenericWith(ctx context.Context, db *pgxpool.Pool, off []string, rel, q string, args []any, buffers bool) (planFacts, error) {
	c, err := db.Acquire(ctx)
	if err != nil {
		return planFacts{}, err
	}
	defer c.Release()
	lits := make([]string, len(args))
	for i, a := range args {
		l, err := literal(a)
		if err != nil {
			return planFacts{}, err
		}
		lits[i] = l
	}
	opts := "ANALYZE, FORMAT JSON"
	if buffers {
		opts = "ANALYZE, BUFFERS, FORMAT JSON"
	}
	var raw []byte
	set, reset := []string{`SET plan_cache_mode = force_generic_plan`}, `DEALLOCATE generic_page; RESET plan_cache_mode`
	for _, o := range off {
		set = append(set, "SET "+o+" = off")
		reset += "; RESET " + o
	}
	for _, s := range append(set, `PREPARE generic_page AS `+q) {
		if _, err := c.Exec(ctx, s); err != nil {
			return planFacts{}, fmt.Errorf("%w\n%s", err, s)
		}
	}
	exec := "EXECUTE generic_page"
	if len(lits) > 0 {
		exec += "(" + strings.Join(lits, ", ") + ")"
	}
	err = c.QueryRow(ctx, "EXPLAIN ("+opts+") "+exec).Scan(&raw)
	if _, derr := c.Exec(context.Background(), reset); err == nil && derr != nil {
		err = derr
	}
	if err != nil {
		return planFacts{}, fmt.Errorf("%w\n%s", err, q)
	}
	return planOf(raw, rel, "generic plan of: "+q, args, buffers)
}

// literal writes v, an argument of a page's statement, as an SQL literal.
func literal(v any) (string, error) {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	switch v := v.(type) {
	case int, int64:
		return fmt.Sprint(v), nil
	case string:
		return quote(v), nil
	case []int64:
		q := make([]string, len(v))
		for i, n := range v {
			q[i] = fmt.Sprint(n)
		}
		return "'{" + strings.Join(q, ",") + "}'", nil
	case []string:
		// An array's text, of no type: the statement's (text[], cidr[]).
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
		}
		return quote("{" + strings.Join(q, ",") + "}"), nil
	}
	return "", fmt.Errorf("literal of %T: %w", v, registry.ErrInvalid)
}

// planOf reads EXPLAIN's JSON of q: the plan as text, and what its steps
// on rel read.
func planOf(raw []byte, rel, q string, args []any, buffers bool) (planFacts, error) {
	var doc []struct {
		Plan          map[string]any `json:"Plan"`
		ExecutionTime float64        `json:"Execution Time"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc) == 0 {
		return planFacts{}, fmt.Errorf("EXPLAIN output %s: %v", raw, err)
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
		relName, _ := n["Relation Name"].(string)
		idx, _ := n["Index Name"].(string)
		rows, loops := num("Actual Rows"), num("Actual Loops")
		// EXPLAIN shows the rows removed per loop.
		removed := (num("Rows Removed by Filter") + num("Rows Removed by Index Recheck")) * max(loops, 1)
		fmt.Fprintf(&b, "%s%s %s %s rows=%d loops=%d removed=%d", strings.Repeat("  ", depth), kind, relName, idx, rows, loops, removed)
		if buffers {
			fmt.Fprintf(&b, " shared hit=%d read=%d", num("Shared Hit Blocks"), num("Shared Read Blocks"))
		}
		b.WriteByte('\n')
		if relName == rel {
			p.steps++
			if kind == "Seq Scan" {
				p.seqScan = true
			}
			if kind != "Bitmap Heap Scan" { // its rows are its index's, counted there
				p.read += rows*loops + removed
			} else {
				p.read += removed
			}
		}
		if kind == "Bitmap Index Scan" && strings.HasPrefix(idx, rel+"_") {
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
	return p, nil
}
