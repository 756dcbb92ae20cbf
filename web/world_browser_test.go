package web

import (
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/browsertest"
)

// The world's view, the geofeed and its checker in a real browser: they
// render, load nothing from another host, break no CSP rule and have no
// serious accessibility violation; the world map is saved as a 1280x900
// screenshot (.cache/screenshots/world.png).
func TestWorldAndGeofeedPagesInABrowser(t *testing.T) {
	e := newEnv(t)
	e.withGeo(t)
	b := browsertest.New(t, e.srv.URL)
	b.Open(t, e.ui.SignInLink(e.tok[roleAdmin], time.Hour))

	b.Open(t, "/world")
	if n := b.Count(t, "svg.worldmap path.country"); n != 177 {
		t.Errorf("the map has %d countries, want 177", n)
	}
	if n := b.Count(t, "svg.worldmap path.country.marked"); n < 3 {
		t.Errorf("%d countries coloured, want US, BR and DE", n)
	}
	if got := b.Text(t, "table.findings tbody tr:first-child td:first-child"); got != "2603:1030::/48" {
		t.Errorf("first finding %q, want the /48 (most addresses affected)", got)
	}
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	b.Screenshot(t, "world")

	b.Open(t, "/geofeed")
	b.CheckAccessibility(t, browsertest.AxeOptions{})

	b.Open(t, "/geofeed/check")
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	b.SetValue(t, "#feed", "192.0.2.0/24,US,US-CA,,\n192.0.2.1/24,US,,,\n<img src=x onerror=alert(1)>\n")
	if st := b.Submit(t, "form[action='/geofeed/check'] button[type=submit]"); st != 200 {
		t.Fatalf("check: status %d", st)
	}
	if got := b.Text(t, "#line-2 td.diag"); !strings.Contains(got, "host-bits") {
		t.Errorf("line 2's diagnostics %q lack host-bits", got)
	}
	// The pasted markup is text in the DOM, not an element.
	if n := b.Count(t, "td.line img"); n != 0 {
		t.Errorf("pasted markup became %d <img> elements", n)
	}
	if got := b.Text(t, "#line-3 td.line"); got != "<img src=x onerror=alert(1)>" {
		t.Errorf("line 3 shows %q", got)
	}
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	b.Screenshot(t, "geofeed-check")
	for _, m := range b.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("CSP violation: %s", m.Text)
		}
	}
}
