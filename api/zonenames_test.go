package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestZoneWritesAtALiveName{SQLite,PostgreSQL}: over the API, the ways
// of publishing a name that the audit of issue 10 found unchecked against
// tenants' live assignment names are 409 name-taken, naming the holder's
// kind and not the tenant, with nothing written:
//   - PATCH /v1/zones/{name} with a name server at a tenant's VM name
//     (zone update --ns), and with its glue;
//   - POST /v1/zones of a reverse zone whose name server is that name;
//   - an NS record (a delegation) whose target is that name, from an
//     admin token or from another tenant's token allowed to delegate
//     (a tenant's own VM may serve its own delegation);
//   - one POST /v1/assignments naming one name for two tenants.
//
// Before, each was stored: the VM's name then answered as a name server
// too, or for two tenants.
func TestZoneWritesAtALiveNameSQLite(t *testing.T) {
	zoneWritesAtLiveName(t, openSQLite(t))
}

func TestZoneWritesAtALiveNamePostgreSQL(t *testing.T) {
	zoneWritesAtLiveName(t, openPostgreSQL(t))
}

func zoneWritesAtLiveName(t *testing.T, st raceStore) {
	ctx := setupCtx
	reg := registry.New(st)
	addUSEast(t, reg)
	acmeNames, betaNames, yes := []string{"acme.example"}, []string{"beta.example"}, true
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &acmeNames, MayDelegate: &yes}))
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "beta", Names: &betaNames, MayDelegate: &yes}))
	if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "acme", Name: "vm1.acme.example"}); err != nil {
		t.Fatal(err)
	}
	m := manage.NewManager(st, nil, nil)
	for _, z := range []string{"acme.example", "beta.example", "other.example"} {
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: z, Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
			t.Fatal(err)
		}
	}
	tokens, err := auth.New(st, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, admin := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "adm", Scope: auth.ScopeAdmin}))
	_, acme := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "acme", Scope: auth.ScopeAllocate, Tenant: "acme"}))
	_, beta := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "beta", Scope: auth.ScopeAllocate, Tenant: "beta"}))
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)), WithDNS(m)))
	t.Cleanup(srv.Close)
	do := func(method, path, token string, body any) (int, problem.Details) {
		t.Helper()
		b, _ := json.Marshal(body)
		rq, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
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
	state := func() string {
		t.Helper()
		var b strings.Builder
		zs, err := m.Zones(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rs, err := st.Records(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		as, err := reg.Assignments(context.Background(), registry.AssignmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewEncoder(&b).Encode([]any{zs, rs, as})
		return b.String()
	}
	for _, c := range []struct {
		what, method, path, token string
		body                      any
	}{
		{"zone update --ns", http.MethodPatch, "/v1/zones/other.example", admin, map[string]any{"ns": []string{"vm1.acme.example."}}},
		{"zone update --ns, another case", http.MethodPatch, "/v1/zones/other.example", admin, map[string]any{"ns": []string{"ns.provider.example.", "VM1.Acme.Example"}}},
		{"zone update --ns with glue", http.MethodPatch, "/v1/zones/acme.example", admin, map[string]any{"ns": []string{"vm1.acme.example."}, "ns_addr": []string{"vm1.acme.example=192.0.2.9"}}},
		{"reverse zone add", http.MethodPost, "/v1/zones", admin, map[string]any{"kind": "reverse", "prefix": "10.0.0.0/24", "ns": []string{"vm1.acme.example."}}},
		{"an admin's NS record", http.MethodPost, "/v1/zones/other.example/records", admin, map[string]any{"name": "sub", "type": "NS", "data": "vm1.acme.example."}},
		{"another tenant's NS record", http.MethodPost, "/v1/zones/beta.example/records", beta, map[string]any{"name": "lab.beta.example.", "type": "NS", "data": "vm1.acme.example."}},
		{"one batch naming one name for two tenants", http.MethodPost, "/v1/assignments", admin, []map[string]any{
			{"region": "us-east", "family": 4, "tenant": "acme", "name": "vm2.acme.example"},
			{"region": "us-east", "family": 4, "tenant": "beta", "name": "vm2.acme.example"}}},
	} {
		before := state()
		code, p := do(c.method, c.path, c.token, c.body)
		if code != http.StatusConflict || p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(registry.HolderAssignment)) || strings.Contains(p.Detail, "acme ") {
			t.Errorf("%s: %d %s %q, want 409 %s naming the holder's kind, not the tenant", c.what, code, p.Type, p.Detail, problem.NameTaken)
		}
		if after := state(); after != before {
			t.Errorf("%s: refused, but the register changed:\n%s\n---\n%s", c.what, before, after)
		}
	}
	// A tenant's own VM may serve its delegation; other name servers are
	// taken by a zone update.
	if code, p := do(http.MethodPost, "/v1/zones/acme.example/records", acme, map[string]any{"name": "lab.acme.example.", "type": "NS", "data": "vm1.acme.example."}); code != http.StatusCreated {
		t.Errorf("acme's NS record to its own VM: %d %q", code, p.Detail)
	}
	if code, p := do(http.MethodPatch, "/v1/zones/other.example", admin, map[string]any{"ns": []string{"ns.provider.example.", "ns2.provider.example."}}); code != http.StatusOK {
		t.Errorf("zone update to free name servers: %d %q", code, p.Detail)
	}
}
