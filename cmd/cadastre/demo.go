package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	dnsserver "github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/registry"
)

func newDemoCmd(a *app) *cobra.Command {
	var asJSON, serveToo bool
	var listen, dnsListen, metricsListen, until string
	var scale, childPools int
	var seed uint64
	c := &cobra.Command{
		Use:   "demo",
		Short: "Build the Azure-2014 story on a fresh register and print the report",
		Long: `Build the story that made cadastre: regions us-east, us-west, brazil-south and
europe-north; an ARIN block, addresses bought from Nortel Networks (with the
price), a LACNIC block registered in Brazil, a RIPE block, and an IPv6 /32 per
region; then 90 days of virtual machines, mostly dual-stack, until us-east's
own IPv4 is gone and it borrows a /24 from brazil-south, as its policy allows.
Prints the report and the relocations. On a register that already holds the
demo it prints them again; on any other non-empty register it refuses.

With --serve it then runs the whole service on loopback: the web UI, the API
and the published geofeed on --listen, and the demo's DNS zones (cloud.example signed
with DNSSEC, reverse zones for the borrowed /24 and us-east's IPv6 /32 with
synthesised names) on --dns; it prints the web UI's address with a one-time
sign-in link, a read token and what to try.

With --scale N it builds instead a register shaped like a large cloud, to
measure cadastre at that size: 60 regions, about 1,200 IPv4 blocks of 80
million addresses from the five registries (allocations, transfers with their
price, BYOIP), an IPv6 /32 per region with /48 child pools, 20 relocated
/24s and N assignments over 90 days (IPv4 /32, IPv6 /128 and /64; 30 % named
under cloud.example; released ones, the last week's still in quarantine).
It goes in through the import's bulk path, in one transaction. Into a
SQLite file that does not exist yet it is written aside (.NAME.building-*,
without a journal) and named only once complete: one register's worth of
disk, and nothing at --db if the build fails or is stopped. A million
assignments take a few minutes. The same --seed and --until give the
same register. The register must be empty. Export does not carry child
pools yet: give --child-pools 0 for a register to export.`,
		Example: `  cadastre demo
  cadastre demo --serve            # then: curl, dig @127.0.0.1 -p 5353, cadastre --server ...
  cadastre demo --db /tmp/story.db && cadastre --db /tmp/story.db show 191.232.0.10
  cadastre demo --db /tmp/cloud.db --scale 1000000 --seed 7   # a cloud-sized register
  cadastre demo --postgres "$DSN" --scale 100000 --child-pools 0 && cadastre --postgres "$DSN" export -o cloud.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("scale") {
				if serveToo {
					return usageError{fmt.Errorf("--scale builds a register to measure; serve it with cadastre serve")}
				}
				return a.cloudDemo(cmd, scale, seed, childPools, until, asJSON)
			}
			for _, f := range []string{"seed", "child-pools", "until"} {
				if cmd.Flags().Changed(f) {
					return usageError{fmt.Errorf("--%s goes with --scale", f)}
				}
			}
			reg, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			res, err := demo.Build(cmd.Context(), a.store, time.Now())
			if err != nil {
				return err
			}
			rows, err := reg.Report(cmd.Context(), "")
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, map[string]any{"report": rows, "relocations": nonNil(res.Relocations)})
			}
			w := a.cfg.stdout
			if res.AlreadyBuilt {
				fmt.Fprintf(w, "The demo register is already in %s.\n\n", a.where())
			} else {
				fmt.Fprintf(w, "Built the Azure-2014 story in %s: %d allocations and %d releases over %d days.\n\n", a.where(), res.Allocations, res.Releases, demo.Days)
			}
			if err := printReport(w, rows); err != nil {
				return err
			}
			fmt.Fprintln(w, "\nRelocations (IPv4 borrowed because a region ran dry):")
			rel := [][]string{}
			for _, r := range res.Relocations {
				rel = append(rel, []string{r.Prefix.String(), r.FromRegion, r.ToRegion, day(r.CreatedAt), r.Reason})
			}
			if err := table(w, "PREFIX\tFROM\tTO\tWHEN\tREASON", rel); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nThe borrowed space is registered in Brazil but used in Virginia: try\n  cadastre %sshow %s\n", a.dbFlag(), firstAddr(res))
			if !serveToo {
				return nil
			}
			return a.serveDemo(cmd.Context(), serveOpts{listen: listen, dns: dnsListen,
				metrics: metricsListen, metricsOptional: !cmd.Flags().Changed("metrics-listen")}, firstAddr(res))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report and relocations as JSON")
	c.Flags().BoolVar(&serveToo, "serve", false, "then serve the API, geofeed and DNS zones on loopback until Ctrl-C")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "with --serve: HTTP address")
	c.Flags().StringVar(&dnsListen, "dns", "127.0.0.1:5353", "with --serve: DNS address (UDP and TCP)")
	c.Flags().StringVar(&metricsListen, "metrics-listen", defaultMetricsListen, "with --serve: Prometheus metrics (/metrics) address; \"off\" for none")
	c.Flags().IntVar(&scale, "scale", 0, "instead of the story, build a cloud-sized register of this many assignments (60 regions, ~1,200 IPv4 blocks, 80M addresses)")
	c.Flags().Uint64Var(&seed, "seed", 1, "with --scale: the seed of every random choice (same seed and --until, same register)")
	c.Flags().IntVar(&childPools, "child-pools", 2, "with --scale: /48 child pools per region (0 for a register that exports: the format does not carry them yet)")
	c.Flags().StringVar(&until, "until", "", "with --scale: the day (YYYY-MM-DD, UTC) the 90 days of history end (default: today)")
	return c
}

// cloudDemo builds the cloud-sized register (demo.Cloud) and says what it
// made.
func (a *app) cloudDemo(cmd *cobra.Command, n int, seed uint64, childPools int, until string, asJSON bool) error {
	if n < 1 {
		return usageError{fmt.Errorf("--scale %d: give a number of assignments, 1 or more", n)}
	}
	if childPools < 0 || childPools > 1000 {
		return usageError{fmt.Errorf("--child-pools %d: from 0 to 1000 per region", childPools)}
	}
	end := time.Now().UTC().Truncate(24 * time.Hour)
	if until != "" {
		t, err := time.Parse(time.DateOnly, until)
		if err != nil {
			return usageError{fmt.Errorf("--until %q: want a day as YYYY-MM-DD", until)}
		}
		end = t
	}
	began := time.Now()
	var res demo.CloudResult
	err := a.build(cmd.Context(), func() error {
		if _, err := a.open(cmd.Context()); err != nil {
			return err
		}
		report, stop := steps(a, "building")
		defer stop()
		var err error
		res, err = demo.Cloud(cmd.Context(), a.store, end, demo.CloudOptions{Assignments: n, Seed: seed, ChildPools: childPools, Progress: report})
		return err
	})
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(a.cfg.stdout, res)
	}
	w := a.cfg.stdout
	fmt.Fprintf(w, "Built a cloud-sized register in %s in %s (seed %d, history to %s):\n", a.where(), time.Since(began).Round(time.Millisecond), seed, end.Format(time.DateOnly))
	fmt.Fprintf(w, "  %d regions, %d tenants\n  %d blocks (%d IPv4, %d addresses; IPv6 a /32 per region)\n  %d pools, %d child pools, %d relocations\n",
		res.Regions, res.Tenants, res.Blocks, res.IPv4Blocks, res.IPv4Addresses, res.Pools, res.ChildPools, res.Relocations)
	fmt.Fprintf(w, "  %d assignments: %d named, %d quarantined, %d released\n", res.Assignments, res.Named, res.Quarantined, res.Released)
	return nil
}

func firstAddr(res demo.Result) string {
	if len(res.Relocations) == 0 {
		return "191.232.0.1"
	}
	return res.Relocations[0].Prefix.Addr().Next().String()
}

// where names the register for messages.
func (a *app) where() string {
	if a.cfg.postgres != "" {
		return "PostgreSQL"
	}
	return a.cfg.db
}

// dbFlag is the --db flag to repeat in a suggested command, if needed.
func (a *app) dbFlag() string {
	if a.cfg.postgres != "" || a.cfg.db == "./cadastre.db" {
		return ""
	}
	return "--db " + a.cfg.db + " "
}

// demoZones are the DNS zones of the demo: the VMs' names, the reverse
// zone of the /24 us-east borrowed, and us-east's IPv6 reverse zone, whose
// unnamed addresses get synthesised names that resolve back.
// Their name server is the demo's own, on loopback, where it serves: its
// address is glue in cloud.example, so zone checkers accept every zone.
// Transfers are open to loopback, for secondaries and checkers tried
// beside the demo.
var demoZones = []manage.ZoneSpec{
	{Name: "cloud.example", Kind: zone.Forward, Config: demoConfig, Glue: []manage.Glue{
		{Host: demoConfig.NS[0], Addr: netip.MustParseAddr("127.0.0.1")}, {Host: demoConfig.NS[0], Addr: netip.IPv6Loopback()}}},
	{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("191.232.1.0/24"), Config: demoConfig},
	{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("2603:1030::/32"), Synthesize: "ip-{addr}.us-east.cloud.example", Config: demoConfig},
}

var demoConfig = zone.Config{NS: []string{"ns1.cloud.example."}, AllowTransfer: []string{"127.0.0.0/8", "::1"}}

// serveDemo adds the demo's zones (signing the forward one) if missing,
// issues a read token, and serves until ctx ends.
//
// It is served as `serve` serves, with serve's limits: the same cap on the
// prefixes one request may ask for (registry.DefaultMaxBatch) and metrics
// on o.metrics.
func (a *app) serveDemo(ctx context.Context, o serveOpts, borrowed string) error {
	m, _, _, err := a.dnsManager(ctx, true)
	if err != nil {
		return err
	}
	have, err := m.Zones(ctx)
	if err != nil {
		return err
	}
	if len(have) == 0 {
		for _, z := range demoZones {
			if _, err := m.AddZone(ctx, z); err != nil {
				return fmt.Errorf("demo zone %s: %w", z.Name, err)
			}
		}
		if _, _, err := m.Sign(ctx, "cloud.example", manage.SignOptions{}); err != nil {
			return fmt.Errorf("demo zone cloud.example: %w", err)
		}
	}
	k, err := a.tokens(ctx)
	if err != nil {
		return err
	}
	_, secret, err := k.Create(ctx, auth.Spec{Name: "demo", Scope: auth.ScopeRead, Expires: 24 * time.Hour})
	if err != nil {
		return err
	}
	// The one-time link signs in as an admin of the demo, so every page
	// and action can be tried; its secret is never printed.
	_, adminSecret, err := k.Create(ctx, auth.Spec{Name: "demo-ui", Scope: auth.ScopeAdmin, Expires: 24 * time.Hour})
	if err != nil {
		return err
	}
	o.dnsF = dnsFlags{poll: dnsserver.DefaultPoll, rate: dnsserver.DefaultOnlineRate, clientRate: dnsserver.DefaultClientSignRate, rrlRate: dnsserver.DefaultRRLRate, rrlSlip: 2}
	o.drain, o.grace, o.signinSecret, o.signinTTL, o.maxBatch = 0, 5*time.Second, adminSecret, 24*time.Hour, registry.DefaultMaxBatch
	o.ready = func(httpAddr, dnsAddr, signinPath string) {
		w := a.cfg.stdout
		host, port, _ := net.SplitHostPort(dnsAddr)
		fmt.Fprintf(w, "\nServing the demo (Ctrl-C stops it).\n")
		fmt.Fprintf(w, "Web UI: http://%s/\n  sign in once with this link (it works one time, for 24 hours):\n    http://%s%s\n", httpAddr, httpAddr, signinPath)
		fmt.Fprintf(w, "  or paste the read token below into the sign-in form.\n")
		fmt.Fprintf(w, "A read token, valid 24 hours:\n  export CADASTRE_SERVER=http://%s CADASTRE_TOKEN=%s\n", httpAddr, secret)
		fmt.Fprintf(w, "Try:\n  curl -s http://%s/geofeed.csv\n", httpAddr)
		fmt.Fprintf(w, "  curl -s -H \"Authorization: Bearer $CADASTRE_TOKEN\" http://%s/v1/geo/%s\n", httpAddr, borrowed)
		fmt.Fprintf(w, "  cadastre report                              # the same verbs, over the API\n")
		if dnsAddr != "" {
			fmt.Fprintf(w, "  dig @%s -p %s +dnssec vm-00001.us-east.cloud.example AAAA\n", host, port)
			fmt.Fprintf(w, "  dig @%s -p %s -x %s\n", host, port, borrowed)
			fmt.Fprintf(w, "  dig @%s -p %s -x 2603:1030::ffff\n", host, port)
		}
	}
	return a.serve(ctx, o)
}
