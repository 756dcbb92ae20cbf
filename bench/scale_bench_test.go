package bench_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/api"
	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/web"
)

// scaleRegister is the SQLite register the Scale benchmarks run on: a
// writable copy of a cloud register built with `cadastre demo --scale N`
// (issue 16: every path measured at 1M and 10M assignments). The
// benchmarks write into it (a token, a region "bench" and its fills), so
// never point it at the original.
func scaleRegister(b *testing.B) string {
	b.Helper()
	p := os.Getenv("CADASTRE_BENCH_REGISTER")
	if p == "" {
		b.Skip("CADASTRE_BENCH_REGISTER: a writable copy of a `cadastre demo --scale N` register")
	}
	return p
}

// scaleSample is what the page paths are made of: an assignment in the
// middle of the register with a name, its region, pool and tenant.
type scaleSample struct {
	n      int64 // the highest assignment ID
	a      registry.Assignment
	region string
}

func sampleOf(b *testing.B, ctx context.Context, path string, r *registry.Registry) scaleSample {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var s scaleSample
	if err := db.QueryRowContext(ctx, `SELECT MAX(id) FROM assignments`).Scan(&s.n); err != nil {
		b.Fatal(err)
	}
	// The first live named assignment past the middle.
	var id int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM assignments WHERE id >= ? AND name <> '' AND state = 'assigned' AND family = 4 ORDER BY id LIMIT 1`, s.n/2).Scan(&id); err != nil {
		b.Fatal(err)
	}
	if s.a, err = r.Assignment(ctx, id, nil); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT g.name FROM pools p JOIN regions g ON g.id = p.region_id WHERE p.id = ?`, s.a.PoolID).Scan(&s.region); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkScalePages is BenchmarkWebPages on a cloud register
// (CADASTRE_BENCH_REGISTER): the server time of each page, signed in as an
// admin, p50 and p95 in ms, and the first (cold) view.
func BenchmarkScalePages(b *testing.B) {
	path := scaleRegister(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := registry.New(st)
	tok, err := auth.New(st, make([]byte, auth.KeySize), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	s := sampleOf(b, ctx, path, r)
	ui, err := web.New(web.Config{Registry: r, Tokens: tok})
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := tok.Create(ctx, auth.Spec{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Scope: auth.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	ui.ServeHTTP(w, httptest.NewRequest(http.MethodGet, ui.SignInLink(secret, time.Hour), nil))
	cookies := w.Result().Cookies()
	if len(cookies) == 0 {
		b.Fatalf("sign-in: %d, no cookie", w.Code)
	}
	b.Logf("register %s: %d assignments; sample %d %s %s in pool %d of %s, tenant %s", path, s.n, s.a.ID, s.a.Prefix, s.a.Name, s.a.PoolID, s.region, s.a.Tenant)
	reg := url.QueryEscape(s.region)
	cold, coldCPU := map[string]time.Duration{}, map[string]time.Duration{}
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"region", "/region/" + reg},
		{"tree", "/tree"},
		{"pool", fmt.Sprintf("/tree/pool/%d", s.a.PoolID)},
		{"pool-deep-page", fmt.Sprintf("/tree/pool/%d?after=%s", s.a.PoolID, url.QueryEscape(s.a.Prefix.String()+","+strconv.FormatInt(s.a.ID, 10)))}, // a pool's page is in address order: its cursor is PREFIX,ID
		{"assignments", "/assignments"},
		{"assignments-region-v4-assigned", "/assignments?region=" + reg + "&family=4&state=assigned"},
		{"assignments-region-quarantined", "/assignments?region=" + reg + "&state=quarantined"},
		{"assignments-region-released", "/assignments?region=" + reg + "&state=released"},
		{"assignments-tenant", "/assignments?tenant=" + url.QueryEscape(s.a.Tenant)},
		{"assignment", fmt.Sprintf("/assignment/%d", s.a.ID)},
		{"address", "/ip/" + s.a.Prefix.Addr().String()},
		{"search-name", "/search?q=" + url.QueryEscape(s.a.Name)},
		{"search-resource", "/search?q=" + url.QueryEscape(s.a.Resource)},
		{"search-tenant", "/search?q=" + url.QueryEscape(s.a.Tenant)},
	} {
		get := func(b *testing.B) time.Duration {
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			for _, c := range cookies {
				req.AddCookie(c)
			}
			w := httptest.NewRecorder()
			t0 := time.Now()
			ui.ServeHTTP(w, req)
			d := time.Since(t0)
			if w.Code != http.StatusOK && !(w.Code == http.StatusSeeOther && strings.HasPrefix(p.path, "/search")) {
				b.Fatalf("%s: %d\n%.2000s", p.path, w.Code, w.Body.String())
			}
			return d
		}
		b.Run(p.name, func(b *testing.B) {
			if _, ok := cold[p.name]; !ok {
				c0 := cpuTime()
				cold[p.name] = get(b)
				coldCPU[p.name] = cpuTime() - c0
			}
			var ds []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				ds = append(ds, get(b))
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(cold[p.name].Microseconds())/1000, "cold-ms")
			b.ReportMetric(float64(coldCPU[p.name].Microseconds())/1000, "cold-cpu-ms")
		})
	}
}

// scaleFillStore opens the register BenchmarkScaleAllocFill writes into:
// the PostgreSQL register $CADASTRE_BENCH_POSTGRES names (a URL DSN of a
// copy, e.g. a database made with `createdb -T`, never the original:
// the benchmark adds a region to it), else scaleRegister's SQLite copy
// (NoSync: the cost of allocation apart from the disk). The PostgreSQL
// connections carry benchApp's name, so serverCPU finds their backends.
func scaleFillStore(b *testing.B) (interface {
	registry.Store
	Close() error
}, string) {
	ctx := context.Background()
	if dsn := os.Getenv("CADASTRE_BENCH_POSTGRES"); dsn != "" {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		st, err := postgres.Open(ctx, dsn+sep+"application_name="+benchApp, postgres.Options{})
		if err != nil {
			b.Fatalf("CADASTRE_BENCH_POSTGRES: %v", err)
		}
		return st, "postgres"
	}
	st, err := sqlite.Open(ctx, scaleRegister(b), sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	return st, "sqlite"
}

// BenchmarkScaleAllocFill: allocation in a cloud register
// (CADASTRE_BENCH_REGISTER, or CADASTRE_BENCH_POSTGRES) from a region "bench" of its own holding an
// IPv4 /16 and an IPv6 /112 (65,536 addresses each), filled to 1 %, 50 %
// and 99 % in turn: a single IPv4 /32, a single IPv6 /128, a dual-stack
// pair, and a batch of 100 IPv4 /32s per op. What is timed is released
// again (quarantine 0, untimed), so each fill holds. Issue 16: flat from 1 %
// to 99 %, and flat from a register of 1M to one of 10M.
func BenchmarkScaleAllocFill(b *testing.B) {
	ctx := context.Background()
	st, store := scaleFillStore(b)
	defer st.Close()
	r := registry.New(st)
	const size = 1 << 16
	if _, err := r.Region(ctx, region); err != nil {
		if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: region, Location: location.Location{Country: "US", Subdivision: "US-VA"}}); err != nil {
			b.Fatal(err)
		}
		for _, p := range []string{"10.0.0.0/16", "fd00::/112"} {
			pfx := netip.MustParsePrefix(p)
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
				b.Fatal(err)
			}
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: region, UseAll: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	done := 0
	for _, pct := range []int{1, 50, 99} {
		for want := size * pct / 100; done < want; {
			k := min(fillChunk, want-done)
			for _, fam := range []int{4, 6} {
				if _, err := r.Allocate(ctx, registry.Request{Region: region, Family: fam, Count: k}); err != nil {
					b.Fatalf("fill IPv%d %d of %d: %v", fam, done, want, err)
				}
			}
			done += k
		}
		for _, c := range []struct {
			name string
			q    registry.Request
		}{
			{"v4", registry.Request{Region: region, Family: 4}},
			{"v6", registry.Request{Region: region, Family: 6}},
			{"dual-stack", registry.Request{Region: region, DualStack: true}},
			{"batch-v4-100", registry.Request{Region: region, Family: 4, Count: 100}},
		} {
			b.Run(fmt.Sprintf("fill=%02d%%/%s", pct, c.name), func(b *testing.B) {
				var ids []int64
				b.ReportAllocs()
				var cpu0, untimed, srv0, srvUntimed time.Duration
				for b.Loop() {
					if cpu0 == 0 {
						cpu0, srv0 = cpuTime(), serverCPU(b, store)
					}
					out, err := r.Allocate(ctx, c.q)
					if err != nil {
						b.Fatal(err)
					}
					for _, a := range out {
						ids = append(ids, a.ID)
					}
					if len(ids) >= releaseEvery {
						b.StopTimer()
						c0, s0 := cpuTime(), serverCPU(b, store)
						release(b, r, ids)
						ids = ids[:0]
						untimed += cpuTime() - c0
						srvUntimed += serverCPU(b, store) - s0
						b.StartTimer()
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-cpu0-untimed)/float64(b.N)/1e3, "cpu-µs/op")
				if store == "postgres" {
					b.ReportMetric(float64(serverCPU(b, store)-srv0-srvUntimed)/float64(b.N)/1e3, "server-cpu-µs/op")
				}
				release(b, r, ids)
			})
		}
	}
}

// BenchmarkScaleAPI: the server CPU of the API's reads on a cloud register
// (CADASTRE_BENCH_REGISTER), through the handler (httptest, no network),
// with an admin token: GET of an assignment, a region's page with
// filters, search by name and by resource. cpu-ms/op is the process's CPU
// per request; allocs/op and B/op show what a request allocates.
func BenchmarkScaleAPI(b *testing.B) {
	path := scaleRegister(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := registry.New(st)
	tok, err := auth.New(st, make([]byte, auth.KeySize), time.Now)
	if err != nil {
		b.Fatal(err)
	}
	s := sampleOf(b, ctx, path, r)
	srv := api.New(r, tok, slog.New(slog.DiscardHandler))
	_, secret, err := tok.Create(ctx, auth.Spec{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Scope: auth.ScopeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	reg := url.QueryEscape(s.region)
	for _, p := range []struct{ name, path string }{
		{"get", fmt.Sprintf("/v1/assignments/%d", s.a.ID)},
		{"region-v4-assigned", "/v1/assignments?region=" + reg + "&family=4&state=assigned&limit=100"},
		{"name", "/v1/assignments?name=" + url.QueryEscape(s.a.Name)},
		{"resource", "/v1/assignments?resource=" + url.QueryEscape(s.a.Resource)},
		{"contains", "/v1/assignments?contains=" + s.a.Prefix.Addr().String()},
		// The list kinds of bench/scripts/api-p99.sh (the tags are
		// scale-tag.sh's: without them the tag page is empty).
		{"tag", "/v1/assignments?tag=env%3De3&limit=100"},
		{"region-quarantined", "/v1/assignments?region=" + reg + "&state=quarantined&limit=100"},
		{"state-released", "/v1/assignments?state=released&limit=100"},
		{"tenant", "/v1/assignments?tenant=" + url.QueryEscape(s.a.Tenant) + "&limit=100"},
		{"cursor-region", fmt.Sprintf("/v1/assignments?region=%s&state=assigned&family=4&cursor=%s&limit=100", reg, cursorOf(s.a))},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, w.Code, w.Body.String())
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cursorOf is the API's cursor of a region's page (in address order)
// after assignment a (api's encodeCursor: base64 of "a" and the
// registry's cursor, "PREFIX,ID").
func cursorOf(a registry.Assignment) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a" + a.Prefix.String() + "," + strconv.FormatInt(a.ID, 10)))
}
