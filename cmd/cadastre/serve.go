package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cadastre-ipam/cadastre/api"
	"github.com/cadastre-ipam/cadastre/auth"
	dnsserver "github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/web"
)

func newServeCmd(a *app) *cobra.Command {
	var listen, dnsListen, pprofListen, metricsListen string
	var dnsF dnsFlags
	var drain, grace time.Duration
	var h httpFlags
	var maxBatch int
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web UI, the JSON API, the published geofeed, metrics and health probes over HTTP",
		Long: `Serve over HTTP, on loopback unless told otherwise:
  /                  the web UI (sign in with an API token; it allows what the token allows)
  /v1/...            the JSON API (bearer tokens: see ` + "`cadastre token`" + `); OpenAPI at /v1/openapi.json
  GET /geofeed.csv   the register's RFC 8805 geofeed (ETag and Last-Modified from the event log)
  GET /livez         the process is alive
  GET /readyz        the process can serve and its store takes writes (fails first on SIGTERM)
Prometheus metrics are served on --metrics-listen (loopback), not on the API's address.
With --tls-cert and --tls-key the API is served over TLS 1.2 or later; SIGHUP reloads
the certificate, and the token key file (after ` + "`cadastre token rotate-key`" + `). --client-ca also requires clients to present a certificate it signed.
Without TLS, --listen must be a loopback address unless --insecure-listen is given
(for a reverse proxy on the same host that terminates TLS).
Every client is bounded: its headers and body must arrive in time, its headers are
capped, and one address may hold only so many connections (the flags below).
On SIGTERM or Ctrl-C, /readyz fails at once, the server keeps serving for --drain
so load balancers notice, then in-flight requests get up to --grace to finish.
Logs are JSON when stderr is not a terminal.`,
		Example: `  cadastre serve --listen 127.0.0.1:8080
  cadastre serve --listen [::]:8443 --tls-cert /etc/cadastre/tls.crt --tls-key /etc/cadastre/tls.key
  cadastre serve --listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1/32   # behind a TLS proxy on this host
  curl -s 127.0.0.1:8080/geofeed.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxBatch < 1 {
				return usagef("--max-batch %d: must be at least 1", maxBatch)
			}
			o := serveOpts{listen: listen, dns: dnsListen, dnsF: dnsF, drain: drain, grace: grace, pprof: pprofListen,
				metrics: metricsListen, metricsOptional: !cmd.Flags().Changed("metrics-listen"), maxBatch: maxBatch}
			if err := h.apply(&o); err != nil {
				return err
			}
			return a.serve(cmd.Context(), o)
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on (not loopback: needs --tls-cert or --insecure-listen)")
	c.Flags().StringVar(&dnsListen, "dns", "", "also serve the DNS zones on this address (UDP and TCP), e.g. 127.0.0.1:5353; several separated by commas")
	dnsF.register(c)
	c.Flags().DurationVar(&drain, "drain", 2*time.Second, "how long /readyz fails before the listener closes")
	c.Flags().DurationVar(&grace, "grace", 15*time.Second, "how long in-flight requests may take to finish")
	c.Flags().IntVar(&maxBatch, "max-batch", registry.DefaultMaxBatch, "most prefixes one API request may ask for (413 above it)")
	c.Flags().StringVar(&pprofListen, "pprof", "", "serve Go's profiles (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060 (no authentication: keep it on loopback)")
	c.Flags().StringVar(&metricsListen, "metrics-listen", defaultMetricsListen, "serve Prometheus metrics (/metrics) on this separate address; \"off\" for none")
	h.register(c)
	return c
}

// defaultMetricsListen is where metrics are served unless told otherwise.
const defaultMetricsListen = "127.0.0.1:9464"

// httpFlags are serve's transport settings: limits, proxies and TLS.
type httpFlags struct {
	limits          api.Limits
	proxies         []string
	tlsCert, tlsKey string
	clientCA        string
	insecure        bool
}

func (h *httpFlags) register(c *cobra.Command) {
	d := api.DefaultLimits()
	f := c.Flags()
	f.DurationVar(&h.limits.ReadHeader, "read-header-timeout", d.ReadHeader, "a client must send its request line and headers within this")
	f.DurationVar(&h.limits.ReadBody, "read-body-timeout", d.ReadBody, "a client must send its request body within this of its headers, plus a second per MiB it declares")
	f.DurationVar(&h.limits.Write, "write-timeout", d.Write, "a response must be written within this of the request's start")
	f.DurationVar(&h.limits.Idle, "idle-timeout", d.Idle, "an idle keep-alive connection is closed after this")
	f.IntVar(&h.limits.MaxHeaderBytes, "max-header-bytes", d.MaxHeaderBytes, "largest request line and headers, in bytes (larger: 431)")
	f.IntVar(&h.limits.MaxConnsPerClient, "max-conns-per-client", d.MaxConnsPerClient, "open connections one client address may hold (0: no limit)")
	f.StringArrayVar(&h.proxies, "trusted-proxy", nil, "believe X-Forwarded-For from peers in this prefix (repeatable): the client is the right-most address not of a trusted proxy")
	f.StringVar(&h.tlsCert, "tls-cert", "", "serve the API over TLS with this PEM certificate (chain) file; SIGHUP reloads it")
	f.StringVar(&h.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringVar(&h.clientCA, "client-ca", "", "require a client certificate signed by a CA in this PEM file (mutual TLS; needs --tls-cert)")
	f.BoolVar(&h.insecure, "insecure-listen", false, "allow plain HTTP (and --metrics-listen, --pprof) on a non-loopback address")
}

// apply checks the flags and copies them into o.
func (h *httpFlags) apply(o *serveOpts) error {
	l := h.limits
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--read-header-timeout", l.ReadHeader}, {"--read-body-timeout", l.ReadBody}, {"--write-timeout", l.Write}, {"--idle-timeout", l.Idle}} {
		if d.v <= 0 {
			return usagef("%s %s: must be a positive duration, such as 10s", d.name, d.v)
		}
	}
	if l.MaxHeaderBytes < 1024 {
		return usagef("--max-header-bytes %d: must be at least 1024", l.MaxHeaderBytes)
	}
	if l.MaxConnsPerClient < 0 {
		return usagef("--max-conns-per-client %d: must be 0 (no limit) or more", l.MaxConnsPerClient)
	}
	o.limits = l
	for _, p := range h.proxies {
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return usagef("--trusted-proxy %q: not a prefix or an address (e.g. 10.0.0.0/8)", p)
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		}
		o.proxies = append(o.proxies, pf.Masked())
	}
	if (h.tlsCert == "") != (h.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if h.clientCA != "" && h.tlsCert == "" {
		return usagef("--client-ca needs --tls-cert and --tls-key: client certificates are part of TLS")
	}
	o.tlsCert, o.tlsKey, o.clientCA, o.insecure = h.tlsCert, h.tlsKey, h.clientCA, h.insecure
	return nil
}

// serveOpts are the settings of `cadastre serve`.
type serveOpts struct {
	listen, dns     string
	dnsF            dnsFlags
	drain, grace    time.Duration
	pprof           string                                     // address for /debug/pprof/, "" for none
	metrics         string                                     // address for /metrics, "" or "off" for none
	metricsOptional bool                                       // the default address: if taken, serve without metrics
	limits          api.Limits                                 // zero: api.DefaultLimits
	proxies         []netip.Prefix                             // trusted reverse proxies
	tlsCert, tlsKey string                                     // PEM files; "" for plain HTTP
	clientCA        string                                     // PEM file of CAs for client certificates
	insecure        bool                                       // allow plain HTTP off loopback
	maxBatch        int                                        // prefixes per API request; 0: no limit
	ready           func(httpAddr, dnsAddr, signinPath string) // called once both listen
	signinSecret    string                                     // a token for a one-time sign-in link to the UI ("" for none)
	signinTTL       time.Duration                              // how long that link may wait for its visit
}

// listenErr names the flag whose address could not be listened on (in
// use, not this machine's): a usage error (exit 2), as --listen's is.
func listenErr(flag, addr string, err error) error {
	var oe *net.OpError
	var de dbError
	if errors.As(err, &oe) && oe.Op == "listen" && !errors.As(err, &de) && !errors.Is(err, registry.ErrStorage) {
		return usagef("%s %s: %v", flag, addr, err)
	}
	return err // a database that cannot be reached is not the address's fault
}

// loopback reports whether addr (host:port) can only be reached from this
// machine.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// checkListen refuses plain HTTP off loopback unless told to allow it.
func (o *serveOpts) checkListen() error {
	if !o.insecure {
		if o.tlsCert == "" && !loopback(o.listen) {
			return usagef("--listen %s: not a loopback address, and the API would be served without TLS (tokens in clear text): "+
				"give --tls-cert and --tls-key, or --insecure-listen if a proxy in front of it terminates TLS", o.listen)
		}
		if o.metrics != "" && o.metrics != "off" && !loopback(o.metrics) {
			return usagef("--metrics-listen %s: not a loopback address (metrics have no authentication); give --insecure-listen to allow it", o.metrics)
		}
		if o.pprof != "" && !loopback(o.pprof) {
			return usagef("--pprof %s: not a loopback address (profiles have no authentication); give --insecure-listen to allow it", o.pprof)
		}
	}
	return nil
}

// serve runs the HTTP server (and the DNS server with opts.dns) until ctx
// ends, then drains: readiness fails, in-flight requests finish.
func (a *app) serve(ctx context.Context, o serveOpts) error {
	reg, err := a.open(ctx)
	if err != nil {
		return err
	}
	if o.maxBatch > 0 {
		reg = registry.New(a.store, registry.WithMaxBatch(o.maxBatch))
	}
	log := newLogger(a)
	// A register made before tenants' suffixes had to be apart (the
	// upgrade gave every tenant ".") opens as it is; the operator is told
	// which pairs to narrow (`tenant list` flags them too).
	// The first pairs only: a register where thousands of tenants share
	// a suffix has millions of pairs.
	overlaps, err := reg.SuffixOverlaps(ctx, maxOverlapWarnings+1)
	if err != nil {
		return err
	}
	warnOverlaps(log, overlaps)
	tokens, err := a.tokens(ctx)
	if err != nil {
		return err
	}
	if err := a.checkTokenKey(ctx, tokens); err != nil {
		return err
	}
	if a.cfg.tokenKey == "" {
		// `token rotate-key --stage/--finish` rewrites the key file: a
		// SIGHUP makes the server use it without a restart.
		path, err := a.tokenKeyPath()
		if err != nil {
			return err
		}
		onHUP(ctx, log, "token key file", func() ([]any, error) {
			kf, err := auth.ReadKeyFile(path)
			if err == nil {
				// A key file that opens none of the live tokens (another
				// register's) is not taken: every token would fail.
				var trial *auth.Tokens
				if trial, err = auth.NewWithKeys(a.store, kf.Keys, nil); err == nil {
					err = keyOpensTokens(ctx, trial, "token key file "+path)
				}
			}
			if err == nil {
				err = tokens.SetKeys(kf.Keys)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			attrs := []any{"file", path, "key", auth.KeyID(kf.Current)}
			if kf.Previous != nil {
				attrs = append(attrs, "previous", auth.KeyID(kf.Previous))
			}
			return attrs, nil
		})
	}
	engine, err := a.geoEngine(ctx)
	if err != nil {
		return err
	}
	if err := o.checkListen(); err != nil {
		return err
	}
	lim := o.limits
	if lim == (api.Limits{}) {
		lim = api.DefaultLimits()
	}
	var tlsCfg *tls.Config
	if o.tlsCert != "" {
		certs, err := newCertLoader(o.tlsCert, o.tlsKey)
		if err != nil {
			return usageError{err}
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get}
		if o.clientCA != "" {
			pool, err := loadCAs(o.clientCA)
			if err != nil {
				return usageError{err}
			}
			tlsCfg.ClientCAs, tlsCfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
		certs.reloadOnHUP(ctx, log)
	}
	// Zones, records and TSIG keys in /v1: creating a TSIG key over the
	// API needs the sealing key; without one the rest still works.
	apiDNS, _, _, err := a.dnsManager(ctx, true)
	if err != nil {
		log.Warn("TSIG keys cannot be created over the API: no sealing key", "err", err.Error())
		if apiDNS, _, _, err = a.dnsManager(ctx, false); err != nil {
			return err
		}
	}
	srv := api.New(reg, tokens, log, api.WithGeo(ctx, engine), api.WithSources(a.store), api.WithTrustedProxies(o.proxies), api.WithDNS(apiDNS))
	// The DNS page lists zones and keys (it needs no sealing key), and the
	// transfers of the DNS server started below, if any.
	var dnsRef atomic.Pointer[dnsserver.Server]
	zones, _, _, err := a.dnsManager(ctx, false)
	if err != nil {
		return err
	}
	ui, err := web.New(web.Config{Registry: reg, Tokens: tokens, Geo: engine, Log: log, ClientAddr: srv.ClientAddr,
		SecureCookies: tlsCfg != nil, DNS: webZones{m: zones, dns: &dnsRef}})
	if err != nil {
		return err
	}
	signinPath := ""
	if o.signinSecret != "" {
		signinPath = ui.SignInLink(o.signinSecret, o.signinTTL)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usagef("--listen %s: %v", o.listen, err)
	}
	ln = api.LimitConns(ln, lim.MaxConnsPerClient, o.proxies...)
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	hs := lim.HTTPServer(rootHandler(srv, ui))
	hs.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn) // accept and TLS handshake errors, as JSON
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if o.metrics != "" && o.metrics != "off" {
		ml, err := net.Listen("tcp", o.metrics)
		switch {
		case err != nil && o.metricsOptional:
			log.Warn("metrics not served: the default address is taken; give --metrics-listen", "addr", o.metrics, "err", err.Error())
		case err != nil:
			hs.Close()
			return usagef("--metrics-listen %s: %v", o.metrics, err)
		default:
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", srv.MetricsHandler())
			ms := lim.HTTPServer(mux)
			go ms.Serve(api.LimitConns(ml, lim.MaxConnsPerClient))
			defer ms.Close()
			log.Info("metrics", "addr", ml.Addr().String())
			fmt.Fprintf(a.cfg.stderr, "cadastre: metrics on http://%s/metrics\n", ml.Addr())
		}
	}
	if o.pprof != "" {
		// Profiles on their own listener, never on the API's: they are
		// unauthenticated and can be expensive.
		pl, err := net.Listen("tcp", o.pprof)
		if err != nil {
			hs.Close()
			return usagef("--pprof %s: %v", o.pprof, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ps := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go ps.Serve(pl)
		defer ps.Close()
		log.Info("profiles", "addr", pl.Addr().String())
	}
	dnsAddr := ""
	if o.dns != "" {
		ds, err := a.startDNS(ctx, o.dns, o.dnsF)
		if err != nil {
			hs.Close()
			return listenErr("--dns", o.dns, err)
		}
		defer ds.Shutdown(context.Background())
		dnsRef.Store(ds)
		if err := srv.Metrics().Register(ds.Collector()); err != nil {
			return fmt.Errorf("dns metrics: %w", err)
		}
		dnsAddr = ds.Addr()
		fmt.Fprintf(a.cfg.stderr, "cadastre: DNS on %s (udp, tcp)\n", dnsAddr)
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", a.cfg.db)
	fmt.Fprintf(a.cfg.stderr, "cadastre: serving on %s://%s\n", scheme, ln.Addr())
	if o.ready != nil {
		o.ready(ln.Addr().String(), dnsAddr, signinPath)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("draining", "for", o.drain.String())
	srv.Drain()
	time.Sleep(o.drain)
	sctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// apiPaths are the API server's routes; everything else is the web UI's.
var apiPaths = []string{"/v1/", "/livez", "/readyz", "/geofeed.csv"}

// rootHandler serves the API at /v1 (and its probes and geofeed) and the
// web UI at every other path.
func rootHandler(apiH, ui http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", ui)
	for _, p := range apiPaths {
		mux.Handle(p, apiH)
	}
	return mux
}

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(a *app) *slog.Logger {
	if f, ok := a.cfg.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(a.cfg.stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(a.cfg.stderr, nil))
}

// maxOverlapWarnings bounds the overlapping tenant pairs logged one by
// one at start.
const maxOverlapWarnings = 10

// warnOverlaps logs the first overlapping tenant pairs and how many there
// are in all: n tenants sharing one suffix are n(n-1)/2 pairs (the cloud
// demo's 1,000 tenants logged 499,500 lines, 120 MB, at each start).
func warnOverlaps(log *slog.Logger, overlaps [][2]string) {
	for i, p := range overlaps {
		if i == maxOverlapWarnings {
			log.Warn("tenants' name suffixes overlap: more pairs not logged (`cadastre tenant list` flags every tenant)", "logged", maxOverlapWarnings)
			return
		}
		log.Warn("tenants' name suffixes overlap: names under both belong to two tenants; narrow one with `cadastre tenant update NAME --names ...`", "tenant", p[0], "other", p[1])
	}
}
