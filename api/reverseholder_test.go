package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestStaticRecordAtALiveAddress{SQLite,PostgreSQL}: a static record of
// a reverse zone at the reverse name of an address another tenant holds
// live (5.0.0.10.in-addr.arpa. while 10.0.0.5 is tenant acme's VM) is
// refused on every write path (an admin's and a tenant's token over the
// API, record add, zone import, an RFC 2136 update): 409 name-taken
// naming the holder's kind, nothing written. So is a delegation of space
// that holds such an address. The operator's own addresses, free
// addresses and the writer's own tenant's are not refused. Before, the
// PTR was stored and the reverse zone answered for acme's address with
// the writer's name (issue 10).
func TestStaticRecordAtALiveAddressSQLite(t *testing.T) {
	staticRecordAtLiveAddress(t, openSQLite(t))
}

func TestStaticRecordAtALiveAddressPostgreSQL(t *testing.T) {
	staticRecordAtLiveAddress(t, openPostgreSQL(t))
}

func staticRecordAtLiveAddress(t *testing.T, st raceStore) {
	ctx := setupCtx
	reg := registry.New(st)
	addUSEast(t, reg)
	acmeNames := []string{"acme.example"}
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &acmeNames}))
	// evil may write records, delegations included, under the reverse
	// names of 10.0.0.0/16 (an operator gave it the space's reverse names
	// once), but not at acme's addresses.
	evilNames := []string{"0.10.in-addr.arpa"}
	yes := true
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "evil", Names: &evilNames, MayDelegate: &yes}))
	vms, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "acme", Name: "vm1.acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	vm := vms[0]
	owns, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "evil"})
	if err != nil {
		t.Fatal(err)
	}
	own := owns[0]
	opss, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4})
	if err != nil {
		t.Fatal(err)
	}
	ops := opss[0]
	m := manage.NewManager(st, nil, nil)
	rz, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.0.0.0/16"), Config: zone.Config{NS: []string{"ns.provider.example."}}})
	if err != nil {
		t.Fatal(err)
	}
	rev := func(a registry.Assignment) string {
		b := a.Prefix.Addr().As4()
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
	}
	tokens, err := auth.New(st, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, admin := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "adm", Scope: auth.ScopeAdmin}))
	_, evil := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "evil", Scope: auth.ScopeAllocate, Tenant: "evil"}))
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)), WithDNS(m)))
	t.Cleanup(srv.Close)
	post := func(token string, body map[string]any) (int, problem.Details) {
		t.Helper()
		b, _ := json.Marshal(body)
		rq, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/zones/"+rz.Name+"/records", bytes.NewReader(b))
		rq.Header.Set("Authorization", "Bearer "+token)
		rq.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p problem.Details
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &p)
		return resp.StatusCode, p
	}
	refusedTaken := func(what string, err error) {
		t.Helper()
		var taken *registry.NameTakenError
		if !errors.As(err, &taken) || taken.Holder != registry.HolderAssignment || strings.Contains(err.Error(), "acme") {
			t.Errorf("%s: %v; want a NameTakenError naming the holder's kind (%s), not the tenant", what, err, registry.HolderAssignment)
		}
	}
	for _, c := range []struct {
		who, token, name, typ, data string
	}{
		{"admin", admin, rev(vm), "PTR", "evil.example."},
		{"admin", admin, strings.ToUpper(rev(vm)), "PTR", "evil.example."},
		{"admin", admin, rev(vm), "TXT", `"mine"`},
		{"admin", admin, rev(vm), "CNAME", "5.0/26." + rz.Name},
		{"admin", admin, "0.0." + rz.Name, "NS", "ns.elsewhere.example."},
		{"tenant evil", evil, rev(vm), "PTR", "evil.example."},
		{"tenant evil", evil, "0.0." + rz.Name, "NS", "ns.evil.example."},
	} {
		st, p := post(c.token, map[string]any{"name": c.name, "type": c.typ, "data": c.data})
		if st != http.StatusConflict || p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(registry.HolderAssignment)) || strings.Contains(p.Detail, "acme") {
			t.Errorf("%s: %s %s: %d %s %q, want 409 %s naming the holder's kind, not the tenant", c.who, c.name, c.typ, st, p.Type, p.Detail, problem.NameTaken)
		}
	}
	// The CLI's record add, a zone file and an RFC 2136 update: the
	// admin's paths.
	_, err = m.AddRecord(ctx, rz.Name, rev(vm), "PTR", "evil.example.", 0)
	refusedTaken("record add", err)
	_, err = m.Import(ctx, rz.Name, "in.zone", strings.NewReader("$ORIGIN "+rz.Name+"\n9.9 IN PTR free.example.\n"+rev(vm)+" IN PTR evil.example.\n"))
	refusedTaken("zone import", err)
	if err != nil && !strings.Contains(err.Error(), "line 3") {
		t.Errorf("zone import: %v; want the file's line", err)
	}
	ptr, err := dns.NewRR(rev(vm) + " 300 IN PTR evil.example.")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Update(ctx, rz.Name, []dns.RR{ptr})
	refusedTaken("RFC 2136 update", err)
	var ue *manage.UpdateError
	if !errors.As(err, &ue) || ue.Rcode != dns.RcodeRefused {
		t.Errorf("RFC 2136 update: %v; want REFUSED", err)
	}
	rs, err := m.Records(ctx, rz.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Fatalf("refused records were written: %v", rs)
	}
	// Elsewhere each writes: the operator's own address and a free one
	// (admin), the tenant's own address (evil).
	for _, c := range []struct{ who, token, name string }{
		{"admin, the operator's address", admin, rev(ops)},
		{"admin, a free address", admin, "200.15." + rz.Name},
		{"tenant evil, its own address", evil, rev(own)},
	} {
		if st, p := post(c.token, map[string]any{"name": c.name, "type": "PTR", "data": "ok.example."}); st != http.StatusCreated {
			t.Errorf("%s: %s PTR: %d %q, want 201", c.who, c.name, st, p.Detail)
		}
	}
	if _, err := m.AddRecord(ctx, rz.Name, "201.15."+rz.Name, "PTR", "ok.example.", 0); err != nil {
		t.Errorf("record add at a free address: %v", err)
	}
	// Quarantined, the address is still acme's; released without
	// quarantine, no one's.
	if _, err := reg.Release(ctx, registry.Target{ID: vm.ID}, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if st, p := post(admin, map[string]any{"name": rev(vm), "type": "PTR", "data": "evil.example."}); st != http.StatusConflict {
		t.Errorf("admin PTR at a quarantined address of acme: %d %q, want 409", st, p.Detail)
	}
	vm2s, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	vm2 := vm2s[0]
	if _, err := reg.Release(ctx, registry.Target{ID: vm2.ID}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if st, p := post(admin, map[string]any{"name": rev(vm2), "type": "PTR", "data": "next.example."}); st != http.StatusCreated {
		t.Errorf("admin PTR at a released address: %d %q, want 201", st, p.Detail)
	}
}
