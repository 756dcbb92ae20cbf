// Command loadgen is a bounded load generator for cadastre's HTTP API: a
// fixed number of clients send allocations (POST /v1/assignments) or
// look-ups (GET /v1/assignments/{id}) for at most -duration (and at most
// -requests), then it prints requests per second, latency percentiles and
// errors. It is for loopback benchmarks (bench/README.md), not for
// attacking servers: the duration is capped at 120 s. With -op paths it
// reads any GET paths from a file (a list page with a filter, a search by
// name) and sends them at random, to measure reads of a register built
// beforehand (cadastre demo --scale).
//
//	loadgen -url http://127.0.0.1:8080 -token $TOKEN -op alloc -clients 16 -duration 20s
//	loadgen -url http://127.0.0.1:8080 -token $TOKEN -op paths -paths reads.txt -clients 4
//	loadgen -url http://127.0.0.1:8080 -token $TOKEN -cookie cadastre_session=$SID -op paths -paths pages.txt
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxDuration = 120 * time.Second
	maxRequests = 5_000_000
	maxClients  = 256
)

type config struct {
	urls     []string
	token    string
	clients  int
	duration time.Duration
	requests int64
	op       string
	region   string
	family   int
	count    int
	idem     bool
	seed     int
	names    string   // with op alloc: name each allocation vm-RUN-CLIENT-N.NAMES
	paths    []string // with op paths: the GET paths sent
	cookie   string   // a Cookie header sent with every request (the web UI's session)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var urls, pathsFile string
	fs.StringVar(&urls, "url", "http://127.0.0.1:8080", "server base URL; several, comma-separated, are used round-robin")
	fs.StringVar(&cfg.token, "token", os.Getenv("CADASTRE_TOKEN"), "bearer token of scope allocate (default $CADASTRE_TOKEN)")
	fs.IntVar(&cfg.clients, "clients", 16, "concurrent clients (at most 256)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long to run (at most 120s)")
	fs.Int64Var(&cfg.requests, "requests", 0, "stop after this many requests (0: only the duration bounds the run; at most 5,000,000)")
	fs.StringVar(&cfg.op, "op", "alloc", "alloc: POST /v1/assignments; get: GET /v1/assignments/{id}; mixed: 1 alloc in 5; paths: GET the paths of -paths")
	fs.StringVar(&pathsFile, "paths", "", "with op paths: a file of GET paths, one a line (/v1/assignments?region=us-east&limit=100), sent in random order")
	fs.StringVar(&cfg.region, "region", "", "region to allocate in (required for alloc, and for get/mixed to seed assignments)")
	fs.IntVar(&cfg.family, "family", 6, "address family of allocations: 4 or 6")
	fs.IntVar(&cfg.count, "count", 1, "prefixes per allocation request")
	fs.BoolVar(&cfg.idem, "idempotency", true, "send a unique Idempotency-Key with each allocation, as a careful client does")
	fs.StringVar(&cfg.names, "names", "", "name each allocation uniquely under this DNS suffix (tests name ownership; the token's tenant must hold the suffix)")
	fs.StringVar(&cfg.cookie, "cookie", "", "a Cookie header sent with every request besides the token, e.g. cadastre_session=ID: the web UI's pages take a session, not a bearer token")
	fs.IntVar(&cfg.seed, "seed", 1000, "assignments to allocate first for get and mixed (in one request)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := cfg.readPaths(pathsFile); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if err := cfg.check(urls); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := cfg.run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	res.print(stdout, cfg)
	if res.ok == 0 {
		return 1
	}
	return 0
}

func (c *config) check(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		pu, err := url.Parse(strings.TrimRight(strings.TrimSpace(u), "/"))
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("-url %q: want http(s)://host:port", u)
		}
		c.urls = append(c.urls, pu.String())
	}
	switch {
	case c.token == "":
		return errors.New("no token: give -token or set $CADASTRE_TOKEN")
	case c.clients < 1 || c.clients > maxClients:
		return fmt.Errorf("-clients %d: want 1..%d", c.clients, maxClients)
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("-duration %s: want more than 0 and at most %s", c.duration, maxDuration)
	case c.requests < 0 || c.requests > maxRequests:
		return fmt.Errorf("-requests %d: want 0..%d", c.requests, maxRequests)
	case c.op != "alloc" && c.op != "get" && c.op != "mixed" && c.op != "paths":
		return fmt.Errorf("-op %q: want alloc, get, mixed or paths", c.op)
	case c.op == "paths" && len(c.paths) == 0:
		return errors.New("-op paths needs -paths FILE, with one GET path a line")
	case c.op != "paths" && len(c.paths) > 0:
		return errors.New("-paths goes with -op paths")
	case c.region == "" && c.op != "paths":
		return errors.New("-region is required (allocations, and the assignments get looks up, come from it)")
	case c.family != 4 && c.family != 6:
		return fmt.Errorf("-family %d: want 4 or 6", c.family)
	case c.count < 1 || c.count > 1000:
		return fmt.Errorf("-count %d: want 1..1000", c.count)
	case c.seed < 1 || c.seed > 100000:
		return fmt.Errorf("-seed %d: want 1..100000", c.seed)
	case strings.ContainsAny(c.cookie, "\r\n") || (c.cookie != "" && !strings.Contains(c.cookie, "=")):
		return fmt.Errorf("-cookie %q: want NAME=VALUE on one line", c.cookie)
	}
	if c.requests == 0 {
		c.requests = maxRequests
	}
	return nil
}

// readPaths reads the GET paths of op paths: one a line, each starting
// with /; blank lines and lines starting with # are left out.
func (c *config) readPaths(file string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("-paths: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "/") {
			return fmt.Errorf("-paths %s line %d: %q: want a path starting with /", file, i+1, line)
		}
		c.paths = append(c.paths, line)
	}
	return nil
}

type result struct {
	elapsed   time.Duration
	ok        int64
	latencies []time.Duration // of every request that got an answer
	errors    map[string]int64
}

type client struct {
	hc        *http.Client
	latencies []time.Duration
	ok        int64
	errors    map[string]int64
}

func (c *config) run(ctx context.Context) (*result, error) {
	tr := &http.Transport{MaxIdleConns: c.clients * 2, MaxIdleConnsPerHost: c.clients, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var ids []int64
	if c.op == "get" || c.op == "mixed" {
		var err error
		if ids, err = c.seedAssignments(ctx, hc); err != nil {
			return nil, err
		}
	}
	if err := c.warmUp(ctx, hc, ids); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var sent atomic.Int64
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	body, _ := json.Marshal([]map[string]any{{"region": c.region, "family": c.family, "count": c.count}})
	clients := make([]*client, c.clients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		cl := &client{hc: hc, errors: map[string]int64{}}
		clients[i] = cl
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for n := 0; ctx.Err() == nil; n++ {
				seq := sent.Add(1)
				if seq > c.requests {
					return
				}
				base := c.urls[int(seq)%len(c.urls)]
				alloc := c.op == "alloc" || (c.op == "mixed" && rng.IntN(5) == 0)
				var req *http.Request
				if alloc {
					b := body
					if c.names != "" {
						b, _ = json.Marshal([]map[string]any{{"region": c.region, "family": c.family, "count": c.count,
							"name": fmt.Sprintf("vm-%s-%d-%d.%s", run, i, n, c.names)}})
					}
					req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/assignments", bytes.NewReader(b))
					req.Header.Set("Content-Type", "application/json")
					if c.idem {
						req.Header.Set("Idempotency-Key", fmt.Sprintf("loadgen-%s-%d-%d", run, i, n))
					}
				} else if c.op == "paths" {
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+c.paths[rng.IntN(len(c.paths))], nil)
				} else {
					id := ids[rng.IntN(len(ids))]
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/assignments/"+strconv.FormatInt(id, 10), nil)
				}
				c.authorize(req)
				t0 := time.Now()
				resp, err := cl.hc.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						return // the run ended during this request: not counted
					}
					cl.errors["transport: "+shortErr(err)]++
					time.Sleep(10 * time.Millisecond) // no busy loop against a closed port
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					return
				}
				cl.latencies = append(cl.latencies, d)
				want := http.StatusOK
				if alloc {
					want = http.StatusCreated
				}
				if resp.StatusCode == want && err == nil {
					cl.ok++
				} else {
					cl.errors[fmt.Sprintf("HTTP %d", resp.StatusCode)]++
				}
			}
		}(i)
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start), errors: map[string]int64{}}
	for _, cl := range clients {
		res.ok += cl.ok
		res.latencies = append(res.latencies, cl.latencies...)
		for k, v := range cl.errors {
			res.errors[k] += v
		}
	}
	slices.Sort(res.latencies)
	return res, nil
}

// warmUp sends one authenticated read of each kind to every server, one
// at a time, before the clients start: it checks the token and, on the
// SQLite store, prepares the read statements, whose concurrent first use
// can deadlock the server (store/sqlite Store.rstmt, see bench/README.md).
func (c *config) warmUp(ctx context.Context, hc *http.Client, ids []int64) error {
	paths := []string{"/v1/regions"}
	if len(ids) > 0 {
		paths = append(paths, "/v1/assignments/"+strconv.FormatInt(ids[0], 10))
	}
	// The first paths once: a bad file fails here, not as a run of errors.
	paths = append(paths, c.paths[:min(len(c.paths), 20)]...)
	for _, u := range c.urls {
		for _, p := range paths {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+p, nil)
			c.authorize(req)
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("warm-up GET %s%s: HTTP %d: %s", u, p, resp.StatusCode, bytes.TrimSpace(b))
			}
		}
	}
	return nil
}

// authorize sets the token and, with -cookie, the Cookie header: the API
// reads the first, the web UI's pages the second (a signed-in session).
func (c *config) authorize(req *http.Request) {
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
}

// seedAssignments allocates the assignments that get and mixed look up.
func (c *config) seedAssignments(ctx context.Context, hc *http.Client) ([]int64, error) {
	var ids []int64
	for len(ids) < c.seed {
		n := min(c.seed-len(ids), 1000)
		body, _ := json.Marshal([]map[string]any{{"region": c.region, "family": c.family, "count": n}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.urls[0]+"/v1/assignments", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+c.token)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("seeding assignments: %w", err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("seeding assignments: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
		}
		var as []struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(b, &as); err != nil {
			return nil, fmt.Errorf("seeding assignments: %w", err)
		}
		for _, a := range as {
			ids = append(ids, a.ID)
		}
	}
	return ids, nil
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r *result) print(w io.Writer, c config) {
	total := int64(len(r.latencies))
	var nerr, lost int64
	keys := make([]string, 0, len(r.errors))
	for k, v := range r.errors {
		nerr += v
		if strings.HasPrefix(k, "transport: ") {
			lost += v // no answer, so no latency
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }
	fmt.Fprintf(w, "op=%s clients=%d region=%s family=%d count=%d urls=%s\n", c.op, c.clients, c.region, c.family, c.count, strings.Join(c.urls, ","))
	fmt.Fprintf(w, "requests=%d ok=%d errors=%d elapsed=%s\n", total+lost, r.ok, nerr, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "throughput=%.0f req/s (ok %.0f/s)\n", float64(total)/r.elapsed.Seconds(), float64(r.ok)/r.elapsed.Seconds())
	fmt.Fprintf(w, "latency p50=%s p90=%s p99=%s max=%s\n", ms(pct(r.latencies, 50)), ms(pct(r.latencies, 90)), ms(pct(r.latencies, 99)), ms(pct(r.latencies, 100)))
	for _, k := range keys {
		fmt.Fprintf(w, "error %s: %d\n", k, r.errors[k])
	}
}
