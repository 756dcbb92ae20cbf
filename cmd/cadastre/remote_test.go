package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// verbMode is what a verb does when a server is named.
type verbMode int

const (
	overAPI   verbMode = iota + 1 // runs against the server: exit code (0 unless said) with these arguments
	localOnly                     // refused: exit 2, "VERB works on a local register only"
	either                        // owned by other work in progress: 0 or a refusal
)

// leafVerbs lists every runnable verb of the command tree, by path
// without the program's name ("geo source add").
func leafVerbs() []string {
	var out []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && c.HasParent() && len(c.Commands()) == 0 {
			out = append(out, strings.TrimPrefix(c.CommandPath(), "cadastre "))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&app{}))
	slices.Sort(out)
	return out
}

// remoteRun runs the binary with --server url in dir, with the token in
// the environment and no other CADASTRE_ variable.
func remoteRun(t *testing.T, dir, url, token string, stdin string, args ...string) result {
	t.Helper()
	return remoteRunBy(t, "--server", dir, url, token, stdin, args...)
}

// remoteRunBy names the server with the flag --server or, with by
// "$CADASTRE_SERVER", in the environment.
func remoteRunBy(t *testing.T, by, dir, url, token string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := args
	if by == "--server" {
		full = append([]string{"--server", url}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "CADASTRE_TOKEN="+token)
	if by != "--server" {
		cmd.Env = append(cmd.Env, "CADASTRE_SERVER="+url)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{args: full, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestEveryVerbWithServerLeavesNoRegisterFile runs every verb of the
// command tree with --server (or $CADASTRE_SERVER) naming a real server,
// in an empty directory:
// each either runs over the API or is refused with exit 2 naming it, and
// none creates a file (before, audit, geo and geofeed verbs answered from
// a new empty ./cadastre.db). A verb added later and missing from the
// table below is still run, with no arguments, and held to the same rule.
func TestEveryVerbWithServerLeavesNoRegisterFile(t *testing.T) {
	served := register(t)
	token := strings.TrimSpace(mustCLI(t, served, "token", "create", "--scope", "admin", "--name", "cli"))
	files := t.TempDir() // inputs and outputs live apart from the directories checked
	feed := filepath.Join(files, "partner.csv")
	if err := os.WriteFile(feed, []byte("40.64.0.0/24,US,US-VA,Ashburn,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mmdb := filepath.Join(files, "world.mmdb")
	testMMDB(t, mmdb, map[string]string{"40.64.0.0/22": "US"})
	mustCLI(t, served, "geofeed", "import", feed, "--as", "doomed")
	srv := startServe(t, served)

	zone := []string{"cloud.example"}
	cases := map[string]struct {
		mode verbMode
		args []string
		code int
	}{
		"alloc":             {overAPI, []string{"--region", "east", "--family", "4"}, 0},
		"assignment update": {overAPI, []string{"1", "--tag", "env=prod", "--resource", "vm-9"}, 0},
		"block remove":      {overAPI, []string{"40.64.4.0/22"}, 0},
		"block update":      {overAPI, []string{"132.245.0.0/16", "--note", "from Nortel", "--no-price", "--tag", "owner=finance"}, 0},
		"pool remove":       {overAPI, []string{"2603:1000:1::/48"}, 0},
		"pool update":       {overAPI, []string{"40.64.1.0/24", "--purpose", "nat", "--tag", "tier=gold"}, 0},
		"region remove":     {overAPI, []string{"remote"}, 0},
		"region update":     {overAPI, []string{"east", "--city", "Reston", "--tag", "env=prod"}, 0},
		"space add":         {overAPI, []string{"vpc-a"}, 0},
		"space list":        {overAPI, nil, 0},
		"space remove":      {overAPI, []string{"vpc-a"}, 0},
		"assignments":       {overAPI, []string{"--region", "east"}, 0},
		"audit":             {overAPI, nil, 0}, // the feed "doomed" is right where it covers our space; the rest it does not cover, which is no finding
		"block add":         {overAPI, []string{"40.64.8.0/22", "--source", "rir", "--registry", "arin", "--registered-country", "US"}, 0},
		"block list":        {overAPI, nil, 0},
		"demo":              {localOnly, nil, 0},
		"dns serve":         {localOnly, []string{"--listen", "127.0.0.1:0"}, 0},
		"geo export-mmdb":   {overAPI, []string{filepath.Join(files, "register.mmdb")}, 0},
		"geo lookup":        {overAPI, []string{"40.64.0.1", "2001:db8::1"}, 0},
		"geo source add":    {overAPI, []string{"world", "--mmdb", mmdb}, 0},
		"geo source list":   {overAPI, nil, 0},
		"geo source remove": {overAPI, []string{"doomed"}, 0},
		"geofeed check":     {overAPI, []string{feed}, 0},
		"geofeed export":    {overAPI, nil, 0},
		"geofeed import":    {overAPI, []string{feed, "--as", "partner"}, 0},
		"geofeed rpsl":      {overAPI, []string{"--url", "https://example.net/geofeed.csv"}, 0},
		"log":               {overAPI, []string{"--limit", "3"}, 0},
		"pool add":          {overAPI, []string{"40.64.3.0/24", "--region", "west"}, 0},
		"pool list":         {overAPI, nil, 0},
		// The record verbs run before zone add (in verb order): no zone yet.
		"record add":            {overAPI, []string{"cloud.example", "www", "A", "192.0.2.1"}, exitNotFound},
		"record delete":         {overAPI, []string{"1"}, exitNotFound},
		"record list":           {overAPI, zone, exitNotFound},
		"region add":            {overAPI, []string{"remote", "--country", "DE"}, 0},
		"region list":           {overAPI, nil, 0},
		"release":               {overAPI, []string{"40.64.0.4/30"}, 0},
		"report":                {overAPI, nil, 0},
		"serve":                 {localOnly, []string{"--listen", "127.0.0.1:0"}, 0},
		"show":                  {overAPI, []string{"40.64.0.1"}, 0},
		"version":               {overAPI, nil, 0},
		"zone add":              {overAPI, append(zone, "--ns", "ns.provider.test"), 0},
		"zone ds":               {localOnly, zone, 0},
		"zone export":           {localOnly, zone, 0},
		"zone import":           {localOnly, append(zone, "cloud.example.zone"), 0},
		"zone update":           {overAPI, append(zone, "--ttl", "600"), exitNotFound}, // after zone remove
		"zone keys":             {localOnly, zone, 0},
		"zone list":             {overAPI, nil, 0},
		"zone remove":           {overAPI, zone, 0},
		"zone roll":             {localOnly, zone, 0},
		"zone sign":             {localOnly, zone, 0},
		"zone secondary-config": {localOnly, []string{"--knot", "--primary", "192.0.2.53:53"}, 0},
		"token create":          {overAPI, []string{"--scope", "read"}, 0},
		"token list":            {overAPI, nil, 0},
		"token revoke":          {overAPI, []string{"aaaaaaaaaaaaaaaa"}, exitNotFound},
		"token rotate-key":      {localOnly, nil, 0},
		"tsig add":              {overAPI, []string{"xfr.cloud.example", "--grant-update", "_acme-challenge.cloud.example"}, 0},
		"tsig list":             {overAPI, nil, 0},
		"tsig remove":           {overAPI, []string{"xfr.cloud.example"}, 0},
		"tsig update":           {overAPI, []string{"nosuch.cloud.example", "--new-secret"}, exitNotFound},
	}
	verbs := leafVerbs()
	if len(verbs) < len(cases) {
		t.Fatalf("the command tree has %d verbs, fewer than the %d this test knows: %v", len(verbs), len(cases), verbs)
	}
	for i, verb := range verbs {
		// Every other verb names the server in the environment instead.
		by := []string{"--server", "$CADASTRE_SERVER"}[i%2]
		t.Run(verb+" with "+by, func(t *testing.T) {
			c, known := cases[verb]
			if !known {
				c.mode = either
				t.Logf("%s is not in this test's table: run with no arguments", verb)
			}
			dir := t.TempDir()
			args := append(strings.Fields(verb), c.args...)
			r := remoteRunBy(t, by, dir, srv.url, token, "", args...)
			if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
				t.Errorf("%s with --server left files in its directory: %v %v\n%s", verb, ents, err, r)
			}
			refused := r.code == exitUsage && strings.Contains(r.stderr, verb)
			switch {
			case c.mode == overAPI && r.code != c.code:
				t.Errorf("%s should run over the API:\n%s", verb, r)
			case c.mode == localOnly && !(refused && strings.Contains(r.stderr, "works on a local register only")):
				t.Errorf("%s should be refused with --server, naming it, as local only:\n%s", verb, r)
			case c.mode == either && r.code != 0 && !refused:
				t.Errorf("%s with --server: want exit 0, or 2 naming the verb:\n%s", verb, r)
			}
		})
	}
	if t.Failed() {
		t.Logf("server log:\n%s", srv.logs)
	}
}

// TestGeoVerbsOverAPIMatchLocal: audit, geo lookup, geo source list and
// geofeed export/import give the same output and exit status over the API
// as on the file the server serves; the geofeed is byte for byte the same.
func TestGeoVerbsOverAPIMatchLocal(t *testing.T) {
	db := register(t)
	token := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "admin", "--name", "cli"))
	files := t.TempDir()
	// A partner feed that puts east's pool in Brazil: an audit finding.
	partner := filepath.Join(files, "partner.csv")
	if err := os.WriteFile(partner, []byte("40.64.0.0/24,BR,BR-SP,Sao Paulo,\n191.232.0.0/23,BR,BR-SP,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, db, "geofeed", "import", partner, "--as", "partner")
	world := filepath.Join(files, "world.mmdb")
	testMMDB(t, world, map[string]string{"40.64.0.0/22": "US", "191.232.0.0/22": "US", "8.8.8.0/24": "US"})
	mustCLI(t, db, "geo", "source", "add", "world", "--mmdb", world)
	bad := filepath.Join(files, "bad.csv")
	if err := os.WriteFile(bad, []byte("40.64.0.1/24,US,US-VA,,\n40.64.1.0/24,ZZ,,,\n40.64.2.0/24,US,,,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty, garbage := filepath.Join(files, "empty.csv"), filepath.Join(files, "garbage.csv")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("<html>502 Bad Gateway</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, db)

	steps := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"audit with findings", "", []string{"audit"}},
		{"audit with findings as CSV", "", []string{"audit", "--csv"}},
		{"audit of one source", "", []string{"audit", "--source", "world"}},
		{"audit of an unknown source", "", []string{"audit", "--source", "nobody"}},
		{"audit as CSV with --format", "", []string{"audit", "--format", "csv"}},
		{"audit with a minimum share", "", []string{"audit", "--min-share", "60%"}},
		{"audit with a minimum of addresses", "", []string{"audit", "--min-addresses", "300", "--format", "csv"}},
		{"audit with thresholds above every finding", "", []string{"audit", "--min-addresses", "100000"}},
		{"audit with a bad threshold", "", []string{"audit", "--min-share", "2"}},
		{"audit counting IPv6 in /48s", "", []string{"audit", "--ipv6-unit", "48"}},
		{"geo lookup of arguments with a bad one", "", []string{"geo", "lookup", "--all", "40.64.0.1", "191.232.0.9", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fe80::1%eth0", "8.8.8.8"}},
		{"geo lookup as NDJSON", "", []string{"geo", "lookup", "--json", "40.64.0.1", "garbage", "2002:c000:0204::1"}},
		{"geo lookup of standard input as CSV", "40.64.0.1\r\n# comment\n\n10.1.2.3\n191.232.1.1\n", []string{"geo", "lookup", "--csv", "-"}},
		{"geo source list", "", []string{"geo", "source", "list"}},
		{"geofeed export", "", []string{"geofeed", "export"}},
		{"geofeed export as JSON", "", []string{"geofeed", "export", "--json"}},
		{"geofeed import of a feed with errors", "", []string{"geofeed", "import", bad, "--as", "bad"}},
		{"geofeed import under a bad name", "", []string{"geofeed", "import", partner, "--as", "Bad Name"}},
		{"geofeed import of an empty feed over a source is refused", "", []string{"geofeed", "import", empty, "--as", "partner"}},
		{"geofeed import of garbage with --skip-bad-lines is refused", "", []string{"geofeed", "import", garbage, "--as", "partner", "--skip-bad-lines"}},
		{"geo source remove of an unknown source", "", []string{"geo", "source", "remove", "nobody"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			want := cliIn(t, db, s.stdin, s.args...)
			got := remoteRun(t, t.TempDir(), srv.url, token, s.stdin, s.args...)
			if got.code != want.code {
				t.Fatalf("exit %d over the API, %d on the file\nAPI:\n%s\nfile:\n%s", got.code, want.code, got, want)
			}
			if got.stdout != want.stdout {
				t.Errorf("output differs\nAPI:\n%s\nfile:\n%s", got.stdout, want.stdout)
			}
			if want.code != 0 && got.stderr == "" {
				t.Errorf("no error message over the API")
			}
		})
	}
	// The audit found what the partner feed says; the lookup's bad line
	// says why on standard error both ways.
	if r := remoteRun(t, t.TempDir(), srv.url, token, "", "audit"); r.code != 1 || !strings.Contains(r.stdout, "partner") {
		t.Errorf("audit over the API found nothing:\n%s", r)
	}
	// The thresholds reach the server, which leaves the small findings
	// out; the JSON report (nulls, exact counts) is the same both ways
	// but for when it ran.
	if r := remoteRun(t, t.TempDir(), srv.url, token, "", "audit", "--min-addresses", "100000"); r.code != 0 || !strings.Contains(r.stdout, "below the thresholds") {
		t.Errorf("audit over the API with a threshold above every finding: want exit 0 and the findings counted below it\n%s", r)
	}
	stripAt := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, `  "at": `) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	local, remote := cliIn(t, db, "", "audit", "--format", "json"), remoteRun(t, t.TempDir(), srv.url, token, "", "audit", "--format", "json")
	if stripAt(local.stdout) != stripAt(remote.stdout) || !strings.Contains(local.stdout, `"country_correct": null`) {
		t.Errorf("audit JSON differs over the API, or has no null\nAPI:\n%s\nfile:\n%s", remote.stdout, local.stdout)
	}
	if r := remoteRun(t, t.TempDir(), srv.url, token, "", "geofeed", "import", bad, "--as", "bad"); !strings.Contains(r.stderr, bad+":2:") {
		t.Errorf("a refused import over the API does not print the feed's diagnostics:\n%s", r)
	}
}

// cliIn is cli with standard input.
func cliIn(t *testing.T, db, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--db", db}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CADASTRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	return result{args: full, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}
