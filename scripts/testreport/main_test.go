package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const mod = "github.com/cadastre-ipam/cadastre"

// stream is the `go test -json` output of events.
func stream(t *testing.T, events ...event) string {
	t.Helper()
	var b strings.Builder
	for _, e := range events {
		j, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func out(pkg, test, text string) event {
	return event{Action: "output", Package: pkg, Test: test, Output: text}
}
func end(action, pkg, test string) event { return event{Action: action, Package: pkg, Test: test} }

var allowList = `
# package  test  reason
./dns  TestDnsperfVsKnot  measures throughput for minutes; set CADASTRE_DNSPERF=1
`

func TestReport(t *testing.T) {
	dns, geo := mod+"/dns", mod+"/geo"
	passing := []event{
		out(dns, "TestA", "=== RUN   TestA\n"), out(dns, "TestA", "--- PASS: TestA (0.00s)\n"), end("pass", dns, "TestA"),
		out(dns, "", "ok  \t"+dns+"\t1.0s\n"), end("pass", dns, ""),
	}
	allowedSkip := []event{
		out(dns, "TestDnsperfVsKnot", "=== RUN   TestDnsperfVsKnot\n"),
		out(dns, "TestDnsperfVsKnot", "    perf_test.go:172: set CADASTRE_DNSPERF=1\n"),
		out(dns, "TestDnsperfVsKnot", "--- SKIP: TestDnsperfVsKnot (0.00s)\n"),
		end("skip", dns, "TestDnsperfVsKnot"),
	}
	otherSkip := []event{
		out(geo, "TestReal/sub", "    realdata_test.go:40: needs geolite2-country.mmdb: not cached\n"),
		end("skip", geo, "TestReal/sub"),
		end("pass", geo, "TestReal"),
		out(geo, "", "ok  \t"+geo+"\t1.0s\n"), end("pass", geo, ""),
	}
	failing := []event{
		out(geo, "TestB", "=== RUN   TestB\n"), out(geo, "TestB", "    b_test.go:9: the rule broke\n"),
		out(geo, "TestB", "--- FAIL: TestB (0.00s)\n"), end("fail", geo, "TestB"),
		out(geo, "", "FAIL\n"), out(geo, "", "FAIL\t"+geo+"\t1.0s\n"), end("fail", geo, ""),
	}
	panicking := []event{
		out(geo, "TestC", "=== RUN   TestC\n"), out(geo, "TestC", "panic: test timed out after 10m0s\n"),
		out(geo, "", "FAIL\t"+geo+"\t600.0s\n"), end("fail", geo, ""),
	}
	cat := func(lists ...[]event) []event {
		var all []event
		for _, l := range lists {
			all = append(all, l...)
		}
		return all
	}
	for _, c := range []struct {
		name   string
		ci     bool
		events []event
		ok     bool
		says   []string
		silent []string
	}{
		{"passing tests pass and print one line per package", true, passing, true,
			[]string{"ok  \t" + dns, "1 passed, 0 failed, 0 skipped", "PASS"}, []string{"=== RUN", "--- PASS"}},
		{"a failing test fails the run and prints its output", false, cat(passing, failing), false,
			[]string{"the rule broke", "--- FAIL: TestB", "1 passed, 1 failed", "FAIL\t" + geo}, []string{"=== RUN"}},
		{"a test that never ends (panic, timeout) counts as failed and prints its output", false, panicking, false,
			[]string{"--- FAIL: TestC (did not finish)", "test timed out", "0 passed, 1 failed", "(1 failed)"}, nil},
		{"under CI a skip on the allow-list passes, with both reasons", true, cat(passing, allowedSkip), true,
			[]string{"SKIP " + dns + " TestDnsperfVsKnot: perf_test.go:172: set CADASTRE_DNSPERF=1 (allowed: measures throughput", "1 skipped (1 allowed, 0 not allowed"}, nil},
		{"under CI a skip not on the allow-list fails the run", true, cat(passing, otherSkip), false,
			[]string{"SKIP " + geo + " TestReal/sub: realdata_test.go:40: needs geolite2-country.mmdb: not cached -- NOT ALLOWED", "1 not allowed", "FAIL"}, nil},
		{"outside CI a skip passes, with its reason", false, cat(passing, otherSkip), true,
			[]string{"SKIP " + geo + " TestReal/sub: realdata_test.go:40: needs", "PASS"}, []string{"NOT ALLOWED"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			allow, err := parseAllowList("allowed-skips", allowList)
			if err != nil {
				t.Fatal(err)
			}
			var w strings.Builder
			r := newReport(&w, allow, c.ci)
			if err := r.read(strings.NewReader("go: downloading example.com/x v1.0.0\n" + stream(t, c.events...))); err != nil {
				t.Fatal(err)
			}
			ok := r.finish(time.Minute)
			got := w.String()
			if ok != c.ok {
				t.Errorf("ok = %v, want %v\n%s", ok, c.ok, got)
			}
			for _, s := range append(c.says, "go: downloading example.com/x") {
				if !strings.Contains(got, s) {
					t.Errorf("output lacks %q:\n%s", s, got)
				}
			}
			for _, s := range c.silent {
				if strings.Contains(got, s) {
					t.Errorf("output has %q:\n%s", s, got)
				}
			}
			lines := strings.Split(strings.TrimSpace(got), "\n")
			if last := lines[len(lines)-1]; last != "PASS" && last != "FAIL" {
				t.Errorf("last line %q, want PASS or FAIL", last)
			}
		})
	}
}

func TestAllowListNeedsAReasonOnEveryLine(t *testing.T) {
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"./dns TestX because it measures for minutes\n# comment\n\n", true},
		{"./dns TestX\n", false},
		{"./dns TestX # a comment is not a reason\n", false},
	} {
		_, err := parseAllowList("f", c.text)
		if (err == nil) != c.ok {
			t.Errorf("%q: err %v, want ok %v", c.text, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "f:1:") {
			t.Errorf("%q: %v does not name the file and line", c.text, err)
		}
	}
}

func TestAllowedMatchesImportPathOrModuleRelativeDir(t *testing.T) {
	a := allowed{pkg: "./dns", test: "TestX"}
	for _, c := range []struct {
		pkg, test string
		want      bool
	}{
		{mod + "/dns", "TestX", true},
		{mod + "/dns", "TestX/sub", false},
		{mod + "/otherdns", "TestX", false},
		{mod + "/dns/dnstest", "TestX", false},
	} {
		if got := a.matches(c.pkg, c.test); got != c.want {
			t.Errorf("matches(%s, %s) = %v, want %v", c.pkg, c.test, got, c.want)
		}
	}
	if !(allowed{pkg: mod + "/dns", test: "TestX"}).matches(mod+"/dns", "TestX") {
		t.Errorf("a full import path does not match")
	}
}
