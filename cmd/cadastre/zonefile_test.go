package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestZoneExportImport(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "f.db")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--ns", "ns1.example.net", "--ns", "ns.example.org")
	mustCLI(t, db, "record", "add", "example.net", "www", "A", "192.0.2.10")
	mustCLI(t, db, "record", "add", "example.net", "@", "TXT", "v=spf1 -all")
	out := mustCLI(t, db, "zone", "export", "example.net")
	for _, want := range []string{"IN\tSOA\tns1.example.net.", "IN\tNS\tns.example.org.", "www.example.net.\t3600\tIN\tA\t192.0.2.10", `"v=spf1 -all"`} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %q:\n%s", want, out)
		}
	}
	file := filepath.Join(dir, "in.zone")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file with SOA, apex NS, a DNSKEY, a delegation and new records.
	write(`$TTL 600
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
@ IN NS ns.example.org.
@ IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
www IN A 192.0.2.10
mail IN A 192.0.2.25
@ IN MX 10 mail
lab IN NS ns1.lab
ns1.lab IN A 192.0.2.99
txt IN TXT "one string" "two"
`)
	if out := mustCLI(t, db, "zone", "import", "example.net", file); out != "5 added; skipped: 1 existing, 1 SOA, 2 apex NS, 1 DNSSEC, 0 from assignments\n" {
		t.Fatalf("import: %q", out)
	}
	if out := mustCLI(t, db, "zone", "export", "example.net"); !strings.Contains(out, "example.net.\t600\tIN\tMX\t10 mail.example.net.") || !strings.Contains(out, `"one string" "two"`) {
		t.Fatalf("export after import:\n%s", out)
	}
	before := mustCLI(t, db, "record", "list", "example.net", "--json")
	for _, c := range []struct {
		file string
		code int
		says string
	}{
		{"ok IN A 192.0.2.1\nbad IN A 192.0.2.300\n", exitUsage, "line: 2"},
		{"ok IN A 192.0.2.1\nbad IN NAPTR 100 10 \"U\" \"E2U+sip\" \"foo\" .\n", exitUsage, "record 2"},
		{"ok IN A 192.0.2.1\nwww IN CNAME ok\n", exitConflict, "record 2"},
		{"x.example.org. IN A 192.0.2.1\n", exitUsage, "not in zone"},
	} {
		write(c.file)
		if r := cli(t, db, "zone", "import", "example.net", file); r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("want exit %d saying %q:\n%s", c.code, c.says, r)
		}
	}
	if r := cli(t, db, "zone", "import", "example.net", filepath.Join(dir, "missing.zone")); r.code != exitUsage {
		t.Errorf("missing file:\n%s", r)
	}
	if after := mustCLI(t, db, "record", "list", "example.net", "--json"); after != before {
		t.Fatalf("refused imports changed the zone:\n%s\n%s", before, after)
	}
}
