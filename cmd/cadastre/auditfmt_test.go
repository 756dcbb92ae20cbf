package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestAuditPercentHasSignificantDigits(t *testing.T) {
	tests := []struct {
		name  string
		share float64
		want  string
	}{
		{"nothing is 0 %", 0, "0 %"},
		{"the whole is 100 %, no decimals", 1, "100 %"},
		{"a half is 50 %", 0.5, "50 %"},
		{"a third to three digits", 1.0 / 3, "33.3 %"},
		{"one address of a /16 is not 0", 1.0 / 65536, "0.00153 %"},
		{"0.0015 % stays 0.0015 %", 0.000015, "0.0015 %"},
		{"one address of a /8 is not 0", 1.0 / (1 << 24), "0.00000596 %"},
		{"one /64 of a /32 is not 0", 1.0 / (1 << 32), "0.0000000233 %"},
		{"a share short of the whole is not 100 %", 1 - 1.0/65536, "99.998 %"},
		{"a share just above nothing is not 0 %", 1e-12, "0.0000000001 %"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percent(tc.share); got != tc.want {
				t.Errorf("percent(%v) = %q, want %q", tc.share, got, tc.want)
			}
		})
	}
}

// auditRegister is a register with two pools a partner feed gets wrong
// by very different amounts (a whole /24; one address of a /16), and a
// feed for other space that covers none of ours.
func auditRegister(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "r.db")
	mustCLI(t, db, "region", "add", "east", "--country", "US", "--subdivision", "US-VA")
	mustCLI(t, db, "block", "add", "40.64.0.0/14", "--source", "rir", "--registry", "arin", "--registered-country", "US")
	mustCLI(t, db, "pool", "add", "40.64.0.0/16", "--region", "east")
	mustCLI(t, db, "pool", "add", "40.66.0.0/24", "--region", "east")
	feed := func(name, body string) {
		p := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		mustCLI(t, db, "geofeed", "import", p, "--as", name)
	}
	feed("partner", "40.64.0.0/16,US,US-VA,,\n40.64.1.1/32,BR,,,\n40.66.0.0/24,IE,,,\n")
	feed("elsewhere", "81.2.69.0/24,DE,,,\n")
	return db
}

func TestAuditOutputCanBeActedOn(t *testing.T) {
	db := auditRegister(t)
	t.Run("text: largest first, precise shares, a feed that covers nothing is one summary line", func(t *testing.T) {
		r := cli(t, db, "audit")
		if r.code != 1 {
			t.Fatalf("want exit 1 (findings)\n%s", r)
		}
		big, small := strings.Index(r.stdout, "40.66.0.0/24"), strings.Index(r.stdout, "40.64.0.0/16")
		if big < 0 || small < 0 || big > small {
			t.Errorf("the /24 wholly elsewhere (256 addresses) comes before the /16 with one address elsewhere\n%s", r.stdout)
		}
		for _, want := range []string{"0.00153 %", "IE 100 %", "BR 0.00153 %", "not covered: the source says nothing about our space", "2 findings"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q\n%s", want, r.stdout)
			}
		}
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, "40.") && strings.Contains(line, " elsewhere ") {
				t.Errorf("a feed that covers nothing gives a finding: %s", line)
			}
		}
	})
	t.Run("csv: addresses affected, shares never rounded to 0, empty where nothing applies", func(t *testing.T) {
		r := cli(t, db, "audit", "--format", "csv")
		recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
		if err != nil || len(recs) != 3 {
			t.Fatalf("CSV: %v\n%s", err, r)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		small := recs[2]
		if small[col["prefix"]] != "40.64.0.0/16" || small[col["addresses_affected"]] != "1" || small[col["addresses"]] != "65536" ||
			small[col["disagree_share"]] != "0.0000152587890625" || small[col["from_region"]] != "" || small[col["moved_at"]] != "" || small[col["moved_days_ago"]] != "" {
			t.Errorf("the /16 row: %q", small)
		}
		if recs[1][col["addresses_affected"]] != "256" || recs[1][col["disagree_share"]] != "1" {
			t.Errorf("the /24 row: %q", recs[1])
		}
	})
	t.Run("json: null where a figure does not apply, the --json alias the same", func(t *testing.T) {
		r := cli(t, db, "audit", "--format", "json")
		var rep struct {
			Findings []map[string]any `json:"findings"`
			Summary  []struct {
				Source     string         `json:"source"`
				NotCovered bool           `json:"not_covered"`
				Raw4       map[string]any `json:"ipv4"`
				Raw6       map[string]any `json:"ipv6"`
			} `json:"summary"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v\n%s", err, r)
		}
		if len(rep.Findings) != 2 || rep.Findings[0]["addresses_affected"] != 256.0 || rep.Findings[1]["addresses_affected"] != 1.0 {
			t.Errorf("findings %v", rep.Findings)
		}
		for _, s := range rep.Summary {
			if v, ok := s.Raw6["country_correct"]; !ok || v != nil {
				t.Errorf("%s: IPv6 country_correct %v with no IPv6 space, want null", s.Source, v)
			}
			if s.Source == "elsewhere" {
				if v, ok := s.Raw4["country_correct"]; !s.NotCovered || !ok || v != nil || s.Raw4["covered_share"] != 0.0 {
					t.Errorf("a feed that covers nothing: not_covered %v, country_correct %v, covered %v", s.NotCovered, v, s.Raw4["covered_share"])
				}
			}
		}
		alias := cli(t, db, "audit", "--json")
		// The reports differ only in when each was made (whose
		// nanoseconds print with trailing zeros trimmed).
		at := regexp.MustCompile(`"at": "[^"]*"`)
		if alias.code != r.code || at.ReplaceAllString(alias.stdout, "") != at.ReplaceAllString(r.stdout, "") {
			t.Errorf("--json differs from --format json\n%s\n%s", alias.stdout, r.stdout)
		}
	})
	tests := []struct {
		name     string
		args     []string
		code     int
		findings int
	}{
		{"a minimum share leaves out the one-address finding", []string{"--min-share", "1%"}, 1, 1},
		{"a minimum share as a fraction", []string{"--min-share", "0.01"}, 1, 1},
		{"a minimum of addresses leaves out the one-address finding", []string{"--min-addresses", "2"}, 1, 1},
		{"thresholds above every finding: exit 0", []string{"--min-addresses", "1000"}, 0, 0},
		{"a share above 100 % is bad usage", []string{"--min-share", "150%"}, 2, -1},
		{"a share that is not a number is bad usage", []string{"--min-share", "lots"}, 2, -1},
		{"an unknown format is bad usage", []string{"--format", "xml"}, 2, -1},
		{"an IPv6 unit past 128 is bad usage", []string{"--ipv6-unit", "129"}, 2, -1},
		{"--format and --json together are bad usage", []string{"--format", "csv", "--json"}, 2, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cli(t, db, append([]string{"audit", "--format", "csv"}, tc.args...)...)
			if tc.args[0] == "--format" {
				r = cli(t, db, append([]string{"audit"}, tc.args...)...)
			}
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			if tc.findings >= 0 && strings.Count(r.stdout, "\n")-1 != tc.findings {
				t.Errorf("want %d findings\n%s", tc.findings, r.stdout)
			}
			if tc.code == 2 && !strings.Contains(r.stderr, tc.args[0]) {
				t.Errorf("the error does not name %s:\n%s", tc.args[0], r.stderr)
			}
		})
	}
}
