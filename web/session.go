package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
)

// Session is a signed-in visitor. It holds the token's secret on the
// server only (the cookie carries a random session ID), so every request
// re-checks the token: a revoked or expired token ends the session at
// once (within auth's two-second cache).
type Session struct {
	// Token is the token's public record as of this request: its scope
	// and tenant decide what the pages show and allow.
	Token auth.Token
	// CSRF is the session's anti-forgery token; every POST form carries it
	// ({{template "csrf" $}}).
	CSRF string

	secret  string
	expires time.Time
}

// Tenant is the tenant the session is bound to, or nil for an operator
// token: the argument the registry's tenant-scoped calls take.
func (s *Session) Tenant() *string {
	if s == nil || s.Token.Tenant == "" {
		return nil
	}
	t := s.Token.Tenant
	return &t
}

// May reports whether the session's token permits an operation needing
// need (tenantOK: a tenant token may call it): what a page checks before
// offering a link or a form.
func (s *Session) May(need auth.Scope, tenantOK bool) bool {
	return s != nil && s.Token.Permits(need, tenantOK) == nil
}

// csrfOK checks a POST's csrf field against the session's.
func (s *Session) csrfOK(r *http.Request) bool {
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}

type sessionKey struct{}

// sessionOf is the session of a request that passed guard, or nil.
func sessionOf(ctx context.Context) *Session {
	s, _ := ctx.Value(sessionKey{}).(*Session)
	return s
}

const (
	sessionCookie = "cadastre_session"
	preCookie     = "cadastre_signin" // the sign-in form's CSRF token (double submit)
	csrfField     = "csrf"
	maxSessions   = 10_000
	maxNonces     = 1_000
)

// sessions are kept in memory: a restart signs everyone out, which a
// token-holding user undoes by signing in again.
type sessions struct {
	now      func() time.Time
	mu       sync.Mutex
	byID     map[[32]byte]*Session // by the SHA-256 of the cookie's value
	nonces   map[string]nonce      // one-time sign-in links
	failures map[string]failures   // failed sign-ins by client address
}

// failures counts a client's failed sign-ins with one claimed token ID in a
// window.
type failures struct {
	n     int
	since time.Time
}

// Failed sign-ins: after maxFailures in failWindow from one address with
// one claimed token ID, further wrong secrets for that ID from that address
// answer 429 until the window passes, as the API limits bearer failures, so
// the form is no cheaper a guessing machine than the API. The count is per
// (client, token ID), and a valid token is checked before the limit, so one
// bad client behind a NAT cannot lock everyone else behind it out.
const (
	maxFailures  = 20
	failWindow   = time.Minute
	maxFailAddrs = 10_000
)

// limited reports whether key (client and claimed token ID) used up its
// failures.
func (ss *sessions) limited(key string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	f, ok := ss.failures[key]
	return ok && ss.now().Sub(f.since) < failWindow && f.n >= maxFailures
}

// fail counts a failed sign-in of key (client and claimed token ID).
func (ss *sessions) fail(key string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	if ss.failures == nil || len(ss.failures) >= maxFailAddrs {
		ss.failures = map[string]failures{}
	}
	f := ss.failures[key]
	if now.Sub(f.since) >= failWindow {
		f = failures{since: now}
	}
	f.n++
	ss.failures[key] = f
}

type nonce struct {
	secret  string
	expires time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[[32]byte]*Session{}, nonces: map[string]nonce{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails on supported systems
	return base64.RawURLEncoding.EncodeToString(b)
}

// add stores a session and returns its cookie value.
func (ss *sessions) add(s *Session) string {
	id := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= maxSessions {
		now := ss.now()
		for k, v := range ss.byID {
			if !now.Before(v.expires) {
				delete(ss.byID, k)
			}
		}
		if len(ss.byID) >= maxSessions { // still full: drop the oldest-expiring
			var oldest [32]byte
			var at time.Time
			for k, v := range ss.byID {
				if at.IsZero() || v.expires.Before(at) {
					oldest, at = k, v.expires
				}
			}
			delete(ss.byID, oldest)
		}
	}
	ss.byID[sha256.Sum256([]byte(id))] = s
	return id
}

func (ss *sessions) get(id string) (*Session, bool) {
	k := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[k]
	if ok && !ss.now().Before(s.expires) {
		delete(ss.byID, k)
		return nil, false
	}
	return s, ok
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	delete(ss.byID, sha256.Sum256([]byte(id)))
	ss.mu.Unlock()
}

// SignInLink registers a one-time sign-in for the token secret and returns
// its path (/signin/once/<nonce>): the first visit consumes it and signs
// in; later visits are refused. It lasts at most ttl.
func (s *Server) SignInLink(secret string, ttl time.Duration) string {
	n := randomToken()
	ss := s.sessions
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for k, v := range ss.nonces {
		if !now.Before(v.expires) {
			delete(ss.nonces, k)
		}
	}
	if len(ss.nonces) < maxNonces {
		ss.nonces[n] = nonce{secret: secret, expires: now.Add(ttl)}
	}
	return "/signin/once/" + n
}

// session finds the request's session and re-checks its token; nil
// without a live one (and the cookie is cleared when its session ended).
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*Session, error) {
	if s.cfg.Tokens == nil {
		return nil, errNoTokens
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, ok := s.sessions.get(c.Value)
	if !ok {
		s.clearCookie(w, r, sessionCookie)
		return nil, nil
	}
	tok, err := s.cfg.Tokens.CheckFrom(r.Context(), sess.secret, s.cfg.ClientAddr(r))
	if err != nil {
		if wrongCredential(err) {
			// Revoked, expired or out of its networks: the session ends.
			s.sessions.drop(c.Value)
			s.clearCookie(w, r, sessionCookie)
			return nil, nil
		}
		return nil, err
	}
	// A copy per request: the token's record (scope, tenant) is as of now.
	out := *sess
	out.Token = tok
	return &out, nil
}

var errNoTokens = errors.New("sign-in is not configured on this server (it has no token store)")

func wrongCredential(err error) bool {
	for _, e := range []error{auth.ErrMalformed, auth.ErrUnknown, auth.ErrBadSecret, auth.ErrExpired, auth.ErrRevoked, auth.ErrAddress} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.cfg.SecureCookies }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Expires: expires,
		MaxAge: max(1, int(time.Until(expires).Seconds())), HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// signinView is the sign-in page's data.
type signinView struct {
	Next    string
	Message string
}

// signinForm shows the token form. Its CSRF token is a random value in a
// cookie of its own, repeated in the form (no session exists yet).
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	s.renderSignin(w, r, http.StatusOK, "")
}

func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	pre := ""
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 43 {
		pre = c.Value
	} else {
		pre = randomToken()
		s.setCookie(w, r, preCookie, pre, s.cfg.Now().Add(time.Hour))
	}
	v := view{Title: "Sign in", CSRF: pre, Now: s.cfg.Now(), Data: signinView{Next: safeNext(r.FormValue("next")), Message: msg}}
	if err := s.execute(w, status, s.pages["signin"], "layout", v); err != nil {
		s.fail(w, r, err)
	}
}

// maxTokenField bounds the sign-in form's body.
const maxTokenField = 4 << 10

// signin checks the token and starts a session.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenField)
	if err := r.ParseForm(); err != nil {
		s.renderSignin(w, r, http.StatusBadRequest, "the form could not be read: "+err.Error())
		return
	}
	c, err := r.Cookie(preCookie)
	got := r.PostFormValue(csrfField)
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) != 1 {
		s.renderSignin(w, r, http.StatusForbidden, "the form's CSRF token is missing or stale: submit the form again")
		return
	}
	if s.cfg.Tokens == nil {
		s.fail(w, r, errNoTokens)
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	if secret == "" {
		s.renderSignin(w, r, http.StatusUnprocessableEntity, "token: paste an API token (cad_...)")
		return
	}
	if !s.start(w, r, secret) {
		return
	}
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// start checks secret and sets the session cookie; false when it answered.
// Its answers follow the API's bearer check: a valid token is never refused
// for failures; a wrong secret is counted per (client, claimed token ID) and
// answered 401, or 429 once that pair used up its failures; a valid token
// used from outside its allow-from list is counted too (a stolen token
// cannot be tried from many addresses for free) and answered 403 naming
// the address; a store error is the server's problem and is not counted.
func (s *Server) start(w http.ResponseWriter, r *http.Request, secret string) bool {
	client := s.cfg.ClientAddr(r)
	tok, err := s.cfg.Tokens.CheckFrom(r.Context(), secret, client)
	if err != nil {
		if !wrongCredential(err) {
			s.fail(w, r, err)
			return false
		}
		key := client.String() + " " + idOf(secret)
		if s.sessions.limited(key) {
			w.Header().Set("Retry-After", "60")
			s.renderSignin(w, r, http.StatusTooManyRequests, "too many failed sign-ins with this token ID from this address; wait a minute")
			return false
		}
		s.sessions.fail(key)
		s.log.Warn("web sign-in refused", "remote", client.String(), "token_id", idOf(secret), "reason", err.Error())
		if errors.Is(err, auth.ErrAddress) {
			s.renderSignin(w, r, http.StatusForbidden, fmt.Sprintf("this token may not be used from %s: the address is outside its allow-from list", client))
			return false
		}
		s.renderSignin(w, r, http.StatusUnauthorized, "invalid, expired or revoked token")
		return false
	}
	exp := s.cfg.Now().Add(s.cfg.SessionTTL)
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(exp) {
		exp = *tok.ExpiresAt
	}
	id := s.sessions.add(&Session{Token: tok, CSRF: randomToken(), secret: secret, expires: exp})
	s.setCookie(w, r, sessionCookie, id, exp)
	s.clearCookie(w, r, preCookie)
	noteToken(r.Context(), tok.ID)
	s.log.Info("web sign-in", "token_id", tok.ID, "remote", s.cfg.ClientAddr(r).String())
	return true
}

// signinOnce consumes a one-time link's nonce and signs in with its token.
func (s *Server) signinOnce(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("nonce")
	ss := s.sessions
	ss.mu.Lock()
	v, ok := ss.nonces[n]
	delete(ss.nonces, n)
	ss.mu.Unlock()
	if !ok || !s.cfg.Now().Before(v.expires) {
		s.renderSignin(w, r, http.StatusNotFound, "this sign-in link was already used or has expired: sign in with the token")
		return
	}
	if s.cfg.Tokens == nil {
		s.fail(w, r, errNoTokens)
		return
	}
	if s.start(w, r, v.secret) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}
}

// signout ends the session (a POST with its CSRF token).
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sess != nil {
		if !sess.csrfOK(r) {
			s.fail(w, r, errCSRF)
			return
		}
		if c, err := r.Cookie(sessionCookie); err == nil {
			s.sessions.drop(c.Value)
		}
	}
	s.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site: a path, never a
// URL to another host (//evil or /\evil included).
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// CanAllocate reports whether the session may allocate and release (the
// API's allocate and release operations): for templates.
func (s *Session) CanAllocate() bool { return s.May(auth.ScopeAllocate, true) }

// CanAdmin reports whether the session may add regions, blocks and pools.
func (s *Session) CanAdmin() bool { return s.May(auth.ScopeAdmin, false) }

// idOf is a secret's token ID, for logs (never the secret).
func idOf(secret string) string {
	id, _ := auth.ParseID(secret)
	return id
}
