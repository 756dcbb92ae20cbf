// Command testreport reads `go test -json` output on stdin and writes what
// a person wants to read: the output of failing tests, one line per
// package, the tests that skipped with their reasons, and a closing
// summary ("N passed, N failed, N skipped"). Under $CI (internal/testenv)
// a skip fails the run unless the allow-list names the test with a
// reason: CI cannot pass by skipping what it was meant to check.
//
// scripts/test runs it; usage:
//
//	go test -json ./... 2>&1 | go run ./scripts/testreport -allow .ci/allowed-skips
//
// The allow-list has one test a line: the package (import path, or
// ./dir relative to the module), the full test name, and the reason, all
// separated by blanks; # starts a comment. Lines that are not JSON (go's
// own messages) are copied through. The exit status is 1 when a test or
// a package failed or a skip is not allowed, 2 for a bad allow-list.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

func main() {
	allowFile := flag.String("allow", "", "allow-list of tests that may skip under $CI (package, test, reason a line)")
	started := flag.Int64("started", 0, "Unix time the run started, for the closing line's duration (0: when this command started)")
	flag.Parse()
	start := time.Now()
	if *started > 0 {
		start = time.Unix(*started, 0)
	}
	var allow []allowed
	if *allowFile != "" {
		b, err := os.ReadFile(*allowFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
		if allow, err = parseAllowList(*allowFile, string(b)); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
	}
	r := newReport(os.Stdout, allow, testenv.CI())
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading go test output:", err)
		os.Exit(2)
	}
	if !r.finish(time.Since(start)) {
		os.Exit(1)
	}
}

// allowed is one entry of the allow-list: a test that may skip under CI.
type allowed struct {
	pkg, test, reason string
	line              int
}

// matches says whether the entry names test of the package importPath.
func (a allowed) matches(importPath, test string) bool {
	if a.test != test {
		return false
	}
	if a.pkg == importPath {
		return true
	}
	rel, ok := strings.CutPrefix(a.pkg, "./")
	return ok && strings.HasSuffix(importPath, "/"+rel)
}

// parseAllowList reads the allow-list; name is its file name for errors.
func parseAllowList(name, text string) ([]allowed, error) {
	var out []allowed
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want a package, a test name and the reason it may skip under CI, got %q", name, i+1, strings.TrimSpace(line))
		}
		out = append(out, allowed{pkg: f[0], test: f[1], reason: strings.Join(f[2:], " "), line: i + 1})
	}
	return out, nil
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Elapsed    float64
	Output     string
	ImportPath string // build-output and build-fail
}

type testKey struct{ pkg, test string }

// skip is a test that skipped, with the reason it gave.
type skip struct {
	testKey
	reason  string
	allowed *allowed
}

// report accumulates the run and prints as it goes.
type report struct {
	w     io.Writer
	allow []allowed
	ci    bool

	out      map[testKey][]string // output of tests still running
	pkgOut   map[string][]string  // output of packages outside tests
	buildOut map[string][]string  // build output by import path

	passed, failed, skipped int
	pkgs, pkgsFailed        int
	skips                   []skip
	unparsed                int
}

func newReport(w io.Writer, allow []allowed, ci bool) *report {
	return &report{w: w, allow: allow, ci: ci,
		out: map[testKey][]string{}, pkgOut: map[string][]string{}, buildOut: map[string][]string{}}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// go's own messages (downloads, errors before any test).
			fmt.Fprintf(r.w, "%s\n", line)
			r.unparsed++
			continue
		}
		r.event(e)
	}
	return sc.Err()
}

// noise are the lines of verbose output that plain `go test` does not print.
func noise(line string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

func (r *report) print(lines []string) {
	for _, l := range lines {
		if !noise(l) {
			io.WriteString(r.w, l)
		}
	}
}

func (r *report) event(e event) {
	switch e.Action {
	case "build-output":
		r.buildOut[e.ImportPath] = append(r.buildOut[e.ImportPath], e.Output)
		return
	case "build-fail":
		r.print(r.buildOut[e.ImportPath])
		delete(r.buildOut, e.ImportPath)
		return
	}
	if e.Test == "" {
		r.packageEvent(e)
		return
	}
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "output":
		r.out[k] = append(r.out[k], e.Output)
	case "pass":
		r.passed++
		delete(r.out, k)
	case "fail":
		r.failed++
		r.print(r.out[k])
		delete(r.out, k)
	case "skip":
		r.skipped++
		s := skip{testKey: k, reason: skipReason(r.out[k])}
		for i := range r.allow {
			if r.allow[i].matches(e.Package, e.Test) {
				s.allowed = &r.allow[i]
				break
			}
		}
		r.skips = append(r.skips, s)
		delete(r.out, k)
	}
}

// skipReason is what a skipped test said: its output but the framing
// lines, on one line.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || noise(l) || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}

func (r *report) packageEvent(e event) {
	switch e.Action {
	case "output":
		r.pkgOut[e.Package] = append(r.pkgOut[e.Package], e.Output)
	case "pass", "skip":
		if e.Action == "pass" {
			r.pkgs++
		}
		for _, l := range r.pkgOut[e.Package] {
			if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
				io.WriteString(r.w, l)
			}
		}
		delete(r.pkgOut, e.Package)
	case "fail":
		r.pkgs++
		r.pkgsFailed++
		// Tests still running when the package failed (a panic, a
		// timeout) never end: their output says why.
		var running []testKey
		for k := range r.out {
			if k.pkg == e.Package {
				running = append(running, k)
			}
		}
		slices.SortFunc(running, func(a, b testKey) int { return strings.Compare(a.test, b.test) })
		for _, k := range running {
			r.failed++
			fmt.Fprintf(r.w, "--- FAIL: %s (did not finish)\n", k.test)
			r.print(r.out[k])
			delete(r.out, k)
		}
		r.print(r.pkgOut[e.Package])
		delete(r.pkgOut, e.Package)
	}
}

// finish prints the skips and the closing summary, and says whether the
// run passed.
func (r *report) finish(took time.Duration) bool {
	ok := r.failed == 0 && r.pkgsFailed == 0
	refused, allowedSkips := 0, 0
	if len(r.skips) > 0 {
		fmt.Fprintf(r.w, "\nskipped tests:\n")
	}
	for _, s := range r.skips {
		switch {
		case s.allowed != nil:
			allowedSkips++
			fmt.Fprintf(r.w, "  SKIP %s %s: %s (allowed: %s)\n", s.pkg, s.test, s.reason, s.allowed.reason)
		case r.ci:
			refused++
			fmt.Fprintf(r.w, "  SKIP %s %s: %s -- NOT ALLOWED under $CI: make the test run, or list it with a reason in the allow-list\n", s.pkg, s.test, s.reason)
		default:
			fmt.Fprintf(r.w, "  SKIP %s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
	if refused > 0 {
		ok = false
	}
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Fprintf(r.w, "\n%d passed, %d failed, %d skipped (%d allowed, %d not allowed under $CI) in %d packages (%d failed), %s\n",
		r.passed, r.failed, r.skipped, allowedSkips, refused, r.pkgs, r.pkgsFailed, took.Round(time.Second))
	fmt.Fprintln(r.w, verdict)
	return ok
}
