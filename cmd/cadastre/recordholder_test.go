package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// TestRecordAddRefusesALiveAssignmentsName{SQLite,PostgreSQL}: the CLI's
// `record add` is an admin's write; it may name freely, but a record at
// the name of a tenant's live assignment is refused (exit 4, naming the
// holder's kind, not the tenant), and nothing is written (issue 10); so
// is a zone add whose apex or name server is that name.
// Before, the VM's name then answered with both addresses.
func TestRecordAddRefusesALiveAssignmentsNameSQLite(t *testing.T) {
	recordHolderCLI(t, filepath.Join(t.TempDir(), "h.db"), nil)
}

func TestRecordAddRefusesALiveAssignmentsNamePostgreSQL(t *testing.T) {
	recordHolderCLI(t, filepath.Join(t.TempDir(), "unused.db"), []string{"--postgres", migrated.Database(t)})
}

func recordHolderCLI(t *testing.T, db string, pg []string) {
	run := func(args ...string) result {
		t.Helper()
		return cli(t, db, append(slices.Clone(pg), args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		r := run(args...)
		if r.code != 0 {
			t.Fatalf("want success:\n%s", r)
		}
		return r.stdout
	}
	must("region", "add", "east", "--country", "US", "--subdivision", "US-VA")
	must("block", "add", "10.9.0.0/16", "--source", "private")
	must("pool", "add", "10.9.0.0/24", "--region", "east")
	must("tenant", "add", "acme", "--names", "acme.example.net")
	must("zone", "add", "example.net", "--ns", "ns1.provider.example")
	must("alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--name", "vm1.acme.example.net")
	for _, c := range [][]string{
		{"vm1.acme", "A", "192.0.2.10"},
		{"vm1.acme.example.net.", "AAAA", "2001:db8::10"},
		{"vm1.acme", "CNAME", "www.example.net."},
		{"vm1.acme", "TXT", "admin"},
	} {
		r := run(append([]string{"record", "add", "example.net"}, c...)...)
		if r.code != exitConflict || !strings.Contains(r.stderr, "assignment of another tenant") || strings.Contains(r.stderr, "acme ") {
			t.Errorf("record add %v: want exit %d naming the holder's kind, not the tenant:\n%s", c, exitConflict, r)
		}
	}
	// A zone whose apex or name server is the VM's name is refused too.
	for _, c := range [][]string{
		{"zone", "add", "vm1.acme.example.net", "--ns", "ns1.provider.example"},
		{"zone", "add", "other.example", "--ns", "vm1.acme.example.net"},
	} {
		r := run(c...)
		if r.code != exitConflict || !strings.Contains(r.stderr, "assignment of another tenant") {
			t.Errorf("%v: want exit %d naming the holder's kind:\n%s", c, exitConflict, r)
		}
	}
	if out := must("zone", "list"); strings.Contains(out, "vm1") || strings.Contains(out, "other.example") {
		t.Fatalf("a refused zone was written:\n%s", out)
	}
	if out := must("record", "list", "example.net"); strings.Contains(out, "vm1") {
		t.Fatalf("a refused record was written:\n%s", out)
	}
	// An admin names freely elsewhere, a name under the tenant's suffix included.
	must("record", "add", "example.net", "www", "A", "192.0.2.11")
	must("record", "add", "example.net", "vm2.acme", "A", "192.0.2.12")
}
