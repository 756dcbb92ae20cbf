package sqlite

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestAssignmentPagePlans: a page of assignments (the API's and the web
// UI's lists and searches) is read through an index in ID order, never by
// a walk of the table (`SCAN a`) nor by sorting what an index found (`USE
// TEMP B-TREE`): either costs a read of rows in proportion to the register
// for each page (issue 16: seconds at 10 million). SQLite's planner has no
// statistics here (no ANALYZE), so the plans of an empty register are the
// plans of a full one.
func TestAssignmentPagePlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tenant := "t1"
	past := []registry.State{registry.StateQuarantined, registry.StateReleased}
	scopes := []pageScope{
		{id: 1, space: "global", family: 4, first: []byte{10, 0, 0, 0}, last: []byte{10, 0, 255, 255}},
		{id: 2, space: "global", family: 6, first: make([]byte, 16), last: append(make([]byte, 8), 255, 255, 255, 255, 255, 255, 255, 255)},
		{id: 3, space: "vpc-a", family: 4, first: []byte{10, 2, 0, 0}, last: []byte{10, 2, 0, 255}},
	}
	for _, c := range []struct {
		name  string
		f     registry.AssignmentFilter
		pools []int64 // a region's pools: the page is merged from theirs
		// rows: the live assignments of the family and of both, for a
		// page of a family alone (familyPage).
		rows [2]int64
		// sortOK: the rows sorted are those of one name (a few), or of a
		// prefix the caller named, not the register's.
		scanOK, sortOK bool
		// firstEq: the rows are looked up by first address
		// (assignments_at with space=? AND family=? AND first=?), not a range of it.
		firstEq bool
		// tagPool: the tag's entries are read per pool from
		// tags_pool_match.
		tagPool bool
		// scopes: a page in address order (ByAddress) of these pools, a
		// range of assignments_at each, in its order (ties sorted), the
		// pools' pages merged by one sort.
		scopes []pageScope
	}{
		{name: "first page", f: registry.AssignmentFilter{}, scanOK: true}, // in ID order, every row kept: stops after a page
		{name: "after a cursor", f: registry.AssignmentFilter{AfterID: 500}},
		// A family alone (00032 dropped its index): read in ID order
		// while the family is common (a page reads limit/share rows),
		// sorted from its own rows when it is rare (familyQuery).
		{name: "a common family", f: registry.AssignmentFilter{Family: 4}, rows: [2]int64{400_000, 1_000_000}, scanOK: true},
		{name: "a rare family", f: registry.AssignmentFilter{Family: 6}, rows: [2]int64{5_000, 1_000_000}, sortOK: true},
		{name: "tenant", f: registry.AssignmentFilter{Tenant: &tenant}},
		// Untenanted rows are not in assignments_tenant (00040): read in
		// ID order, every untenanted row kept, it stops after a page.
		{name: "untenanted", f: registry.AssignmentFilter{Tenant: new(string)}, scanOK: true},
		{name: "a tenant's after a cursor, of a family", f: registry.AssignmentFilter{Tenant: &tenant, AfterID: 500, Family: 6}},
		{name: "a tenant's in a region", f: registry.AssignmentFilter{Tenant: &tenant, RegionID: 1}},
		{name: "a tenant's containing an address", f: registry.AssignmentFilter{Tenant: &tenant, Contains: netip.MustParsePrefix("10.0.0.1/32")}, sortOK: true},
		{name: "name", f: registry.AssignmentFilter{Name: "vm-1.example"}, sortOK: true},
		{name: "resource", f: registry.AssignmentFilter{Resource: "vm-1"}},
		{name: "quarantined", f: registry.AssignmentFilter{States: past[:1]}},
		{name: "released, after a cursor", f: registry.AssignmentFilter{States: past[1:], AfterID: 500}},
		{name: "quarantined or released", f: registry.AssignmentFilter{States: past}},
		{name: "IPv4 released", f: registry.AssignmentFilter{Family: 4, States: past[1:]}},
		{name: "a tag", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}}},
		{name: "two tags and a family", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod", "team": "a"}, Family: 6}},
		// A tag in a region or a pool: a range of tags_pool_match per
		// pool (00057), not the tag's entries of every region.
		{name: "a tag in a region", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, RegionID: 1}, pools: []int64{1, 2}, tagPool: true},
		{name: "a tag in a region's IPv4 assigned, after a cursor", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, RegionID: 1, Family: 4,
			States: []registry.State{registry.StateAssigned}, AfterID: 77}, pools: []int64{1, 2}, tagPool: true},
		{name: "two tags in a region", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod", "team": "a"}, RegionID: 1}, pools: []int64{1, 2}, tagPool: true},
		{name: "a tag in a pool", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, PoolID: 3}, tagPool: true},
		// A region of more pools than one statement merges: joined.
		{name: "a tag in a region of many pools", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, RegionID: 1}},
		{name: "a pool", f: registry.AssignmentFilter{PoolID: 3}, scopes: scopes[2:]},
		{name: "a pool's live, after a cursor", f: registry.AssignmentFilter{PoolID: 3, States: []registry.State{registry.StateAssigned, registry.StateQuarantined},
			AfterPrefix: netip.MustParsePrefix("10.2.0.7/32"), AfterID: 1 << 62}, scopes: scopes[2:]},
		{name: "a pool's quarantined", f: registry.AssignmentFilter{PoolID: 3, States: past[:1], AfterID: 9}},
		{name: "a pool's past", f: registry.AssignmentFilter{PoolID: 3, States: past}},
		{name: "a region", f: registry.AssignmentFilter{RegionID: 1}, scopes: scopes[:2]},
		{name: "a region's IPv4 assigned", f: registry.AssignmentFilter{RegionID: 1, Family: 4, States: []registry.State{registry.StateAssigned}}, scopes: scopes[:1]},
		{name: "a region's assigned, after a cursor", f: registry.AssignmentFilter{RegionID: 1, States: []registry.State{registry.StateAssigned},
			AfterPrefix: netip.MustParsePrefix("10.0.3.0/24"), AfterID: 77}, scopes: scopes[:2]},
		{name: "a region's quarantined", f: registry.AssignmentFilter{RegionID: 1, States: past[:1]}, pools: []int64{1, 2}},
		{name: "a region's past, after a cursor", f: registry.AssignmentFilter{RegionID: 1, States: past, AfterID: 77}, pools: []int64{1, 2}},
		{name: "within a prefix", f: registry.AssignmentFilter{Within: netip.MustParsePrefix("10.0.0.0/16")}, sortOK: true},
		// The rows sorted are those starting where one of the address's
		// supernets starts (its history), looked up one by one.
		{name: "holding an address", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("10.1.2.3/32")}, sortOK: true, firstEq: true},
		{name: "holding an IPv6 prefix", f: registry.AssignmentFilter{Contains: netip.MustParsePrefix("2001:db8::/64")}, sortOK: true, firstEq: true},
		{name: "a tenant's, holding an address", f: registry.AssignmentFilter{Tenant: &tenant, Contains: netip.MustParsePrefix("10.1.2.3/32"),
			States: []registry.State{registry.StateAssigned, registry.StateQuarantined}}, sortOK: true, firstEq: true},
		{name: "a tag, holding an address", f: registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, Contains: netip.MustParsePrefix("10.1.2.3/32")}, sortOK: true, firstEq: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.f
			f.Limit = 101
			q, args := assignmentQuery(f)
			if c.pools != nil {
				q, args = regionPageQuery(f, c.pools)
			}
			if f.ByAddress() != (c.scopes != nil) {
				t.Fatalf("ByAddress = %v", f.ByAddress())
			}
			if c.scopes != nil {
				q, args = byAddressQuery(f, c.scopes)
			}
			if familyPage(f) != (c.rows[1] > 0) {
				t.Fatalf("familyPage = %v", familyPage(f))
			}
			if familyPage(f) {
				q = familyQuery(q, c.rows[0], c.rows[1], f.Limit)
			}
			plan := queryPlan(ctx, t, s.rdb, q, args...)
			if c.rows[1] > 0 {
				// A common family's page walks the table in ID order and
				// stops at a page; a rare one sorts its own rows.
				common := c.rows[0]*c.rows[0] >= int64(f.Limit)*c.rows[1]
				if got := strings.Join(plan, "\n"); common != slices.ContainsFunc(plan, scansTable) || common == strings.Contains(got, "TEMP B-TREE") {
					t.Errorf("family of %d of %d: plan\n  %s", c.rows[0], c.rows[1], strings.Join(plan, "\n  "))
				}
			}
			if c.firstEq && !strings.Contains(strings.Join(plan, "\n"), "assignments_at (space=? AND family=? AND first=?") {
				t.Errorf("the holders of a prefix are not looked up by first address; plan:\n  %s", strings.Join(plan, "\n  "))
			}
			if want := "tags_pool_match (key=? AND value=? AND pool_id=? AND object_id>?)"; c.tagPool && !strings.Contains(strings.Join(plan, "\n"), want) {
				t.Errorf("the tag's entries are not read per pool (%s); plan:\n  %s", want, strings.Join(plan, "\n  "))
			}
			if c.scopes != nil {
				// Each pool's rows: a range of assignments_at from the
				// pool's start (or the cursor) to its end, ties of one
				// first address sorted (LAST 2 TERMS: bits, id) where
				// released rows may share one.
				got := strings.Join(plan, "\n")
				if n := strings.Count(got, "SEARCH a USING INDEX assignments_at (space=? AND family=? AND first>? AND first<?)"); n != len(c.scopes) {
					t.Errorf("%d ranges of assignments_at, want one a pool (%d); plan:\n  %s", n, len(c.scopes), strings.Join(plan, "\n  "))
				}
				if n := strings.Count(got, "USE TEMP B-TREE FOR ORDER BY"); n > 0 {
					t.Errorf("%d sorts of whole row sets, want none (the pages' keys are merged in Go); plan:\n  %s", n, strings.Join(plan, "\n  "))
				}
			}
			for _, d := range plan {
				if c.scopes != nil && d == "USE TEMP B-TREE FOR LAST 2 TERMS OF ORDER BY" {
					continue
				}
				if !c.scanOK && scansTable(d) || !c.sortOK && strings.Contains(d, "TEMP B-TREE") {
					t.Errorf("plan step %q reads rows in proportion to the register; plan:\n  %s\nstatement: %s", d, strings.Join(plan, "\n  "), q)
				}
			}
		})
	}
}

// scansTable reports whether a plan step walks the assignments a.
func scansTable(step string) bool { return step == "SCAN a" || strings.HasPrefix(step, "SCAN a ") }

// TestAddressPlans: the look-ups of an address in a space (AssignmentsAt,
// LiveAssignment and the overlap trigger's) seek assignments_at by space,
// family and first address, and read the rows they find by ID: a
// condition on the space alone walked the space's rows of the index
// (1.1 s of CPU for `show` at 10M before it was taken out).
func TestAddressPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, args := assignmentsAtQuery("global", netip.MustParsePrefix("2001:db8::1/128"), 32)
	fam, first, last, _ := span(netip.MustParsePrefix("10.0.0.0/30"))
	for _, c := range []struct {
		name string
		q    string
		args []any
		want []string
	}{
		{"AssignmentsAt", q, args, []string{"SEARCH a USING INTEGER PRIMARY KEY (rowid=?)",
			"assignments_at (space=? AND family=? AND first>? AND first<?)", "assignments_at (space=? AND family=? AND first=?)"}},
		{"the live row before an address", `SELECT id FROM assignments WHERE space = ? AND family = ? AND state <> 'released' AND first <= ?
			ORDER BY first DESC LIMIT 1`, []any{"global", fam, last}, []string{"assignments_at (space=? AND family=? AND first<?)"}},
		{"holders across spaces", `SELECT a.id FROM assignments a WHERE a.space IN (` + assignmentSpaces + `) AND a.family = ? AND a.first IN (?, ?)`,
			[]any{fam, first, last}, []string{"assignments_at (space=? AND family=? AND first=?)"}},
	} {
		plan := strings.Join(queryPlan(ctx, t, s.rdb, c.q, c.args...), "\n")
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: no %q in the plan:\n%s", c.name, w, plan)
			}
		}
		if strings.Contains(plan, "(space=?)\n") || strings.HasSuffix(plan, "(space=?)") {
			t.Errorf("%s: a walk of a space's rows in the plan:\n%s", c.name, plan)
		}
	}
}
