package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// testLimits are short enough for a test to watch them act.
func testLimits() Limits {
	return Limits{
		ReadHeader:        300 * time.Millisecond,
		ReadBody:          300 * time.Millisecond,
		Write:             5 * time.Second,
		Idle:              300 * time.Millisecond,
		MaxHeaderBytes:    8 << 10,
		MaxConnsPerClient: 4,
	}
}

// serveLimited serves h on a loopback port of its own with limits l, as
// `cadastre serve` does, and returns the address.
func serveLimited(tb testing.TB, h http.Handler, l Limits) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := l.HTTPServer(h)
	go hs.Serve(LimitConns(ln, l.MaxConnsPerClient))
	tb.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src (any 127/8
// address is this machine), so that a test can play several clients.
func dialFrom(tb testing.TB, src, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it and fails the test if
// that takes longer than limit. It returns what was read.
func closedWithin(tb testing.TB, c net.Conn, limit time.Duration, what string) string {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		tb.Errorf("%s: the connection is still open after %s (read %q)", what, limit, truncate(string(b), 200))
	}
	return string(b)
}

// honest checks that a well-behaved client from src is served at once.
func honest(tb testing.TB, src, addr string) {
	tb.Helper()
	c := dialFrom(tb, src, addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		tb.Fatalf("an honest client from %s: %v", src, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("an honest client from %s: %s", src, resp.Status)
	}
}

// TestSlowClientsLoseTheirConnection: a client that stalls in its headers,
// in a body (on a route that reads none, on one that does), or sits idle
// loses its connection within the deadline, while others are served.
func TestSlowClientsLoseTheirConnection(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	addr := serveLimited(t, e.s, l)
	for _, tc := range []struct {
		name string
		send string // what the slow client sends before it stalls
		want string // in what it read before the close ("" for nothing in particular)
	}{
		{"headers that never end are cut after the header deadline", "GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: ", ""},
		{"a body that never comes on /livez is not waited for", "GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b", "200 OK"},
		{"a body that never comes on an authenticated route is cut after the body deadline",
			"POST /v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.tok["allocate"] + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"region\":", ""},
		{"a body without a token is refused before it is read",
			"POST /v1/assignments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"region\":", "401 Unauthorized"},
		{"an idle keep-alive connection is closed after the idle deadline", "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.2", addr)
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			honest(t, "127.0.0.3", addr)
			got := closedWithin(t, c, 10*time.Second, tc.name)
			if !strings.Contains(got, tc.want) {
				t.Errorf("read %q, want it to hold %q", truncate(got, 300), tc.want)
			}
		})
	}
}

// TestBodyDeadlineEndsWithTheBody: once its body has arrived, a request
// may take longer than the body deadline to handle (up to the write
// deadline); the body deadline does not cancel it.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	l := testLimits()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(3 * l.ReadBody):
			io.WriteString(w, "done")
		}
	})
	addr := serveLimited(t, h, l)
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("a body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Errorf("a handler still working after the body deadline: %s %q", resp.Status, b)
	}
}

// TestBodyIsNotReadBeforeAuthentication: a request with a body and no
// valid token is answered 401 at once and its connection closed, without
// waiting for the body, whatever the body deadline.
func TestBodyIsNotReadBeforeAuthentication(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	l.ReadBody = time.Hour
	addr := serveLimited(t, e.s, l)
	for _, tc := range []struct{ name, auth string }{
		{"no token", ""},
		{"a wrong token", "Authorization: Bearer cad_" + e.ids["admin"] + "_notthesecretatall23\r\n"},
		{"a malformed token", "Authorization: Bearer nonsense\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.2", addr)
			fmt.Fprintf(c, "POST /v1/regions HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", tc.auth)
			got := closedWithin(t, c, 10*time.Second, tc.name)
			if !strings.HasPrefix(got, "HTTP/1.1 401") || !strings.Contains(got, "application/problem+json") {
				t.Errorf("want a 401 problem, read %q", truncate(got, 300))
			}
		})
	}
	e.remember("cad_" + e.ids["admin"] + "_notthesecretatall23")
}

// TestTooManyConnectionsFromOneClient: past MaxConnsPerClient, a client's
// next connection is closed at once; other clients are still served, and
// the client may connect again once it closes one.
func TestTooManyConnectionsFromOneClient(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	l.ReadHeader, l.Idle = time.Minute, time.Minute // the held connections must not time out
	addr := serveLimited(t, e.s, l)
	var held []net.Conn
	for range l.MaxConnsPerClient {
		c := dialFrom(t, "127.0.0.2", addr)
		fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	extra := dialFrom(t, "127.0.0.2", addr)
	fmt.Fprintf(extra, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
	if got := closedWithin(t, extra, 5*time.Second, "one connection too many"); got != "" {
		t.Errorf("one connection too many was answered: %q", truncate(got, 200))
	}
	honest(t, "127.0.0.3", addr)
	held[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.2", addr)
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a connection the client still cannot connect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTrustedProxiesHaveNoConnectionCap: a trusted proxy carries many
// clients' connections, so the per-client cap does not apply to it.
func TestTrustedProxiesHaveNoConnectionCap(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	l.ReadHeader, l.Idle = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := l.HTTPServer(e.s)
	go hs.Serve(LimitConns(ln, l.MaxConnsPerClient, netip.MustParsePrefix("127.0.0.2/32")))
	t.Cleanup(func() { hs.Close() })
	for i := range 2 * l.MaxConnsPerClient {
		c := dialFrom(t, "127.0.0.2", ln.Addr().String())
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d from the trusted proxy: %v", i+1, err)
		}
		resp.Body.Close()
	}
}

// TestHeadersOverTheCapAreRefused: headers larger than MaxHeaderBytes get
// 431 and no handler runs.
func TestHeadersOverTheCapAreRefused(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	addr := serveLimited(t, e.s, l)
	c := dialFrom(t, "127.0.0.2", addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 4*l.MaxHeaderBytes))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of %d bytes: %s, want 431", 4*l.MaxHeaderBytes, resp.Status)
	}
}

// TestClientAddressBehindTrustedProxies: X-Forwarded-For is read only from
// a trusted proxy, and then the client is its right-most untrusted address.
func TestClientAddressBehindTrustedProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string
		want    string
	}{
		{"without trusted proxies the header is ignored", nil, "10.1.1.1:5", []string{"203.0.113.9"}, "10.1.1.1"},
		{"a peer that is not a trusted proxy is the client", proxies, "192.0.2.1:5", []string{"203.0.113.9"}, "192.0.2.1"},
		{"behind a trusted proxy the forwarded address is the client", proxies, "10.1.1.1:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"the right-most untrusted address wins over what the client wrote", proxies, "10.1.1.1:5", []string{"198.51.100.66, 203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"several headers are one list", proxies, "[::1]:5", []string{"198.51.100.66", "203.0.113.9"}, "203.0.113.9"},
		{"garbage stops the walk at the last trusted hop", proxies, "10.1.1.1:5", []string{"203.0.113.9, not-an-ip"}, "10.1.1.1"},
		{"only trusted hops: the left-most of them", proxies, "10.1.1.1:5", []string{"10.3.3.3"}, "10.3.3.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{proxies: tc.trusted}
			r := httptest.NewRequest("GET", "/livez", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddr(r); got != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
}

// TestStorageErrorWhileCheckingTokenIs503: when the store cannot be read,
// a token check answers 503 with Retry-After, never 401, and no failure is
// counted against the client.
func TestStorageErrorWhileCheckingTokenIs503(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	for _, tc := range []struct{ name, token string }{
		{"a valid token", e.tok["admin"]},
		{"a token of an ID that exists, wrong secret", "cad_" + e.ids["admin"] + "_notthesecretatall23"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 25 {
				x := e.do(t, req{Method: "GET", Path: "/v1/regions", Token: tc.token})
				if x.Status != http.StatusServiceUnavailable || x.Header.Get("Retry-After") == "" || !strings.Contains(string(x.Body), problem.Storage) {
					t.Fatalf("%s: want 503 with Retry-After, a problem of type %s", x, problem.Storage)
				}
			}
		})
	}
	e.remember("cad_" + e.ids["admin"] + "_notthesecretatall23")
	e.s.limiter.mu.Lock()
	defer e.s.limiter.mu.Unlock()
	if n := len(e.s.limiter.clients); n != 0 {
		t.Errorf("%d clients counted as failing after storage errors, want none", n)
	}
}

// TestStorageErrorWhileCheckingTokenIs503OnPostgreSQL: the same with a
// PostgreSQL register whose schema was dropped under the server.
func TestStorageErrorWhileCheckingTokenIs503OnPostgreSQL(t *testing.T) {
	dsn := pgtest.FreshSchema(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tokens, err := auth.New(st, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := tokens.Create(setupCtx, auth.Spec{Name: "admin", Scope: auth.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	s := New(registry.New(st), tokens, slog.New(slog.NewTextHandler(io.Discard, nil)))
	u, _ := url.Parse(dsn)
	schema := u.Query().Get("search_path")
	conn, err := pgx.Connect(ctx, pgtest.BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	for range 25 {
		r := httptest.NewRequest("GET", "/v1/regions", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Fatalf("with the schema dropped: %d %s, want 503 with Retry-After", w.Code, w.Body)
		}
	}
	if n := len(s.limiter.clients); n != 0 {
		t.Errorf("%d clients counted as failing after storage errors, want none", n)
	}
}

// TestDuplicateJSONKeysRefused: a body that names a key twice, in any
// case, is refused with 400 naming the key, and nothing is stored.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	e := newEnv(t)
	before := e.snapshot(t)
	for _, tc := range []struct {
		name, path, body, key string
	}{
		{"the same key twice", "/v1/regions", `{"name":"ap-south","country":"IN","name":"ap-east"}`, `"name"`},
		{"a case variant of a key", "/v1/regions", `{"name":"ap-south","country":"IN","Country":"US"}`, `"Country"`},
		{"a key twice inside a list item", "/v1/assignments", `[{"region":"us-east"},{"region":"us-east","region":"eu-west"}]`, `"region"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.do(t, req{Method: "POST", Path: tc.path, Token: e.tok["admin"], Body: tc.body})
			p := checkProblem(t, x, http.StatusBadRequest)
			b, _ := json.Marshal(p)
			if !strings.Contains(string(b), "duplicate key") || !strings.Contains(string(b), strings.Trim(tc.key, `"`)) {
				t.Errorf("%s: the problem does not name the duplicate key %s", x, tc.key)
			}
		})
	}
	if d := before.diff(e.snapshot(t)); d != "" {
		t.Errorf("refused bodies changed the register:\n%s", d)
	}
}

// TestLinkKeepsEveryFilter: the rel=next link of each paged list carries
// every filter of the request, so following it stays within them.
func TestLinkKeepsEveryFilter(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Family: 6, Tenant: "acme", Resource: "vm"}))
		must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Family: 6, Tenant: "globex", Resource: "vm"}))
	}
	for _, tc := range []struct {
		name  string
		path  string
		check func(t *testing.T, body []byte)
	}{
		{"assignments keep region, tenant, family, state and within",
			"/v1/assignments?region=us-east&tenant=acme&family=6&state=assigned&within=fd00:cad::/32&limit=1",
			func(t *testing.T, body []byte) {
				var page struct{ Items []registry.Assignment }
				json.Unmarshal(body, &page)
				for _, a := range page.Items {
					if a.Tenant != "acme" || !a.Prefix.Addr().Is6() {
						t.Errorf("the next page holds %v of tenant %q", a.Prefix, a.Tenant)
					}
				}
			}},
		{"assignments keep resource", "/v1/assignments?resource=vm&limit=1",
			func(t *testing.T, body []byte) {
				var page struct{ Items []registry.Assignment }
				json.Unmarshal(body, &page)
				if len(page.Items) != 1 || page.Items[0].Resource != "vm" {
					t.Errorf("the next page holds %+v, want one assignment of resource vm", page.Items)
				}
			}},
		{"events keep since", "/v1/events?since=2000-01-01T00:00:00Z&limit=1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.do(t, req{Method: "GET", Path: tc.path, Token: e.tok["admin"]})
			if x.Status != http.StatusOK {
				t.Fatal(x)
			}
			link := x.Header.Get("Link")
			target, ok := strings.CutPrefix(strings.SplitN(link, ">", 2)[0], "<")
			if !ok || !strings.HasSuffix(link, `rel="next"`) {
				t.Fatalf("%s: Link %q, want <...>; rel=\"next\"", x, link)
			}
			want, _ := url.Parse(tc.path)
			got, err := url.Parse(target)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range want.Query() {
				if got.Query().Get(k) != v[0] {
					t.Errorf("Link %s: %s=%q, want %q", link, k, got.Query().Get(k), v[0])
				}
			}
			if tc.check != nil {
				y := e.do(t, req{Method: "GET", Path: target, Token: e.tok["admin"]})
				if y.Status != http.StatusOK {
					t.Fatal(y)
				}
				tc.check(t, y.Body)
			}
		})
	}
}

// TestRequestLogNamesTheToken: each API request's log line names the
// token's ID (never its secret: newEnv checks that).
func TestRequestLogNamesTheToken(t *testing.T) {
	e := newEnv(t)
	e.do(t, req{Method: "GET", Path: "/v1/regions", Token: e.tok["read"]})
	e.do(t, req{Method: "POST", Path: "/v1/assignments", Token: e.tok["allocate"], Body: []map[string]any{{"region": "us-east"}}})
	for _, id := range []string{e.ids["read"], e.ids["allocate"]} {
		found := false
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"token_id":"`+id+`"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no request log line names token %s:\n%s", id, truncate(e.logs.String(), 3000))
		}
	}
}

// TestMetricsAreNotOnTheAPIAddress: pool names and use are not served to
// anyone who reaches the API.
func TestMetricsAreNotOnTheAPIAddress(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("GET /metrics on the API's address: 200")
	}
}

// TestReaderThatNeverReadsLosesItsConnection: a client that asks for
// responses and does not read them loses its connection once the write
// deadline passes, instead of holding the handler and its buffers.
func TestReaderThatNeverReadsLosesItsConnection(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	l.Write = 500 * time.Millisecond
	addr := serveLimited(t, e.s, l)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")},
		Control: func(_, _ string, c syscall.RawConn) error {
			// A tiny receive window, set before the handshake, so that the
			// server's writes block soon.
			return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
		}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const asked = 400
	go func() {
		for range asked {
			if _, err := io.WriteString(c, "GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				return
			}
		}
	}()
	honest(t, "127.0.0.3", addr)
	time.Sleep(2 * l.Write) // the client reads nothing for a while
	got := closedWithin(t, c, 20*time.Second, "a client that does not read")
	if n := strings.Count(got, "HTTP/1.1 200"); n >= asked {
		t.Errorf("all %d responses were written to a client that did not read: no write deadline", n)
	}
}

// TestLimiterCountsTheForwardedClient: behind a trusted proxy, failures
// are counted against the client the proxy names, not the proxy, so one
// client's failures do not reach another behind the same proxy.
func TestLimiterCountsTheForwardedClient(t *testing.T) {
	e := newEnv(t)
	WithTrustedProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})(e.s)
	wrong := "cad_" + e.ids["admin"] + "_notthesecretatall23"
	e.remember(wrong)
	try := func(xff string) int {
		r := httptest.NewRequest("GET", "/v1/regions", nil)
		r.RemoteAddr = "10.0.0.1:4000"
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("Authorization", "Bearer "+wrong)
		w := httptest.NewRecorder()
		e.s.ServeHTTP(w, r)
		return w.Code
	}
	for range 20 {
		try("203.0.113.1")
	}
	if got := try("203.0.113.1"); got != http.StatusTooManyRequests {
		t.Errorf("the failing client's 21st attempt: %d, want 429", got)
	}
	if got := try("203.0.113.2"); got != http.StatusUnauthorized {
		t.Errorf("another client behind the same proxy: %d, want 401", got)
	}
	if !strings.Contains(e.logs.String(), `"remote":"203.0.113.2"`) {
		t.Errorf("the log does not name the forwarded client:\n%s", truncate(e.logs.String(), 2000))
	}
}

// TestBodyTimeGrowsWithTheDeclaredSize: a large declared body gets a
// second per MiB on top of the body deadline; an unknown size gets none.
func TestBodyTimeGrowsWithTheDeclaredSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int64
		want time.Duration
	}{
		{"unknown size (chunked)", -1, 30 * time.Second},
		{"a small body", 1000, 30 * time.Second},
		{"64 MiB", 64 << 20, 94 * time.Second},
	} {
		if got := bodyTime(30*time.Second, tc.n); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBodyDeadlineIsTheServers: an API body that takes longer than huma's
// own default (5 s) but arrives within the server's body deadline is
// accepted: --read-body-timeout governs every route.
func TestBodyDeadlineIsTheServers(t *testing.T) {
	e := newEnv(t)
	l := testLimits()
	l.ReadBody, l.Write = 30*time.Second, 30*time.Second
	addr := serveLimited(t, e.s, l)
	c := dialFrom(t, "127.0.0.2", addr)
	body := `[{"region":"us-east"}]`
	fmt.Fprintf(c, "POST /v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		e.tok["allocate"], len(body), body[:5])
	time.Sleep(6 * time.Second) // longer than huma's default body deadline
	io.WriteString(c, body[5:])
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("a body that took 6 s of a 30 s deadline: %s, want 201", resp.Status)
	}
}

// TestSearchByNameAndResource: /v1/assignments?name= finds the live
// assignment of that exact name, ?resource= every assignment of that
// resource; a tenant's token finds only its own.
func TestSearchByNameAndResource(t *testing.T) {
	e := newEnv(t)
	named := must[[]registry.Assignment](t)(e.reg.Allocate(setupCtx, registry.Request{Region: "us-east", Family: 6, Tenant: "acme", Resource: "db-1", Name: "db-1.example.com"}))[0]
	for _, tc := range []struct {
		name, query, token string
		want               []int64
	}{
		{"a name finds its assignment", "name=db-1.example.com", "read", []int64{named.ID}},
		{"another name finds nothing", "name=db-2.example.com", "read", nil},
		{"a resource finds every assignment of it", "resource=vm-acme", "read", []int64{e.acme.ID, e.acme2.ID, e.acmeGone.ID}},
		{"a resource and a state", "resource=vm-acme&state=assigned", "read", []int64{e.acme.ID, e.acme2.ID}},
		{"a tenant's token finds only its own", "resource=vm-globex", "tenant", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := e.do(t, req{Method: "GET", Path: "/v1/assignments?" + tc.query, Token: e.tok[tc.token]})
			if x.Status != http.StatusOK {
				t.Fatal(x)
			}
			var page struct{ Items []registry.Assignment }
			if err := json.Unmarshal(x.Body, &page); err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, a := range page.Items {
				got = append(got, a.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: IDs %v, want %v", x, got, tc.want)
			}
		})
	}
}

// TestNoRouteIsAProblem: a path the API does not have, or a method its
// route does not take, is answered as every other API error, an RFC 9457
// problem naming what was asked (405 with Allow), not the mux's text/plain
// "404 page not found" (operator's walk-through).
func TestNoRouteIsAProblem(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/no-such-thing", http.StatusNotFound, ""},
		{"GET", "/v1/regions/us-east/nothing", http.StatusNotFound, ""},
		{"DELETE", "/v1/assignments", http.StatusMethodNotAllowed, "GET"},
	} {
		x := e.undocumented(t, tc.method, tc.path)
		p := checkProblem(t, x, tc.status)
		b, _ := json.Marshal(p)
		if !strings.Contains(string(b), tc.path) {
			t.Errorf("%s: the problem does not name the path", x)
		}
		if tc.allow != "" && !strings.Contains(x.Header.Get("Allow"), tc.allow) {
			t.Errorf("%s: Allow %q, want it to list %s", x, x.Header.Get("Allow"), tc.allow)
		}
	}
}

// TestUnknownQueryParametersRefused: a query parameter the route does not
// declare is refused (422 naming it: huma's RejectUnknownQueryParameters), as an
// unknown body field is: ?after= for ?cursor= came back as the first page,
// and a misspelt filter listed everything (operator's walk-through).
func TestUnknownQueryParametersRefused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ path, param string }{
		{"/v1/assignments?after=garbage", "after"},
		{"/v1/assignments?regoin=us-east", "regoin"},
		{"/v1/regions?x=1", "x"},
	} {
		x := e.undocumented(t, "GET", tc.path)
		p := checkProblem(t, x, http.StatusUnprocessableEntity)
		b, _ := json.Marshal(p)
		if !strings.Contains(string(b), `"query.`+tc.param+`"`) || !strings.Contains(string(b), "unknown query parameter") {
			t.Errorf("%s: the problem does not name the unknown parameter %q", x, tc.param)
		}
	}
	// Declared parameters still pass.
	x := e.do(t, req{Method: "GET", Path: "/v1/assignments?region=us-east&limit=5", Token: e.tok["admin"]})
	if x.Status != http.StatusOK {
		t.Errorf("%s: want 200", x)
	}
}

// undocumented sends a request as an admin straight to the server, not
// through e.do: what it asks is, rightly, not in the OpenAPI document every
// exchange through e.do is checked against.
func (e *env) undocumented(t *testing.T, method, path string) *exchange {
	t.Helper()
	rq, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rq.Header.Set("Authorization", "Bearer "+e.tok["admin"])
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &exchange{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: body}
}
