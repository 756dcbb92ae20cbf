package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/browsertest"
)

// zoneList is a fixed list of zones: the DNS page's input as plain data
// (cmd/cadastre's adapter over the real zone manager is tested there).
type zoneList []ZoneStatus

func (z zoneList) ZoneStatuses(context.Context) ([]ZoneStatus, error) { return z, nil }

var testZones = zoneList{
	{Name: "example.net.", Kind: "forward", Serial: 2026010203, Signed: true, Algorithm: "ECDSAP256SHA256", Denial: "nsec3",
		Rollover: "ZSK every 720h0m0s; KSK by hand",
		Keys: []ZoneKey{
			{Role: "ksk", Tag: 12345, Algorithm: "ECDSAP256SHA256", State: "active", Stage: "signing; waiting for the parent's DS",
				Published: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Active: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
			{Role: "zsk", Tag: 23456, Algorithm: "ECDSAP256SHA256", State: "published", Stage: "pre-published, waiting to sign"},
		},
		DS:     []string{"example.net.\t3600\tIN\tDS\t12345 13 2 ABCDEF"},
		Notify: []string{"192.0.2.53:53"}},
	{Name: "0.232.191.in-addr.arpa.", Kind: "reverse", Prefix: "191.232.0.0/24", Notify: []string{markup}},
}

func TestDNSShowsZonesKeysAndDS(t *testing.T) {
	e := newEnv(t)
	e.ui.cfg.DNS = testZones
	p := e.signIn(t, roleRead).get(t, "/dns")
	p.want(t, 200, "example.net.", "2026010203", "ECDSAP256SHA256", "nsec3", "12345", "waiting for the parent&#39;s DS",
		"pre-published, waiting to sign", "12345 13 2 ABCDEF", "ZSK every 720h0m0s", "191.232.0.0/24", "unsigned",
		"Not recorded", "not served yet")
	// What the zone data holds is escaped.
	p.wantNot(t, markup)
	p.want(t, 200, "&lt;script&gt;alert(1)&lt;/script&gt;")
}

func TestDNSWithoutZonesSaysSo(t *testing.T) {
	e := newEnv(t)
	e.signIn(t, roleRead).get(t, "/dns").want(t, 200, "does not know the authoritative DNS zones")
	e.ui.cfg.DNS = zoneList{}
	e.signIn(t, roleRead).get(t, "/dns").want(t, 200, "No zones yet")
}

// Zones hold every tenant's names: the DNS page is an operator's.
func TestDNSIsNotForTenants(t *testing.T) {
	e := newEnv(t)
	e.ui.cfg.DNS = testZones
	b := e.signIn(t, roleGlobex)
	p := b.get(t, "/dns")
	p.want(t, http.StatusForbidden)
	p.wantNot(t, "example.net.")
	b.get(t, "/").wantNot(t, `href="/dns"`)
}

func TestDNSPageInABrowser(t *testing.T) {
	e := newEnv(t)
	e.ui.cfg.DNS = testZones
	b := browsertest.New(t, e.srv.URL)
	b.Open(t, e.ui.SignInLink(e.tok[roleRead], time.Hour))
	b.Open(t, "/dns")
	if got := b.Text(t, "pre.ds"); !strings.Contains(got, "12345 13 2 ABCDEF") {
		t.Errorf("DS shown as %q", got)
	}
	if n := b.Count(t, "section.zone"); n != 2 {
		t.Errorf("%d zone sections, want 2", n)
	}
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	b.Screenshot(t, "dns")
}
