package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRangesSourceAndProviderAudit: `geo source add --ranges` keeps a
// provider's file as a ranked source, refuses bad input with exit 2 and
// the source unchanged, and `audit --provider` reports per provider
// region, the same over the API as on the file.
func TestRangesSourceAndProviderAudit(t *testing.T) {
	db := register(t)
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin", "--name", "cli"))
	files := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Azure's 2014 story: Brazilian-registered space used in the US.
	azure := write("ServiceTags_Public.json", `{"changeNumber": 1, "cloud": "Public", "values": [
 {"name": "AzureCloud.eastus", "id": "AzureCloud.eastus", "properties": {"changeNumber": 1, "region": "eastus", "regionId": 1, "platform": "Azure", "systemService": "", "addressPrefixes": ["191.232.0.0/23", "40.64.0.0/24"], "networkFeatures": null}},
 {"name": "AzureCloud.brandnew", "id": "AzureCloud.brandnew", "properties": {"changeNumber": 1, "region": "brandnew", "regionId": 2, "platform": "Azure", "systemService": "", "addressPrefixes": ["8.8.8.0/24"], "networkFeatures": null}}
]}`)
	hostBits := write("host.json", `{"values": [{"properties": {"region": "eastus", "addressPrefixes": ["40.64.0.1/24"]}}]}`)
	notJSON := write("502.json", "<html>502 Bad Gateway</html>\n")
	world := filepath.Join(files, "world.mmdb")
	testMMDB(t, world, map[string]string{"40.64.0.0/22": "US", "191.232.0.0/22": "BR"})
	mustCLI(t, db, "geo", "source", "add", "world", "--mmdb", world)
	out := mustCLI(t, db, "geo", "source", "add", "azure", "--ranges", azure, "--format", "azure")
	if !strings.Contains(out, "2 placed") || !strings.Contains(out, "unknown regions, 1 prefixes not placed: brandnew") {
		t.Errorf("the import summary does not report the unknown region:\n%s", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, db, "geo", "source", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if o, _ := list[1]["origin"].(string); list[1]["name"] != "azure" || !strings.Contains(o, "brandnew") {
		t.Errorf("geo source list does not name the unknown region: %v", list)
	}
	if out := mustCLI(t, db, "geo", "lookup", "--all", "191.232.0.1"); !strings.Contains(out, "azure\t191.232.0.0/23\tUS US-VA") {
		t.Errorf("the provider's ranges do not place its space: %q", out)
	}
	srv := startServe(t, db)

	steps := []struct {
		name string
		code int
		args []string
	}{
		{"audit --provider finds the databases placing eastus in Brazil", 1, []string{"audit", "--provider", "azure"}},
		{"audit --provider of an unknown source", 3, []string{"audit", "--provider", "nobody"}},
		{"audit --provider of a source that is not ranges", 2, []string{"audit", "--provider", "world"}},
		{"a wrong --format is a usage error", 2, []string{"geo", "source", "add", "azure", "--ranges", azure, "--format", "ibm"}},
		{"--ranges without --format is a usage error", 2, []string{"geo", "source", "add", "azure", "--ranges", azure}},
		{"a prefix with host bits is refused", 2, []string{"geo", "source", "add", "azure", "--ranges", hostBits, "--format", "azure"}},
		{"a file that is not JSON is refused", 2, []string{"geo", "source", "add", "azure", "--ranges", notJSON, "--format", "azure"}},
		{"another provider's format is refused", 2, []string{"geo", "source", "add", "azure", "--ranges", azure, "--format", "aws"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			want := cli(t, db, s.args...)
			got := remoteRun(t, t.TempDir(), srv.url, token, "", s.args...)
			if want.code != s.code {
				t.Fatalf("exit %d, want %d\n%s", want.code, s.code, want)
			}
			if got.code != want.code || got.stdout != want.stdout {
				t.Errorf("over the API (exit %d) differs from the file (exit %d)\nAPI:\n%s\nfile:\n%s", got.code, want.code, got, want)
			}
			if s.code != 0 && (want.stderr == "" || got.stderr == "") {
				t.Errorf("no error message\nAPI:\n%s\nfile:\n%s", got, want)
			}
		})
	}
	r := cli(t, db, "audit", "--provider", "azure")
	if !strings.Contains(r.stdout, "azure eastus") || !strings.Contains(r.stdout, "191.232.0.0/23") || !strings.Contains(r.stdout, "BR") {
		t.Errorf("the audit does not name the provider's region and where the database puts it:\n%s", r)
	}
	if r := cli(t, db, "geo", "source", "add", "azure", "--ranges", hostBits, "--format", "azure"); !strings.Contains(r.stderr, "values[0].properties.addressPrefixes[0]") {
		t.Errorf("the error does not name the JSON path:\n%s", r)
	}
	if out := mustCLI(t, db, "geo", "lookup", "--all", "191.232.0.1"); !strings.Contains(out, "azure\t191.232.0.0/23\tUS US-VA") {
		t.Errorf("a refused import changed the source: %q", out)
	}
	// Over the API too, the import keeps the source.
	if r := remoteRun(t, t.TempDir(), srv.url, token, "", "geo", "source", "add", "azure2", "--ranges", azure, "--format", "azure"); r.code != 0 || !strings.Contains(r.stdout, "brandnew") {
		t.Errorf("import over the API:\n%s", r)
	}
	if r := remoteRun(t, t.TempDir(), srv.url, token, "", "audit", "--provider", "azure2", "--source", "world"); r.code != 1 || !strings.Contains(r.stdout, "azure eastus") {
		t.Errorf("audit --provider over the API after an import over the API:\n%s", r)
	}
}
