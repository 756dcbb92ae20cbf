package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/cadastre-ipam/cadastre/api"
)

func newServeCmd(a *app) *cobra.Command {
	var listen, dnsListen, pprofListen string
	var dnsF dnsFlags
	var drain, grace time.Duration
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the JSON API, the published geofeed, metrics and health probes over HTTP",
		Long: `Serve over HTTP, on loopback unless told otherwise:
  /v1/...            the JSON API (bearer tokens: see ` + "`cadastre token`" + `); OpenAPI at /v1/openapi.json
  GET /geofeed.csv   the register's RFC 8805 geofeed (ETag and Last-Modified from the event log)
  GET /metrics       Prometheus metrics
  GET /livez         the process is alive
  GET /readyz        the process can serve (fails first on SIGTERM)
On SIGTERM or Ctrl-C, /readyz fails at once, the server keeps serving for --drain
so load balancers notice, then in-flight requests get up to --grace to finish.
Logs are JSON when stderr is not a terminal.`,
		Example: `  cadastre serve --listen 127.0.0.1:8080
  curl -s 127.0.0.1:8080/geofeed.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serve(cmd.Context(), serveOpts{listen: listen, dns: dnsListen, dnsF: dnsF, drain: drain, grace: grace, pprof: pprofListen})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	c.Flags().StringVar(&dnsListen, "dns", "", "also serve the DNS zones on this address (UDP and TCP), e.g. 127.0.0.1:5353")
	dnsF.register(c)
	c.Flags().DurationVar(&drain, "drain", 2*time.Second, "how long /readyz fails before the listener closes")
	c.Flags().DurationVar(&grace, "grace", 15*time.Second, "how long in-flight requests may take to finish")
	c.Flags().StringVar(&pprofListen, "pprof", "", "serve Go's profiles (/debug/pprof/) on this separate address, e.g. 127.0.0.1:6060 (no authentication: keep it on loopback)")
	return c
}

// serveOpts are the settings of `cadastre serve`.
type serveOpts struct {
	listen, dns  string
	dnsF         dnsFlags
	drain, grace time.Duration
	pprof        string                         // address for /debug/pprof/, "" for none
	ready        func(httpAddr, dnsAddr string) // called once both listen
}

// serve runs the HTTP server (and the DNS server with opts.dns) until ctx
// ends, then drains: readiness fails, in-flight requests finish.
func (a *app) serve(ctx context.Context, o serveOpts) error {
	reg, err := a.open(ctx)
	if err != nil {
		return err
	}
	log := newLogger(a)
	tokens, err := a.tokens(ctx)
	if err != nil {
		return err
	}
	engine, err := a.geoEngine(ctx)
	if err != nil {
		return err
	}
	srv := api.New(reg, tokens, log, api.WithGeo(ctx, engine), api.WithSources(a.store))
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usagef("--listen %s: %v", o.listen, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
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
			return err
		}
		defer ds.Shutdown(context.Background())
		dnsAddr = ds.Addr()
		fmt.Fprintf(a.cfg.stderr, "cadastre: DNS on %s (udp, tcp)\n", dnsAddr)
	}
	log.Info("serving", "addr", ln.Addr().String(), "db", a.cfg.db)
	fmt.Fprintf(a.cfg.stderr, "cadastre: serving on http://%s\n", ln.Addr())
	if o.ready != nil {
		o.ready(ln.Addr().String(), dnsAddr)
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

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(a *app) *slog.Logger {
	if f, ok := a.cfg.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(a.cfg.stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(a.cfg.stderr, nil))
}
