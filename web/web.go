// Package web is cadastre's browser face: server-rendered pages over the
// same registry (and geo, dns) calls as the JSON API, mounted at / by
// `cadastre serve` and `demo --serve` while the API stays at /v1.
//
// Everything it sends is embedded (templates and assets under templates/
// and static/), every response carries a Content-Security-Policy that
// forbids other hosts and inline scripts, and every page reads without
// JavaScript. A visitor signs in with an API token; the session it gets
// allows exactly what that token allows (auth.Token.Permits), and ends when
// the token is revoked or expires. Handlers parse, call one domain method
// and render: no rule lives here.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/internal/responselog"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the UI needs: the domain objects it reads and changes
// through, and how to tell who is asking.
type Config struct {
	Registry *registry.Registry
	Tokens   *auth.Tokens // nil: nobody can sign in (every page answers 503)
	Geo      *geo.Engine  // nil: pages show no geolocation
	DNS      ZoneLister   // nil: the DNS page says it has no zones to show
	Log      *slog.Logger // nil: discard
	// Now is the clock of sessions and pages; nil: time.Now.
	Now func() time.Time
	// SessionTTL bounds a session's life (never beyond its token's
	// expiry); zero: DefaultSessionTTL.
	SessionTTL time.Duration
	// ClientAddr is the client's address, for tokens bound to networks
	// (api.Server.ClientAddr believes trusted proxies); nil: the TCP peer.
	ClientAddr func(*http.Request) netip.Addr
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// (behind a proxy that terminates TLS); under TLS it always is.
	SecureCookies bool
}

// DefaultSessionTTL is how long a session lasts unless configured.
const DefaultSessionTTL = 12 * time.Hour

// Server serves the UI. It is an http.Handler.
type Server struct {
	cfg      Config
	reg      *registry.Registry
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template // by page name: layout + partials + the page
	partials *template.Template            // layout and partials alone, for fragments
	static   fs.FS
	assetV   map[string]string // asset path -> content hash, for cache-busting URLs
	sessions *sessions
	acts     activityCache // the region chart's past days
	memo     memo          // counting calls, while the register stands still
	// treeInline is how many pools /tree draws whole (treeInline the
	// constant; tests lower it while the server runs).
	treeInline atomic.Int64
}

// New returns the UI's handler over cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("web: a registry is needed")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerAddr
	}
	st, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static assets: %w", err)
	}
	s := &Server{cfg: cfg, reg: cfg.Registry, log: cfg.Log, mux: http.NewServeMux(), static: st,
		assetV: map[string]string{}, sessions: newSessions(cfg.Now)}
	s.treeInline.Store(treeInline)
	if err := s.hashAssets(); err != nil {
		return nil, err
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// routes lists every URL of the UI, in one place.
//
// To add a page:
//  1. write templates/pages/NAME.html defining "title" and "content"
//     (the layout wraps it; the data is a view: .Data is yours, .S the
//     session, {{template "csrf" $}} inside every POST form);
//  2. write NAME.go with func (s *Server) pageNAME(w http.ResponseWriter,
//     r *http.Request) error that calls one domain method and ends with
//     return s.render(w, r, http.StatusOK, "NAME", data);
//  3. add one line below: s.page(pattern, scope it needs, whether a
//     tenant-bound token may see it, handler). The same scope and tenant
//     flags as the API operation it mirrors (api/v1.go's op(...)).
//
// A POST handler registered through s.action gets its CSRF token checked
// before it runs. Errors returned by handlers become an error page with the
// status problem.For gives (404 for registry.ErrNotFound, ...).
func (s *Server) routes() {
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", s.staticHandler()))
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	s.mux.HandleFunc("GET /signin", s.signinForm)
	s.mux.HandleFunc("POST /signin", s.signin)
	s.mux.HandleFunc("GET /signin/once/{nonce}", s.signinOnce)
	s.mux.HandleFunc("POST /signout", s.signout)

	s.page("GET /{$}", auth.ScopeRead, true, s.pageOverview)
	s.page("GET /region/{name}", auth.ScopeRead, false, s.pageRegion)
	s.page("GET /tree", auth.ScopeRead, false, s.pageTree)
	s.page("GET /tree/pool/{id}", auth.ScopeRead, false, s.pagePool)
	s.page("GET /tree/block/{id}", auth.ScopeRead, false, s.pageBlock)
	s.page("GET /assignments", auth.ScopeRead, true, s.pageAssignments)
	s.page("GET /assignment/{id}", auth.ScopeRead, true, s.pageAssignment)
	s.page("GET /ip/{q...}", auth.ScopeRead, true, s.pageAddress)
	s.page("GET /search", auth.ScopeRead, true, s.pageSearch)
	s.page("GET /allocate", auth.ScopeAllocate, true, s.pageAllocateForm)
	s.action("POST /allocate", auth.ScopeAllocate, true, s.actionAllocate)
	s.action("POST /assignment/{id}/release", auth.ScopeAllocate, true, s.actionRelease)
	s.page("GET /admin", auth.ScopeAdmin, false, s.pageAdmin)
	s.action("POST /admin/region", auth.ScopeAdmin, false, s.adminAction(s.addRegion))
	s.action("POST /admin/block", auth.ScopeAdmin, false, s.adminAction(s.addBlock))
	s.action("POST /admin/pool", auth.ScopeAdmin, false, s.adminAction(s.addPool))
	s.action("POST /admin/reservation", auth.ScopeAdmin, false, s.adminAction(s.actionReserve))
	s.action("POST /admin/reservation/remove", auth.ScopeAdmin, false, s.adminAction(s.actionUnreserve))
	// Pages of other files register here, one line each.
	s.page("GET /world", auth.ScopeRead, false, s.pageWorld)
	s.page("GET /geofeed", auth.ScopeRead, true, s.pageGeofeed)
	s.page("GET /geofeed/check", auth.ScopeRead, true, s.pageGeofeedCheck)
	s.action("POST /geofeed/check", auth.ScopeRead, true, s.actionGeofeedCheck)
	s.page("GET /dns", auth.ScopeRead, false, s.pageDNS)

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("%s: no such page: %w", r.URL.Path, registry.ErrNotFound))
	})
}

// handlerFunc is a page or action: it writes a response or returns an
// error for the error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// page registers a signed-in GET page (or partial) that needs scope need;
// tenantOK lets a tenant-bound token see it.
func (s *Server) page(pattern string, need auth.Scope, tenantOK bool, h handlerFunc) {
	s.mux.Handle(pattern, s.guard(need, tenantOK, false, h))
}

// action registers a signed-in POST action: CSRF-checked, then as page.
func (s *Server) action(pattern string, need auth.Scope, tenantOK bool, h handlerFunc) {
	s.mux.Handle(pattern, s.guard(need, tenantOK, true, h))
}

// guard runs h for a live session whose token permits it.
func (s *Server) guard(need auth.Scope, tenantOK, csrf bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.session(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, errSignedOut)
			return
		}
		if csrf {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			parse := r.ParseForm
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
				// A form with a file (the geofeed checker's upload).
				parse = func() error { return r.ParseMultipartForm(maxForm) }
			}
			if err := parse(); err != nil {
				s.fail(w, r, fmt.Errorf("the form could not be read: %v: %w", err, registry.ErrInvalid))
				return
			}
		}
		if csrf && !sess.csrfOK(r) {
			s.fail(w, r, errCSRF)
			return
		}
		if err := sess.Token.Permits(need, tenantOK); err != nil {
			s.fail(w, r, err)
			return
		}
		noteToken(r.Context(), sess.Token.ID)
		ctx := context.WithValue(r.Context(), sessionKey{}, sess)
		ctx = registry.WithActor(ctx, sess.Token.Actor())
		if sess.Token.Scope < auth.ScopeAdmin {
			ctx = registry.Restricted(ctx)
		}
		if err := h(w, r.WithContext(ctx)); err != nil {
			s.fail(w, r.WithContext(ctx), err)
		}
	})
}

// ServeHTTP implements http.Handler: every response gets the security
// headers, whatever route answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	start := time.Now()
	info := &requestInfo{}
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
	sw := responselog.New(w)
	s.mux.ServeHTTP(sw, r)
	// As the API logs its requests (api.Server.instrument): the path
	// without its query, and the ID of the token whose session (or
	// sign-in) made the request, never a secret.
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.Status()),
		slog.Int("bytes", sw.Bytes()), slog.Duration("duration", time.Since(start)), slog.String("remote", s.cfg.ClientAddr(r).String())}
	if info.tokenID != "" {
		attrs = append(attrs, slog.String("token_id", info.tokenID))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// requestInfo is filled in while a request is served, for its log line.
type requestInfo struct {
	tokenID string // the session's (or the signed-in) token, once known
}

type requestInfoKey struct{}

// noteToken records the ID of the token a request acts with.
func noteToken(ctx context.Context, id string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.tokenID = id
	}
}

// ContentSecurityPolicy is sent with every response: nothing from another
// host, no inline script or style, no plugins, no framing, forms post only
// here. Inline SVG is markup, not script, so charts need no exception.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// view is what every page template gets.
type view struct {
	Title string
	S     *Session // nil when signed out
	CSRF  string   // the session's (or the sign-in form's) CSRF token
	Now   time.Time
	Data  any
}

// render writes page name with data inside the layout.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("web: no page template %q", name)
	}
	v := view{S: sessionOf(r.Context()), Now: s.cfg.Now(), Data: data}
	if v.S != nil {
		v.CSRF = v.S.CSRF
	}
	return s.execute(w, status, t, "layout", v)
}

// execute renders into a buffer first, so a template error becomes an
// error page rather than half a page.
func (s *Server) execute(w http.ResponseWriter, status int, t *template.Template, name string, data any) error {
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write([]byte(b.String()))
	if err != nil {
		return nil // the client went away; nothing left to tell it
	}
	return nil
}

var (
	errSignedOut = errors.New("not signed in, or the session ended: sign in again")
	errCSRF      = errors.New("the form's CSRF token is missing or not this session's: reload the page and submit again")
)

// fail renders the error page for err with a fitting status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "internal error; the server log has the details"
	if st, ok := statusFor(err); ok {
		status, msg = st, err.Error()
	}
	switch {
	case errors.Is(err, errSignedOut):
		status, msg = http.StatusUnauthorized, err.Error()
	case errors.Is(err, errNoTokens):
		status, msg = http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, errCSRF):
		status, msg = http.StatusForbidden, err.Error()
	case errors.Is(err, auth.ErrScope), errors.Is(err, auth.ErrTenantBound):
		status, msg = http.StatusForbidden, "this token may not see or do this: "+err.Error()
	case errors.Is(err, registry.ErrStorage), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// As the API answers a storage or timeout error (a token check's
		// included): the server's trouble, to be retried, never 401 or 500.
		status, msg = http.StatusServiceUnavailable, "the database is unavailable; try again later"
		w.Header().Set("Retry-After", "5")
		s.log.LogAttrs(r.Context(), slog.LevelError, "web", slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		s.log.LogAttrs(r.Context(), slog.LevelError, "web", slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	if rerr := s.render(w, r, status, "error", errorView{Status: status, StatusText: http.StatusText(status), Message: msg}); rerr != nil {
		http.Error(w, msg, status)
	}
}

// statusFor is the status of a domain error, as the API answers it: a
// control character in a field is malformed input (400, naming the
// field), like the API's; otherwise problem.For's.
func statusFor(err error) (int, bool) {
	if errors.As(err, new(*registry.TextError)) {
		return http.StatusBadRequest, true
	}
	_, st, ok := problem.For(err)
	return st, ok
}

type errorView struct {
	Status     int
	StatusText string
	Message    string
}

// parseTemplates builds one template set per page: the layout and every
// partial, then the page's own "title" and "content".
func (s *Server) parseTemplates() error {
	base, err := template.New("").Funcs(s.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return fmt.Errorf("web: templates: %w", err)
	}
	s.partials = base
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", f, err)
		}
		s.pages[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return nil
}

// hashAssets computes each static file's content hash for asset URLs.
func (s *Server) hashAssets() error {
	return fs.WalkDir(s.static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(s.static, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s.assetV[p] = hex.EncodeToString(sum[:6])
		return nil
	})
}

// staticHandler serves the embedded assets; a URL with the content hash
// (from the asset template function) may be cached for a year.
func (s *Server) staticHandler() http.Handler {
	fsrv := http.FileServerFS(s.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("v"); v != "" && v == s.assetV[r.URL.Path] {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		fsrv.ServeHTTP(w, r)
	})
}

// peerAddr is the TCP peer's address.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
