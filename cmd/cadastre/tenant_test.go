package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
)

// TestTenantNamesAndQuotasCLI: tenants from the CLI; every hijack kind
// refused to a tenant's token over --server (exit 4 naming the kind of
// holder, never the other tenant), another tenant's live name refused
// even locally; quota edges; a tenant holding assignments is not removed.
func TestTenantNamesAndQuotasCLI(t *testing.T) {
	db := register(t)
	for _, step := range [][]string{
		{"tenant", "add", "hosting", "--names", "cloud.example", "--names", "provider.example", "--max-ipv4", "2", "--max-ipv6", "10"},
		{"tenant", "add", "sibling"}, // no suffix: two tenants may not share one
		{"zone", "add", "cloud.example", "--ns", "ns1.cloud.example.", "--ns", "ns.provider.example.", "--ns-addr", "ns1.cloud.example=192.0.2.53"},
		{"record", "add", "cloud.example", "www", "A", "192.0.2.1"},
		{"record", "add", "cloud.example", "lab", "NS", "ns1.lab.cloud.example."},
		{"record", "add", "cloud.example", "x.lab", "AAAA", "2001:db8::53"},
		{"alloc", "--region", "east", "--tenant", "sibling", "--name", "vm1.cloud.example"},
	} {
		mustCLI(t, db, step...)
	}
	want := func(r result, code int, words ...string) {
		t.Helper()
		if r.code != code {
			t.Errorf("exit %d, want %d:\n%s", r.code, code, r)
		}
		for _, w := range words {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr does not say %q:\n%s", w, r)
			}
		}
		if strings.Contains(r.stderr, "sibling") {
			t.Errorf("the error names the other tenant:\n%s", r)
		}
	}
	want(cli(t, db, "alloc", "--region", "east", "--tenant", "hosting", "--name", "vm1.cloud.example"), exitConflict, "assignment of another tenant")

	want(cli(t, db, "token", "create", "--scope", "allocate", "--tenant", "nobody"), exitNotFound, "tenant nobody does not exist", "tenant add nobody")
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "allocate", "--tenant", "hosting"))
	srv := startServe(t, db)
	for _, c := range []struct{ name, kind string }{
		{"vm1.cloud.example", "assignment of another tenant"},
		{"cloud.example", "zone apex"},
		{"ns1.cloud.example", "name server"},
		{"ns.provider.example", "name server"},
		{"x.lab.cloud.example", "glue"},
		{"www.cloud.example", "static record"},
	} {
		want(remote(t, srv.url, token, "alloc", "--region", "east", "--name", c.name), exitConflict, "name "+c.name, c.kind)
	}
	want(remote(t, srv.url, token, "alloc", "--region", "east", "--name", "vm2.elsewhere.example"), exitUsage, "cloud.example.")
	if r := remote(t, srv.url, token, "alloc", "--region", "east", "--name", "vm2.cloud.example"); r.code != 0 {
		t.Errorf("a free name under the tenant's suffix: %s", r)
	}

	// Quota edges: 2 IPv4 addresses, exactly at it, then one past.
	mustCLI(t, db, "alloc", "--region", "east", "--family", "4", "--count", "2", "--tenant", "hosting")
	want(cli(t, db, "alloc", "--region", "east", "--family", "4", "--tenant", "hosting"), exitConflict, "max-ipv4", "2 in use")
	want(cli(t, db, "tenant", "remove", "hosting"), exitConflict, "release them first")
	out := mustCLI(t, db, "tenant", "list")
	if !strings.Contains(out, "2/2") || !strings.Contains(out, "1/10") {
		t.Errorf("tenant list does not show use against quota:\n%s", out)
	}
	mustCLI(t, db, "tenant", "update", "hosting", "--max-ipv4", "none")
	mustCLI(t, db, "alloc", "--region", "east", "--family", "4", "--tenant", "hosting")
	want(cli(t, db, "tenant", "add", "bad\x1bname"), exitUsage, "tenant:")
	want(cli(t, db, "tenant", "update", "nobody", "--note", "x"), exitNotFound)
	mustCLI(t, db, "tenant", "add", "idle")
	if out := mustCLI(t, db, "tenant", "remove", "idle"); out != "tenant idle removed\n" {
		t.Errorf("tenant remove says %q, want it to confirm as the other removes do", out)
	}
}

// TestStoredControlCharactersEscaped: text stored before control
// characters were refused is printed escaped by show and the listings,
// never raw to the terminal.
func TestStoredControlCharactersEscaped(t *testing.T) {
	db := register(t)
	r := cli(t, db, "alloc", "--region", "east", "--family", "4", "--resource", "vm\x1b[2J")
	if r.code != exitUsage || !strings.Contains(r.stderr, "resource:") {
		t.Fatalf("a control character in --resource: want exit 2 naming the field:\n%s", r)
	}
	// Old data: written straight into the file.
	sdb, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sdb.ExecContext(context.Background(), "UPDATE assignments SET resource = 'a'||char(27)||'[2J'||char(10)||'fake line', name = 'x'||char(8238)||'y' WHERE id = 1")
	sdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"show", "40.64.0.0"}, {"assignments"}, {"assignments", "--json"}, {"log"}} {
		out := mustCLI(t, db, args...)
		if strings.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("cadastre %s prints a raw control character:\n%q", strings.Join(args, " "), out)
		}
		if args[0] != "log" && !strings.Contains(out, `\u001b`) {
			t.Errorf("cadastre %s does not show the escaped character:\n%s", strings.Join(args, " "), out)
		}
		if args[0] == "show" && strings.Contains(out, "\nfake line") {
			t.Errorf("cadastre show lets a stored newline forge a line:\n%s", out)
		}
	}
}

// TestTenantSuffixOverlapsCLI: two tenants may not share names under
// their suffixes (exit 4 naming the other tenant and its suffix, nothing
// stored); a register that holds such a pair from before the rule still
// opens, locally and served, is flagged by `tenant list` and in the
// server's log, and the pair may be narrowed.
func TestTenantSuffixOverlapsCLI(t *testing.T) {
	db := register(t)
	mustCLI(t, db, "tenant", "add", "a", "--names", "a.cloud.example")
	before := mustCLI(t, db, "tenant", "list", "--json")
	for _, c := range []struct {
		args  []string
		words []string
	}{
		{[]string{"tenant", "add", "b", "--names", "cloud.example"}, []string{"cloud.example. contains the suffix a.cloud.example. of tenant a"}},
		{[]string{"tenant", "add", "b", "--names", "A.cloud.example."}, []string{"a.cloud.example. equals the suffix a.cloud.example. of tenant a"}},
		{[]string{"tenant", "add", "b", "--names", "vm.a.cloud.example"}, []string{"vm.a.cloud.example. lies under", "tenant a"}},
		{[]string{"tenant", "add", "b", "--names", "."}, []string{"tenant a"}},
	} {
		r := cli(t, db, c.args...)
		if r.code != exitConflict {
			t.Errorf("%v: exit %d, want %d:\n%s", c.args, r.code, exitConflict, r)
		}
		for _, w := range c.words {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr does not say %q:\n%s", c.args, w, r)
			}
		}
	}
	if after := mustCLI(t, db, "tenant", "list", "--json"); after != before {
		t.Fatalf("refused tenants changed the register:\n%s\n%s", before, after)
	}
	mustCLI(t, db, "tenant", "add", "b", "--names", "b.cloud.example")
	if r := cli(t, db, "tenant", "update", "b", "--names", "b.cloud.example", "--names", "x.a.cloud.example"); r.code != exitConflict || !strings.Contains(r.stderr, "tenant a") {
		t.Errorf("an update into another tenant's suffix: want exit %d naming tenant a:\n%s", exitConflict, r)
	}

	// As a register upgraded from before tenants holds them: both every
	// name.
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	// The names and their index (migration 00034 builds it from them).
	for _, q := range []string{
		`UPDATE tenants SET names = '["."]' WHERE name IN ('a', 'b')`,
		`DELETE FROM tenant_suffixes WHERE tenant_id IN (SELECT id FROM tenants WHERE name IN ('a', 'b'))`,
		`INSERT INTO tenant_suffixes (key, tenant_id) SELECT '.', id FROM tenants WHERE name IN ('a', 'b')`,
	} {
		if _, err := sdb.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	sdb.Close()
	r := cli(t, db, "tenant", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "(overlaps b)") || !strings.Contains(r.stdout, "(overlaps a)") || !strings.Contains(r.stderr, "narrow them") {
		t.Fatalf("tenant list over overlapping tenants: want both flagged and a warning:\n%s", r)
	}
	admin := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin"))
	srv := startServe(t, db)
	if !strings.Contains(srv.logs.String(), "name suffixes overlap") {
		t.Errorf("the server does not warn about the overlap:\n%s", srv.logs)
	}
	if r := remote(t, srv.url, admin, "tenant", "add", "c", "--names", "c.example"); r.code != exitConflict || !strings.Contains(r.stderr, "of tenant a") {
		t.Errorf("over --server, a suffix under a legacy tenant's \".\": want exit %d:\n%s", exitConflict, r)
	}
	if r := remote(t, srv.url, admin, "tenant", "list", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"overlaps"`) {
		t.Errorf("over --server, tenant list --json does not flag the overlap:\n%s", r)
	}
	// Narrowing is never refused, though the other still holds ".".
	for _, n := range []string{"a", "b"} {
		if r := remote(t, srv.url, admin, "tenant", "update", n, "--names", n+".cloud.example"); r.code != 0 {
			t.Errorf("narrowing %s: %s", n, r)
		}
	}
	if r := remote(t, srv.url, admin, "tenant", "list"); r.code != 0 || strings.Contains(r.stdout, "overlaps") || r.stderr != "" {
		t.Errorf("after narrowing, still flagged:\n%s", r)
	}
}
