package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignInSetsAStrictHttpOnlyCookieAndShowsTheToken(t *testing.T) {
	e := newEnv(t)
	b := e.visitor(t)
	b.get(t, "/").want(t, http.StatusSeeOther)
	b.get(t, "/signin").want(t, http.StatusOK, `name="token"`, `name="csrf"`)
	p := b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}, "next": {"/"}})
	p.want(t, http.StatusSeeOther)
	c := p.Header.Get("Set-Cookie")
	for _, want := range []string{sessionCookie + "=", "HttpOnly", "SameSite=Strict", "Max-Age="} {
		if !strings.Contains(strings.Join(p.Header.Values("Set-Cookie"), "\n"), want) {
			t.Errorf("session cookie %q lacks %s", c, want)
		}
	}
	b.get(t, "/").want(t, http.StatusOK, "reader · read")
}

func TestEveryResponseCarriesTheCSP(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	for _, path := range []string{"/", "/signin", "/no-such-page", "/static/cadastre.css"} {
		p := b.get(t, path)
		if got := p.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, got)
		}
		if strings.Contains(p.Header.Get("Content-Security-Policy"), "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", path)
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	b := e.visitor(t)
	b.get(t, "/signin")
	b.post(t, "/signin", url.Values{"token": {"cad_aaaaaaaaaaaaaaaa_wrong"}}).want(t, http.StatusUnauthorized, "invalid, expired or revoked token")
	b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}, "csrf": {""}}).want(t, http.StatusForbidden, "CSRF")
	b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}, "csrf": {randomToken()}}).want(t, http.StatusForbidden, "CSRF")
	b.post(t, "/signin", url.Values{"token": {""}}).want(t, http.StatusUnprocessableEntity, "paste an API token")
	b.get(t, "/").want(t, http.StatusSeeOther)
	// A next= pointing elsewhere is ignored.
	p := b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}, "next": {"//evil.example/"}})
	if p.Header.Get("Location") != "/" {
		t.Errorf("next to another host: redirected to %q", p.Header.Get("Location"))
	}
}

func TestRevokedOrExpiredTokenEndsTheSession(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAdmin)
	b.get(t, "/").want(t, http.StatusOK)
	if err := e.tokens.Revoke(context.Background(), e.ids[roleAdmin]); err != nil {
		t.Fatal(err)
	}
	p := b.get(t, "/")
	p.want(t, http.StatusSeeOther)
	if !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
		t.Errorf("after revocation: redirected to %q, want /signin", p.Header.Get("Location"))
	}
	b.post(t, "/signout", url.Values{}).want(t, http.StatusSeeOther)

	// A token that expires: the session ends with it.
	_, secret, err := e.tokens.Create(context.Background(), authSpec("short", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.tok["short"] = secret
	b = e.signIn(t, "short")
	e.clock.advance(2 * time.Hour)
	b.get(t, "/").want(t, http.StatusSeeOther)
}

func TestOneTimeLinkIsConsumed(t *testing.T) {
	e := newEnv(t)
	link := e.ui.SignInLink(e.tok[roleRead], time.Hour)
	b := e.visitor(t)
	b.get(t, link).want(t, http.StatusSeeOther)
	b.get(t, "/").want(t, http.StatusOK, "reader")
	e.visitor(t).get(t, link).want(t, http.StatusNotFound, "already used")
	// An expired link.
	link = e.ui.SignInLink(e.tok[roleRead], time.Minute)
	e.clock.advance(2 * time.Minute)
	e.visitor(t).get(t, link).want(t, http.StatusNotFound)
}

func TestSignOutNeedsCSRFAndEndsTheSession(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleRead)
	b.post(t, "/signout", url.Values{"csrf": {""}}).want(t, http.StatusForbidden)
	other := e.signIn(t, roleAdmin)
	b.post(t, "/signout", url.Values{"csrf": {other.csrf}}).want(t, http.StatusForbidden)
	b.get(t, "/").want(t, http.StatusOK)
	b.post(t, "/signout", url.Values{}).want(t, http.StatusSeeOther)
	b.get(t, "/").want(t, http.StatusSeeOther)
}

func TestFailedSignInsAreLimitedPerClient(t *testing.T) {
	e := newEnv(t)
	b := e.visitor(t)
	b.get(t, "/signin")
	for i := range maxFailures {
		b.post(t, "/signin", url.Values{"token": {fmt.Sprintf("cad_aaaaaaaaaaaaaaaa_%d", i)}}).want(t, http.StatusUnauthorized)
	}
	p := b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}})
	p.want(t, http.StatusTooManyRequests, "wait a minute")
	if strings.Contains(e.logs.String(), "cad_aaaaaaaaaaaaaaaa_1") {
		t.Errorf("a presented secret reached the log")
	}
	e.clock.advance(2 * time.Minute)
	b.post(t, "/signin", url.Values{"token": {e.tok[roleRead]}}).want(t, http.StatusSeeOther)
}
