package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/problem"
)

// reqInfo is what the outer middleware learns about a request, shared with
// the handlers and the request log through the request's context.
type reqInfo struct {
	client  string      // the client's address: the TCP peer, or from X-Forwarded-For behind a trusted proxy
	tok     *auth.Token // set once the bearer token was checked
	tokenID string      // the authenticated token's ID, for the request log
}

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// WithTrustedProxies makes the server believe X-Forwarded-For from peers
// in these prefixes (reverse proxies, load balancers): the client is then
// the right-most address of the header not itself in a trusted prefix.
// Without it the header is ignored, since anyone can write it.
func WithTrustedProxies(ps []netip.Prefix) Option {
	return func(s *Server) { s.proxies = ps }
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address a request comes from, for the failed-attempt
// limiter and the logs.
func (s *Server) clientAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr.String()
	}
	// Walk from the right: each hop appends the address it received from,
	// so the right-most address not of a trusted proxy is the client; the
	// ones left of it were written by the client and prove nothing.
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // garbage: stop at the last hop we could trust
		}
		addr = a.Unmap()
		if !s.trusted(addr) {
			break
		}
	}
	return addr.String()
}

// ClientAddr is the address r comes from, believing X-Forwarded-For only
// from trusted proxies: for handlers that share the API's listener (the web
// UI checks tokens bound to networks with it).
func (s *Server) ClientAddr(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(s.clientAddr(r))
	return a
}

// refusal is why a bearer token was not accepted, as an HTTP answer.
type refusal struct {
	status int
	typ    string // problem type URN, "" for none
	detail string
	header map[string]string
}

// checkBearer checks the Authorization header of a request from client.
// Only a wrong credential counts as a failed attempt; a store or context
// error is the server's problem, answered 503 and never held against the
// client. A valid token is never refused for failures, not even its own
// address's: failures are counted per (client, claimed token ID), and the
// limit only turns further failures of that pair into 429.
func (s *Server) checkBearer(ctx context.Context, authorization, client, operation string) (auth.Token, *refusal) {
	// RFC 9110 §11.1: the auth scheme is case-insensitive.
	scheme, secret, _ := strings.Cut(authorization, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return auth.Token{}, &refusal{status: http.StatusUnauthorized, detail: "missing bearer token (Authorization: Bearer cad_...)",
			header: map[string]string{"WWW-Authenticate": `Bearer realm="cadastre"`}}
	}
	id, _ := auth.ParseID(secret)
	from, _ := netip.ParseAddr(client)
	tok, err := s.tokens.CheckFrom(ctx, secret, from)
	if err == nil {
		return tok, nil
	}
	if errors.Is(err, auth.ErrAddress) {
		// A valid secret from the wrong place: counted like a wrong secret,
		// so a stolen token cannot be tried from many addresses for free.
		key := client + " " + id
		s.limiter.fail(key)
		s.log.LogAttrs(ctx, slog.LevelWarn, "token used from outside its allow-from list", slog.String("token_id", tok.ID),
			slog.String("remote", client), slog.String("operation", operation))
		return auth.Token{}, &refusal{status: http.StatusForbidden,
			detail: fmt.Sprintf("this token may not be used from %s: the address is outside its allow-from list", client)}
	}
	if !wrongCredential(err) {
		s.log.LogAttrs(ctx, slog.LevelError, "authentication unavailable", slog.String("token_id", id),
			slog.String("err", err.Error()), slog.String("remote", client), slog.String("operation", operation))
		return auth.Token{}, &refusal{status: http.StatusServiceUnavailable, typ: problem.Storage, detail: "cannot check tokens now (the database is unavailable); try again later",
			header: map[string]string{"Retry-After": "5"}}
	}
	key := client + " " + id
	if !s.limiter.allow(key) {
		return auth.Token{}, &refusal{status: http.StatusTooManyRequests, detail: "too many failed authentication attempts with this token ID from this client; wait a minute",
			header: map[string]string{"Retry-After": "60"}}
	}
	s.limiter.fail(key)
	s.log.LogAttrs(ctx, slog.LevelWarn, "authentication failed", slog.String("token_id", id),
		slog.String("reason", err.Error()), slog.String("remote", client), slog.String("operation", operation))
	return auth.Token{}, &refusal{status: http.StatusUnauthorized, detail: "invalid, expired or revoked token",
		header: map[string]string{"WWW-Authenticate": `Bearer realm="cadastre", error="invalid_token"`}}
}

// wrongCredential tells a refused credential (401, counted) from a failure
// to check it (503, not counted).
func wrongCredential(err error) bool {
	for _, e := range []error{auth.ErrMalformed, auth.ErrUnknown, auth.ErrBadSecret, auth.ErrExpired, auth.ErrRevoked, auth.ErrAddress} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler. A request that carries a body to the
// API is authenticated here, before anything reads the body: a stranger
// cannot make the server wait for a body it never sends. Requests with a
// body to routes that take none are answered without reading it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := &reqInfo{client: s.clientAddr(r)}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	if r.ContentLength != 0 {
		if !strings.HasPrefix(r.URL.Path, "/v1/") || s.tokens == nil {
			dropBody(w, r) // no route here reads it, or the API answers 503
		} else {
			start := time.Now()
			tok, ref := s.checkBearer(r.Context(), r.Header.Get("Authorization"), info.client, r.Method+" "+r.URL.Path)
			if ref != nil {
				dropBody(w, r)
				writeRefusal(w, ref)
				d := time.Since(start)
				// One route label for every refusal here: method and path are the
				// client's to choose, and labels must stay few.
				s.requests.WithLabelValues(refusedRoute, strconv.Itoa(ref.status)).Inc()
				s.latency.WithLabelValues(refusedRoute).Observe(d.Seconds())
				s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", ref.status),
					slog.Duration("duration", d), slog.String("remote", info.client))
				return
			}
			info.tok = &tok
		}
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		if h, pattern := s.mux.Handler(r); pattern == "" {
			// No route: the mux would answer 404 or 405 in text/plain;
			// the API answers every error as an RFC 9457 problem.
			rec := &headerOnly{header: http.Header{}}
			h.ServeHTTP(rec, r)
			switch rec.status {
			case http.StatusNotFound:
				writeRefusal(w, &refusal{status: rec.status, detail: fmt.Sprintf("no route %s %s (the API's routes: /v1/openapi.json)", r.Method, r.URL.Path)})
				return
			case http.StatusMethodNotAllowed:
				allow := rec.header.Get("Allow")
				writeRefusal(w, &refusal{status: rec.status, detail: fmt.Sprintf("%s %s: the route takes %s", r.Method, r.URL.Path, allow),
					header: map[string]string{"Allow": allow}})
				return
			}
			// Anything else (a redirect to the cleaned path) as the mux answers it.
		}
	}
	s.mux.ServeHTTP(w, r)
}

// headerOnly keeps the status and headers a handler writes, not its body.
type headerOnly struct {
	header http.Header
	status int
}

func (h *headerOnly) Header() http.Header { return h.header }
func (h *headerOnly) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}
func (h *headerOnly) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

// writeRefusal answers an RFC 9457 problem, as huma does for the API.
func writeRefusal(w http.ResponseWriter, ref *refusal) {
	for k, v := range ref.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(ref.status)
	json.NewEncoder(w).Encode(ref.model())
}

func (ref *refusal) model() *huma.ErrorModel {
	return &huma.ErrorModel{Type: ref.typ, Title: http.StatusText(ref.status), Status: ref.status, Detail: ref.detail}
}

// refuse answers a refusal through huma.
func refuse(ctx huma.Context, ref *refusal) {
	for k, v := range ref.header {
		ctx.SetHeader(k, v)
	}
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(ref.status)
	json.NewEncoder(ctx.BodyWriter()).Encode(ref.model())
}

// refusedRoute labels the metrics of requests refused before their body.
const refusedRoute = "/v1/ (refused before the body)"
