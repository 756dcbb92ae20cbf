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
)

func newDemoCmd(a *app) *cobra.Command {
	var asJSON, serveToo bool
	var listen, dnsListen string
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
sign-in link, a read token and what to try.`,
		Example: `  cadastre demo
  cadastre demo --serve            # then: curl, dig @127.0.0.1 -p 5353, cadastre --server ...
  cadastre demo --db /tmp/story.db && cadastre --db /tmp/story.db show 191.232.0.10`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
			return a.serveDemo(cmd.Context(), listen, dnsListen, firstAddr(res))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the report and relocations as JSON")
	c.Flags().BoolVar(&serveToo, "serve", false, "then serve the API, geofeed and DNS zones on loopback until Ctrl-C")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "with --serve: HTTP address")
	c.Flags().StringVar(&dnsListen, "dns", "127.0.0.1:5353", "with --serve: DNS address (UDP and TCP)")
	return c
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
func (a *app) serveDemo(ctx context.Context, listen, dnsListen, borrowed string) error {
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
	return a.serve(ctx, serveOpts{listen: listen, dns: dnsListen, dnsF: dnsFlags{poll: time.Second, rate: dnsserver.DefaultOnlineRate, clientRate: dnsserver.DefaultClientSignRate, rrlRate: dnsserver.DefaultRRLRate, rrlSlip: 2},
		drain: 0, grace: 5 * time.Second, signinSecret: adminSecret, signinTTL: 24 * time.Hour,
		ready: func(httpAddr, dnsAddr, signinPath string) {
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
		}})
}
