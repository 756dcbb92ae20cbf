package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/browsertest"
	"github.com/cadastre-ipam/cadastre/registry"
)

// noCSPViolations fails t for every Content-Security-Policy report the
// page produced: the UI must need no exception to its own policy.
func noCSPViolations(t *testing.T, b *browsertest.Browser) {
	t.Helper()
	for _, m := range b.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("CSP violation: %+v", m)
		}
	}
}

// TestBrowserOperator drives the UI in headless Chromium as an operator:
// sign-in through the form, every page (axe: no serious or critical
// violation, no CSP report), every action, CSRF refusal, screenshots of
// the overview and the prefix tree. The harness fails the test if any
// request leaves the host.
func TestBrowserOperator(t *testing.T) {
	e := newEnv(t)
	b := browsertest.New(t, e.srv.URL)

	t.Run("sign-in", func(t *testing.T) {
		b.Open(t, "/signin")
		b.CheckAccessibility(t, browsertest.AxeOptions{})
		b.SetValue(t, "#token", e.tok[roleAdmin])
		if st := b.Submit(t, "main form button"); st != http.StatusOK {
			t.Fatalf("sign-in: status %d", st)
		}
		if h := b.Text(t, "h1"); h != "Overview" {
			t.Errorf("after sign-in: h1 %q, want Overview", h)
		}
		var found bool
		for _, c := range b.Cookies(t) {
			if c.Name == sessionCookie {
				found = true
				if !c.HTTPOnly || c.SameSite != "Strict" || c.Expires <= 0 {
					t.Errorf("session cookie: HttpOnly %v SameSite %q Expires %v", c.HTTPOnly, c.SameSite, c.Expires)
				}
			}
		}
		if !found {
			t.Errorf("no session cookie")
		}
	})

	pages := []string{"/", "/region/us-east", "/tree", "/tree/block/1", "/tree?many", fmt.Sprintf("/tree/pool/%d", e.acme.PoolID), "/assignments",
		fmt.Sprintf("/assignment/%d", e.acme.ID), "/ip/" + e.acme.Prefix.Addr().String(), "/allocate", "/admin"}
	t.Run("pages", func(t *testing.T) {
		for _, p := range pages {
			if p == "/tree?many" {
				// The tree of a register of many pools: blocks one a line.
				e.ui.treeInline.Store(1)
			}
			b.Open(t, p)
			e.ui.treeInline.Store(treeInline)
			b.CheckAccessibility(t, browsertest.AxeOptions{})
			if n := browsertest.Eval[int](t, b, `document.querySelectorAll("script").length`); n != 0 {
				t.Errorf("%s: %d script elements: the UI reads without JavaScript", p, n)
			}
			switch p {
			case "/":
				b.Screenshot(t, "overview")
			case "/tree":
				b.Screenshot(t, "prefix-tree")
			case "/region/us-east":
				b.Screenshot(t, "region")
			case fmt.Sprintf("/tree/pool/%d", e.acme.PoolID):
				b.Screenshot(t, "pool")
			}
		}
		// The markup seeded into a note and a resource is text in the DOM.
		b.Open(t, fmt.Sprintf("/assignment/%d", e.acme.ID))
		if n := browsertest.Eval[int](t, b, `document.querySelectorAll("b[onmouseover], main script").length`); n != 0 {
			t.Errorf("seeded markup became %d elements", n)
		}
		if !strings.Contains(b.Text(t, "main"), "<script>alert(1)</script>") {
			t.Errorf("the resource's markup is not shown as text")
		}
	})

	t.Run("search", func(t *testing.T) {
		b.Open(t, "/")
		b.SetValue(t, "#q", "web.acme.example")
		if st := b.Submit(t, "form.search button"); st != http.StatusOK {
			t.Fatalf("search: %d", st)
		}
		if !strings.Contains(b.Location(t), fmt.Sprintf("/assignment/%d", e.acme.ID)) {
			t.Errorf("search by name landed on %s", b.Location(t))
		}
	})

	t.Run("allocate", func(t *testing.T) {
		b.Open(t, "/allocate")
		b.SetValue(t, "#region", "us-east")
		b.Click(t, "#dual_stack")
		b.SetValue(t, "#tenant", "acme")
		b.SetValue(t, "#resource", "browser-vm")
		b.SetValue(t, "#name", "browser.acme.example")
		if st := b.Submit(t, "main form button"); st != http.StatusCreated {
			t.Fatalf("allocate: status %d: %s", st, b.Text(t, "main"))
		}
		if n := b.Count(t, "main .card li"); n != 2 {
			t.Errorf("dual-stack allocation lists %d assignments, want 2", n)
		}
		b.CheckAccessibility(t, browsertest.AxeOptions{})
	})

	t.Run("release", func(t *testing.T) {
		b.Open(t, fmt.Sprintf("/assignment/%d", e.untenanted.ID))
		if st := b.Submit(t, `form[action$="/release"] button`); st != http.StatusOK {
			t.Fatalf("release: %d", st)
		}
		if !strings.Contains(b.Text(t, "main"), "quarantined") {
			t.Errorf("after release the page says %q", b.Text(t, "main"))
		}
	})

	t.Run("add region, block and pool", func(t *testing.T) {
		b.Open(t, "/admin")
		b.SetValue(t, "#r-name", "europe-north")
		b.SetValue(t, "#r-country", "IE")
		if st := b.Submit(t, `form[action="/admin/region"] button`); st != http.StatusOK {
			t.Fatalf("add region: %d", st)
		}
		b.SetValue(t, "#b-prefix", "94.245.64.0/18")
		b.SetValue(t, "#b-source", "transfer")
		b.SetValue(t, "#b-from", "Nortel Networks")
		if st := b.Submit(t, `form[action="/admin/block"] button`); st != http.StatusOK {
			t.Fatalf("add block: %d", st)
		}
		b.SetValue(t, "#p-prefix", "94.245.64.0/24")
		b.SetValue(t, "#p-region", "europe-north")
		if st := b.Submit(t, `form[action="/admin/pool"] button`); st != http.StatusOK {
			t.Fatalf("add pool: %d", st)
		}
		if !strings.Contains(b.Text(t, "main"), "Added pool 94.245.64.0/24 for europe-north") {
			t.Errorf("after adding the pool: %q", b.Text(t, "main"))
		}
	})

	t.Run("reserve and unreserve", func(t *testing.T) {
		b.Open(t, "/admin")
		b.SetValue(t, "#v-prefix", "191.232.0.64/28")
		b.SetValue(t, "#v-reason", "gateways")
		b.SetValue(t, "#v-until", "2099-01-31")
		if st := b.Submit(t, `form[action="/admin/reservation"] button`); st != http.StatusOK {
			t.Fatalf("reserve: %d: %s", st, b.Text(t, "main"))
		}
		if n := b.Count(t, "tr.reservation"); n != 1 {
			t.Errorf("after reserving, the admin page lists %d reservations, want 1", n)
		}
		b.CheckAccessibility(t, browsertest.AxeOptions{})
		b.Open(t, fmt.Sprintf("/tree/pool/%d", e.acme.PoolID))
		if txt := b.Text(t, "main"); !strings.Contains(txt, "gateways") || !strings.Contains(txt, "2099-01-31") {
			t.Errorf("the pool page does not list the reservation: %q", txt)
		}
		if l := browsertest.Eval[string](t, b, `document.querySelector("main svg.bar").getAttribute("aria-label")`); !strings.Contains(l, "reserved 7.0 %") {
			t.Errorf("the pool's bar: %q, want reserved 7.0 %%", l)
		}
		b.CheckAccessibility(t, browsertest.AxeOptions{})
		b.Open(t, "/ip/191.232.0.70")
		if !strings.Contains(b.Text(t, "main"), "gateways") {
			t.Errorf("the address page does not name the reservation")
		}
		b.Open(t, "/admin")
		if st := b.Submit(t, `form[action="/admin/reservation/remove"] button`); st != http.StatusOK {
			t.Fatalf("unreserve: %d", st)
		}
		if n := b.Count(t, "tr.reservation"); n != 0 {
			t.Errorf("after unreserving, %d reservations listed", n)
		}
		if vs, _ := e.reg.Reservations(context.Background()); len(vs) != 0 {
			t.Errorf("after unreserving: %+v", vs)
		}
	})

	t.Run("CSRF refusal", func(t *testing.T) {
		before, _ := e.reg.Position(context.Background())
		b.Open(t, "/allocate")
		browsertest.Eval[bool](t, b, `(document.querySelector("main input[name=csrf]").value = "forged", true)`)
		if st := b.Submit(t, "main form button"); st != http.StatusForbidden {
			t.Errorf("a forged CSRF token: %d, want 403", st)
		}
		b.Open(t, "/allocate")
		browsertest.Eval[bool](t, b, `(document.querySelector("main input[name=csrf]").remove(), true)`)
		if st := b.Submit(t, "main form button"); st != http.StatusForbidden {
			t.Errorf("no CSRF token: %d, want 403", st)
		}
		if after, _ := e.reg.Position(context.Background()); after != before {
			t.Errorf("refused forms changed the register")
		}
	})

	t.Run("revoked token ends the session", func(t *testing.T) {
		if err := e.tokens.Revoke(context.Background(), e.ids[roleAdmin]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2100 * time.Millisecond) // auth trusts a checked secret for two seconds
		b.Navigate(t, "/")
		if !strings.Contains(b.Location(t), "/signin") {
			t.Errorf("after revocation: at %s, want the sign-in page", b.Location(t))
		}
	})
	noCSPViolations(t, b)
	for _, r := range b.Requests() {
		if browsertest.Foreign(r) {
			t.Errorf("a request left the host: %+v", r)
		}
	}
}

// TestBrowserTenant: a tenant signed in with the one-time link sees its
// own and gets "not found" for another tenant's objects by URL.
func TestBrowserTenant(t *testing.T) {
	e := newEnv(t)
	b := browsertest.New(t, e.srv.URL)
	link := e.ui.SignInLink(e.tok[roleAcme], time.Hour)
	b.Open(t, link)
	if !strings.Contains(b.Text(t, "h1"), "Tenant acme") {
		t.Fatalf("after the one-time link: %q", b.Text(t, "h1"))
	}
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	b.Open(t, "/assignments")
	if strings.Contains(b.Text(t, "main"), e.globex.Prefix.String()) {
		t.Errorf("a tenant lists another tenant's assignment")
	}
	for _, p := range []string{fmt.Sprintf("/assignment/%d", e.globex.ID), "/ip/" + e.globex.Prefix.Addr().String(), "/assignment/99999"} {
		if st := b.Navigate(t, p); st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, st)
		}
		b.CheckAccessibility(t, browsertest.AxeOptions{})
	}
	// The link was consumed: a second visit signs nobody in.
	if st := b.Navigate(t, link); st != http.StatusNotFound {
		t.Errorf("the one-time link's second use: %d, want 404", st)
	}
	a, err := e.reg.Assignment(context.Background(), e.globex.ID, nil)
	if err != nil || a.State != registry.StateAssigned {
		t.Errorf("globex's assignment: %v %v", a.State, err)
	}
	noCSPViolations(t, b)
}
