package main

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// poolPrefixes are the register's pool prefixes: where synthesis happens.
func (a *app) poolPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	reg, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	err = reg.Store().View(ctx, func(tx registry.Tx) error {
		ps, err := tx.Pools(ctx, registry.PoolFilter{})
		for _, p := range ps {
			out = append(out, p.Prefix)
		}
		return err
	})
	return out, err
}

// secondaryGaps are the ways secondaries cannot answer what cadastre
// answers (manage.SecondaryGaps), for the zones named, or for every zone
// when names is nil.
func (a *app) secondaryGaps(ctx context.Context, m *manage.Manager, names ...string) ([]manage.Gap, error) {
	zs, err := m.Zones(ctx)
	if err != nil {
		return nil, err
	}
	pools, err := a.poolPrefixes(ctx)
	if err != nil {
		return nil, err
	}
	var out []manage.Gap
	for _, g := range manage.SecondaryGaps(zs, pools) {
		if names == nil || containsName(names, g.Zone) {
			out = append(out, g)
		}
	}
	return out, nil
}

func containsName(names []string, n string) bool {
	for _, m := range names {
		if c, err := zone.CanonicalName(m); err == nil && c == n {
			return true
		}
	}
	return false
}

// warnGaps writes the gaps of the zones to stderr, after a change that
// may have made them.
func (a *app) warnGaps(ctx context.Context, m *manage.Manager, names ...string) {
	gaps, err := a.secondaryGaps(ctx, m, names...)
	if err != nil {
		fmt.Fprintf(a.cfg.stderr, "cadastre: warning: secondaries not checked: %v\n", err)
		return
	}
	for _, g := range gaps {
		fmt.Fprintf(a.cfg.stderr, "cadastre: warning: secondaries of %s\n", g)
	}
}

func newZoneSecondaryConfig(a *app) *cobra.Command {
	var knot bool
	var primary, key string
	c := &cobra.Command{
		Use:   "secondary-config --knot --primary ADDR:PORT [ZONE...]",
		Short: "Print the configuration of a Knot DNS secondary of the zones",
		Long: `Print a Knot DNS (3.x) configuration for a secondary of cadastre: the TSIG
key (--tsig, from the register), cadastre as the primary remote, an ACL for
its NOTIFY, a template, and the zones. Without ZONE arguments every zone that
allows transfers is configured; when a catalog zone exists (zone add
--catalog) it is configured with catalog-role: interpret, so the secondary
learns the member zones, and zones added later, from it.

Synthesised names (--synthesize) are made per query and never transferred.
For unsigned zones whose template Knot's mod-synthrecord can express
("PREFIX{addr}.ORIGIN", and for forward names the zone's apex as ORIGIN),
the module is configured so the secondary answers them too. Where it cannot,
or where the zone is signed (a secondary cannot sign the names it makes),
the secondary answers NXDOMAIN for names cadastre answers: each such zone is
named in a WARNING comment and on stderr, as zone add, zone update, zone
list and the server's start log name them.`,
		Example: `  cadastre zone secondary-config --knot --primary 192.0.2.53:53 --tsig xfr.example.net > /etc/knot/cadastre.conf
  cadastre zone secondary-config --knot --primary 192.0.2.53:53 example.net 2.0.192.in-addr.arpa`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !knot {
				return usagef("secondary-config: give --knot (Knot DNS is the secondary it writes for)")
			}
			ap, err := netip.ParseAddrPort(primary)
			if err != nil {
				return usagef("--primary %q: want ADDR:PORT, the address secondaries reach cadastre at, e.g. 192.0.2.53:53", primary)
			}
			ctx := cmd.Context()
			m, _, _, err := a.dnsManager(ctx, key != "")
			if err != nil {
				return err
			}
			o := manage.KnotOptions{Primary: ap, Zones: args}
			if key != "" {
				name, err := zone.CanonicalName(key)
				if err != nil {
					return usagef("--tsig: %v", err)
				}
				ks, err := m.TSIGSecrets(ctx)
				if err != nil {
					return err
				}
				for i := range ks {
					if ks[i].Name == name {
						o.Key = &ks[i]
					}
				}
				if o.Key == nil {
					return fmt.Errorf("--tsig %s: no such key in the register (see `cadastre tsig list`): %w", name, registry.ErrNotFound)
				}
			}
			zs, err := m.Zones(ctx)
			if err != nil {
				return err
			}
			pools, err := a.poolPrefixes(ctx)
			if err != nil {
				return err
			}
			gaps, err := manage.KnotSecondary(a.cfg.stdout, zs, pools, o)
			if err != nil {
				return err
			}
			for _, g := range gaps {
				fmt.Fprintf(a.cfg.stderr, "cadastre: warning: secondaries of %s\n", g)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&knot, "knot", false, "write Knot DNS configuration")
	c.Flags().StringVar(&primary, "primary", "", "address:port at which the secondary reaches cadastre (transfers, NOTIFY)")
	c.Flags().StringVar(&key, "tsig", "", "TSIG key of the register that signs transfers and NOTIFY (its secret is written)")
	return c
}
