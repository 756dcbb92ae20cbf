package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/api"
	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// openFDs counts this process's open file descriptors that are sockets
// (the store's files are left out: it opens read connections as load
// grows, and keeps them).
func openFDs(tb testing.TB) int {
	tb.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// TestHostileLoad (issue 10, "Proof"): 300 clients that send headers and
// then trickle nothing of their body (on /livez without a token, on the
// API without a token, and on the API with a valid token) keep
// reconnecting for the whole run, while 16 honest clients make
// authenticated reads. Honest p99 must stay under 50 ms, every honest
// request must succeed, every slow connection must be cut by the server,
// and once the clients stop the server's descriptors return to what they
// were. Those are checked on every run (8 s, in CI too). The latency
// figure is a measurement, not a test of this machine's load: only with
// CADASTRE_LOAD=1 (20 s) is honest p99 under 50 ms required; the figures
// are in bench/README.md.
func TestHostileLoad(t *testing.T) {
	const (
		slowClients   = 300
		honestClients = 16
	)
	measure := os.Getenv("CADASTRE_LOAD") != ""
	run := 8 * time.Second
	if measure {
		run = 20 * time.Second
	}
	ctx := registry.WithActor(context.Background(), "bench")
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "load.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.New(st, []byte(strings.Repeat("k", auth.KeySize)), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, readTok, err := tokens.Create(ctx, auth.Spec{Name: "honest", Scope: auth.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	_, allocTok, err := tokens.Create(ctx, auth.Spec{Name: "slow insider", Scope: auth.ScopeAllocate})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(reg, tokens, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	lim := api.DefaultLimits()
	lim.ReadBody = 2 * time.Second // so that the run sees many generations of slow clients
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	hs := lim.HTTPServer(srv)
	go hs.Serve(api.LimitConns(ln, lim.MaxConnsPerClient))
	defer hs.Close()

	before := openFDs(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowConns, slowCut atomic.Int64
	var peak atomic.Int64
	slowReqs := []string{
		"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{",
		"POST /v1/assignments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{",
		"POST /v1/assignments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + allocTok + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{",
	}
	for i := range slowClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 20 source addresses, 15 clients each: under the per-client
			// cap, so that the deadlines, not the cap, are what is tested.
			src := netip.AddrFrom4([4]byte{127, 0, 1, byte(10 + i%20)})
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				slowConns.Add(1)
				io.WriteString(c, slowReqs[i%len(slowReqs)])
				// Wait for the server to close it, or the end of the run.
				done := make(chan struct{})
				go func() {
					io.Copy(io.Discard, c)
					close(done)
				}()
				select {
				case <-done:
					slowCut.Add(1)
				case <-stop:
				}
				c.Close()
				// A slow client, not a flood: it comes back a moment later.
				time.Sleep(time.Second)
			}
		}()
	}
	var mu sync.Mutex
	var lat []time.Duration
	var failures []string
	var transports []*http.Transport
	for range honestClients {
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
		transports = append(transports, tr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", "http://"+addr+"/v1/regions", nil)
				req.Header.Set("Authorization", "Bearer "+readTok)
				start := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(start)
				mu.Lock()
				if err != nil || resp.StatusCode != http.StatusOK {
					failures = append(failures, fmt.Sprint(err, resp))
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	end := time.After(run)
	tick := time.NewTicker(100 * time.Millisecond)
sample:
	for {
		select {
		case <-end:
			break sample
		case <-tick.C:
			if n := int64(openFDs(t)); n > peak.Load() {
				peak.Store(n)
			}
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}

	// The server closes its side as each client goes; wait for it.
	var after int
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = openFDs(t)
		if after <= before || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	t.Logf("slow connections opened %d, cut by the server %d; honest requests %d, failed %d; honest latency p50 %v p99 %v max %v; socket descriptors before %d, peak %d, after %d",
		slowConns.Load(), slowCut.Load(), len(lat), len(failures), pct(0.5), pct(0.99), pct(1), before, peak.Load(), after)
	if len(failures) > 0 {
		t.Errorf("%d honest requests failed, e.g. %s", len(failures), failures[0])
	}
	if p := pct(0.99); measure && p >= 50*time.Millisecond {
		t.Errorf("honest p99 %v, want under 50ms", p)
	}
	if after > before {
		t.Errorf("descriptors: %d before, %d after the clients left: a leak", before, after)
	}
	if slowCut.Load() < slowClients {
		t.Errorf("only %d slow connections were cut by the server", slowCut.Load())
	}
}
