package browsertest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// axeFile is where scripts/fetch-axe caches axe-core, below .cache.
const axeFile = "axe/axe.min.js"

// Violation is one axe-core rule the page breaks, with the elements that
// break it.
type Violation struct {
	ID          string `json:"id"`     // the rule, such as color-contrast or image-alt
	Impact      string `json:"impact"` // minor, moderate, serious or critical
	Description string `json:"description"`
	Help        string `json:"help"`
	Nodes       []struct {
		Target         []any  `json:"target"` // CSS selectors of the element (nested lists inside frames)
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

// Serious reports whether the violation is serious or critical: what
// CheckAccessibility fails on.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

// String names the rule, its impact and the elements, one a line.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n\t%v %s", n.Target, n.HTML)
		if n.FailureSummary != "" {
			fmt.Fprintf(&b, "\n\t\t%s", strings.ReplaceAll(n.FailureSummary, "\n", "\n\t\t"))
		}
	}
	return b.String()
}

// AxeOptions narrows an axe run. The zero value checks the whole page with
// every rule of the WCAG 2 A and AA levels and axe's best practices.
type AxeOptions struct {
	// Exclude lists CSS selectors of parts of the page not to check: for
	// markup the project does not write (a vendored renderer), with the
	// reason in the test.
	Exclude []string
	// DisableRules lists axe rule IDs not to run, with the reason in the
	// test.
	DisableRules []string
}

// Axe injects axe-core into the page the tab shows, runs it and returns
// the violations. axe-core is read from the cache scripts/fetch-axe fills;
// when it is missing the test stops as testenv.Need says. It is injected
// through the DevTools protocol, so the page's Content-Security-Policy
// does not block it.
func (b *Browser) Axe(t testing.TB, opts AxeOptions) []Violation {
	t.Helper()
	src, err := os.ReadFile(testenv.Cached(t, axeFile, "scripts/fetch-axe"))
	if err != nil {
		t.Fatalf("browsertest: reading axe-core: %v", err)
	}
	if !Eval[bool](t, b, "typeof window.axe === 'object'") {
		Eval[bool](t, b, string(src)+"\n;true")
	}
	context := map[string]any{"exclude": [][]string{}}
	for _, sel := range opts.Exclude {
		context["exclude"] = append(context["exclude"].([][]string), []string{sel})
	}
	options := map[string]any{
		"resultTypes": []string{"violations"},
		"runOnly":     map[string]any{"type": "tag", "values": []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}},
	}
	if len(opts.DisableRules) > 0 {
		rules := map[string]any{}
		for _, r := range opts.DisableRules {
			rules[r] = map[string]bool{"enabled": false}
		}
		options["rules"] = rules
	}
	cj, _ := json.Marshal(context)
	oj, _ := json.Marshal(options)
	text := Eval[string](t, b, fmt.Sprintf(
		"axe.run(%s, %s).then(r => JSON.stringify(r.violations))", cj, oj))
	var vs []Violation
	if err := json.Unmarshal([]byte(text), &vs); err != nil {
		t.Fatalf("browsertest: axe result: %v", err)
	}
	return vs
}

// CheckAccessibility runs axe in the page the tab shows and fails t for
// each serious or critical violation; minor and moderate ones are logged.
// It returns the violations.
func (b *Browser) CheckAccessibility(t testing.TB, opts AxeOptions) []Violation {
	t.Helper()
	vs := b.Axe(t, opts)
	page := b.Location(t)
	for _, v := range vs {
		if v.Serious() {
			t.Errorf("accessibility of %s: %s", page, v)
		} else {
			t.Logf("accessibility of %s (not failing): %s", page, v)
		}
	}
	return vs
}

// IDs are the rule IDs of the violations, sorted: for tests that expect
// particular ones.
func IDs(vs []Violation) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}
