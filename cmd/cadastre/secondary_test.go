package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecondaryConfigAndCatalog: zone add --catalog, zone
// secondary-config --knot, and the warnings where a secondary cannot
// answer what cadastre answers.
func TestSecondaryConfigAndCatalog(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	mustCLI(t, db, "region", "add", "east", "--country", "US")
	mustCLI(t, db, "block", "add", "fd00:db8::/32", "--source", "private")
	mustCLI(t, db, "pool", "add", "fd00:db8:1::/64", "--region", "east", "--use-all")
	mustCLI(t, db, "zone", "add", "example.net", "--ns-addr", "ns1.example.net=192.0.2.53", "--allow-transfer", "127.0.0.1")
	r := cli(t, db, "zone", "add", "--ns", "ns1.example.net", "--kind", "reverse", "--prefix", "fd00:db8:1::/48",
		"--synthesize", "ip-{addr}.example.net", "--allow-transfer", "127.0.0.1", "-")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("an unsigned zone whose template Knot expresses: no warning wanted:\n%s", r)
	}
	mustCLI(t, db, "zone", "add", "catalog.invalid", "--catalog", "--allow-transfer", "127.0.0.1")
	if r := cli(t, db, "zone", "add", "second.invalid", "--catalog"); r.code != exitConflict || !strings.Contains(r.stderr, "catalog.invalid. is the catalog already") {
		t.Fatalf("a second catalog:\n%s", r)
	}
	if r := cli(t, db, "record", "add", "catalog.invalid", "www", "A", "192.0.2.1"); r.code != exitUsage || !strings.Contains(r.stderr, "catalog zone's records are made from the zones served") {
		t.Fatalf("a record in the catalog:\n%s", r)
	}
	if out := mustCLI(t, db, "zone", "list"); !strings.Contains(strings.Join(strings.Fields(out), " "), "catalog.invalid. catalog") {
		t.Fatalf("zone list does not show the catalog's kind:\n%s", out)
	}

	if r := cli(t, db, "zone", "secondary-config", "--primary", "127.0.0.1:53"); r.code != exitUsage || !strings.Contains(r.stderr, "--knot") {
		t.Fatalf("secondary-config without --knot:\n%s", r)
	}
	if r := cli(t, db, "zone", "secondary-config", "--knot", "--primary", "localhost"); r.code != exitUsage || !strings.Contains(r.stderr, "--primary") {
		t.Fatalf("secondary-config with a bad --primary:\n%s", r)
	}
	r = cli(t, db, "zone", "secondary-config", "--knot", "--primary", "127.0.0.1:5353")
	for _, want := range []string{"address: 127.0.0.1@5353", "catalog-role: interpret", "domain: catalog.invalid.", "type: reverse", "type: forward",
		`prefix: "ip-"`, "network: [fd00:db8:1::/64]", "module: [mod-synthrecord/"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("secondary-config lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "WARNING") || r.stderr != "" {
		t.Fatalf("warnings for unsigned zones Knot can follow:\n%s", r)
	}

	// Signed, the synthesised names are signed per query: no secondary
	// can, and every place says so.
	if r := cli(t, db, "zone", "sign", "example.net"); r.code != 0 || !strings.Contains(r.stderr, "warning: secondaries of example.net.: signed") {
		t.Fatalf("zone sign does not warn:\n%s", r)
	}
	if r := cli(t, db, "zone", "list"); r.code != 0 || !strings.Contains(r.stderr, "warning: secondaries of example.net.: signed") {
		t.Fatalf("zone list does not warn:\n%s", r)
	}
	// zone list --json carries the same warnings, on the zone they are
	// about (scripts read stdout, not the warnings on stderr).
	var listed []struct {
		Name          string   `json:"name"`
		SecondaryGaps []string `json:"secondary_gaps"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, db, "zone", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	for _, z := range listed {
		switch want := z.Name == "example.net."; {
		case want && (len(z.SecondaryGaps) != 1 || !strings.HasPrefix(z.SecondaryGaps[0], "signed")):
			t.Fatalf("zone list --json: %s secondary_gaps %q, want the signed-synthesis warning", z.Name, z.SecondaryGaps)
		case !want && len(z.SecondaryGaps) != 0:
			t.Fatalf("zone list --json: %s secondary_gaps %q, want none", z.Name, z.SecondaryGaps)
		}
	}
	if r := cli(t, db, "zone", "update", "example.net", "--ttl", "600"); r.code != 0 || !strings.Contains(r.stderr, "warning: secondaries of example.net.") {
		t.Fatalf("zone update does not warn:\n%s", r)
	}
	r = cli(t, db, "zone", "secondary-config", "--knot", "--primary", "127.0.0.1:5353")
	if r.code != 0 || !strings.Contains(r.stdout, "# WARNING example.net.: signed") || strings.Contains(r.stdout, "type: forward") || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("secondary-config for a signed forward zone:\n%s", r)
	}
}
