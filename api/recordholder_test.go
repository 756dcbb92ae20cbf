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

// TestAdminRecordAtALiveName{SQLite,PostgreSQL}: an admin token may name
// static records freely, but a record at the name of a tenant's live
// assignment is 409 name-taken, naming the holder's kind and not the
// tenant, and nothing is written (issue 10). Before, the admin's A record
// made the VM's name answer with both addresses.
func TestAdminRecordAtALiveNameSQLite(t *testing.T) {
	adminRecordAtLiveName(t, openSQLite(t))
}

func TestAdminRecordAtALiveNamePostgreSQL(t *testing.T) {
	adminRecordAtLiveName(t, openPostgreSQL(t))
}

func adminRecordAtLiveName(t *testing.T, st raceStore) {
	ctx := setupCtx
	reg := registry.New(st)
	addUSEast(t, reg)
	names := []string{"acme.example"}
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &names}))
	if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "acme", Name: "vm1.acme.example"}); err != nil {
		t.Fatal(err)
	}
	m := manage.NewManager(st, nil, nil)
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "acme.example", Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(st, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, admin := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "adm", Scope: auth.ScopeAdmin}))
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)), WithDNS(m)))
	t.Cleanup(srv.Close)
	post := func(body map[string]any) (int, problem.Details) {
		t.Helper()
		b, _ := json.Marshal(body)
		rq, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/zones/acme.example/records", bytes.NewReader(b))
		rq.Header.Set("Authorization", "Bearer "+admin)
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
	for _, c := range []struct{ name, typ, data string }{
		{"vm1", "A", "192.0.2.10"},
		{"vm1.acme.example.", "AAAA", "2001:db8::10"},
		{"vm1", "CNAME", "www.acme.example."},
		{"vm1", "TXT", `"admin"`},
	} {
		st, p := post(map[string]any{"name": c.name, "type": c.typ, "data": c.data})
		if st != http.StatusConflict || p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(registry.HolderAssignment)) || strings.Contains(p.Detail, "acme ") {
			t.Errorf("admin %s %s: %d %s %q, want 409 %s naming the holder's kind, not the tenant", c.name, c.typ, st, p.Type, p.Detail, problem.NameTaken)
		}
	}
	rs, err := m.Records(context.Background(), "acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Fatalf("refused records were written: %v", rs)
	}
	// Elsewhere an admin names freely.
	if st, p := post(map[string]any{"name": "vm2", "type": "A", "data": "192.0.2.11"}); st/100 != 2 {
		t.Fatalf("admin vm2 A: %d %q", st, p.Detail)
	}
}
