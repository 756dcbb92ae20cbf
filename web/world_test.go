package web

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/geo"
)

// partnerFeed is a geolocation source that places us-east's space
// elsewhere: its IPv4 pool (used in the US) in Brazil, its IPv6 pool in
// Germany.
const partnerFeed = "191.232.0.0/24,BR,BR-SP,Sao Paulo,\n2603:1030::/48,DE,,,\n"

// withGeo loads partnerFeed as the source "partner" and gives the UI the
// geolocation engine, as `cadastre serve` does.
func (e *env) withGeo(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	if _, err := geo.ImportFeed(ctx, e.store, "partner", "test", strings.NewReader(partnerFeed), geo.ImportOptions{}, e.clock.now()); err != nil {
		tb.Fatal(err)
	}
	engine, err := geo.NewEngine(ctx, geo.StoreLoader(e.reg, e.store), e.clock.now)
	if err != nil {
		tb.Fatal(err)
	}
	e.ui.cfg.Geo = engine
}

func TestWorldListsFindingsMostAffectedFirstWithTheMap(t *testing.T) {
	e := newEnv(t)
	e.withGeo(t)
	p := e.signIn(t, roleRead).get(t, "/world")
	p.want(t, 200, "191.232.0.0/24", "2603:1030::/48", "partner", `id="country-BR"`, `id="country-DE"`,
		"<svg", `class="country marked"`, "partner places us-east here")
	// The /48 is 65,536 /64s, the /24 256 addresses: the IPv6 finding
	// comes first.
	if i, j := strings.Index(p.Body, ">2603:1030::/48<"), strings.Index(p.Body, ">191.232.0.0/24<"); i < 0 || j < 0 || i > j {
		t.Errorf("findings not sorted by addresses affected: /48 at %d, /24 at %d", i, j)
	}
	// The inline SVG is well-formed XML.
	start, end := strings.Index(p.Body, "<svg"), strings.Index(p.Body, "</svg>")
	if start < 0 || end < start {
		t.Fatal("no SVG in the page")
	}
	dec := xml.NewDecoder(strings.NewReader(p.Body[start : end+len("</svg>")]))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the map is not well-formed XML: %v", err)
		}
	}
}

func TestWorldSaysWhenGeolocationIsNotLoaded(t *testing.T) {
	e := newEnv(t)
	e.signIn(t, roleRead).get(t, "/world").want(t, 200, "Geolocation is not loaded", "<svg")
}

// The audit names every region's space whoever holds it, so the world's
// view is an operator's page, as the API's audit is: a tenant token gets
// 403 and sees no finding, and its menu has no link to it.
func TestWorldIsNotForTenants(t *testing.T) {
	e := newEnv(t)
	e.withGeo(t)
	b := e.signIn(t, roleAcme)
	p := b.get(t, "/world")
	p.want(t, http.StatusForbidden)
	p.wantNot(t, "191.232.0.0/24", "partner")
	b.get(t, "/").wantNot(t, `href="/world"`)
	// The published geofeed is public anyway (/geofeed.csv), so tenants may read it.
	b.get(t, "/geofeed").want(t, 200, "191.232.0.0/24")
}

func TestGeofeedShowsThePublishedFeed(t *testing.T) {
	e := newEnv(t)
	e.signIn(t, roleRead).get(t, "/geofeed").want(t, 200, `href="/geofeed.csv"`,
		"191.232.0.0/24,US,US-VA,Ashburn,", "191.232.8.0/22,BR,BR-SP,,")
}

func TestGeofeedCheckerPutsEachDiagnosticBesideItsLine(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	b.get(t, "/geofeed/check").want(t, 200, `name="feed"`, `enctype="multipart/form-data"`)
	feed := "# comment\n192.0.2.0/24,US,US-CA,Los Angeles,\n192.0.2.1/24,US,,,\n" + "198.51.100.0/24,ZZ," + markup + ",,\n"
	p := b.post(t, "/geofeed/check", url.Values{"feed": {feed}})
	p.want(t, 200, `id="line-3"`, "host-bits", "4 lines")
	// The diagnostic sits in line 3's row, not another's.
	row3 := p.Body[strings.Index(p.Body, `id="line-3"`):]
	row3 = row3[:strings.Index(row3, "</tr>")]
	if !strings.Contains(row3, "host-bits") || !strings.Contains(row3, `class="error"`) && !strings.Contains(p.Body, `<tr class="error" id="line-3"`) {
		t.Errorf("line 3's row lacks its diagnostic: %s", row3)
	}
	// What was pasted comes back escaped, in the table and in the form.
	p.wantNot(t, markup)
	p.want(t, 200, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestGeofeedCheckerTakesAnUploadedFile(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	b.get(t, "/geofeed/check")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf)
	fw, _ := mw.CreateFormFile("file", "feed.csv")
	io.WriteString(fw, "192.0.2.0/24,US,US-CA,,\n2001:db8::/32,XX,,,\n")
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/geofeed/check", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	p := b.do(t, req)
	p.want(t, 200, "2 lines", "2001:db8::/32,XX")
}

func TestGeofeedCheckerRefusesAForeignOrMissingCSRFToken(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	b.post(t, "/geofeed/check", url.Values{"feed": {"192.0.2.0/24,US,,,\n"}, "csrf": {"forged"}}).want(t, http.StatusForbidden)
	other := e.signIn(t, roleAdmin)
	b.post(t, "/geofeed/check", url.Values{"feed": {"192.0.2.0/24,US,,,\n"}, "csrf": {other.csrf}}).want(t, http.StatusForbidden)
	// Multipart without a token is refused too.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("feed", "192.0.2.0/24,US,,,\n")
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/geofeed/check", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	b.do(t, req).want(t, http.StatusForbidden)
}

func TestGeofeedCheckerRefusesAFeedTooLargeForTheForm(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	b.get(t, "/geofeed/check")
	big := strings.Repeat("192.0.2.0/24,US,,,\n", maxCheckedFeed/19+10)
	p := b.post(t, "/geofeed/check", url.Values{"feed": {big}})
	if p.Status == http.StatusOK {
		t.Errorf("a %d-byte feed was checked", len(big))
	}
}

// TestOverviewCountsFindingsOfTheTableInUse: the overview's audit is kept
// between views (web/memo.go), yet a reloaded geolocation table is
// audited afresh on the next view, both when a source imported again wrote
// an event and when the table changed without one (an MMDB file replaced
// on disk, which Engine.Watch reloads: here a loader whose second answer
// leaves out the partner's feed).
func TestOverviewCountsFindingsOfTheTableInUse(t *testing.T) {
	e := newEnv(t)
	e.withGeo(t)
	ctx := context.Background()
	s := e.signIn(t, roleRead)
	s.get(t, "/").want(t, 200, ">2 open findings</a>")
	s.get(t, "/").want(t, 200, ">2 open findings</a>")
	if _, err := geo.ImportFeed(ctx, e.store, "partner", "test", strings.NewReader("191.232.0.0/24,BR,BR-SP,Sao Paulo,\n"), geo.ImportOptions{}, e.clock.now()); err != nil {
		t.Fatal(err)
	}
	if err := e.ui.cfg.Geo.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s.get(t, "/").want(t, 200, ">1 open findings</a>")

	load := geo.StoreLoader(e.reg, e.store)
	loads := 0
	engine, err := geo.NewEngine(ctx, func(ctx context.Context) (geo.Inputs, error) {
		in, err := load(ctx)
		if loads++; loads > 1 {
			in.Feeds = nil
		}
		return in, err
	}, e.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	e.ui.cfg.Geo = engine
	s.get(t, "/").want(t, 200, ">1 open findings</a>")
	if err := engine.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	s.get(t, "/").want(t, 200, ">0 open findings</a>")
}
