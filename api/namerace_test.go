package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// raceStore is a register that also keeps DNS zones: both stores are.
type raceStore interface {
	registry.Store
	zone.Store
	auth.Store
}

// TestRecordAndAllocationRaceForOneName{SQLite,PostgreSQL}: a static
// record and an allocation of the same name, sent at once by two tenants'
// tokens: exactly one is stored, the other is 409 name-taken. The two
// tenants share the suffix "." as an upgraded register made them (an
// overlap flagged, not refused), so that each side's rules refuse the
// other's name: an allocation below admin may not take a static record's
// name, a record may not take another tenant's live name. Before the
// record's check moved into its write transaction (under the name's lock,
// as the allocation's is), an allocation committing between the record's
// check and its write left both holding the name.
func TestRecordAndAllocationRaceForOneNameSQLite(t *testing.T) {
	raceRecordAndAllocation(t, openSQLite(t))
}

func TestRecordAndAllocationRaceForOneNamePostgreSQL(t *testing.T) {
	raceRecordAndAllocation(t, openPostgreSQL(t))
}

// openSQLite is a fresh SQLite register for one test of both stores,
// closed when the test ends.
func openSQLite(t *testing.T) raceStore {
	st, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "r.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openPostgreSQL is openSQLite on PostgreSQL: a fresh schema.
func openPostgreSQL(t *testing.T) raceStore {
	st, err := postgres.Open(context.Background(), migrated.Database(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func raceRecordAndAllocation(t *testing.T, st raceStore) {
	ctx := setupCtx
	reg := registry.New(st)
	addUSEast(t, reg)
	err := st.Update(ctx, func(tx registry.Tx) error {
		for _, n := range []string{"alloc", "rec"} {
			if err := tx.InsertTenant(ctx, &registry.Tenant{Name: n, Names: []string{"."}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := manage.NewManager(st, nil, nil)
	if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "race.example", Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(st, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, allocTok := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "alloc", Scope: auth.ScopeAllocate, Tenant: "alloc"}))
	_, recTok := must2[auth.Token, string](t)(tokens.Create(ctx, auth.Spec{Name: "rec", Scope: auth.ScopeAllocate, Tenant: "rec"}))
	srv := httptest.NewServer(New(reg, tokens, slog.New(slog.NewTextHandler(io.Discard, nil)), WithDNS(m)))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	t.Cleanup(client.CloseIdleConnections)

	post := func(token, path string, body any) (int, problem.Details, error) {
		b, _ := json.Marshal(body)
		rq, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(b))
		if err != nil {
			return 0, problem.Details{}, err
		}
		rq.Header.Set("Authorization", "Bearer "+token)
		rq.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(rq)
		if err != nil {
			return 0, problem.Details{}, err
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		var p problem.Details
		if resp.StatusCode >= 300 {
			_ = json.Unmarshal(raw, &p)
			if p.Detail == "" {
				p.Detail = string(raw)
			}
		}
		return resp.StatusCode, p, err
	}

	const names, rounds = 24, 4
	won := map[string]int{}
	for round := range rounds {
		type outcome struct {
			status int
			p      problem.Details
			err    error
		}
		var wg sync.WaitGroup
		allocs := make([]outcome, names)
		recs := make([]outcome, names)
		for i := range names {
			name := fmt.Sprintf("vm%d-%d.race.example", round, i)
			wg.Add(2)
			go func() {
				defer wg.Done()
				// A record makes more round trips before its write than an
				// allocation: some allocations start later, so that either
				// side wins some names.
				time.Sleep(time.Duration(i%4) * 5 * time.Millisecond)
				o := &allocs[i]
				o.status, o.p, o.err = post(allocTok, "/v1/assignments", []map[string]any{{"region": "us-east", "family": 4, "name": name}})
			}()
			go func() {
				defer wg.Done()
				o := &recs[i]
				o.status, o.p, o.err = post(recTok, "/v1/zones/race.example/records", map[string]any{"name": name + ".", "type": "TXT", "data": `"mine"`})
			}()
		}
		wg.Wait()
		for i := range names {
			name := fmt.Sprintf("vm%d-%d.race.example", round, i)
			a, r := allocs[i], recs[i]
			if a.err != nil || r.err != nil {
				t.Fatalf("%s: %v, %v", name, a.err, r.err)
			}
			aok, rok := a.status/100 == 2, r.status/100 == 2
			switch {
			case aok && rok:
				t.Errorf("%s: both the allocation (%d) and the static record (%d) were stored", name, a.status, r.status)
			case !aok && !rok:
				t.Errorf("%s: neither was stored: allocation %d %s; record %d %s", name, a.status, a.p.Detail, r.status, r.p.Detail)
			case aok:
				won["allocation"]++
				if r.status != http.StatusConflict || r.p.Type != problem.NameTaken {
					t.Errorf("%s: the losing record got %d %s %q, want 409 %s", name, r.status, r.p.Type, r.p.Detail, problem.NameTaken)
				}
			default:
				won["record"]++
				if a.status != http.StatusConflict || a.p.Type != problem.NameTaken {
					t.Errorf("%s: the losing allocation got %d %s %q, want 409 %s", name, a.status, a.p.Type, a.p.Detail, problem.NameTaken)
				}
			}
		}
	}
	// What is stored agrees: no name is both a live assignment's and a
	// static record's.
	as, err := reg.Assignments(context.Background(), registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := m.Records(context.Background(), "race.example")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, r := range rs {
		recorded[strings.TrimSuffix(r.Name, ".")] = true
	}
	for _, a := range as {
		if recorded[strings.TrimSuffix(a.Name, ".")] {
			t.Errorf("stored: %s is both assignment %d's name and a static record's", a.Name, a.ID)
		}
	}
	if len(as)+len(rs) != names*rounds {
		t.Errorf("stored %d assignments and %d records, want %d in all", len(as), len(rs), names*rounds)
	}
	t.Logf("winners: %v", won)
}

// must2 is must for a call that returns two values and an error.
func must2[A, B any](tb testing.TB) func(A, B, error) (A, B) {
	return func(a A, b B, err error) (A, B) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return a, b
	}
}

// addUSEast gives reg the region us-east with the private block
// 10.0.0.0/16 and the pool 10.0.0.0/20 (every address handed out), the
// setup the name-ownership tests of this package share.
func addUSEast(t *testing.T, reg *registry.Registry) {
	t.Helper()
	ctx := setupCtx
	must[registry.Region](t)(reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA"}}))
	must[registry.Block](t)(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/16"), Source: registry.SourcePrivate, Note: "test"}))
	must[registry.Pool](t)(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.0.0.0/20"), Region: "us-east", UseAll: true}))
}
