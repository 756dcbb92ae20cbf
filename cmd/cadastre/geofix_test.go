package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An import that would leave a source with no entries is refused, exit 2,
// with the source (and the whole database) left exactly as it was, unless
// --allow-empty: a failed download must not wipe a partner's feed.
func TestGeofeedImportRefusesToReplaceASourceWithNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("40.64.0.0/24,BR,BR-SP,Sao Paulo,\n191.232.0.0/23,BR,BR-SP,,\n"), 0o644)
	mustCLI(t, db, "geofeed", "import", good, "--as", "partner")

	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
	}{
		{"an empty file is refused", []string{write("empty.csv", "")}},
		{"a file of comments only is refused", []string{write("comments.csv", "# nothing here\n\n")}},
		{"garbage with --skip-bad-lines is refused", []string{write("garbage.csv", "<html>\n<body>502 Bad Gateway</body>\n</html>\n"), "--skip-bad-lines"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := dump(t, db)
			r := cli(t, db, append(append([]string{"geofeed", "import"}, tc.args...), "--as", "partner")...)
			if r.code != 2 || !strings.Contains(r.stderr, "--allow-empty") || !strings.Contains(r.stderr, "left as it was") {
				t.Errorf("want exit 2 naming --allow-empty and that the source is kept\n%s", r)
			}
			sameDump(t, before, dump(t, db))
		})
	}
	r := cli(t, db, "geofeed", "import", filepath.Join(dir, "empty.csv"), "--as", "partner", "--allow-empty")
	if r.code != 0 || !strings.Contains(r.stdout, "0 entries imported") {
		t.Errorf("--allow-empty keeps an empty source\n%s", r)
	}
}

// A refused import says how many errors and how many warnings, each on its
// own: warnings are not errors.
func TestGeofeedImportCountsErrorsApartFromWarnings(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	feed := filepath.Join(dir, "feed.csv")
	// Two withdrawn region codes (warnings, naming the successor) and one
	// user-assigned country (an error).
	os.WriteFile(feed, []byte("2.0.0.0/24,FR,FR-J,,\n3.0.0.0/24,FR,FR-J,,\n4.0.0.0/24,ZZ,,,\n"), 0o644)
	r := cli(t, db, "geofeed", "import", feed, "--as", "partner")
	if r.code != 1 || !strings.Contains(r.stderr, "1 errors, 2 warnings") {
		t.Errorf("want exit 1 and \"1 errors, 2 warnings\"\n%s", r)
	}
	r = cli(t, db, "geofeed", "check", feed)
	if r.code != 1 || !strings.Contains(r.stderr, "1 errors, 2 warnings") {
		t.Errorf("check: want exit 1 and \"1 errors, 2 warnings\"\n%s", r)
	}
	// Its JSON names the summary's counts in lower case, as every other
	// key (they were "Lines", "Errors": operator's walk-through).
	r = cli(t, db, "geofeed", "check", "--json", feed)
	var out struct {
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Summary["errors"] != 1 || out.Summary["warnings"] != 2 || out.Summary["lines"] == 0 {
		t.Errorf("check --json: summary %v (%v), want lines, entries, errors 1, warnings 2\n%s", out.Summary, err, r)
	}
}

// Private and documentation space is answered by its class, never placed
// from a database (GeoLite2 had 192.168.1.1 in Australia).
func TestGeoLookupAnswersSpecialPurposeSpaceByItsClass(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	world := filepath.Join(dir, "world.mmdb")
	testMMDB(t, world, map[string]string{"192.168.0.0/16": "AU", "192.0.2.0/24": "AU", "100.64.0.0/10": "AU", "8.8.8.0/24": "US"})
	mustCLI(t, db, "geo", "source", "add", "world", "--mmdb", world)
	tests := []struct{ name, addr, want, not string }{
		{"private space is not placed from a database", "192.168.1.1", "special: private", "AU"},
		{"documentation space is not placed from a database", "192.0.2.1", "special: documentation", "AU"},
		{"shared (CGNAT) space is not placed from a database", "100.64.0.1", "special: shared", "AU"},
		{"global space is", "8.8.8.8", "8.8.8.0/24\tUS\tworld", "special"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustCLI(t, db, "geo", "lookup", "--all", tc.addr)
			if !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
				t.Errorf("lookup %s = %q; want %q and no %q", tc.addr, out, tc.want, tc.not)
			}
		})
	}
}

// audit tells findings (exit 1) from a source it could not use (exit 8,
// naming the source and why), which it does not silently leave out.
func TestAuditExitStatusTellsFindingsFromAnUnusableSource(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	mustCLI(t, db, "region", "add", "east", "--country", "US", "--subdivision", "US-VA")
	mustCLI(t, db, "block", "add", "40.64.0.0/22", "--source", "rir", "--registry", "arin", "--registered-country", "US")
	mustCLI(t, db, "pool", "add", "40.64.0.0/24", "--region", "east")
	agree, disagree := filepath.Join(dir, "agree.mmdb"), filepath.Join(dir, "disagree.mmdb")
	testMMDB(t, agree, map[string]string{"40.64.0.0/22": "US"})
	testMMDB(t, disagree, map[string]string{"40.64.0.0/22": "BR"})
	mustCLI(t, db, "geo", "source", "add", "agree", "--mmdb", agree)
	if r := cli(t, db, "audit"); r.code != 0 {
		t.Fatalf("all agree: want exit 0\n%s", r)
	}
	mustCLI(t, db, "geo", "source", "add", "disagree", "--mmdb", disagree)
	if r := cli(t, db, "audit"); r.code != 1 {
		t.Errorf("findings: want exit 1\n%s", r)
	}
	mustCLI(t, db, "geo", "source", "remove", "disagree")
	data, _ := os.ReadFile(agree)
	os.WriteFile(agree, data[:len(data)/2], 0o644)
	r := cli(t, db, "audit")
	if r.code != 8 || !strings.Contains(r.stderr, "agree") || !strings.Contains(r.stderr, "unusable") {
		t.Errorf("an unusable source: want exit 8 naming it\n%s", r)
	}
}

// geo lookup reads what real inputs hold: a line over 64 KiB is an error
// of its own and the run goes on, as the help says; a UTF-8 byte-order
// mark is skipped; UTF-16 is refused once with a hint; a directory and a
// missing file are both unreadable input, exit 2.
func TestGeoLookupInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	world := filepath.Join(dir, "world.mmdb")
	testMMDB(t, world, map[string]string{"8.8.8.0/24": "US"})
	mustCLI(t, db, "geo", "source", "add", "world", "--mmdb", world)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	utf16 := func(s string, bom bool) []byte {
		var b []byte
		if bom {
			b = append(b, 0xff, 0xfe)
		}
		for _, c := range []byte(s) {
			b = append(b, c, 0)
		}
		return b
	}
	long := strings.Repeat("1", 70<<10)
	tests := []struct {
		name       string
		file       string
		code       int
		stdout     []string // each must appear
		stderr     []string
		stderrOnce string // must appear exactly once
	}{
		{"a line over 64 KiB is an error of its own and the run goes on",
			write("long.txt", []byte("8.8.8.8\n"+long+"\n8.8.8.9\n")), 1,
			[]string{"8.8.8.8\t", "8.8.8.9\t"}, []string{"long.txt:2: line longer than 64 KiB", "1 of 3 lines"}, ""},
		{"a UTF-8 byte-order mark is skipped",
			write("bom.txt", []byte("\xef\xbb\xbf8.8.8.8\r\n8.8.8.9\r\n")), 0,
			[]string{"8.8.8.8\t", "8.8.8.9\t"}, nil, ""},
		{"UTF-16 with a byte-order mark is refused once with a hint",
			write("utf16.txt", utf16("8.8.8.8\r\n8.8.8.9\r\n1.1.1.1\r\n", true)), 2,
			nil, []string{"iconv"}, "UTF-16"},
		{"UTF-16 without a byte-order mark is refused once with a hint",
			write("utf16le.txt", utf16("8.8.8.8\n8.8.8.9\n1.1.1.1\n", false)), 2,
			nil, []string{"iconv"}, "UTF-16"},
		{"a directory is unreadable input", dir, 2, nil, []string{"is a directory"}, ""},
		{"a missing file is unreadable input", filepath.Join(dir, "missing.txt"), 2, nil, []string{"missing.txt"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, db, "geo", "lookup", "--file", tc.file)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q\n%s", s, r)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, r)
				}
			}
			if tc.stderrOnce != "" && (!strings.Contains(r.stderr, tc.stderrOnce) || strings.Count(r.stderr, "\n") != 1) {
				t.Errorf("stderr should say %q in one line\n%s", tc.stderrOnce, r)
			}
		})
	}
}
