package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// export, import into an empty register, export again: the same bytes, in
// both formats; a dry run writes nothing.
func TestExportImportRoundTrip(t *testing.T) {
	src := register(t)
	// What issue 12 added: a named space with a private block, a policy
	// pool in it, reservations with and without an end, tags.
	for _, step := range [][]string{
		{"space", "add", "vpc-a", "--note", "first VPC"},
		{"block", "add", "10.0.0.0/8", "--source", "private", "--space", "vpc-a", "--tag", "env=lab"},
		{"pool", "add", "10.1.0.0/24", "--region", "east", "--space", "vpc-a", "--tag", "team=net ops"},
		{"reserve", "10.1.0.0/28", "--reason", "gateways"},
		{"reserve", "40.64.1.0/28", "--reason", "not yet", "--until", "720h"},
		// Child pools: one live with tagged children, one dissolved.
		{"alloc", "--region", "east", "--len", "56", "--as-pool", "site1", "--purpose", "site", "--tenant", "acme", "--tag", "site=fra1"},
		{"alloc", "--pool", "site1", "--len", "64", "--count", "2", "--tenant", "acme", "--tag", "env=prod"},
		{"reserve", "2603:1000:0:1f0::/60", "--reason", "site links"},
		{"alloc", "--region", "east", "--len", "60", "--as-pool", "gone"},
		{"alloc", "--pool", "gone", "--len", "64"},
		{"release", "2603:1000:0:10::/64", "--quarantine", "0"},
		{"release", "--pool", "gone"},
	} {
		mustCLI(t, src, step...)
	}
	dir := t.TempDir()
	for _, f := range []string{"json", "csv"} {
		first, second := filepath.Join(dir, "first."+f), filepath.Join(dir, "second."+f)
		mustCLI(t, src, "export", "--format", f, "-o", first)
		dst := filepath.Join(dir, "dst-"+f+".db")
		emptyRegister(t, dst)
		empty := dump(t, dst)
		if out := mustCLI(t, dst, "import", first, "--dry-run"); !strings.Contains(out, "would import") {
			t.Errorf("dry run says %q", out)
		}
		if dump(t, dst) != empty {
			t.Fatal("a dry run changed the register")
		}
		if out := mustCLI(t, dst, "import", first); !strings.Contains(out, "1 child pools") {
			t.Errorf("import says %q, want 1 child pools", out)
		}
		mustCLI(t, dst, "export", "--format", f, "-o", second)
		a, _ := os.ReadFile(first)
		b, _ := os.ReadFile(second)
		if len(a) == 0 || string(a) != string(b) {
			t.Fatalf("%s: second export differs:\n%s\n---\n%s", f, a, b)
		}
	}
}

// Bad files: a clear error naming the line, the exit code of its kind, and
// the register's tables exactly as before.
func TestImportBadInput(t *testing.T) {
	db := register(t)
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	own := filepath.Join(dir, "own.json")
	mustCLI(t, db, "export", "-o", own)
	ownText, _ := os.ReadFile(own)
	lines := strings.Split(string(ownText), "\n")
	var dup []string
	for _, l := range lines {
		dup = append(dup, l)
		if strings.Contains(l, `"state":"assigned"`) && strings.HasSuffix(l, ",") && len(dup) < len(lines) {
			dup = append(dup, l)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"its own export again: every name taken", []string{"import", own}, exitConflict, "line 5 ($.tenants[0]): tenant acme: already in the register"},
		{"duplicated rows", []string{"import", file("dup.json", strings.Join(dup, "\n"))}, exitConflict, "line "},
		{"a CSV given to --from netbox", []string{"import", "--from", "netbox", file("x.csv", "Section,Subnet\nA,40.64.8.0/24\n")}, exitUsage, "line 1: not JSON"},
		{"a NetBox file given to --from phpipam", []string{"import", "--from", "phpipam", file("nb.json", `{"prefixes": []}`)}, exitUsage, "this is JSON"},
		{"a NetBox field of the wrong type", []string{"import", "--from", "netbox", file("t.json", "{\"prefixes\": [\n{\"id\": 9, \"prefix\": [1]}]}")}, exitUsage, "line 2 ($.prefixes[0]): field prefix: array where string is wanted"},
		{"a NetBox prefix of an unknown region", []string{"import", "--from", "netbox", file("r.json", `{"prefixes": [{"id": 3, "prefix": "40.64.4.0/24", "status": {"value": "container"}, "site": {"slug": "mars"}}]}`)}, exitNotFound, "id 3: region mars: not in the file nor in the register"},
		{"a phpIPAM subnet outside every block", []string{"import", "--from", "phpipam", "--region", "east", file("p.csv", "Section,Subnet\nA,203.0.113.0/24\n")}, exitUsage, "line 2: pool 203.0.113.0/24: outside every block"},
		{"an unknown tenant", []string{"import", "--from", "phpipam", "--region", "east", file("o.csv", "Subnet,IP Address,Owner\n40.64.4.0/24,,\n,40.64.4.9,umbrella\n")}, exitNotFound, "line 3: assignment 40.64.4.9/32: tenant umbrella"},
		{"an unknown --from", []string{"import", "--from", "infoblox", own}, exitUsage, "must be netbox or phpipam"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, db)
			r := cli(t, db, c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.says) {
				t.Fatalf("want exit %d saying %q\n%s", c.code, c.says, r)
			}
			if dump(t, db) != before {
				t.Fatal("the register changed")
			}
		})
	}
}

// A version 1 file (before spaces, reservations, tags and the address
// policy) still imports; its pools hand out every address, as every pool
// did then.
func TestImportVersion1(t *testing.T) {
	db := filepath.Join(t.TempDir(), "v1.db")
	mustCLI(t, db, "region", "add", "east", "--country", "US")
	v1 := filepath.Join(t.TempDir(), "v1.json")
	body := `{
  "format": "cadastre-register",
  "version": 1,
  "tenants": [],
  "regions": [],
  "blocks": [
    {"prefix":"40.64.0.0/22","source":"rir","registry":"arin","created_at":"2026-01-02T03:04:05Z"}
  ],
  "pools": [
    {"prefix":"40.64.0.0/24","region":"east","created_at":"2026-01-02T03:04:05Z"}
  ],
  "relocations": [],
  "assignments": []
}
`
	if err := os.WriteFile(v1, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, db, "import", v1)
	if out := mustCLI(t, db, "alloc", "--region", "east", "--family", "4"); !strings.Contains(out, "40.64.0.0/32") {
		t.Fatalf("a version 1 pool keeps its network address back:\n%s", out)
	}
	if out := mustCLI(t, db, "export"); !strings.Contains(out, `"use_all":true`) || !strings.Contains(out, `"version": 4`) {
		t.Fatalf("export after a version 1 import:\n%s", out)
	}
}
