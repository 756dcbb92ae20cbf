package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// testMMDB writes a small MMDB in the flat ip-location-db schema.
func testMMDB(t *testing.T, path string, nets map[string]string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "cadastre-test", IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for p, cc := range nets {
		_, ipn, err := net.ParseCIDR(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipn, mmdbtype.Map{"country_code": mmdbtype.String(cc)}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestGeoSourcesAndLookup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	a, b := filepath.Join(dir, "a.mmdb"), filepath.Join(dir, "b.mmdb")
	testMMDB(t, a, map[string]string{"203.0.114.0/24": "JP", "2400:cb00:5::/48": "NZ"})
	testMMDB(t, b, map[string]string{"198.51.101.0/24": "GB", "203.0.114.0/25": "KR"})
	mustCLI(t, db, "geo", "source", "add", "first", "--mmdb", a)
	mustCLI(t, db, "geo", "source", "add", "second", "--mmdb", b)

	if r := cli(t, db, "geo", "source", "add", "Bad Name", "--mmdb", a); r.code != 2 {
		t.Errorf("a bad source name is a usage error\n%s", r)
	}
	corrupt := filepath.Join(dir, "corrupt.mmdb")
	data, _ := os.ReadFile(a)
	os.WriteFile(corrupt, data[:len(data)/2], 0o644)
	if r := cli(t, db, "geo", "source", "add", "broken", "--mmdb", corrupt); r.code != 2 || !strings.Contains(r.stderr, "corrupt.mmdb") {
		t.Errorf("a truncated MMDB is refused, naming the file\n%s", r)
	}
	if r := cli(t, db, "geo", "source", "add", "none", "--mmdb", filepath.Join(dir, "missing.mmdb")); r.code != 2 {
		t.Errorf("a missing file is refused\n%s", r)
	}

	var list []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, db, "geo", "source", "list", "--json")), &list); err != nil || len(list) != 3 ||
		list[1]["name"] != "first" || list[2]["name"] != "second" || list[1]["origin"] != a {
		t.Fatalf("source list: %v %v", list, err)
	}

	tests := []struct {
		name, addr, want string
	}{
		{"the first source added answers first", "203.0.114.1", "203.0.114.0/24\tJP\tfirst"},
		{"a later source answers where the first is silent", "198.51.101.7", "198.51.101.0/24\tGB\tsecond"},
		{"IPv6", "2400:cb00:5::1", "2400:cb00:5::/48\tNZ\tfirst"},
		{"6to4 is located by the IPv4 it carries, and says so", "2002:cb00:7201::1", "203.0.114.0/24\tJP\tfirst\tspecial: 6to4"},
		{"an address nobody places", "192.0.2.1", "not placed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustCLI(t, db, "geo", "lookup", tt.addr)
			if !strings.Contains(out, tt.want) {
				t.Errorf("lookup %s = %q, want %q", tt.addr, out, tt.want)
			}
		})
	}
	if out := mustCLI(t, db, "geo", "lookup", "2002:cb00:7201::1"); !strings.Contains(out, "located by 203.0.114.1") {
		t.Errorf("6to4: %q", out)
	}
	if out := mustCLI(t, db, "geo", "lookup", "--all", "203.0.114.1"); !strings.Contains(out, "  first\t203.0.114.0/24\tJP") || !strings.Contains(out, "  second\t203.0.114.0/25\tKR") {
		t.Errorf("--all: %q", out)
	}

	// A batch with every kind of bad line: each gets its error, the
	// others are answered, and the exit status is 1.
	batch := filepath.Join(dir, "batch.txt")
	os.WriteFile(batch, []byte("203.0.114.1\r\nfe80::1%eth0\n\n   \nnot-an-address\n# a comment\n 198.51.101.7 \n1.2.3.4/24\n::ffff:203.0.114.9\r\n"), 0o644)
	r := cli(t, db, "geo", "lookup", "--json", "--file", batch)
	if r.code != 1 {
		t.Fatalf("bad lines: exit %d, want 1\n%s", r.code, r)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("NDJSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	want := []struct {
		line  float64
		err   string
		found bool
	}{{1, "", true}, {2, "zone %eth0", false}, {3, "empty line", false}, {4, "empty line", false}, {5, "not an IP address", false},
		{7, "", true}, {8, "not an IP address", false}, {9, "", true}}
	if len(lines) != len(want) {
		t.Fatalf("%d NDJSON lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		m := lines[i]
		e, _ := m["error"].(string)
		if m["line"] != w.line || !strings.Contains(e, w.err) || (w.err == "" && e != "") || (m["found"] == true) != w.found {
			t.Errorf("line %v: %v; want line %v error %q found %v", m["line"], m, w.line, w.err, w.found)
		}
	}
	if !strings.Contains(r.stderr, "batch.txt:2: fe80::1%eth0: zone %eth0 refused") || !strings.Contains(r.stderr, "5 of 8 lines") {
		t.Errorf("stderr names each bad line:\n%s", r.stderr)
	}

	// The same from standard input, as CSV.
	cmd := exec.Command(bin, "--db", db, "geo", "lookup", "--csv", "-")
	cmd.Stdin = strings.NewReader("203.0.114.1\r\ngarbage\r\n")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("csv from stdin: %v", err)
	}
	if rows := strings.Split(strings.TrimSpace(string(out)), "\n"); len(rows) != 3 || !strings.HasPrefix(rows[1], "1,203.0.114.1,true,203.0.114.0/24,JP") || !strings.HasPrefix(rows[2], "2,garbage,false") {
		t.Errorf("csv:\n%s", out)
	}
	if r := cli(t, db, "geo", "lookup"); r.code != 2 {
		t.Errorf("no addresses is a usage error\n%s", r)
	}

	// A source file that vanishes: a warning, and the other source answers.
	os.Remove(a)
	r = cli(t, db, "geo", "lookup", "198.51.101.7", "203.0.114.1")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: source first") || !strings.Contains(r.stdout, "198.51.101.0/24\tGB\tsecond") || !strings.Contains(r.stdout, "203.0.114.0/25\tKR\tsecond") {
		t.Errorf("a vanished source file\n%s", r)
	}
	mustCLI(t, db, "geo", "source", "remove", "first")
	if r := cli(t, db, "geo", "source", "remove", "first"); r.code != 3 {
		t.Errorf("removing an unknown source: exit %d, want 3\n%s", r.code, r)
	}
}

// TestGeoLookupMillion is the end-to-end target of issue 5: a million
// addresses from a file through `cadastre geo lookup` against GeoLite2
// country, in under 2 seconds (bench/README.md).
func TestGeoLookupMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	mmdb := testenv.GeoData(t, "geolite2-country.mmdb")
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	mustCLI(t, db, "geo", "source", "add", "geolite2", "--mmdb", mmdb)
	f, err := os.Create(filepath.Join(dir, "addrs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	x := uint32(2463534242)
	for range 1_000_000 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		w.WriteString(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}).String())
		w.WriteByte('\n')
	}
	w.Flush()
	f.Close()
	for _, format := range []string{"--csv", "--text"} {
		args := []string{"--db", db, "geo", "lookup", "--file", f.Name()}
		if format == "--csv" {
			args = append(args, format)
		}
		cmd := exec.Command(bin, args...)
		out, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = out
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		st, _ := out.Stat()
		out.Close()
		// The speed is measured in bench/README.md, not asserted here; this
		// test checks that a million lines are all answered.
		t.Logf("geo lookup %s of 1,000,000 addresses: %v (%d MB out)", format, d, st.Size()>>20)
		b, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, []byte("\n")); n < 1_000_000 {
			t.Errorf("geo lookup %s: %d lines out for 1,000,000 addresses in", format, n)
		}
	}
}

// demoRegister builds the demo register in a new database file.
func demoRegister(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Build(ctx, s, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return db
}

func TestGeoExportMMDB(t *testing.T) {
	db := demoRegister(t)
	out := filepath.Join(t.TempDir(), "register.mmdb")
	mustCLI(t, db, "geo", "export-mmdb", out)
	r, err := maxminddb.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rec struct {
		Country struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"country"`
		Subdivisions []struct {
			ISOCode string `maxminddb:"iso_code"`
		} `maxminddb:"subdivisions"`
		City struct {
			Names map[string]string `maxminddb:"names"`
		} `maxminddb:"city"`
	}
	// 191.232.1.0/24 was lent by brazil-south to us-east.
	if err := r.Lookup(netip.MustParseAddr("191.232.1.7")).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.Country.ISOCode != "US" || len(rec.Subdivisions) != 1 || rec.Subdivisions[0].ISOCode != "VA" || rec.City.Names["en"] == "" {
		t.Errorf("191.232.1.7 in the export: %+v", rec)
	}
	// The export is itself a source cadastre reads (GeoIP2 schema).
	mustCLI(t, db, "geo", "source", "add", "export", "--mmdb", out)
	if got := mustCLI(t, db, "geo", "lookup", "--all", "191.232.1.7"); !strings.Contains(got, "  export\t191.232.1.0/24\tUS US-VA") {
		t.Errorf("the export read back: %q", got)
	}
	// mmdblookup (Debian package mmdb-bin), a reader cadastre did not write.
	mmdblookup := testenv.Program(t, "mmdblookup", "mmdb-bin")
	got, err := exec.Command(mmdblookup, "--file", out, "--ip", "191.232.1.7", "country", "iso_code").CombinedOutput()
	if err != nil || !strings.Contains(string(got), `"US"`) {
		t.Errorf("mmdblookup: %v\n%s", err, got)
	}
}

// TestAuditDemoAgainstRealDatabases is the integration test of issue 5:
// the space us-east borrowed from brazil-south shows up as placed in BR by
// the database that follows registration data.
func TestAuditDemoAgainstRealDatabases(t *testing.T) {
	whois, geolite := testenv.GeoData(t, "geo-whois-asn-country.mmdb"), testenv.GeoData(t, "geolite2-country.mmdb")
	db := demoRegister(t)
	mustCLI(t, db, "geo", "source", "add", "geolite2", "--mmdb", geolite)
	mustCLI(t, db, "geo", "source", "add", "whois", "--mmdb", whois)
	r := cli(t, db, "audit", "--json")
	if r.code != 1 {
		t.Fatalf("audit of the demo: exit %d, want 1 (findings)\n%s", r.code, r)
	}
	var rep struct {
		Findings []struct {
			Prefix     string  `json:"prefix"`
			Region     string  `json:"region"`
			Source     string  `json:"source"`
			FromRegion string  `json:"from_region"`
			MovedAgo   int64   `json:"moved_ago_ns"`
			Disagree   float64 `json:"disagree_share"`
			Says       []struct {
				Location struct{ Country string } `json:"location"`
				Share    float64                  `json:"share"`
			} `json:"says"`
		} `json:"findings"`
		Summary []map[string]any `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range rep.Findings {
		if f.Source == "whois" && f.Region == "us-east" && f.FromRegion == "brazil-south" && strings.HasPrefix(f.Prefix, "191.23") {
			found = true
			if f.Disagree != 1 || len(f.Says) == 0 || f.Says[0].Location.Country != "BR" || f.MovedAgo <= 0 {
				t.Errorf("borrowed space: %+v", f)
			}
		}
	}
	if !found {
		t.Errorf("no finding for the space us-east borrowed from brazil-south:\n%s", r.stdout)
	}
	if len(rep.Summary) != 2 {
		t.Errorf("summary: %v", rep.Summary)
	}
	if r := cli(t, db, "audit", "--source", "nope"); r.code != 3 {
		t.Errorf("an unknown source: exit %d, want 3\n%s", r.code, r)
	}
	if r := cli(t, db, "audit", "--csv", "--source", "whois"); r.code != 1 || !strings.Contains(r.stdout, "191.232.1.0/24,us-east,") {
		t.Errorf("csv\n%s", r)
	}
}
