package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestSynthesisedNamesAreHeld{SQLite,PostgreSQL}: the names a reverse
// zone's template answers (ip-{addr}.syn.cloud.example: the forward zone
// answers ip-10-0-0-7.syn.cloud.example with 10.0.0.7) are held like a
// zone's apex: a tenant's token, even one whose suffix covers the
// template's domain, may neither name an assignment of the template's
// shape (at allocation or by renaming) nor write a static record there:
// 409 name-taken naming the holder's kind ("synthesised name"). Other
// names under the template's domain stay the tenant's; an admin names
// freely. A template whose shape covers a tenant's live name is refused
// at zone add, for admins too. Before, the tenant's assignment was named
// ip-10-0-0-7.syn.cloud.example and the name answered with two
// addresses (issue 10).
func TestSynthesisedNamesAreHeldSQLite(t *testing.T) { synthesisedNames(t, openSQLite(t)) }

func TestSynthesisedNamesAreHeldPostgreSQL(t *testing.T) { synthesisedNames(t, openPostgreSQL(t)) }

func synthesisedNames(t *testing.T, store raceStore) {
	ctx := setupCtx
	reg := registry.New(store)
	addUSEast(t, reg)
	names := []string{"syn.cloud.example"}
	must[registry.Tenant](t)(reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &names}))
	m := manage.NewManager(store, nil, nil)
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "cloud.example", Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.0.0.0/24"), Synthesize: "ip-{addr}.syn.cloud.example",
		Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(store, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, admin := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "adm", Scope: auth.ScopeAdmin}))
	_, acme := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "acme", Scope: auth.ScopeAllocate, Tenant: "acme"}))
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)), WithDNS(m)))
	t.Cleanup(srv.Close)
	do := func(method, path, token string, body any) (int, problem.Details, []byte) {
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
		return resp.StatusCode, p, raw
	}
	taken := func(what string, st int, p problem.Details) {
		t.Helper()
		if st != http.StatusConflict || p.Type != problem.NameTaken || !strings.Contains(p.Detail, string(registry.HolderSynthesis)) {
			t.Errorf("%s: %d %s %q, want 409 %s naming %q", what, st, p.Type, p.Detail, problem.NameTaken, registry.HolderSynthesis)
		}
	}
	for _, n := range []string{"ip-10-0-0-7.syn.cloud.example", "ip-10-0-0-7.syn.cloud.example.", "ip-2001-db8--7.syn.cloud.example", "ip-www.syn.cloud.example"} {
		st, p, _ := do(http.MethodPost, "/v1/assignments", acme, []map[string]any{{"region": "us-east", "family": 4, "name": n}})
		taken("tenant allocation named "+n, st, p)
		fq := strings.TrimSuffix(n, ".") + "."
		for _, r := range []string{fq, strings.ToUpper(fq), strings.TrimSuffix(n, ".cloud.example")} {
			st, p, _ = do(http.MethodPost, "/v1/zones/cloud.example/records", acme, map[string]any{"name": r, "type": "TXT", "data": `"mine"`})
			taken("tenant record at "+r, st, p)
		}
	}
	// Renaming into the template's shape is refused as allocating is.
	st, p, raw := do(http.MethodPost, "/v1/assignments", acme, []map[string]any{{"region": "us-east", "family": 4, "name": "vm1.syn.cloud.example"}})
	if st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("tenant allocation named vm1.syn.cloud.example: %d %q", st, p.Detail)
	}
	var got []registry.Assignment
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != 1 {
		t.Fatalf("allocation: %s", raw)
	}
	rename, err := reg.UpdateAssignment(registry.Restricted(ctx), got[0].ID, "", ptrTo("acme"), ptrTo("ip-10-0-0-9.syn.cloud.example"), nil)
	var nt *registry.NameTakenError
	if !errors.As(err, &nt) || nt.Holder != registry.HolderSynthesis {
		t.Errorf("tenant rename into the template's shape: %v, %v; want a NameTakenError (%s)", rename, err, registry.HolderSynthesis)
	}
	// An admin names freely.
	if st, p, _ := do(http.MethodPost, "/v1/assignments", admin, []map[string]any{{"region": "us-east", "family": 4, "tenant": "acme", "name": "ip-10-0-0-200.syn.cloud.example"}}); st/100 != 2 {
		t.Errorf("admin allocation named ip-10-0-0-200.syn.cloud.example: %d %q", st, p.Detail)
	}
	// A template whose shape covers that live name (and acme's
	// ip-...-shaped one) is refused, for an admin too, and not stored.
	_, err = m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.0.1.0/24"), Synthesize: "ip-{addr}.syn.cloud.example",
		Config: zone.Config{NS: []string{"ns.provider.example."}}})
	if !errors.As(err, &nt) || nt.Holder != registry.HolderAssignment || !strings.Contains(err.Error(), "ip-10-0-0-200.syn.cloud.example") {
		t.Errorf("zone add with a template over a tenant's live name: %v; want a NameTakenError naming the name", err)
	}
	_, err = m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.0.2.0/24"), Synthesize: "{addr}.syn.cloud.example",
		Config: zone.Config{NS: []string{"ns.provider.example."}}})
	if !errors.As(err, &nt) {
		t.Errorf("zone add with template {addr}.syn.cloud.example over vm1.syn.cloud.example: %v; want a NameTakenError", err)
	}
	zs, err := m.Zones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 2 {
		t.Errorf("refused zones were stored: %v", zs)
	}
	// Another template is taken.
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.0.1.0/24"), Synthesize: "host-{addr}.syn.cloud.example",
		Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Errorf("zone add with a template over no live name: %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
