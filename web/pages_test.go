package web

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestEveryPageRendersForAnOperator: each page answers 200 with what it
// is for, and no page lets the seeded markup through unescaped.
func TestEveryPageRendersForAnOperator(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	pool := fmt.Sprintf("/tree/pool/%d", e.acme.PoolID)
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Overview", "us-east", "brazil-south", `<svg class="bar"`, "Recent relocations"}},
		{"/region/us-east", []string{"Region us-east", `<svg class="chart"`, "allocations per day", "IPv4 free, projected", "191.232.0.0/24", "3 assignments made"}},
		{"/tree", []string{"Prefix tree", "191.232.0.0/16", "lacnic", "191.232.0.0/24", "2603:1030::/48"}},
		{"/tree?region=brazil-south", []string{"191.232.8.0/22"}},
		{pool, []string{"Fragmentation map", "Free prefixes", "191.232.0.0/24", e.acme.Prefix.String(), `class="s-partial"`}},
		{pool + "?within=191.232.0.0/30", []string{e.acme.Prefix.String()}},
		{"/assignments", []string{e.acme.Prefix.String(), e.globex.Prefix.String(), e.untenanted.Prefix.String()}},
		{"/assignments?tenant=globex", []string{e.globex.Prefix.String()}},
		{fmt.Sprintf("/assignment/%d", e.acme.ID), []string{"web.acme.example", "acme"}},
		{"/ip/" + e.acme.Prefix.Addr().String(), []string{"191.232.0.0/16", "lacnic", "us-east", "web.acme.example", "in-addr.arpa", "History", "allocate"}},
		{"/ip/191.232.0.0/24", []string{"191.232.0.0/16"}},
	} {
		p := b.get(t, c.path)
		p.want(t, http.StatusOK, c.want...)
		p.wantNot(t, "<script>alert", "<b onmouseover")
	}
	b.get(t, "/assignments?tenant=globex").wantNot(t, e.acme.Prefix.String()+"<")
	b.get(t, "/region/nowhere").want(t, http.StatusNotFound)
	b.get(t, "/tree/pool/999").want(t, http.StatusNotFound)
	b.get(t, "/assignment/999").want(t, http.StatusNotFound)
	b.get(t, "/ip/not-an-address").want(t, http.StatusUnprocessableEntity)
	b.get(t, "/assignments?family=5").want(t, http.StatusUnprocessableEntity, "family")
	b.get(t, "/ip/203.0.113.1").want(t, http.StatusNotFound)
}

func TestMarkupInNamesAndNotesIsEscaped(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAdmin)
	for _, path := range []string{"/tree", fmt.Sprintf("/assignment/%d", e.acme.ID), "/ip/" + e.acme.Prefix.Addr().String(), "/assignments"} {
		p := b.get(t, path)
		p.want(t, http.StatusOK, "&lt;script&gt;alert(1)&lt;/script&gt;")
		p.wantNot(t, "<script>", "<b onmouseover")
	}
}

// TestTreeOfManyPoolsListsBlocks: past the pools /tree draws whole, it
// lists the blocks one a line, each a link to its own page, and the
// regions, each a link to its part of the tree; a block's page draws its
// pools; links work without script and values are escaped.
func TestTreeOfManyPoolsListsBlocks(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	whole := b.get(t, "/tree")
	whole.want(t, http.StatusOK, `<a href="/tree/block/1">191.232.0.0/16</a>`, "191.232.0.0/24", `<svg class="bar"`)
	blocks, err := e.reg.Blocks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.ui.treeInline.Store(1)
	p := b.get(t, "/tree")
	p.want(t, http.StatusOK, "Prefix tree", "open a block", `<a href="/tree/block/1">191.232.0.0/16</a>`, "lacnic",
		`<a href="/tree?region=brazil-south">brazil-south</a>`, `<a href="/tree?region=us-east">us-east</a>`, "&lt;script&gt;alert(1)&lt;/script&gt;")
	p.wantNot(t, "<script>", `href="/tree/pool/`, `<svg class="bar"`)
	if got := strings.Count(p.Body, `<td class="prefix"><a href="/tree/block/`); got != len(blocks) {
		t.Errorf("/tree lists %d blocks, want %d", got, len(blocks))
	}
	// A region's part and a block's page draw pools as the whole tree did.
	b.get(t, "/tree?region=brazil-south").want(t, http.StatusOK, "Prefix tree of brazil-south", "/tree/block/")
	bp := b.get(t, "/tree/block/1")
	bp.want(t, http.StatusOK, "Block 191.232.0.0/16", "lacnic", "&lt;script&gt;alert(1)&lt;/script&gt;", "191.232.0.0/24",
		fmt.Sprintf(`<a class="prefix" href="/tree/pool/%d">191.232.0.0/24</a>`, e.acme.PoolID), `<a href="/region/us-east">us-east</a>`, `<svg class="bar"`)
	bp.wantNot(t, "<script>", "2603:1030::/48")
	b.get(t, "/tree/block/999").want(t, http.StatusNotFound)
	b.get(t, "/tree/block/x").want(t, http.StatusNotFound)
}

func TestSearchFindsAddressesPrefixesNamesTenantsAndResources(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	for q, want := range map[string]string{
		e.acme.Prefix.Addr().String(): "/ip/" + e.acme.Prefix.Addr().String(),
		"191.232.0.0/24":              "/ip/191.232.0.0/24",
		"us-east":                     "/region/us-east",
		"globex":                      "/assignments?tenant=globex",
		"web.acme.example":            fmt.Sprintf("/assignment/%d", e.acme.ID),
		"WEB.Acme.Example.":           fmt.Sprintf("/assignment/%d", e.acme.ID), // DNS names compare case-insensitively
		"router":                      fmt.Sprintf("/assignment/%d", e.untenanted.ID),
	} {
		p := b.get(t, "/search?q="+urlQueryEscape(q))
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
			t.Errorf("search %q: %d to %q, want %s", q, p.Status, p.Header.Get("Location"), want)
		}
	}
	b.get(t, "/search?q=nothing-of-that-name").want(t, http.StatusNotFound)
	b.get(t, "/search?q=").want(t, http.StatusUnprocessableEntity)
}

// TestTenantSessionSeesOnlyItsOwn: a tenant session gets its quota and its
// assignments; another tenant's objects answer 404 exactly as missing ones
// do; operator pages are refused.
func TestTenantSessionSeesOnlyItsOwn(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAcme)
	p := b.get(t, "/")
	p.want(t, http.StatusOK, "Tenant acme", "acme.example")
	p.wantNot(t, "globex", "Prefix tree")
	p = b.get(t, "/assignments")
	p.want(t, http.StatusOK, e.acme.Prefix.String())
	p.wantNot(t, e.globex.Prefix.String(), e.untenanted.Prefix.String())
	b.get(t, fmt.Sprintf("/assignment/%d", e.acme.ID)).want(t, http.StatusOK)
	b.get(t, "/ip/"+e.acme.Prefix.Addr().String()).want(t, http.StatusOK, "Your assignment", "web.acme.example")

	foreign := b.get(t, fmt.Sprintf("/assignment/%d", e.globex.ID))
	missing := b.get(t, "/assignment/99999")
	foreign.want(t, http.StatusNotFound)
	missing.want(t, http.StatusNotFound)
	foreign.wantNot(t, e.globex.Prefix.String(), "globex")
	b.get(t, "/ip/"+e.globex.Prefix.Addr().String()).want(t, http.StatusNotFound)
	b.get(t, "/assignments?tenant=globex").want(t, http.StatusNotFound)
	b.get(t, "/search?q=db.globex.example").want(t, http.StatusNotFound)
	for _, path := range []string{"/tree", "/tree/block/1", "/region/us-east", fmt.Sprintf("/tree/pool/%d", e.acme.PoolID)} {
		p := b.get(t, path)
		p.want(t, http.StatusForbidden)
		if strings.Contains(p.Body, "191.232.0.0/24") {
			t.Errorf("%s: a tenant sees the pool", path)
		}
	}
}

// TestAddressPageOfABigPoolIsOnePage: /ip/POOL of a pool holding more than
// a thousand assignments lists one page of them (DefaultShowLimit, or
// ?limit=), read from the store a page at a time as `show POOL` reads
// it, with a link to the next page that lists the next ones; a bad
// ?limit= is 422.
func TestAddressPageOfABigPoolIsOnePage(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	const n = 1100
	as, err := e.reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 6, Bits: 128, Count: n, Resource: "bulk"})
	if err != nil || len(as) != n {
		t.Fatalf("alloc %d /128s: %d, %v", n, len(as), err)
	}
	b := e.signIn(t, roleRead)
	rows := func(p page) []string {
		return assignmentLinkRE.FindAllString(p.Body, -1)
	}
	first := b.get(t, "/ip/2603:1030::/48")
	first.want(t, http.StatusOK, "Assignments in this pool", "Next page")
	got := rows(first)
	if len(got) == 0 || len(got) > registry.DefaultShowLimit {
		t.Fatalf("first page lists %d assignments, want 1 to %d of %d", len(got), registry.DefaultShowLimit, n)
	}
	m := nextRE.FindStringSubmatch(first.Body)
	if m == nil {
		t.Fatalf("no next-page link:\n%s", first.Body)
	}
	second := b.get(t, html.UnescapeString(m[1]))
	second.want(t, http.StatusOK, "Assignments in this pool")
	for _, r := range rows(second) {
		if slices.Contains(got, r) {
			t.Errorf("second page repeats %s of the first", r)
		}
	}
	big := b.get(t, "/ip/2603:1030::/48?limit=1000")
	big.want(t, http.StatusOK)
	if k := len(rows(big)); k != 1000 {
		t.Errorf("?limit=1000 lists %d assignments, want 1000", k)
	}
	b.get(t, "/ip/2603:1030::/48?limit=1001").want(t, http.StatusUnprocessableEntity, "limit")
	b.get(t, "/ip/2603:1030::/48?limit=0").want(t, http.StatusUnprocessableEntity, "limit")
}

var (
	assignmentLinkRE = regexp.MustCompile(`<a href="/assignment/[0-9]+">`)
	nextRE           = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// TestAddressPageInTwoSpaces: two VPCs each hold 10.1.0.0/16 with the
// assignment 10.1.0.0/24; the address page asks for the space (422
// naming both) and, given one, shows that space's block, pool and
// assignment, and the link from the assignment's page names its space.
func TestAddressPageInTwoSpaces(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	ids := map[string]int64{}
	for _, sp := range []string{"vpc-a", "vpc-b"} {
		if _, err := e.reg.AddSpace(ctx, registry.Space{Name: sp}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.SourcePrivate, Space: sp}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.1.0.0/16"), Region: "us-east", Space: sp, UseAll: true}); err != nil {
			t.Fatal(err)
		}
		as, err := e.reg.Allocate(ctx, registry.Request{Prefix: netip.MustParsePrefix("10.1.0.0/24"), Space: sp, Resource: "vm-in-" + sp})
		if err != nil {
			t.Fatal(err)
		}
		ids[sp] = as[0].ID
	}
	b := e.signIn(t, roleRead)
	b.get(t, "/ip/10.1.0.5").want(t, http.StatusUnprocessableEntity, "vpc-a", "vpc-b", "--space")
	p := b.get(t, "/ip/10.1.0.5?space=vpc-b")
	p.want(t, http.StatusOK, "vpc-b", "vm-in-vpc-b")
	p.wantNot(t, "vm-in-vpc-a")
	b.get(t, fmt.Sprintf("/assignment/%d", ids["vpc-a"])).want(t, http.StatusOK, `/ip/10.1.0.0?space=vpc-a`)
}

// TestAssignmentRowsAsTheTemplateWroteThem: the rows assignmentRows
// writes read (entities decoded) as those html/template wrote from the
// row template they replaced, for values with markup, quotes, ampersands
// and plus signs, a borrowed one and an IPv6 one; no markup from a value
// gets through.
func TestAssignmentRowsAsTheTemplateWroteThem(t *testing.T) {
	old := template.Must(template.New("rows").Funcs(template.FuncMap{"day": func(t time.Time) string { return t.UTC().Format("2006-01-02") }}).Parse(
		`{{range .}}<tr><td class="prefix"><a href="/assignment/{{.ID}}">{{.Prefix}}</a></td><td class="state-{{.State}}">{{.State}}{{if .Borrowed}} (borrowed){{end}}</td><td>{{.Region}}</td><td>{{.Tenant}}</td><td>{{.Resource}}</td><td>{{.Name}}</td><td>{{day .CreatedAt}}</td></tr>{{end}}`))
	as := []registry.Assignment{
		{ID: 7, Prefix: netip.MustParsePrefix("191.232.0.9/32"), State: registry.StateAssigned, Region: "us-east", Tenant: `a"b'c`, Resource: "<script>alert(1)</script>",
			Name: "x+y&z.example.", CreatedAt: time.Date(2026, 3, 4, 23, 59, 0, 0, time.FixedZone("x", -3600))},
		{ID: 12345678901, Prefix: netip.MustParsePrefix("2603:1030::/64"), State: registry.StateQuarantined, Region: "brazil-south", Borrowed: true,
			Resource: `<b onmouseover="x">`, CreatedAt: time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)},
		{ID: 9, Prefix: netip.MustParsePrefix("10.0.0.0/24"), State: registry.StateReleased},
	}
	var want strings.Builder
	if err := old.Execute(&want, as); err != nil {
		t.Fatal(err)
	}
	got := string(assignmentRows(as))
	if html.UnescapeString(got) != html.UnescapeString(want.String()) {
		t.Errorf("rows differ from the template's:\n got %s\nwant %s", got, want.String())
	}
	for _, bad := range []string{"<script", "<b ", `a"b`, "b'c", "y&z"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q unescaped in %s", bad, got)
		}
	}
	if assignmentRows(nil) != "" {
		t.Error("rows of no assignments are not empty")
	}
}
