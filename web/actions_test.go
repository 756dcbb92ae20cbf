package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// events counts the change log's events of action.
func (e *env) events(t *testing.T, action string) int {
	t.Helper()
	evs, err := e.reg.Events(context.Background(), registry.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == action {
			n++
		}
	}
	return n
}

func TestAllocateDualStackWithNameAndIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAllocate)
	b.get(t, "/allocate").want(t, http.StatusOK, `name="key"`, `name="dual_stack"`)
	before := e.events(t, "assignment.allocate")
	form := url.Values{"region": {"us-east"}, "dual_stack": {"1"}, "tenant": {"acme"}, "resource": {"vm-7"}, "name": {"vm7.acme.example"}, "key": {"k-1"}}
	p := b.post(t, "/allocate", form)
	p.want(t, http.StatusCreated, "Allocated", "vm7.acme.example", "191.232.0.", "2603:1030:")
	// The same form again (a double click, a retry): the same assignments.
	form.Del("csrf")
	again := b.post(t, "/allocate", form)
	again.want(t, http.StatusCreated)
	as, err := e.reg.Assignments(context.Background(), registry.AssignmentFilter{Resource: "vm-7"})
	if err != nil || len(as) != 2 {
		t.Fatalf("after two submissions with one key: %d assignments, %v; want 2", len(as), err)
	}
	if n := e.events(t, "assignment.allocate") - before; n != 2 {
		t.Errorf("%d allocate events, want 2 (one per assignment, written by the registry)", n)
	}
	for _, a := range as {
		if !strings.Contains(again.Body, a.Prefix.String()) {
			t.Errorf("the retry does not show %s", a.Prefix)
		}
	}
}

func TestAllocateRefusalsKeepTheFormAndChangeNothing(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAllocate)
	b.get(t, "/allocate")
	count := func() int {
		as, _ := e.reg.Assignments(context.Background(), registry.AssignmentFilter{})
		return len(as)
	}
	n := count()
	b.post(t, "/allocate", url.Values{"region": {"us-east"}, "family": {"5"}, "resource": {"keep-me"}}).want(t, http.StatusUnprocessableEntity, "family", "keep-me")
	b.post(t, "/allocate", url.Values{"region": {"nowhere"}, "family": {"4"}}).want(t, http.StatusNotFound, "nowhere")
	b.post(t, "/allocate", url.Values{"region": {"us-east"}, "len": {"abc"}}).want(t, http.StatusUnprocessableEntity, "len")
	b.post(t, "/allocate", url.Values{"region": {"us-east"}, "family": {"4"}, "len": {"8"}}).want(t, http.StatusUnprocessableEntity, "shorter than every IPv4 pool")
	if count() != n {
		t.Errorf("refused forms changed the register")
	}
}

func TestTenantAllocatesForItselfOnly(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAcme)
	b.get(t, "/allocate").want(t, http.StatusOK)
	b.post(t, "/allocate", url.Values{"region": {"us-east"}, "family": {"4"}, "tenant": {"globex"}}).want(t, http.StatusUnprocessableEntity, "bound to tenant acme")
	b.post(t, "/allocate", url.Values{"region": {"us-east"}, "family": {"4"}, "resource": {"mine"}}).want(t, http.StatusCreated)
	as, _ := e.reg.Assignments(context.Background(), registry.AssignmentFilter{Resource: "mine"})
	if len(as) != 1 || as[0].Tenant != "acme" {
		t.Errorf("a tenant's allocation: %+v, want one of acme", as)
	}
}

func TestReleaseThroughTheRegistry(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAllocate)
	path := fmt.Sprintf("/assignment/%d", e.untenanted.ID)
	b.get(t, path).want(t, http.StatusOK, "Release")
	before := e.events(t, "assignment.release")
	b.post(t, path+"/release", url.Values{"quarantine": {"1h"}}).want(t, http.StatusSeeOther)
	b.get(t, path).want(t, http.StatusOK, "quarantined")
	if e.events(t, "assignment.release")-before != 1 {
		t.Errorf("no release event")
	}
	b.post(t, path+"/release", url.Values{"quarantine": {"-1h"}}).want(t, http.StatusUnprocessableEntity)
	b.post(t, path+"/release", url.Values{}).want(t, http.StatusConflict)

	// A tenant cannot release another tenant's assignment: not found.
	acme := e.signIn(t, roleAcme)
	acme.post(t, fmt.Sprintf("/assignment/%d/release", e.globex.ID), url.Values{}).want(t, http.StatusNotFound)
	// A read token sees no release form and may not post one.
	r := e.signIn(t, roleRead)
	r.get(t, fmt.Sprintf("/assignment/%d", e.acme.ID)).wantNot(t, "/release")
	r.post(t, fmt.Sprintf("/assignment/%d/release", e.acme.ID), url.Values{}).want(t, http.StatusForbidden)
	a, _ := e.reg.Assignment(context.Background(), e.acme.ID, nil)
	if a.State != registry.StateAssigned {
		t.Errorf("a refused release changed the assignment: %s", a.State)
	}
}

func TestAdminAddsRegionBlockAndPool(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAdmin)
	b.get(t, "/admin").want(t, http.StatusOK, "Add region", "Add block", "Add pool")
	b.post(t, "/admin/region", url.Values{"name": {"europe-north"}, "country": {"ie"}, "subdivision": {"IE-D"}, "city": {"Dublin"}, "borrow_from": {"none"}}).want(t, http.StatusSeeOther)
	b.post(t, "/admin/block", url.Values{"prefix": {"94.245.64.0/18"}, "source": {"transfer"}, "registry": {"ripe"}, "registered_country": {"IE"},
		"from": {"Nortel Networks"}, "price": {"7500000"}, "currency": {"USD"}, "date": {"2011-03-24"}}).want(t, http.StatusSeeOther)
	b.post(t, "/admin/pool", url.Values{"prefix": {"94.245.64.0/24"}, "region": {"europe-north"}, "purpose": {"vms"}}).want(t, http.StatusSeeOther)
	b.get(t, "/admin?done=pool").want(t, http.StatusOK, "Added pool")
	b.get(t, "/tree").want(t, http.StatusOK, "94.245.64.0/18", "Nortel Networks", "94.245.64.0/24", "europe-north")

	// Refusals: the message, the status, nothing added.
	b.get(t, "/admin")
	b.post(t, "/admin/region", url.Values{"name": {"Bad Name"}, "country": {"US"}}).want(t, http.StatusUnprocessableEntity)
	b.post(t, "/admin/block", url.Values{"prefix": {"94.245.64.1/18"}, "source": {"rir"}}).want(t, http.StatusUnprocessableEntity, "host bits")
	b.post(t, "/admin/block", url.Values{"prefix": {"94.245.0.0/16"}, "source": {"rir"}, "registry": {"ripe"}}).want(t, http.StatusConflict)
	b.post(t, "/admin/pool", url.Values{"prefix": {"94.245.64.0/24"}, "region": {"europe-north"}}).want(t, http.StatusConflict)
	b.post(t, "/admin/pool", url.Values{"prefix": {"10.0.0.0/24"}, "region": {"europe-north"}}).want(t, http.StatusUnprocessableEntity, "outside every block")
	b.post(t, "/admin/pool", url.Values{"prefix": {"94.245.65.0/24"}, "region": {"nowhere"}}).want(t, http.StatusNotFound)

	// Lower scopes: no forms, and posts are refused.
	for _, role := range []string{roleRead, roleAllocate, roleAcme} {
		o := e.signIn(t, role)
		o.get(t, "/admin").want(t, http.StatusForbidden)
		o.post(t, "/admin/region", url.Values{"name": {"sneaky"}, "country": {"US"}}).want(t, http.StatusForbidden)
	}
	if _, err := e.reg.Region(context.Background(), "sneaky"); err == nil {
		t.Errorf("a refused admin form added a region")
	}
}

// TestEveryFormRefusesMissingAndForeignCSRF: each action, posted without
// the CSRF field, with another session's token, or with a made-up one, is
// refused 403 and changes nothing.
func TestEveryFormRefusesMissingAndForeignCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.signIn(t, roleAdmin)
	other := e.signIn(t, roleAdmin)
	forms := map[string]url.Values{
		"/allocate": {"region": {"us-east"}, "family": {"4"}},
		fmt.Sprintf("/assignment/%d/release", e.untenanted.ID): {},
		"/admin/region":             {"name": {"csrf-test"}, "country": {"US"}},
		"/admin/block":              {"prefix": {"198.51.100.0/24"}, "source": {"rir"}, "registry": {"arin"}},
		"/admin/pool":               {"prefix": {"191.232.4.0/24"}, "region": {"us-east"}},
		"/admin/reservation":        {"prefix": {"191.232.0.64/28"}, "reason": {"csrf"}},
		"/admin/reservation/remove": {"prefix": {"191.232.0.64/28"}},
		"/signout":                  {},
	}
	before, _ := e.reg.Position(context.Background())
	for path, f := range forms {
		for name, tok := range map[string]string{"missing": "", "foreign": other.csrf, "made up": randomToken()} {
			g := url.Values{}
			for k, v := range f {
				g[k] = v
			}
			g.Set("csrf", tok)
			p := b.post(t, path, g)
			if p.Status != http.StatusForbidden {
				t.Errorf("%s with a %s CSRF token: %d, want 403", path, name, p.Status)
			}
		}
	}
	after, _ := e.reg.Position(context.Background())
	if after != before {
		t.Errorf("refused forms changed the register: position %v -> %v", before, after)
	}
	b.get(t, "/").want(t, http.StatusOK) // still signed in: signout was refused too
}
