package web

import (
	"context"
	"fmt"
	"github.com/cadastre-ipam/cadastre/location"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// poolID is the id of the env's pool p.
func (e *env) poolID(t *testing.T, p string) int64 {
	t.Helper()
	ps, err := e.reg.Pools(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range ps {
		if u.Prefix == netip.MustParsePrefix(p) {
			return u.ID
		}
	}
	t.Fatalf("no pool %s", p)
	return 0
}

func TestReserveAndUnreserve(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.signIn(t, roleAdmin)
	b.get(t, "/admin").want(t, http.StatusOK, `action="/admin/reservation"`, "No reservations.")
	before := e.events(t, "reservation.add")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.64/28"}, "reason": {"gateways " + markup}, "until": {"2099-01-31"}}).
		want(t, http.StatusSeeOther)
	if n := e.events(t, "reservation.add") - before; n != 1 {
		t.Errorf("%d reservation.add events, want 1 (written by the registry)", n)
	}
	vs, err := e.reg.Reservations(ctx)
	if err != nil || len(vs) != 1 || vs[0].Until == nil || vs[0].Until.Format("2006-01-02") != "2099-01-31" {
		t.Fatalf("after the form: reservations %+v, %v; want 191.232.0.64/28 until 2099-01-31", vs, err)
	}
	b.get(t, "/admin?done=x").want(t, http.StatusOK, "191.232.0.64/28", "Unreserve", "2099-01-31")

	// The pool page lists it and counts it in the bar; the address page names it.
	pool := fmt.Sprintf("/tree/pool/%d", e.poolID(t, "191.232.0.0/24"))
	p := b.get(t, pool)
	p.want(t, http.StatusOK, "Reservations", "191.232.0.64/28", "gateways &lt;script&gt;", "2099-01-31", "18 reserved", "reserved 7.0 %", `href="/admin#reserve"`, `href="/tree/pool/1?within=191.232.0.0%2F24" title="191.232.0.0/24: partial"`)
	p.wantNot(t, markup)
	b.get(t, "/ip/191.232.0.70").want(t, http.StatusOK, "Reserved", "191.232.0.64/28", "gateways")
	b.get(t, "/ip/191.232.0.90").wantNot(t, "191.232.0.64/28")
	// A reader sees the reservation but no way to change it.
	r := e.signIn(t, roleRead)
	r.get(t, pool).want(t, http.StatusOK, "191.232.0.64/28")
	r.get(t, pool).wantNot(t, "/admin#reserve")

	// Refusals: the message, the status, nothing changed.
	b.get(t, "/admin")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.64/28"}, "reason": {"again"}}).want(t, http.StatusConflict, "cannot be reserved")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.96/27"}, "reason": {""}}).want(t, http.StatusUnprocessableEntity, "reason")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.97/27"}, "reason": {"x"}}).want(t, http.StatusUnprocessableEntity, "host bits")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.96/27"}, "reason": {"x"}, "until": {"soon"}}).want(t, http.StatusUnprocessableEntity, "until")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.96/27"}, "reason": {"x"}, "until": {"2001-01-01"}}).want(t, http.StatusUnprocessableEntity, "not in the future")
	b.post(t, "/admin/reservation", url.Values{"prefix": {"10.9.0.0/24"}, "reason": {"x"}}).want(t, http.StatusNotFound)
	b.post(t, "/admin/reservation/remove", url.Values{"prefix": {"191.232.0.96/27"}}).want(t, http.StatusNotFound, "not reserved")
	for _, role := range []string{roleRead, roleAllocate, roleAcme} {
		o := e.signIn(t, role)
		o.get(t, "/")
		o.post(t, "/admin/reservation", url.Values{"prefix": {"191.232.0.128/28"}, "reason": {"sneaky"}}).want(t, http.StatusForbidden)
		o.post(t, "/admin/reservation/remove", url.Values{"prefix": {"191.232.0.64/28"}}).want(t, http.StatusForbidden)
	}
	if vs, _ := e.reg.Reservations(ctx); len(vs) != 1 {
		t.Fatalf("refused forms changed the reservations: %+v", vs)
	}

	// Unreserve: gone from the pool page, back in the free space.
	b.get(t, "/admin")
	b.post(t, "/admin/reservation/remove", url.Values{"prefix": {"191.232.0.64/28"}}).want(t, http.StatusSeeOther)
	b.get(t, pool).wantNot(t, "191.232.0.64/28")
	if vs, _ := e.reg.Reservations(ctx); len(vs) != 0 {
		t.Errorf("after unreserve: %+v", vs)
	}
	if _, err := e.reg.Allocate(ctx, registry.Request{Region: "us-east", Prefix: netip.MustParsePrefix("191.232.0.64/28")}); err != nil {
		t.Errorf("the unreserved space cannot be allocated: %v", err)
	}
}

// TestTagsSpaceAndIPv6Units: tags show on the region, pool, tree,
// assignment and address pages, a block's space on the tree and address
// pages, and IPv6 space is counted in /64s, never as a power of two.
func TestTagsSpaceAndIPv6Units(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must[registry.Region](t)(e.reg.AddRegion(ctx, registry.RegionSpec{Name: "eu-west", Location: location.Location{Country: "IE"},
		Tags: registry.Tags{"tier": "gold<b>"}}))
	pool := must[registry.Pool](t)(e.reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("2603:1030:1::/48"), Region: "eu-west",
		Tags: registry.Tags{"env": "prod"}}))
	a := must[[]registry.Assignment](t)(e.reg.Allocate(ctx, registry.Request{Region: "eu-west", Family: 6}))[0]
	must[registry.Assignment](t)(e.reg.PatchAssignment(ctx, a.ID, "", nil, registry.AssignmentPatch{TagPatch: registry.TagPatch{Set: registry.Tags{"owner": "team-a"}}}))
	b := e.signIn(t, roleRead)
	b.get(t, "/region/eu-west").want(t, http.StatusOK, "tier=gold&lt;b&gt;", "/64s")
	b.get(t, fmt.Sprintf("/tree/pool/%d", pool.ID)).want(t, http.StatusOK, "env=prod", "/64s free of 65,536 /64s")
	b.get(t, "/tree").want(t, http.StatusOK, "env=prod", "space global", "/64s free")
	b.get(t, fmt.Sprintf("/assignment/%d", a.ID)).want(t, http.StatusOK, "owner=team-a")
	b.get(t, "/ip/"+a.Prefix.Addr().String()).want(t, http.StatusOK, "env=prod", "owner=team-a", "Space")
	for _, path := range []string{"/", "/region/us-east", "/region/eu-west", "/tree", fmt.Sprintf("/tree/pool/%d", pool.ID)} {
		b.get(t, path).wantNot(t, "2^")
	}
}
