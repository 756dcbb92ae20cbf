// Package browsertest drives a real headless Chromium (Debian's chromium)
// from a Go test, for the browser tests of the web UI and the API's docs
// page. A Browser is one Chromium process and one tab for one test: it
// records every network request the page makes and fails the test if one
// goes to a host other than the loopback test server, it runs axe-core in
// the page and fails on serious or critical accessibility violations, and
// it saves 1280x900 screenshots into .cache/screenshots (a git-ignored
// build artefact folder) for a person to look at.
//
// It holds no pages and no server: the test starts its own httptest server
// and hands its URL to New. scripts/setup installs chromium and fetches
// axe-core (scripts/fetch-axe); when either is missing the test skips on a
// developer's machine and fails under CI (internal/testenv).
//
// Every method takes the testing.TB it reports to, so one Browser serves
// the subtests of the test that made it; the subtests of one Browser must
// not run in parallel (they share one tab).
package browsertest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cadastre-ipam/cadastre/internal/testenv"
)

// Width and Height are the size of the browser's viewport, and so of every
// screenshot: a common laptop screen.
const (
	Width  = 1280
	Height = 900
)

// stepTimeout bounds one step (a navigation, a click, an axe run): a hung
// page fails the test in a minute instead of hanging it until go test's
// own timeout. It is generous because up to eight test processes share two
// cores.
const stepTimeout = 60 * time.Second

// Request is one network request the page made, as the browser reported it.
type Request struct {
	URL    string // the request's URL, without its fragment
	Method string // GET, POST, ...
	Type   string // the resource type: Document, Script, Stylesheet, Image, Fetch, WebSocket, ...
	Status int64  // the HTTP status of the response, 0 if none arrived (yet)
	Failed string // why the request failed (blocked by CSP, refused), "" if it did not
}

// Message is a console message, a log entry or an uncaught exception of the
// page at level error or warning (CSP violations arrive this way).
type Message struct {
	Level string // "error" or "warning"
	Text  string
	URL   string // the resource it concerns, if the browser said
}

// Browser is a headless Chromium with one tab, started for one test by New
// and stopped when the test ends.
type Browser struct {
	base *url.URL
	ctx  context.Context // the tab's chromedp context

	mu       sync.Mutex
	requests []Request
	byID     map[network.RequestID]int // index into requests
	messages []Message
	reported int // requests[:reported] have been checked for foreign hosts
}

// New starts Chromium for t with a fresh profile in t.TempDir and stops it
// when t ends. base is the test server's URL (httptest.Server.URL): paths
// given to Open and Navigate are relative to it, and every request the page
// makes must go to a loopback address (127.0.0.1, ::1 or localhost): any
// other host fails t, checked after every step and when the test ends.
func New(t testing.TB, base string) *Browser {
	t.Helper()
	exe := testenv.Program(t, "chromium", "chromium")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		t.Fatalf("browsertest.New: base %q is not an absolute URL", base)
	}
	if !loopback(u.Hostname()) {
		t.Fatalf("browsertest.New: base %q is not on a loopback address (the test server listens on 127.0.0.1 or ::1)", base)
	}
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(Width, Height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("password-store", "basic"),
		// No name is ever looked up: a page that names another host gets a
		// resolver error instead of a query leaving the machine (the
		// request is still recorded, and fails the test).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{base: u, byID: map[network.RequestID]int{}}
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(b.record))
	b.ctx = ctx
	t.Cleanup(func() {
		// Close the browser politely, then make sure the process is gone
		// (cancelAlloc waits for it) before t.TempDir removes the profile.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = chromedp.Cancel(ctx)
		}()
		select {
		case <-done:
		case <-cctx.Done():
		}
		cancelTab()
		cancelAlloc()
		b.checkRequests(t)
	})
	// The first Run starts the browser; it must not carry a timeout (that
	// would stop the browser), so a watchdog bounds it instead.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Do(ctx, chromedp.EmulateViewport(Width, Height))
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browsertest: starting %s: %v", exe, err)
		}
	case <-time.After(2 * stepTimeout):
		t.Fatalf("browsertest: %s did not start within %v", exe, 2*stepTimeout)
	}
	return b
}

// record is the tab's event listener: it runs on the goroutine that reads
// the browser's messages, so it only appends under the lock.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		if i, ok := b.byID[ev.RequestID]; ok && ev.RedirectResponse != nil {
			// A redirect reuses the request's ID: the first hop ends with
			// the redirect's status, the next hop is a request of its own.
			b.requests[i].Status = ev.RedirectResponse.Status
		}
		b.byID[ev.RequestID] = len(b.requests)
		b.requests = append(b.requests, Request{
			URL: ev.Request.URL, Method: ev.Request.Method, Type: string(ev.Type),
		})
	case *network.EventWebSocketCreated:
		b.byID[ev.RequestID] = len(b.requests)
		b.requests = append(b.requests, Request{URL: ev.URL, Method: "GET", Type: "WebSocket"})
	case *network.EventResponseReceived:
		if i, ok := b.byID[ev.RequestID]; ok && ev.Response != nil {
			b.requests[i].Status = ev.Response.Status
		}
	case *network.EventLoadingFailed:
		if i, ok := b.byID[ev.RequestID]; ok {
			reason := ev.ErrorText
			if ev.BlockedReason != "" {
				reason += " (blocked: " + string(ev.BlockedReason) + ")"
			}
			b.requests[i].Failed = reason
		}
	case *log.EventEntryAdded:
		if e := ev.Entry; e != nil && (e.Level == log.EntryLevelError || e.Level == log.EntryLevelWarning) {
			b.messages = append(b.messages, Message{Level: string(e.Level), Text: e.Text, URL: e.URL})
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			var parts []string
			for _, a := range ev.Args {
				if a.Value != nil {
					parts = append(parts, strings.Trim(string(a.Value), `"`))
				} else {
					parts = append(parts, a.Description)
				}
			}
			level := "error"
			if ev.Type == runtime.ConsoleAPICalledTypeWarning {
				level = "warning"
			}
			b.messages = append(b.messages, Message{Level: level, Text: strings.Join(parts, " ")})
		}
	case *runtime.EventExceptionThrown:
		if d := ev.ExceptionDetails; d != nil {
			text := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				text += " " + d.Exception.Description
			}
			b.messages = append(b.messages, Message{Level: "error", Text: text, URL: d.URL})
		}
	}
}

// Requests is every network request the page made so far, in order.
func (b *Browser) Requests() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Request(nil), b.requests...)
}

// Messages is every error or warning the page logged so far (console,
// uncaught exceptions, CSP violations), in order.
func (b *Browser) Messages() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// Foreign reports whether the request goes to a host other than the
// loopback test server. data:, blob: and about: URLs name no host.
func Foreign(r Request) bool {
	u, err := url.Parse(r.URL)
	if err != nil {
		return true
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return false
	}
	return !loopback(u.Hostname())
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkRequests fails t for each request to a foreign host made since the
// last check.
func (b *Browser) checkRequests(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	fresh := append([]Request(nil), b.requests[b.reported:]...)
	b.reported = len(b.requests)
	b.mu.Unlock()
	for _, r := range fresh {
		if Foreign(r) {
			t.Errorf("browsertest: the page made a request to another host: %s %s (%s): every asset must be served by the test server", r.Method, r.URL, r.Type)
		}
	}
}

// URL is the absolute URL of path on the test server (path may also be an
// absolute URL, returned as it is).
func (b *Browser) URL(path string) string {
	ref, err := url.Parse(path)
	if err != nil {
		return path
	}
	return b.base.ResolveReference(ref).String()
}

// Context is the tab's chromedp context, for steps the helpers below do not
// cover: chromedp.Run(b.Context(), ...). Requests made that way are still
// recorded and checked when the test ends.
func (b *Browser) Context() context.Context { return b.ctx }

// Run runs chromedp actions in the tab with the step timeout, failing t if
// one fails, and then checks the requests they caused.
func (b *Browser) Run(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	b.checkRequests(t)
}

// Navigate loads path (relative to the test server) in the tab, waits for
// the page's load event and returns the HTTP status of the document. It
// fails t only if the page could not be loaded at all.
func (b *Browser) Navigate(t testing.TB, path string) int {
	t.Helper()
	return b.load(t, "navigate to "+path, chromedp.Navigate(b.URL(path)))
}

// Open is Navigate for a page that must answer 200 OK.
func (b *Browser) Open(t testing.TB, path string) {
	t.Helper()
	if st := b.Navigate(t, path); st != 200 {
		t.Fatalf("browsertest: GET %s: status %d, want 200", path, st)
	}
}

// Submit clicks the element sel (a CSS selector: a submit button, a link),
// waits for the navigation it causes to load and returns the HTTP status of
// the new document.
func (b *Browser) Submit(t testing.TB, sel string) int {
	t.Helper()
	return b.load(t, "click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

func (b *Browser) load(t testing.TB, what string, step chromedp.Action[chromedp.Void]) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, step)
	b.checkRequests(t)
	if err != nil {
		t.Fatalf("browsertest: %s: %v", what, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// SetValue sets the value of the form field sel (a CSS selector).
func (b *Browser) SetValue(t testing.TB, sel, value string) {
	t.Helper()
	b.Run(t, chromedp.SetValue(chromedp.CSS(sel), value, chromedp.NodeReady))
}

// Click clicks the element sel without waiting for a navigation (use
// Submit when the click loads a new page).
func (b *Browser) Click(t testing.TB, sel string) {
	t.Helper()
	b.Run(t, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// WaitVisible waits until the element sel is shown: for what scripts
// render after the load event.
func (b *Browser) WaitVisible(t testing.TB, sel string) {
	t.Helper()
	b.Run(t, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Text is the rendered text of the first element sel (waiting for it to
// exist).
func (b *Browser) Text(t testing.TB, sel string) string {
	t.Helper()
	return run(t, b, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
}

// HTML is the outer HTML of the first element sel, as the DOM holds it now.
func (b *Browser) HTML(t testing.TB, sel string) string {
	t.Helper()
	return run(t, b, chromedp.OuterHTML(chromedp.CSS(sel), chromedp.NodeReady))
}

// Count is the number of elements that match sel now (0 if none; it does
// not wait).
func (b *Browser) Count(t testing.TB, sel string) int {
	t.Helper()
	return Eval[int](t, b, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// Location is the URL of the page the tab shows.
func (b *Browser) Location(t testing.TB) string {
	t.Helper()
	return run(t, b, chromedp.Location())
}

// Cookies is the browser's cookies for the test server.
func (b *Browser) Cookies(t testing.TB) []*network.Cookie {
	t.Helper()
	return run(t, b, chromedp.Action[[]*network.Cookie](func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base.String()}})
		return r.Cookies, err
	}))
}

// Eval evaluates a JavaScript expression in the page and decodes its
// JSON value into T. A promise is awaited. It runs through the DevTools
// protocol, so the page's Content-Security-Policy does not stop it.
func Eval[T any](t testing.TB, b *Browser, expr string) T {
	t.Helper()
	return run(t, b, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

func run[T any](t testing.TB, b *Browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	b.checkRequests(t)
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	return v
}

// Screenshot saves what the viewport (1280x900) shows as
// .cache/screenshots/NAME.png at the module's root and returns the file's
// path. name must be a plain file name without extension.
func (b *Browser) Screenshot(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		t.Fatalf("browsertest: screenshot name %q: want a plain file name", name)
	}
	png := run(t, b, chromedp.CaptureScreenshot())
	dir := filepath.Join(testenv.ModuleRoot(t), ".cache", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("browsertest: screenshot: %v", err)
	}
	t.Logf("browsertest: screenshot %s", path)
	return path
}
