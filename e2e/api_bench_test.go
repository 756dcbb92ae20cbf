package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/cadastre-ipam/cadastre/api"
	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// These benchmarks run api.New in this process behind a loopback
// httptest server, so that `go test -cpuprofile` shows where an API
// request's time goes (server and client share the profile; the server
// side is under api., huma, registry and the store). Run with -cpu 2 and
// 16 clients, as the load figures in bench/README.md:
//
//	go test -run XXX -bench API -cpu 2 -benchtime 5s -cpuprofile cpu.out ./e2e/
//	go tool pprof -top -cum e2e.test cpu.out

type fullStore interface {
	registry.Store
	auth.Store
	Close() error
}

// apiServer starts the API on st with two regions and pools, and returns
// its URL and an allocate token.
func apiServer(b *testing.B, st fullStore) (string, string) {
	ctx := context.Background()
	b.Cleanup(func() { st.Close() })
	reg := registry.New(st)
	key, err := auth.ParseKey(tokenKey)
	if err != nil {
		b.Fatal(err)
	}
	toks, err := auth.New(st, key, nil)
	if err != nil {
		b.Fatal(err)
	}
	must := func(_ any, err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}))
	must(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.Source("private")}))
	must(reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: registry.Source("private")}))
	must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00:0:0:1::/64"), Region: "us-east", UseAll: true}))
	must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.0.0.0/9"), Region: "us-east", UseAll: true}))
	_, secret, err := toks.Create(ctx, auth.Spec{Scope: auth.ScopeAllocate, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(api.New(reg, toks, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	b.Cleanup(srv.Close)
	// Prepare the read statements one request at a time before the
	// parallel clients start: cold concurrent reads can deadlock the
	// SQLite store (coldReadsBug).
	for _, path := range []string{"/v1/regions", "/v1/pools", "/v1/assignments/1"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return srv.URL, secret
}

func benchStore(b *testing.B, kind string) fullStore {
	ctx := context.Background()
	switch kind {
	case "sqlite":
		st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	case "postgres":
		st, err := postgres.Open(ctx, freshSchema(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	panic(kind)
}

var benchSeq atomic.Int64

func do(b *testing.B, hc *http.Client, req *http.Request, want int) {
	resp, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
}

func benchAllocate(b *testing.B, kind string) {
	url, tok := apiServer(b, benchStore(b, kind))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	body := []byte(`[{"region":"us-east","family":4}]`)
	b.SetParallelism(16 / max(1, testingCPU()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/assignments", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "bench-"+strconv.FormatInt(benchSeq.Add(1), 10))
			do(b, hc, req, http.StatusCreated)
		}
	})
}

func benchGet(b *testing.B, kind string) {
	url, tok := apiServer(b, benchStore(b, kind))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/assignments", bytes.NewReader([]byte(`[{"region":"us-east","count":1000}]`)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	do(b, hc, req, http.StatusCreated)
	var n atomic.Int64
	b.SetParallelism(16 / max(1, testingCPU()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/assignments/%d", url, 1+n.Add(1)%1000), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			do(b, hc, req, http.StatusOK)
		}
	})
}

func BenchmarkAPIAllocateSQLite(b *testing.B)   { benchAllocate(b, "sqlite") }
func BenchmarkAPIAllocatePostgres(b *testing.B) { benchAllocate(b, "postgres") }
func BenchmarkAPIGetSQLite(b *testing.B)        { benchGet(b, "sqlite") }
func BenchmarkAPIGetPostgres(b *testing.B)      { benchGet(b, "postgres") }

// testingCPU is GOMAXPROCS as the benchmark runs it (-cpu).
func testingCPU() int { return runtime.GOMAXPROCS(0) }
