package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// TestDNSVerbsOverAPI: zone, record and tsig verbs with --server do what
// they do on the file: the same records, the same refusals and exit
// codes; a tenant's token writes records only under its suffixes.
func TestDNSVerbsOverAPI(t *testing.T) {
	served := register(t)
	token := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "admin", "--name", "cli"))
	mustCLI(t, served, "tenant", "add", "hosting", "--names", "app.cloud.example")
	tenantTok := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "allocate", "--name", "hosting", "--tenant", "hosting"))
	srv := startServe(t, served)
	run := func(tok string, args ...string) result {
		t.Helper()
		return remote(t, srv.url, tok, args...)
	}
	must := func(r result) result {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("want success:\n%s", r)
		}
		return r
	}
	must(run(token, "zone", "add", "cloud.example", "--ns", "ns1.cloud.example", "--ns-addr", "ns1.cloud.example=192.0.2.53"))
	if r := run(token, "zone", "add", "cloud.example", "--ns", "ns.provider.test"); r.code != exitConflict {
		t.Fatalf("a second zone of the name: want exit %d:\n%s", exitConflict, r)
	}
	must(run(token, "zone", "update", "cloud.example", "--ttl", "600"))
	must(run(token, "record", "add", "cloud.example", "@", "TXT", "v=spf1 -all"))
	if r := run(token, "record", "add", "cloud.example", "www", "A", "2001:db8::1"); r.code != exitUsage || !strings.Contains(r.stderr, "2001:db8::1") {
		t.Fatalf("bad A data: want exit %d naming the data:\n%s", exitUsage, r)
	}
	must(run(tenantTok, "record", "add", "cloud.example", "_acme-challenge.app", "TXT", "tok1"))
	if r := run(tenantTok, "record", "add", "cloud.example", "www", "A", "192.0.2.1"); r.code == 0 {
		t.Fatalf("a tenant's token wrote outside its suffixes:\n%s", r)
	}
	var rs []zone.Record
	if err := json.Unmarshal([]byte(must(run(token, "record", "list", "cloud.example", "--json")).stdout), &rs); err != nil {
		t.Fatal(err)
	}
	local := []zone.Record{}
	if err := json.Unmarshal([]byte(mustCLI(t, served, "record", "list", "cloud.example", "--json")), &local); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || len(local) != 3 || rs[1].Data != `"v=spf1 -all"` || rs[1].TTL != 600 {
		t.Fatalf("records over the API %+v, on the file %+v: want glue, the SPF TXT whole and the tenant's TXT", rs, local)
	}
	var tenantRec zone.Record
	for _, r := range rs {
		if r.Type == "TXT" && strings.HasPrefix(r.Name, "_acme") {
			tenantRec = r
		}
	}
	must(run(tenantTok, "record", "delete", "--zone", "cloud.example", itoa(tenantRec.ID)))
	must(run(token, "record", "delete", itoa(rs[1].ID)))
	if r := must(run(token, "record", "list", "cloud.example")); strings.Contains(r.stdout, "spf1") || strings.Contains(r.stdout, "tok1") {
		t.Fatalf("deleted records still listed:\n%s", r)
	}
	gen := must(run(token, "tsig", "add", "acme.cloud.example", "--grant-update", "_acme-challenge.app.cloud.example")).stdout
	if f := strings.Fields(gen); len(f) != 3 || f[1] != "hmac-sha256" {
		t.Fatalf("tsig add over the API prints NAME ALGORITHM SECRET:\n%s", gen)
	}
	if r := must(run(token, "tsig", "list")); strings.Contains(r.stdout, strings.Fields(gen)[2]) || !strings.Contains(r.stdout, "_acme-challenge.app.cloud.example.") {
		t.Fatalf("tsig list: want the grant, never the secret:\n%s", r)
	}
	must(run(token, "zone", "remove", "cloud.example"))
	if r := must(run(token, "zone", "list")); strings.Contains(r.stdout, "cloud.example") {
		t.Fatalf("zone still listed:\n%s", r)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
