package browsertest

import (
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// pages are the test server's pages: each rule of the harness gets a page
// that obeys it or breaks it.
var pages = map[string]string{
	"/": `<!doctype html><html lang="en"><head><title>Clean</title>
<link rel="stylesheet" href="/style.css"></head>
<body><main><h1>Clean page</h1>
<form method="post" action="/posted"><label for="n">Name</label><input id="n" name="n">
<button type="submit" id="go">Send</button></form></main></body></html>`,
	"/style.css": `body { font-family: sans-serif; color: #111; background: #fff }`,
	"/foreign": `<!doctype html><html lang="en"><head><title>Foreign</title>
<link rel="stylesheet" href="http://cdn.example.invalid/style.css"></head>
<body><main><h1>Loads from another host</h1></main></body></html>`,
	"/inaccessible": `<!doctype html><html lang="en"><head><title>Inaccessible</title></head>
<body><main><h1>Broken</h1><img src="/pixel.gif"><button></button></main></body></html>`,
	"/csp": `<!doctype html><html lang="en"><head><title>CSP</title></head>
<body><main><h1>Strict policy</h1><script>document.title = "inline ran"</script></main></body></html>`,
}

func server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Posted</title></head><body><main><h1 id="got">%s</h1></main></body></html>`,
				strings.ReplaceAll(r.FormValue("n"), "<", "&lt;"))
			return
		}
		body, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/csp" {
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'")
		}
		if strings.HasSuffix(r.URL.Path, ".css") {
			w.Header().Set("Content-Type", "text/css")
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBrowserLoadsPagesFillsFormsAndRecordsRequests(t *testing.T) {
	srv := server(t)
	b := New(t, srv.URL)
	b.Open(t, "/")
	if got := b.Text(t, "h1"); got != "Clean page" {
		t.Errorf("h1 = %q", got)
	}
	if n := b.Count(t, "input"); n != 1 {
		t.Errorf("Count(input) = %d, want 1", n)
	}
	b.SetValue(t, "#n", "<b>x</b>")
	if st := b.Submit(t, "#go"); st != 200 {
		t.Errorf("submit: status %d", st)
	}
	if got := b.Text(t, "#got"); got != "<b>x</b>" {
		t.Errorf("posted value = %q", got)
	}
	if st := b.Navigate(t, "/missing"); st != 404 {
		t.Errorf("Navigate(/missing) = %d, want 404", st)
	}
	var urls []string
	for _, r := range b.Requests() {
		urls = append(urls, r.Method+" "+strings.TrimPrefix(r.URL, srv.URL))
	}
	for _, want := range []string{"GET /", "GET /style.css", "POST /posted", "GET /missing"} {
		if !slices.Contains(urls, want) {
			t.Errorf("requests %q lack %q", urls, want)
		}
	}
}

// recorder is a testing.TB that records errors instead of failing, to
// check that the harness reports what it must.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestRequestToAnotherHostFailsTheTest(t *testing.T) {
	srv := server(t)
	rec := &recorder{TB: t}
	// Registered first, so it runs after the browser's own cleanup, which
	// reports what was not reported yet.
	t.Cleanup(func() {
		if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "cdn.example.invalid/style.css") {
			t.Errorf("errors = %q, want one naming cdn.example.invalid/style.css", rec.errors)
		}
	})
	b := New(rec, srv.URL)
	b.Open(rec, "/foreign")
	var foreign []Request
	for _, r := range b.Requests() {
		if Foreign(r) {
			foreign = append(foreign, r)
		}
	}
	if len(foreign) != 1 || foreign[0].Failed == "" {
		t.Errorf("foreign requests = %+v, want one that failed (no name resolves)", foreign)
	}
}

func TestForeignKnowsLoopbackAndHostlessURLs(t *testing.T) {
	for url, want := range map[string]bool{
		"http://127.0.0.1:8080/x":  false,
		"http://[::1]:8080/x":      false,
		"http://localhost/x":       false,
		"data:image/png;base64,AA": false,
		"about:blank":              false,
		"http://192.0.2.1/x":       true,
		"https://cdn.example/x.js": true,
		"ws://example.invalid/x":   true,
	} {
		if got := Foreign(Request{URL: url}); got != want {
			t.Errorf("Foreign(%s) = %v, want %v", url, got, want)
		}
	}
}

func TestAxeFindsViolationsAndPassesCleanPages(t *testing.T) {
	srv := server(t)
	b := New(t, srv.URL)
	b.Open(t, "/")
	b.CheckAccessibility(t, AxeOptions{})

	b.Open(t, "/inaccessible")
	vs := b.Axe(t, AxeOptions{})
	ids := IDs(vs)
	for _, want := range []string{"button-name", "image-alt"} {
		if !slices.Contains(ids, want) {
			t.Errorf("violations %q lack %s", ids, want)
		}
	}
	for _, v := range vs {
		if v.ID == "image-alt" && !v.Serious() {
			t.Errorf("image-alt impact %q, want serious or critical", v.Impact)
		}
	}
	// Excluding the offending elements and disabling a rule narrow the run.
	vs = b.Axe(t, AxeOptions{Exclude: []string{"img"}, DisableRules: []string{"button-name"}})
	if ids := IDs(vs); slices.Contains(ids, "image-alt") || slices.Contains(ids, "button-name") {
		t.Errorf("narrowed run still reports %q", ids)
	}
}

func TestAxeRunsUnderAStrictContentSecurityPolicy(t *testing.T) {
	srv := server(t)
	b := New(t, srv.URL)
	b.Open(t, "/csp")
	if title := Eval[string](t, b, "document.title"); title != "CSP" {
		t.Errorf("inline script ran under script-src 'self': title %q", title)
	}
	var blocked bool
	for _, m := range b.Messages() {
		blocked = blocked || strings.Contains(m.Text, "Content Security Policy")
	}
	if !blocked {
		t.Errorf("no CSP violation among the messages %+v", b.Messages())
	}
	b.CheckAccessibility(t, AxeOptions{})
}

func TestScreenshotIsTheViewport(t *testing.T) {
	srv := server(t)
	b := New(t, srv.URL)
	b.Open(t, "/")
	path := b.Screenshot(t, "browsertest-clean")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if cfg.Width != Width || cfg.Height != Height {
		t.Errorf("screenshot %dx%d, want %dx%d", cfg.Width, cfg.Height, Width, Height)
	}
}
