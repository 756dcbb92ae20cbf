package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// lifeBadInput: every refusal of the verbs that change and remove objects,
// spaces and tags, on the fixture register (see fixtureSteps): its exit
// status, the words that name the value, the rule or what still depends
// on the object, and the database row for row as it was.
var lifeBadInput = []badCase{
	{name: "removing a region with pools names them", args: []string{"region", "remove", "east"},
		code: codeConflict, want: []string{"region east", "40.64.0.0/24", "2603:1000::/48", "pool remove"}},
	{name: "removing a region another may borrow from names the borrower", setup: [][]string{{"region", "add", "lonely", "--country", "DE"}, {"region", "update", "west", "--borrow-from", "lonely"}},
		args: []string{"region", "remove", "lonely"}, code: codeConflict, want: []string{"region lonely", "west", "borrow"}},
	{name: "removing a block with pools names them", args: []string{"block", "remove", "40.64.0.0/22"},
		code: codeConflict, want: []string{"block 40.64.0.0/22", "40.64.0.0/24", "40.64.1.0/24"}},
	{name: "removing a pool with live assignments names them", args: []string{"pool", "remove", "40.64.0.0/24"},
		code: codeConflict, want: []string{"pool 40.64.0.0/24", "40.64.0.0/32 (assigned)", "40.64.0.4/30 (assigned)", "release"}},
	{name: "removing a pool that lent space names the unit", setup: [][]string{{"alloc", "--region", "borrower", "--family", "4", "--len", "30"}, {"alloc", "--region", "borrower", "--family", "4", "--len", "30"}},
		args: []string{"pool", "remove", "191.232.0.0/23"}, code: codeConflict, want: []string{"191.232.0.0/23", "lent", "borrower"}},
	{name: "removing a pool with quarantined assignments", setup: [][]string{{"release", "1", "--quarantine", "24h"}, {"release", "2", "--quarantine", "0"}},
		args: []string{"pool", "remove", "40.64.0.0/24"}, code: codeConflict, want: []string{"40.64.0.0/32 (quarantined)"}},
	{name: "removing a missing region", args: []string{"region", "remove", "nowhere"}, code: codeNotFound, want: []string{"nowhere"}},
	{name: "removing a missing block", args: []string{"block", "remove", "40.99.0.0/16"}, code: codeNotFound, want: []string{"40.99.0.0/16"}},
	{name: "removing a missing pool", args: []string{"pool", "remove", "40.64.3.0/24"}, code: codeNotFound, want: []string{"40.64.3.0/24"}},
	{name: "removing a pool by a bad ID", args: []string{"pool", "remove", "-3"}, code: codeUsage, want: []string{"-3"}},
	{name: "a region update with nothing to change", args: []string{"region", "update", "east"}, code: codeUsage, want: []string{"nothing to change"}},
	{name: "a region update to an unknown country", args: []string{"region", "update", "east", "--country", "XX"}, code: codeUsage, want: []string{"XX"}},
	{name: "a region update borrowing from itself", args: []string{"region", "update", "east", "--borrow-from", "east"}, code: codeUsage, want: []string{"itself"}},
	{name: "a block update with a date in the future", args: []string{"block", "update", "132.245.0.0/16", "--date", "2999-01-01"}, code: codeUsage, want: []string{"2999-01-01", "future"}},
	{name: "a block update with a control character in the note", args: []string{"block", "update", "132.245.0.0/16", "--note", "a\x1b[2Jb"}, code: codeUsage, want: []string{"note", "control character"}},
	{name: "a block update with a price and no price", args: []string{"block", "update", "132.245.0.0/16", "--price", "1", "--no-price"}, code: codeUsage, want: []string{"--no-price"}},
	{name: "a block update of a prefix that is no block", args: []string{"block", "update", "40.64.0.0/24", "--note", "x"}, code: codeNotFound, want: []string{"40.64.0.0/24"}},
	{name: "a pool update with a control character in the purpose", args: []string{"pool", "update", "40.64.0.0/24", "--purpose", "a\rb"}, code: codeUsage, want: []string{"purpose", "control character"}},
	{name: "a tag without '='", args: []string{"pool", "update", "40.64.0.0/24", "--tag", "env"}, code: codeUsage, want: []string{`"env"`, "KEY=VALUE"}},
	{name: "a tag key in upper case", args: []string{"region", "update", "east", "--tag", "Env=prod"}, code: codeUsage, want: []string{`"Env"`, "lower-case"}},
	{name: "a tag key given twice", args: []string{"region", "update", "east", "--tag", "env=a", "--tag", "env=b"}, code: codeUsage, want: []string{"env", "twice"}},
	{name: "a tag value with a control character", args: []string{"block", "update", "132.245.0.0/16", "--tag", "owner=a\x07b"}, code: codeUsage, want: []string{"tag owner", "control character"}},
	{name: "a tag value with a bidi override", args: []string{"block", "update", "132.245.0.0/16", "--tag", "owner=a\u202eb"}, code: codeUsage, want: []string{"tag owner", "U+202E"}},
	{name: "a tag set and removed at once", args: []string{"pool", "update", "40.64.0.0/24", "--tag", "env=a", "--untag", "env"}, code: codeUsage, want: []string{"env", "both"}},
	{name: "an untag of a bad key", args: []string{"pool", "update", "40.64.0.0/24", "--untag", "BAD"}, code: codeUsage, want: []string{`"BAD"`}},
	{name: "a bad tag filter on a list", args: []string{"assignments", "--tag", "=x"}, code: codeUsage, want: []string{"empty key"}},
	{name: "a bad tag on an add", args: []string{"region", "add", "north", "--country", "NO", "--tag", "a b=c"}, code: codeUsage, want: []string{`"a b"`}},
	{name: "an assignment update of a released assignment", setup: [][]string{{"release", "1", "--quarantine", "0"}},
		args: []string{"assignment", "update", "1", "--tag", "env=prod"}, code: codeConflict, want: []string{"assignment 1", "released"}},
	{name: "an assignment update with a bad name", args: []string{"assignment", "update", "1", "--name", "-bad-.example"}, code: codeUsage, want: []string{"-bad-.example"}},
	{name: "an assignment update of an address nobody holds", args: []string{"assignment", "update", "40.64.0.200", "--tag", "a=b"}, code: codeNotFound, want: []string{"40.64.0.200"}},
	{name: "a space with a bad name", args: []string{"space", "add", "VPC A"}, code: codeUsage, want: []string{"VPC A", "space name"}},
	{name: "a space added twice", setup: [][]string{{"space", "add", "vpc-a"}}, args: []string{"space", "add", "vpc-a"}, code: codeConflict, want: []string{"vpc-a"}},
	{name: "removing a space with blocks names them", setup: [][]string{{"space", "add", "vpc-a"}, {"block", "add", "172.16.0.0/12", "--source", "private", "--space", "vpc-a"}},
		args: []string{"space", "remove", "vpc-a"}, code: codeConflict, want: []string{"vpc-a", "172.16.0.0/12", "block remove"}},
	{name: "removing a built-in space", args: []string{"space", "remove", "global"}, code: codeConflict, want: []string{"global", "built in"}},
	{name: "a private block overlapping within its space", args: []string{"block", "add", "10.1.0.0/16", "--source", "private"},
		code: codeConflict, want: []string{"10.1.0.0/16", "overlaps block 10.0.0.0/8", "space private"}},
	{name: "a public block in a named space", setup: [][]string{{"space", "add", "vpc-a"}}, args: []string{"block", "add", "52.0.0.0/8", "--source", "rir", "--registry", "arin", "--space", "vpc-a"},
		code: codeUsage, want: []string{"52.0.0.0/8", "global space"}},
	{name: "a private block in the global space", args: []string{"block", "add", "172.16.0.0/12", "--source", "private", "--space", "global"},
		code: codeUsage, want: []string{"172.16.0.0/12", "global space"}},
	{name: "a private block in an unknown space", args: []string{"block", "add", "172.16.0.0/12", "--source", "private", "--space", "vpc-z"},
		code: codeNotFound, want: []string{"vpc-z", "space add"}},
	{name: "show in an unknown space", args: []string{"show", "10.0.0.1", "--space", "vpc-z"}, code: codeNotFound, want: []string{"vpc-z"}},
	{name: "show of an address two spaces hold, without --space", setup: [][]string{{"space", "add", "vpc-a"}, {"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a"}},
		args: []string{"show", "10.0.0.1"}, code: codeUsage, want: []string{"10.0.0.1", "2 spaces", "--space"}},
	{name: "a block update of a prefix two spaces hold, without --space", setup: [][]string{{"space", "add", "vpc-a"}, {"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a"}},
		args: []string{"block", "update", "10.0.0.0/8", "--note", "x"}, code: codeUsage, want: []string{"10.0.0.0/8", "--space"}},
}

func TestLifeBadInputIsRefusedAndChangesNothing(t *testing.T) { runBadCases(t, lifeBadInput) }

// TestLifeVerbs runs each verb once to success: spaces, tags on adds and
// updates, tag filters on every listing, and the removal of a pool, its
// block and its region once nothing depends on them, each with its event.
func TestLifeVerbs(t *testing.T) {
	db := register(t)
	mustCLI(t, db, "space", "add", "vpc-a", "--note", "first VPC")
	mustCLI(t, db, "space", "add", "vpc-b")
	if out := mustCLI(t, db, "block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a", "--tag", "vpc=a"); !strings.Contains(out, "space vpc-a") {
		t.Errorf("block add: %s", out)
	}
	mustCLI(t, db, "block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-b")
	var spaces []registry.Space
	mustJSON(t, mustCLI(t, db, "space", "list", "--json"), &spaces)
	if len(spaces) != 4 || spaces[0].Name != "global" || spaces[1].Name != "private" || spaces[1].Blocks != 1 || spaces[2].Blocks != 1 {
		t.Errorf("space list: %+v", spaces)
	}
	if out := mustCLI(t, db, "space", "list"); !strings.Contains(out, "first VPC") {
		t.Errorf("space list: %s", out)
	}
	if out := mustCLI(t, db, "show", "10.1.2.3", "--space", "vpc-a"); !strings.Contains(out, "space vpc-a") || !strings.Contains(out, "tags vpc=a") {
		t.Errorf("show --space: %s", out)
	}
	var blocks []registry.Block
	mustJSON(t, mustCLI(t, db, "block", "list", "--space", "vpc-b", "--json"), &blocks)
	if len(blocks) != 1 || blocks[0].Space != "vpc-b" {
		t.Errorf("block list --space vpc-b: %+v", blocks)
	}
	mustCLI(t, db, "block", "remove", "10.0.0.0/8", "--space", "vpc-b")
	mustCLI(t, db, "space", "remove", "vpc-b")

	mustCLI(t, db, "region", "add", "north", "--country", "NO", "--tag", "env=test", "--tag", "team=net")
	mustCLI(t, db, "region", "update", "east", "--city", "Reston", "--tag", "env=prod")
	var regions []registry.Region
	mustJSON(t, mustCLI(t, db, "region", "list", "--tag", "env=prod", "--json"), &regions)
	if len(regions) != 1 || regions[0].Name != "east" || regions[0].Location.City != "Reston" {
		t.Errorf("region list --tag env=prod: %+v", regions)
	}
	mustCLI(t, db, "block", "update", "132.245.0.0/16", "--note", "from Nortel", "--no-price", "--tag", "owner=finance")
	mustJSON(t, mustCLI(t, db, "block", "list", "--tag", "owner=finance", "--json"), &blocks)
	if len(blocks) != 1 || blocks[0].Note != "from Nortel" || blocks[0].Price != nil || blocks[0].Tags["owner"] != "finance" {
		t.Errorf("block list --tag: %+v", blocks)
	}
	mustCLI(t, db, "pool", "update", "40.64.1.0/24", "--purpose", "nat", "--tag", "tier=gold")
	var pools []registry.PoolUsage
	mustJSON(t, mustCLI(t, db, "pool", "list", "--tag", "tier=gold", "--json"), &pools)
	if len(pools) != 1 || pools[0].Purpose != "nat" || pools[0].Tags["tier"] != "gold" {
		t.Errorf("pool list --tag: %+v", pools)
	}
	mustCLI(t, db, "pool", "add", "40.64.3.0/24", "--region", "north", "--tag", "tier=silver")
	mustCLI(t, db, "assignment", "update", "40.64.0.0", "--resource", "vm-9", "--tag", "app=shop", "--tag", "env=prod")
	mustCLI(t, db, "assignment", "update", "2", "--name", "lb1.acme.example", "--tag", "app=shop")
	mustCLI(t, db, "assignment", "update", "1", "--untag", "env")
	var as []registry.Assignment
	mustJSON(t, mustCLI(t, db, "assignments", "--tag", "app=shop", "--json"), &as)
	if len(as) != 2 || as[0].Resource != "vm-9" || len(as[0].Tags) != 1 || as[1].Name != "lb1.acme.example" {
		t.Errorf("assignments --tag app=shop: %+v", as)
	}
	if out := mustCLI(t, db, "show", "40.64.0.0"); !strings.Contains(out, "tags app=shop") {
		t.Errorf("show: %s", out)
	}

	// A pool, its block and its region go once nothing depends on them.
	mustCLI(t, db, "pool", "remove", "40.64.3.0/24")
	mustCLI(t, db, "region", "remove", "north")
	mustCLI(t, db, "pool", "remove", "2603:1000:3::/48")
	mustCLI(t, db, "pool", "remove", "40.64.2.4/30")
	mustCLI(t, db, "region", "remove", "borrower")
	out := mustCLI(t, db, "log", "--json")
	for _, want := range []string{"space.add", "space.remove", "block.remove", "region.update", "block.update", "pool.update", "assignment.update", "pool.remove", "region.remove"} {
		if !strings.Contains(out, `"`+want+`"`) {
			t.Errorf("no %s event in the log", want)
		}
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
}

// TestLifeRefusalsOverAPI: through --server, a removal something depends
// on exits 4 naming it, a bad tag exits 2, a tag filter answers what the
// local register answers, and nothing changes on a refusal.
func TestLifeRefusalsOverAPI(t *testing.T) {
	served := register(t)
	token := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "admin", "--name", "cli"))
	mustCLI(t, served, "pool", "update", "40.64.0.0/24", "--tag", "tier=gold")
	srv := startServe(t, served)
	dir := t.TempDir()
	// The register as the local CLI reads it (a dump would differ in the
	// token's last use, which every call through the API records).
	state := func() string {
		var b strings.Builder
		for _, v := range [][]string{{"region", "list", "--json"}, {"block", "list", "--json"}, {"pool", "list", "--json"},
			{"assignments", "--json"}, {"space", "list", "--json"}, {"log", "--json"}} {
			b.WriteString(mustCLI(t, served, v...))
		}
		return b.String()
	}
	before := state()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pool", "remove", "40.64.0.0/24"}, codeConflict, "40.64.0.4/30 (assigned)"},
		{[]string{"block", "remove", "40.64.0.0/22"}, codeConflict, "40.64.1.0/24"},
		{[]string{"region", "remove", "east"}, codeConflict, "pool remove"},
		{[]string{"space", "remove", "private"}, codeConflict, "built in"},
		{[]string{"pool", "update", "40.64.0.0/24", "--tag", "Bad=x"}, codeUsage, `"Bad"`},
		{[]string{"block", "update", "132.245.0.0/16", "--date", "2999-01-01"}, codeUsage, "future"},
		{[]string{"assignment", "update", "40.64.0.200", "--tag", "a=b"}, codeNotFound, "40.64.0.200"},
	} {
		r := remoteRun(t, dir, srv.url, token, "", c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("want exit %d naming %q:\n%s", c.code, c.want, r)
		}
	}
	if after := state(); after != before {
		t.Errorf("a refusal over the API changed the register")
	}
	r := remoteRun(t, dir, srv.url, token, "", "pool", "list", "--tag", "tier=gold", "--json")
	var pools []registry.PoolUsage
	mustJSON(t, r.stdout, &pools)
	if r.code != 0 || len(pools) != 1 || pools[0].Prefix.String() != "40.64.0.0/24" {
		t.Errorf("pool list --tag over the API: %+v\n%s", pools, r)
	}
}
