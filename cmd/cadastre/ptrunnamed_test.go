package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// TestRecordListMarksAStalePTR{SQLite,PostgreSQL}: `record list` marks a
// static PTR written while its address was free, once the address is a
// tenant's unnamed assignment (not served: older than the tenant's
// assignment), on the file and, on SQLite, over the API (--server, text
// and JSON `not_served`), naming neither the tenant nor anything of its;
// released at once, the mark goes.
func TestRecordListMarksAStalePTRSQLite(t *testing.T)     { recordListStalePTR(t, false) }
func TestRecordListMarksAStalePTRPostgreSQL(t *testing.T) { recordListStalePTR(t, true) }

func recordListStalePTR(t *testing.T, postgres bool) {
	c := newNamesCLI(t, postgres)
	c.tenantVM()
	rev := "0.9.10.in-addr.arpa."
	c.must("zone", "add", "--kind", "reverse", "--prefix", "10.9.0.0/24", "--ns", "ns1.provider.example", "-")
	c.must("record", "add", rev, "5", "PTR", "old.example.")
	c.must("record", "add", rev, "6", "PTR", "free.example.")
	c.must("alloc", "--region", "east", "--tenant", "acme", "--prefix", "10.9.0.5/32")
	const mark = "(not served: " + zone.PTRBeforeHolder + ")"
	// check wants the text listing to mark the record at 5 alone, and the
	// JSON listing to say why in not_served.
	check := func(how string, text, js string, marked bool) {
		t.Helper()
		for _, line := range strings.Split(text, "\n") {
			want := marked && strings.Contains(line, "old.example.")
			if got := strings.Contains(line, mark); got != want {
				t.Errorf("%s: record list line %q: marked %v, want %v", how, line, got, want)
			}
			if strings.Contains(line, "acme") {
				t.Errorf("%s: record list names the tenant: %q", how, line)
			}
		}
		var rs []zone.Record
		if err := json.Unmarshal([]byte(js), &rs); err != nil {
			t.Fatalf("%s: %v\n%s", how, err, js)
		}
		for _, r := range rs {
			want := ""
			if marked && r.Data == "old.example." {
				want = zone.PTRBeforeHolder
			}
			if r.NotServed != want {
				t.Errorf("%s: record list --json: %s %s not_served %q, want %q", how, r.Name, r.Data, r.NotServed, want)
			}
		}
		if strings.Contains(js, "acme") {
			t.Errorf("%s: record list --json names the tenant:\n%s", how, js)
		}
	}
	check("on the file", c.must("record", "list", rev), c.must("record", "list", rev, "--json"), true)
	if !postgres {
		token := strings.TrimSpace(c.must("token", "create", "--scope", "read", "--name", "reader"))
		srv := startServe(t, c.db)
		run := func(args ...string) string {
			t.Helper()
			r := remote(t, srv.url, token, args...)
			if r.code != 0 {
				t.Fatalf("want success:\n%s", r)
			}
			return r.stdout
		}
		check("over the API", run("record", "list", rev), run("record", "list", rev, "--json"), true)
	}
	c.must("release", "10.9.0.5/32", "--quarantine", "0")
	check("released", c.must("record", "list", rev), c.must("record", "list", rev, "--json"), false)
}
