package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// testKey is the server-side HMAC key of every test server: fixed, so a
// failure reproduces byte for byte.
var testKey = bytes.Repeat([]byte{0x5a}, auth.KeySize)

// clock is the token checker's time; tests move it to make tokens expire.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) set(off time.Duration) {
	c.mu.Lock()
	c.off = off
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for the server's concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exchange is one request and its answer, as the client saw them.
type exchange struct {
	Method string
	Path   string // without query
	Query  string
	Status int
	Header http.Header
	Body   []byte
}

func (x *exchange) String() string {
	q := ""
	if x.Query != "" {
		q = "?" + x.Query
	}
	return fmt.Sprintf("%s %s%s → %d %s", x.Method, x.Path, q, x.Status, truncate(string(x.Body), 400))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// recorder is the client transport: it keeps every exchange so that the
// OpenAPI conformance check can look at all of them at the end of a test.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []*exchange
	off  bool // fuzzing checks inline instead of keeping everything
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if !r.off {
		path := req.URL.Path
		if req.URL.RawPath != "" {
			path = req.URL.RawPath // an escaped slash stays inside its segment (10.0.0.0%2F23)
		}
		r.mu.Lock()
		r.log = append(r.log, &exchange{Method: req.Method, Path: path, Query: req.URL.RawQuery, Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body})
		r.mu.Unlock()
	}
	return resp, nil
}

// env is one in-process server over a fresh SQLite file, seeded with
// regions, pools, tokens of every kind and a few tenants' assignments.
type env struct {
	srv    *httptest.Server
	s      *Server
	store  *sqlite.Store
	reg    *registry.Registry
	tokens *auth.Tokens
	clock  *clock
	logs   *syncBuffer
	rec    *recorder
	client *http.Client
	dbPath string
	ro     *sql.DB

	// tok holds secrets by role: read, allocate, admin, tenant (allocate,
	// bound to acme), foreign (allocate, bound to globex), expired, revoked.
	tok map[string]string
	// ids holds token IDs by the same roles.
	ids map[string]string
	// secrets is every secret issued, for the never-in-the-logs checks.
	secretsMu sync.Mutex
	secrets   []string

	acme     registry.Assignment // live, tenant acme
	acme2    registry.Assignment // live, tenant acme, for the changes the matrix makes
	acmeGone registry.Assignment // released (quarantined), tenant acme
	globex   registry.Assignment // live, tenant globex
	untenant registry.Assignment // live, no tenant
	doc      *openAPIDoc
	regOpts  []registry.Option // for the registry under the server
	dns      *manage.Manager   // zones, records and TSIG keys under the server
}

type envOption func(*env)

// noRecord turns off keeping exchanges (fuzzing makes millions).
func noRecord(e *env) { e.rec.off = true }

var setupCtx = registry.WithActor(context.Background(), "test:setup")

func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	dir := tb.TempDir()
	e := &env{
		clock:  &clock{},
		logs:   &syncBuffer{},
		dbPath: filepath.Join(dir, "cadastre.db"),
		tok:    map[string]string{},
		ids:    map[string]string{},
		rec:    &recorder{base: http.DefaultTransport.(*http.Transport).Clone()},
	}
	for _, o := range opts {
		o(e)
	}
	var err error
	e.store, err = sqlite.Open(context.Background(), sqlitetest.Register(tb, e.dbPath), sqlite.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.store.Close() })
	e.reg = registry.New(e.store, e.regOpts...)
	e.tokens, err = auth.New(e.store, testKey, e.clock.now)
	if err != nil {
		tb.Fatal(err)
	}
	engine, err := geo.NewEngine(context.Background(), geo.StoreLoader(e.reg, e.store), nil)
	if err != nil {
		tb.Fatal(err)
	}
	gctx, stopGeo := context.WithCancel(context.Background())
	tb.Cleanup(stopGeo)
	sealer, err := zone.NewSealer(bytes.Repeat([]byte{0xa5}, zone.SealKeySize))
	if err != nil {
		tb.Fatal(err)
	}
	e.dns = manage.NewManager(e.store, sealer, nil)
	e.s = New(e.reg, e.tokens, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), WithGeo(gctx, engine), WithSources(e.store), WithDNS(e.dns))
	e.srv = httptest.NewServer(e.s)
	tb.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: e.rec, Timeout: 30 * time.Second}
	tb.Cleanup(e.rec.base.(*http.Transport).CloseIdleConnections)

	e.ro, err = sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.ro.Close() })

	e.seed(tb)
	e.doc = loadOpenAPI(tb, e)
	// Every request a test makes must match the OpenAPI document, and no
	// secret may ever reach the logs. Cleanups run last-in first-out, so
	// these run while the server is still up.
	tb.Cleanup(func() {
		e.rec.mu.Lock()
		log := slices.Clone(e.rec.log)
		e.rec.mu.Unlock()
		for _, x := range log {
			for _, problem := range e.doc.conform(x) {
				tb.Errorf("OpenAPI conformance: %s: %s", x, problem)
			}
		}
		logs := e.logs.String()
		e.secretsMu.Lock()
		defer e.secretsMu.Unlock()
		for _, s := range e.secrets {
			if strings.Contains(logs, s) || strings.Contains(logs, secretTail(s)) {
				tb.Errorf("the server log contains the secret of token %s", s[:20])
			}
		}
	})
	return e
}

// secretTail is the random part of a secret (after cad_<id>_).
func secretTail(s string) string {
	if i := strings.LastIndexByte(s, '_'); i >= 0 {
		return s[i+1:]
	}
	return s
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

// issue creates a token directly and remembers its secret.
func (e *env) issue(tb testing.TB, role string, spec auth.Spec) string {
	tb.Helper()
	t, secret, err := e.tokens.Create(setupCtx, spec)
	if err != nil {
		tb.Fatalf("token %s: %v", role, err)
	}
	e.remember(secret)
	if role != "" {
		e.tok[role], e.ids[role] = secret, t.ID
	}
	return secret
}

func (e *env) remember(secret string) {
	e.secretsMu.Lock()
	e.secrets = append(e.secrets, secret)
	e.secretsMu.Unlock()
}

func (e *env) seed(tb testing.TB) {
	tb.Helper()
	ctx := setupCtx
	for _, r := range []registry.RegionSpec{
		{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}},
		{Name: "eu-west", Location: location.Location{Country: "IE", Subdivision: "IE-D", City: "Dublin"}},
		// sa-east has a tiny IPv4 pool, no IPv6 and may not borrow: it is
		// where "no room" happens.
		{Name: "sa-east", Location: location.Location{Country: "BR", Subdivision: "BR-SP"}},
	} {
		must[registry.Region](tb)(e.reg.AddRegion(ctx, r))
	}
	for _, b := range []string{"fd00:cad::/32", "10.0.0.0/16"} {
		must[registry.Block](tb)(e.reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(b), Source: registry.SourcePrivate, Note: "test"}))
	}
	for _, p := range []registry.PoolSpec{
		{Prefix: netip.MustParsePrefix("fd00:cad:1::/48"), Region: "us-east", UseAll: true},
		{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Region: "us-east", UseAll: true},
		{Prefix: netip.MustParsePrefix("fd00:cad:2::/48"), Region: "eu-west", UseAll: true},
		{Prefix: netip.MustParsePrefix("10.0.1.0/30"), Region: "sa-east", UseAll: true},
	} {
		must[registry.Pool](tb)(e.reg.AddPool(ctx, p))
	}
	// Tenants with name suffixes and quotas: acme names under example.com
	// (the names the tests give its assignments), globex under
	// globex.example, each with room for what the tests allocate.
	for _, t := range []registry.TenantSpec{
		{Name: "acme", Names: &[]string{"example.com"}, MaxIPv4: ptr(int64(256)), MaxIPv6: ptr(int64(100000))},
		{Name: "globex", Names: &[]string{"globex.example"}, MaxIPv4: ptr(int64(4)), MaxIPv6: ptr(int64(100000))},
	} {
		must[registry.Tenant](tb)(e.reg.AddTenant(ctx, t))
	}
	alloc := func(tenant string, family int) registry.Assignment {
		as := must[[]registry.Assignment](tb)(e.reg.Allocate(ctx, registry.Request{Region: "us-east", Family: family, Tenant: tenant, Resource: "vm-" + tenant}))
		return as[0]
	}
	e.acme = alloc("acme", 6)
	e.acme2 = alloc("acme", 4)
	e.acmeGone = alloc("acme", 6)
	e.globex = alloc("globex", 6)
	e.untenant = alloc("", 6)
	must[registry.Assignment](tb)(e.reg.Release(ctx, registry.Target{ID: e.acmeGone.ID}, time.Hour, nil))

	e.issue(tb, "read", auth.Spec{Name: "reader", Scope: auth.ScopeRead})
	e.issue(tb, "allocate", auth.Spec{Name: "allocator", Scope: auth.ScopeAllocate})
	e.issue(tb, "admin", auth.Spec{Name: "admin", Scope: auth.ScopeAdmin})
	e.issue(tb, "tenant", auth.Spec{Name: "acme", Scope: auth.ScopeAllocate, Tenant: "acme"})
	e.issue(tb, "foreign", auth.Spec{Name: "globex", Scope: auth.ScopeAllocate, Tenant: "globex"})
	// An expired token: issued two hours ago for one hour.
	e.clock.set(-2 * time.Hour)
	e.issue(tb, "expired", auth.Spec{Name: "expired", Scope: auth.ScopeAdmin, Expires: time.Hour})
	e.clock.set(0)
	e.issue(tb, "revoked", auth.Spec{Name: "revoked", Scope: auth.ScopeAdmin})
	if err := e.tokens.Revoke(ctx, e.ids["revoked"]); err != nil {
		tb.Fatal(err)
	}
}

// req is one HTTP request. Body is sent as is when a string or []byte,
// as JSON otherwise, and not at all when nil.
type req struct {
	Method string
	Path   string // may carry a query
	Token  string // the secret; "" sends no Authorization
	Body   any
	Header map[string]string
}

func (e *env) do(tb testing.TB, r req) *exchange {
	tb.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(r.Method, e.srv.URL+r.Path, body)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.Token)
	}
	for k, v := range r.Header {
		hr.Header.Set(k, v)
	}
	resp, err := e.client.Do(hr)
	if err != nil {
		tb.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &exchange{Method: r.Method, Path: hr.URL.Path, Query: hr.URL.RawQuery, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// decode unmarshals an exchange's body into v.
func decode[T any](tb testing.TB, x *exchange) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(x.Body, &v); err != nil {
		tb.Fatalf("%s: body is not %T: %v", x, v, err)
	}
	return v
}

// snapshot is every table of the database as text, row by row, read
// through a second, read-only connection. The tokens' last-used time is
// left out: checking a token legitimately records it.
type snapshot map[string][]string

func (e *env) snapshot(tb testing.TB) snapshot {
	tb.Helper()
	ctx := context.Background()
	rows, err := e.ro.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 8 {
		tb.Fatalf("only %d tables in the database: %v", len(tables), tables)
	}
	out := snapshot{}
	for _, t := range tables {
		out[t] = e.dumpTable(tb, t, t == "tokens")
	}
	return out
}

// dumpTable returns every row of table as text, ordered by its first
// column; without lastUsed the tokens' last_used_at column is omitted.
func (e *env) dumpTable(tb testing.TB, table string, dropLastUsed bool) []string {
	tb.Helper()
	cols := []string{}
	rows, err := e.ro.Query(`SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			tb.Fatal(err)
		}
		if dropLastUsed && c == "last_used_at" {
			continue
		}
		cols = append(cols, `"`+c+`"`)
	}
	rows.Close()
	rows, err = e.ro.Query(`SELECT ` + strings.Join(cols, ", ") + ` FROM "` + table + `" ORDER BY 1`)
	if err != nil {
		tb.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		var sb strings.Builder
		for i, v := range vals {
			if i > 0 {
				sb.WriteString(" | ")
			}
			switch v := v.(type) {
			case []byte:
				sb.WriteString("x'" + hex.EncodeToString(v) + "' " + fmt.Sprintf("%q", v))
			default:
				fmt.Fprintf(&sb, "%#v", v)
			}
		}
		out = append(out, sb.String())
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// diff describes how b differs from a, or "" when they are equal.
func (a snapshot) diff(b snapshot) string {
	var out []string
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	keys := make([]string, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for _, n := range keys {
		ra, rb := a[n], b[n]
		if slices.Equal(ra, rb) {
			continue
		}
		in := func(s string, l []string) bool { return slices.Contains(l, s) }
		for _, r := range ra {
			if !in(r, rb) {
				out = append(out, fmt.Sprintf("%s: - %s", n, truncate(r, 300)))
			}
		}
		for _, r := range rb {
			if !in(r, ra) {
				out = append(out, fmt.Sprintf("%s: + %s", n, truncate(r, 300)))
			}
		}
		if len(out) == 0 {
			out = append(out, n+": rows reordered")
		}
	}
	return strings.Join(out, "\n")
}

// problemDoc is an RFC 9457 problem document as the server writes it.
type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// checkProblem asserts that x is an RFC 9457 problem with status want.
func checkProblem(tb testing.TB, x *exchange, want int) problemDoc {
	tb.Helper()
	if x.Status != want {
		tb.Errorf("%s: status %d, want %d", x, x.Status, want)
	}
	if x.Status >= 500 {
		tb.Errorf("%s: a server error for bad input", x)
	}
	if ct := x.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("%s: Content-Type %q, want application/problem+json", x, ct)
	}
	var p problemDoc
	if err := json.Unmarshal(x.Body, &p); err != nil {
		tb.Errorf("%s: not a problem document: %v", x, err)
		return p
	}
	if p.Status != x.Status {
		tb.Errorf("%s: problem status %d differs from the HTTP status", x, p.Status)
	}
	if p.Title == "" || p.Detail == "" {
		tb.Errorf("%s: problem without title or detail", x)
	}
	return p
}
