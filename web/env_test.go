package web

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// env is a UI over a small register in a SQLite file, served by httptest
// on loopback, with one token per kind of visitor.
type env struct {
	reg    *registry.Registry
	store  *sqlite.Store
	tokens *auth.Tokens
	ui     *Server
	srv    *httptest.Server
	clock  *clock
	tok    map[string]string // secret by role
	ids    map[string]string // token ID by role
	logs   *syncBuffer

	acme, globex, untenanted registry.Assignment
}

type clock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.d += d
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var testKey = bytes.Repeat([]byte{7}, auth.KeySize)

// Roles of the seeded tokens.
const (
	roleRead     = "read"
	roleAllocate = "allocate"
	roleAdmin    = "admin"
	roleAcme     = "acme"   // allocate scope, bound to tenant acme
	roleGlobex   = "globex" // allocate scope, bound to tenant globex
)

// Markup is the text seeded into names and notes: every page must show it
// escaped, never as markup.
const markup = `<script>alert(1)</script><b onmouseover=x>`

func newEnv(tb testing.TB) *env {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(tb, "cadastre.db"), sqlite.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	e := &env{store: st, clock: &clock{}, tok: map[string]string{}, ids: map[string]string{}, logs: &syncBuffer{}}
	e.reg = registry.New(st, registry.WithClock(e.clock.now))
	e.tokens, err = auth.New(st, testKey, e.clock.now)
	if err != nil {
		tb.Fatal(err)
	}
	e.ui, err = New(Config{Registry: e.reg, Tokens: e.tokens, Now: e.clock.now,
		Log: slog.New(slog.NewJSONHandler(e.logs, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	e.srv = httptest.NewServer(e.ui)
	tb.Cleanup(e.srv.Close)
	e.seed(tb)
	return e
}

func must[T any](tb testing.TB) func(T, error) T {
	return func(v T, err error) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func ptr[T any](v T) *T { return &v }

func (e *env) seed(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	for _, r := range []registry.RegionSpec{
		{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}, Borrow: registry.BorrowPolicy{Any: true}},
		{Name: "brazil-south", Location: location.Location{Country: "BR", Subdivision: "BR-SP"}},
	} {
		must[registry.Region](tb)(e.reg.AddRegion(ctx, r))
	}
	must[registry.Block](tb)(e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("191.232.0.0/16"), Source: registry.SourceRIR,
		Registry: "lacnic", RegisteredCountry: "BR", Note: markup}))
	must[registry.Block](tb)(e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("2603:1030::/32"), Source: registry.SourceRIR, Registry: "arin"}))
	for _, p := range []registry.PoolSpec{
		{Prefix: netip.MustParsePrefix("191.232.0.0/24"), Region: "us-east"},
		{Prefix: netip.MustParsePrefix("191.232.8.0/22"), Region: "brazil-south"},
		{Prefix: netip.MustParsePrefix("2603:1030::/48"), Region: "us-east"},
	} {
		must[registry.Pool](tb)(e.reg.AddPool(ctx, p))
	}
	for _, t := range []registry.TenantSpec{
		{Name: "acme", Names: &[]string{"acme.example"}, MaxIPv4: ptr(int64(64))},
		{Name: "globex", Names: &[]string{"globex.example"}},
	} {
		must[registry.Tenant](tb)(e.reg.AddTenant(ctx, t))
	}
	alloc := func(q registry.Request) registry.Assignment {
		return must[[]registry.Assignment](tb)(e.reg.Allocate(ctx, q))[0]
	}
	e.acme = alloc(registry.Request{Region: "us-east", Family: 4, Tenant: "acme", Resource: "vm-" + markup, Name: "web.acme.example"})
	e.globex = alloc(registry.Request{Region: "us-east", Family: 4, Tenant: "globex", Resource: "db-1", Name: "db.globex.example"})
	e.untenanted = alloc(registry.Request{Region: "us-east", Family: 6, Resource: "router"})

	issue := func(role string, s auth.Spec) {
		t, secret, err := e.tokens.Create(ctx, s)
		if err != nil {
			tb.Fatal(err)
		}
		e.tok[role], e.ids[role] = secret, t.ID
	}
	issue(roleRead, auth.Spec{Name: "reader", Scope: auth.ScopeRead})
	issue(roleAllocate, auth.Spec{Name: "allocator", Scope: auth.ScopeAllocate})
	issue(roleAdmin, auth.Spec{Name: "admin", Scope: auth.ScopeAdmin})
	issue(roleAcme, auth.Spec{Name: "acme-ops", Scope: auth.ScopeAllocate, Tenant: "acme"})
	issue(roleGlobex, auth.Spec{Name: "globex-ops", Scope: auth.ScopeAllocate, Tenant: "globex"})
}

// browser is a cookie-keeping client of the env's server that remembers
// the CSRF token of the last page it read.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

// page is one response.
type page struct {
	Status int
	Header http.Header
	Body   string
	URL    string
}

// visitor returns a browser that is not signed in.
func (e *env) visitor(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	tb.Cleanup(b.c.CloseIdleConnections)
	return b
}

// signIn returns a browser signed in with role's token through the form.
func (e *env) signIn(tb testing.TB, role string) *browser {
	tb.Helper()
	b := e.visitor(tb)
	b.get(tb, "/signin")
	p := b.post(tb, "/signin", url.Values{"token": {e.tok[role]}})
	if p.Status != http.StatusSeeOther {
		tb.Fatalf("sign in as %s: %d\n%s", role, p.Status, p.Body)
	}
	b.get(tb, "/") // picks up the session's CSRF token
	return b
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(tb testing.TB, req *http.Request) page {
	tb.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL.Path}
}

// get fetches path.
func (b *browser) get(tb testing.TB, path string) page {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b.do(tb, req)
}

// post submits form to path with the CSRF token of the last page read
// (unless form sets csrf itself).
func (b *browser) post(tb testing.TB, path string, form url.Values) page {
	tb.Helper()
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(tb, req)
}

// want fails unless p has status and every one of texts.
func (p page) want(tb testing.TB, status int, texts ...string) {
	tb.Helper()
	if p.Status != status {
		tb.Errorf("%s: status %d, want %d\n%s", p.URL, p.Status, status, truncate(p.Body, 3000))
		return
	}
	for _, t := range texts {
		if !strings.Contains(p.Body, t) {
			tb.Errorf("%s: no %q in\n%s", p.URL, t, truncate(p.Body, 3000))
		}
	}
}

// wantNot fails if p has any of texts.
func (p page) wantNot(tb testing.TB, texts ...string) {
	tb.Helper()
	for _, t := range texts {
		if strings.Contains(p.Body, t) {
			tb.Errorf("%s: %q must not appear in\n%s", p.URL, t, truncate(p.Body, 3000))
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func authSpec(name string, expires time.Duration) auth.Spec {
	return auth.Spec{Name: name, Scope: auth.ScopeRead, Expires: expires}
}
