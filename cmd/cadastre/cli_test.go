package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the binary's output")

// timeRE matches the times the CLI prints, so golden files hold none.
var timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?`)

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = timeRE.ReplaceAllString(got, "<TIME>")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./cmd/cadastre -run TestGolden -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (rerun with -update if the change is intended)\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestGolden pins the human output of the listings, the report and alloc
// on the fixture register.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmds [][]string
	}{
		{"region_list", [][]string{{"region", "list"}}},
		{"block_list", [][]string{{"block", "list"}}},
		{"pool_list", [][]string{{"pool", "list"}}},
		{"pool_list_borrowed", [][]string{
			{"alloc", "--region", "borrower", "--family", "4", "--count", "5", "--tenant", "acme"},
			{"pool", "list", "--region", "lender"}, {"pool", "list", "--region", "borrower"}, {"pool", "list"},
		}},
		{"export", [][]string{{"export"}, {"export", "--format", "csv"}}},
		{"show_pool", [][]string{{"show", "40.64.0.0/24", "--limit", "2"}, {"show", "40.64.0.0/24", "--limit", "1"}, {"show", "40.64.0.0/24", "--limit", "1", "--after", "live.40.64.0.0/32"}, {"show", "2603:1000::/48"}}},
		{"report", [][]string{{"report"}, {"report", "--region", "east"}}},
		{"alloc", [][]string{
			{"alloc", "--region", "east", "--family", "4", "--count", "3", "--tenant", "globex", "--resource", "vm-9"},
			{"alloc", "--region", "east", "--len", "64", "--tenant", "globex", "--name", "web.globex.example"},
			{"alloc", "--region", "west", "--dual-stack", "--tenant", "globex", "--resource", "vm-10"},
			{"alloc", "--region", "borrower", "--family", "4", "--count", "5", "--tenant", "acme"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := register(t)
			var out strings.Builder
			for _, c := range tc.cmds {
				out.WriteString("$ cadastre " + strings.Join(c, " ") + "\n")
				out.WriteString(mustCLI(t, db, c...))
			}
			golden(t, tc.name, out.String())
		})
	}
}

// TestEveryCommandHasShortAndExample: every command and subcommand says
// what it does in one line and shows an example in --help, and --help
// touches no database.
func TestEveryCommandHasShortAndExample(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		n++
		name := "cadastre " + strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			if c.Short == "" {
				t.Errorf("%s has no Short", name)
			}
			if c.Example == "" {
				t.Errorf("%s has no Example", name)
			}
			db := filepath.Join(t.TempDir(), "help.db")
			r := cli(t, db, append(path, "--help")...)
			if r.code != 0 {
				t.Fatalf("--help failed\n%s", r)
			}
			if !strings.Contains(r.stdout, "Examples:\n") {
				t.Errorf("--help shows no Examples section\n%s", r)
			}
			if first := strings.SplitN(c.Example, "\n", 2)[0]; !strings.Contains(r.stdout, first) {
				t.Errorf("--help does not show the example %q", first)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("--help created the database")
			}
			// A backquoted word in a flag's usage is its value's name in
			// --help (pflag): `cadastre tsig` there showed as
			// "--tsig-file cadastre tsig" (operator's walk-through).
			c.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " `") {
					t.Errorf("--%s shows its value as %q: a backquoted phrase in its usage", f.Name, name)
				}
			})
		})
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRoot(&app{}), nil)
	if n < 15 {
		t.Errorf("walked %d commands; expected the whole tree", n)
	}
}

// decodeList decodes a JSON list of objects, keeping numbers exact.
func decodeList(t *testing.T, s string) []map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out []map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("not a JSON list of objects: %v\n%s", err, s)
	}
	return out
}

// kinds checks that obj has each key with a value of the given JSON kind:
// "string", "number", "bool", "object" or "null".
func kinds(t *testing.T, what string, obj map[string]any, want map[string]string) {
	t.Helper()
	for k, kind := range want {
		v, ok := obj[k]
		if !ok {
			t.Errorf("%s: no field %q in %v", what, k, obj)
			continue
		}
		got := "?"
		switch v.(type) {
		case string:
			got = "string"
		case json.Number:
			got = "number"
		case bool:
			got = "bool"
		case map[string]any:
			got = "object"
		case nil:
			got = "null"
		}
		if got != kind {
			t.Errorf("%s: field %q is %s (%v), want %s", what, k, got, v, kind)
		}
	}
}

var assignmentFields = map[string]string{
	"id": "number", "prefix": "string", "pool": "string", "region": "string", "tenant": "string",
	"name": "string", "state": "string", "borrowed": "bool",
}

func TestAllocJSONShape(t *testing.T) {
	db := register(t)
	out := decodeList(t, mustCLI(t, db, "alloc", "--region", "east", "--family", "4", "--tenant", "globex",
		"--resource", "vm-9", "--name", "vm9.globex.example", "--json"))
	if len(out) != 1 {
		t.Fatalf("want one assignment, got %d", len(out))
	}
	a := out[0]
	kinds(t, "assignment", a, assignmentFields)
	for k, v := range map[string]any{
		"prefix": "40.64.0.1/32", "pool": "40.64.0.0/24", "region": "east", "tenant": "globex",
		"name": "vm9.globex.example", "state": "assigned", "borrowed": false,
	} {
		if a[k] != v {
			t.Errorf("%s = %v, want %v", k, a[k], v)
		}
	}
	if r, ok := a["relocation"]; ok && r != nil {
		t.Errorf("an assignment from the region's own pool has a relocation: %v", r)
	}

	// The borrower's own /30 gives four; the fifth comes from a /24 lent by lender.
	out = decodeList(t, mustCLI(t, db, "alloc", "--region", "borrower", "--family", "4", "--count", "5", "--json"))
	if len(out) != 5 {
		t.Fatalf("want five assignments, got %d", len(out))
	}
	for i, a := range out {
		kinds(t, "assignment", a, assignmentFields)
		if borrowed := i == 4; a["borrowed"] != borrowed {
			t.Errorf("assignment %d (%v): borrowed = %v, want %v", i, a["prefix"], a["borrowed"], borrowed)
		}
	}
	b := out[4]
	kinds(t, "borrowed assignment", b, map[string]string{"relocation": "object"})
	rel, _ := b["relocation"].(map[string]any)
	kinds(t, "relocation", rel, map[string]string{"prefix": "string", "from_region": "string", "to_region": "string"})
	for k, v := range map[string]string{"prefix": "191.232.0.0/24", "from_region": "lender", "to_region": "borrower"} {
		if rel[k] != v {
			t.Errorf("relocation %s = %v, want %v", k, rel[k], v)
		}
	}
	if b["prefix"] != "191.232.0.0/32" || b["region"] != "borrower" {
		t.Errorf("borrowed assignment: prefix %v region %v, want 191.232.0.0/32 in borrower", b["prefix"], b["region"])
	}
}

func TestReportJSONShape(t *testing.T) {
	db := register(t)
	rows := decodeList(t, mustCLI(t, db, "report", "--json"))
	fields := map[string]string{
		"region": "string", "family": "number", "assigned": "number", "quarantined": "number",
		"utilization": "number", "rate_per_day": "number", "ipv6_share": "number", "unit": "number",
	}
	byKey := map[string]map[string]any{}
	for _, r := range rows {
		kinds(t, "report row", r, fields)
		if _, ok := r["runway_days"]; !ok {
			t.Errorf("report row has no runway_days: %v", r)
		}
		rate, _ := r["rate_per_day"].(json.Number).Float64()
		if rate == 0 && r["runway_days"] != nil {
			t.Errorf("%v IPv%v: no rate, but runway_days = %v; want null", r["region"], r["family"], r["runway_days"])
		}
		if r["family"] == json.Number("4") && rate > 0 {
			kinds(t, "IPv4 row with a rate", r, map[string]string{"runway_days": "number"})
		}
		// One convention: every ratio a fraction from 0 to 1.
		if u, _ := r["utilization"].(json.Number).Float64(); u < 0 || u > 1 {
			t.Errorf("utilization %v outside [0, 1]", u)
		}
		share, _ := r["ipv6_share"].(json.Number).Float64()
		if share < 0 || share > 1 {
			t.Errorf("ipv6_share %v outside [0, 1]", share)
		}
		byKey[r["region"].(string)+"/"+string(r["family"].(json.Number))] = r
	}
	if len(byKey) != 10 {
		t.Errorf("want a row per region and family (10), got %d", len(byKey))
	}
	full := byKey["full/4"]
	for k, v := range map[string]string{"size": "4", "assigned": "4", "quarantined": "0", "free": "0", "utilization": "1", "runway_days": "0"} {
		if full[k] != json.Number(v) {
			t.Errorf("full IPv4 %s = %v, want %s", k, full[k], v)
		}
	}
	// An IPv6 /48 holds 2^80 addresses: above 2^53, an exact decimal
	// string; counted in its unit, /64s, 65536 of them (a number).
	e6 := byKey["east/6"]
	if got := e6["size"]; got != "1208925819614629174706176" {
		t.Errorf("east IPv6 size = %#v, want the string of 2^80", got)
	}
	if e6["unit"] != json.Number("64") || e6["free_units"] != json.Number("65535") {
		t.Errorf("east IPv6 unit %v free_units %v, want 64 and 65535", e6["unit"], e6["free_units"])
	}
	// east holds two IPv4 assignments and one IPv6.
	if s, _ := byKey["east/4"]["ipv6_share"].(json.Number).Float64(); s < 0.33 || s > 0.34 {
		t.Errorf("east ipv6_share = %v, want 1/3", s)
	}
	one := decodeList(t, mustCLI(t, db, "report", "--region", "lender", "--json"))
	if len(one) != 2 || one[0]["region"] != "lender" || one[1]["region"] != "lender" {
		t.Errorf("report --region lender: want its two rows, got %v", one)
	}
}

// TestDualStackIsAtomic: when IPv4 is exhausted and borrowing is forbidden,
// --dual-stack allocates nothing, not even the IPv6 half.
func TestDualStackIsAtomic(t *testing.T) {
	db := register(t)
	before := dump(t, db)
	r := cli(t, db, "alloc", "--region", "full", "--dual-stack", "--count", "2", "--json")
	if r.code != codePolicy {
		t.Fatalf("exit %d, want %d\n%s", r.code, codePolicy, r)
	}
	sameDump(t, before, dump(t, db))
	if got := decodeList(t, mustCLI(t, db, "assignments", "--region", "full", "--family", "6", "--json")); len(got) != 0 {
		t.Errorf("the failed dual-stack request left IPv6 assignments: %v", got)
	}
	// The first IPv6 address is still free.
	out := decodeList(t, mustCLI(t, db, "alloc", "--region", "full", "--json"))
	if len(out) != 1 || out[0]["prefix"] != "2603:1000:2::/128" {
		t.Errorf("want the pool's first address 2603:1000:2::/128, got %v", out)
	}

	// Where both families have room, one item is one IPv6 and one IPv4.
	out = decodeList(t, mustCLI(t, db, "alloc", "--region", "west", "--dual-stack", "--tenant", "acme", "--json"))
	if len(out) != 2 || out[0]["prefix"] != "2603:1000:1::/128" || out[1]["prefix"] != "40.64.1.0/32" {
		t.Errorf("want 2603:1000:1::/128 and 40.64.1.0/32, got %v", out)
	}
}

// TestIdempotentRetry: a retry with the same key and request returns the
// same assignment, in a later process, and changes nothing.
func TestIdempotentRetry(t *testing.T) {
	db := register(t)
	args := []string{"alloc", "--region", "west", "--family", "4", "--len", "30", "--tenant", "acme", "--resource", "vm-7", "--key", "retry-7f2c", "--json"}
	first := decodeList(t, mustCLI(t, db, args...))
	before := dump(t, db)
	for i := 0; i < 2; i++ {
		again := decodeList(t, mustCLI(t, db, args...))
		if len(again) != 1 || again[0]["id"] != first[0]["id"] || again[0]["prefix"] != first[0]["prefix"] {
			t.Errorf("retry %d: got %v, want %v", i+1, again, first)
		}
	}
	sameDump(t, before, dump(t, db))

	// The fixture's key k1 still returns its assignment.
	k1 := decodeList(t, mustCLI(t, db, "alloc", "--region", "east", "--tenant", "acme", "--resource", "vm-1", "--key", "k1", "--json"))
	if len(k1) != 1 || k1[0]["id"] != json.Number("3") || k1[0]["prefix"] != "2603:1000::/128" {
		t.Errorf("key k1: got %v, want assignment 3, 2603:1000::/128", k1)
	}
}

// TestRelocation: a region whose policy allows borrowing takes a /24 from
// its lender when its own IPv4 runs out, and every view names the move.
func TestRelocation(t *testing.T) {
	db := register(t)
	mustCLI(t, db, "alloc", "--region", "borrower", "--family", "4", "--count", "4")
	out := decodeList(t, mustCLI(t, db, "alloc", "--region", "borrower", "--family", "4", "--tenant", "acme", "--json"))
	if len(out) != 1 || out[0]["borrowed"] != true {
		t.Fatalf("want one borrowed assignment, got %v", out)
	}
	rel, _ := out[0]["relocation"].(map[string]any)
	if rel["from_region"] != "lender" || rel["to_region"] != "borrower" || rel["prefix"] != "191.232.0.0/24" {
		t.Errorf("relocation = %v, want 191.232.0.0/24 from lender to borrower", rel)
	}

	show := mustCLI(t, db, "show", "191.232.0.0")
	for _, w := range []string{
		"block       191.232.0.0/22  rir, LACNIC, registered in BR",
		"pool        191.232.0.0/24  region borrower",
		"relocation  191.232.0.0/24 moved from lender to borrower",
		"borrowed from lender under policy",
		"assignment  ",
		"relocation.create",
	} {
		if !strings.Contains(show, w) {
			t.Errorf("show of a borrowed address does not say %q\n%s", w, show)
		}
	}
	if pools := mustCLI(t, db, "pool", "list"); !regexp.MustCompile(`(?m)^└ 191\.232\.0\.0/24 +borrower .*borrowed from lender\s*$`).MatchString(pools) {
		t.Errorf("pool list does not show the borrowed /24\n%s", pools)
	}
	// The lender's /23 counts only the /24 it kept.
	for _, r := range decodeList(t, mustCLI(t, db, "report", "--region", "lender", "--json")) {
		if r["family"] == json.Number("4") && r["size"] != json.Number("256") {
			t.Errorf("lender IPv4 size = %v after lending a /24 of its /23, want 256", r["size"])
		}
	}
}

// TestDemoTwice: demo builds the story once; run again it says so and
// changes nothing.
func TestDemoTwice(t *testing.T) {
	db := filepath.Join(t.TempDir(), "story.db")
	first := mustCLI(t, db, "demo")
	for _, w := range []string{"Built the Azure-2014 story", "us-east", "brazil-south", "Relocations", "us-east ran out of IPv4"} {
		if !strings.Contains(first, w) {
			t.Errorf("first demo output does not say %q\n%s", w, first)
		}
	}
	before := dump(t, db)
	second := mustCLI(t, db, "demo")
	if !strings.Contains(second, "already") {
		t.Errorf("second demo does not say it is already built\n%s", second)
	}
	sameDump(t, before, dump(t, db))
	// The report part is the same both times.
	cut := func(s string) string { _, after, _ := strings.Cut(s, "\n\n"); return after }
	if !bytes.Equal([]byte(cut(first)), []byte(cut(second))) {
		t.Errorf("the second demo prints another report\n--- first\n%s\n--- second\n%s", first, second)
	}
}

// TestDemoScale: demo --scale builds the cloud-sized register; the same
// seed and end give the same export, byte for byte, whether it builds a
// new file (aside, without a journal: sqlite.Build) or fills an empty
// register made before, and an import of that export into a new file
// (built aside too) exports it again; nothing is left beside the
// registers. Its flags go with --scale only, and a second build into the
// same file is refused.
func TestDemoScale(t *testing.T) {
	dir := t.TempDir()
	var exports []string
	emptyRegister(t, filepath.Join(dir, "b.db"))
	for _, name := range []string{"a.db", "b.db"} {
		db := filepath.Join(dir, name)
		out := mustCLI(t, db, "demo", "--scale", "300", "--seed", "3", "--child-pools", "0", "--until", "2026-11-01", "--json")
		var res struct {
			Regions, Assignments, Named int
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Regions != 60 || res.Assignments != 300 || res.Named == 0 {
			t.Fatalf("demo --scale --json: %+v (%v)\n%s", res, err, out)
		}
		exports = append(exports, mustCLI(t, db, "export"))
	}
	if exports[0] != exports[1] {
		t.Errorf("two builds with seed 3 export different registers (%d and %d bytes)", len(exports[0]), len(exports[1]))
	}
	file := filepath.Join(dir, "a.json")
	if err := os.WriteFile(file, []byte(exports[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, filepath.Join(dir, "d.db"), "import", file)
	if got := mustCLI(t, filepath.Join(dir, "d.db"), "export"); got != exports[0] {
		t.Errorf("the import into a new file exports another register (%d bytes, want %d)", len(got), len(exports[0]))
	}
	if es, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	} else {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		if want := []string{"a.db", "a.json", "b.db", "d.db"}; !slices.Equal(names, want) {
			t.Errorf("the folder holds %q, want %q", names, want)
		}
	}
	db := filepath.Join(dir, "a.db")
	if r := cli(t, db, "demo", "--scale", "10", "--until", "2026-11-01"); r.code != exitConflict || !strings.Contains(r.stderr, "empty register") {
		t.Errorf("a second build: want exit %d naming the empty register\n%s", exitConflict, r)
	}
	for _, args := range [][]string{{"demo", "--seed", "3"}, {"demo", "--scale", "0"}, {"demo", "--scale", "10", "--until", "tomorrow"}, {"demo", "--scale", "10", "--serve"}} {
		if r := cli(t, filepath.Join(dir, "c.db"), args...); r.code != 2 {
			t.Errorf("want usage error (exit 2)\n%s", r)
		}
	}
}
