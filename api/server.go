// Package api is cadastre's HTTP face: health and readiness probes,
// Prometheus metrics, the published geofeed, and (as it grows) the JSON API.
// Handlers parse, call one registry method and format; no rule lives here.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/internal/responselog"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Server serves the HTTP endpoints over one registry.
type Server struct {
	reg     *registry.Registry
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *prometheus.Registry
	ready   atomic.Bool

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	allocations   prometheus.Counter
	allocFailures *prometheus.CounterVec

	feed    feedCache
	geo     *geo.Engine
	sources geo.Store       // nil: sources are not changed over the API
	dns     *manage.Manager // nil: zones, records and TSIG keys answer 503 (dns.go)
	tokens  *auth.Tokens
	limiter *limiter
	api     huma.API
	proxies []netip.Prefix // peers whose X-Forwarded-For is believed

	probeMu  sync.Mutex // one write probe at a time, at most every probeEvery
	probeAt  time.Time
	probeErr error
}

// New returns a Server; it is ready until Drain is called. With tokens nil
// the /v1 API answers 503: there is no unauthenticated mode.
func New(reg *registry.Registry, tokens *auth.Tokens, log *slog.Logger, opts ...Option) *Server {
	s := &Server{reg: reg, tokens: tokens, log: log, mux: http.NewServeMux(), metrics: prometheus.NewRegistry(), limiter: newLimiter(20, time.Minute)}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cadastre_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "cadastre_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	s.allocations = prometheus.NewCounter(prometheus.CounterOpts{Name: "cadastre_allocations_total", Help: "Prefixes allocated through the API."})
	s.allocFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cadastre_allocation_failures_total", Help: "Failed allocation requests by reason.",
	}, []string{"reason"})
	s.metrics.MustRegister(s.requests, s.latency, s.allocations, s.allocFailures, &poolCollector{reg: reg},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.ready.Store(true)

	s.handle("GET /livez", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /geofeed.csv", s.geofeed)
	for _, o := range opts {
		o(s)
	}
	s.mountV1()
	return s
}

// Option configures a Server.
type Option func(*Server)

// Metrics is the server's Prometheus registry, for other parts to add to.
func (s *Server) Metrics() *prometheus.Registry { return s.metrics }

// MetricsHandler serves the Prometheus metrics. It is not on the API's
// address: pool names and use are for the operator, so it is served on a
// listener of its own (serve --metrics-listen, loopback by default).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})
}

// Drain makes /readyz fail, so load balancers stop sending new requests
// before the server shuts down.
func (s *Server) Drain() { s.ready.Store(false) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// The answer is public (load balancers ask it without a token): it
	// says which check failed, and the log says why. The store's error
	// names the database (PostgreSQL's URL: its user, host and name) and
	// its SQL errors, nothing a stranger needs (audit12).
	if _, err := s.reg.Position(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "readyz: store unavailable", slog.String("err", err.Error()))
		http.Error(w, "store unavailable (the server's log says why)\n", http.StatusServiceUnavailable)
		return
	}
	if err := s.writable(ctx); err != nil {
		http.Error(w, "store refuses writes (the server's log says why)\n", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// probeEvery bounds how often /readyz takes the store's write lock.
const probeEvery = 5 * time.Second

// writable runs an empty write transaction, at most every probeEvery, so
// that a server whose store refuses writes (a read-only file, a database
// in recovery) is taken out of rotation rather than failing every write.
func (s *Server) writable(ctx context.Context) error {
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if !s.probeAt.IsZero() && time.Since(s.probeAt) < probeEvery {
		return s.probeErr
	}
	err := s.reg.Store().Update(ctx, func(registry.Tx) error { return nil })
	if wc, ok := s.reg.Store().(writeChecker); ok && err == nil {
		err = wc.CheckWritable(ctx)
	}
	if ctx.Err() != nil && err != nil {
		return err // the probe's own deadline: try again next time
	}
	s.probeAt, s.probeErr = time.Now(), err
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "readyz: store refuses writes", slog.String("err", err.Error()))
	}
	return err
}

// writeChecker is a store that can tell whether writes would be refused
// where an empty transaction cannot: PostgreSQL commits an empty
// transaction in a read-only database (a hot standby, or
// default_transaction_read_only), where every write then fails.
type writeChecker interface {
	CheckWritable(ctx context.Context) error
}

// handle registers h under pattern with request logging and metrics,
// labelled by the pattern so that label cardinality stays bounded.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
}

func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := responselog.New(w)
		h.ServeHTTP(sw, r)
		d := time.Since(start)
		s.requests.WithLabelValues(route, strconv.Itoa(sw.Status())).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		// The URL is logged without its query: a careless client may put a
		// secret there, and it must not reach the logs.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.Status()),
			slog.Int("bytes", sw.Bytes()), slog.Duration("duration", d), slog.String("remote", infoOf(r.Context()).client))
	})
}
