package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	dnsserver "github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// dnsKeyEnv holds the key that seals DNSSEC private keys at rest.
const dnsKeyEnv = "CADASTRE_DNS_KEY"

// dnsNSEnv is the server identity: cadastre's own name servers, HOST or
// HOST=IP, comma-separated, the NS of zones added without --ns.
const dnsNSEnv = "CADASTRE_DNS_NS"

// dnsManager opens the register and returns the zone manager. withKeys
// loads the sealing key: $CADASTRE_DNS_KEY (64 hex digits), else a key
// derived with HKDF from the token key, so that one secret may serve both.
func (a *app) dnsManager(ctx context.Context, withKeys bool) (*manage.Manager, zone.Store, *zone.Sealer, error) {
	if _, err := a.open(ctx); err != nil {
		return nil, nil, nil, err
	}
	st := a.store
	var sealer *zone.Sealer
	if withKeys {
		var err error
		if sealer, err = a.dnsSealer(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	m := manage.NewManager(st, sealer, nil)
	// Zones added without --ns take the server identity's name servers.
	if v := strings.TrimSpace(os.Getenv(dnsNSEnv)); v != "" {
		var ns []manage.Glue
		for _, f := range strings.Split(v, ",") {
			g, err := manage.ParseNameServer(strings.TrimSpace(f))
			if err != nil {
				return nil, nil, nil, usagef("$%s: %v", dnsNSEnv, err)
			}
			ns = append(ns, g)
		}
		m = m.WithNameServers(ns)
	}
	return m, st, sealer, nil
}

func (a *app) dnsSealer(ctx context.Context) (*zone.Sealer, error) {
	if v := os.Getenv(dnsKeyEnv); v != "" {
		k, err := auth.ParseKey(v)
		if err != nil {
			return nil, usagef("$%s: %v", dnsKeyEnv, err)
		}
		return zone.NewSealer(k[:zone.SealKeySize])
	}
	if a.cfg.tokenKey == "" && a.cfg.tokenKeyFile == "" && a.cfg.postgres != "" {
		return nil, usagef("with --postgres, every replica needs the same key: set $%s or $CADASTRE_TOKEN_KEY (64 hex digits)", dnsKeyEnv)
	}
	kf, err := a.tokenKeys(ctx)
	if err != nil {
		return nil, err
	}
	// After a token key rotation the key file pins the sealing key
	// derived from the original token key (see token rotate-key).
	if kf.DNSSeal != nil {
		return zone.NewSealer(kf.DNSSeal)
	}
	k, err := zone.DeriveSealKey(kf.Current)
	if err != nil {
		return nil, err
	}
	return zone.NewSealer(k)
}

func newZoneCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "zone",
		Short: "DNS zones: add, update, export, import, list, sign, ds, roll, keys, remove, split, join, secondary-config",
		Long: `Zones cadastre answers for with ` + "`cadastre dns serve`" + ` or ` + "`cadastre serve --dns`" + `.
A forward zone gets A/AAAA records for every assignment named under it; a
reverse zone (in-addr.arpa, ip6.arpa; --prefix) gets PTR records for named
assignments, and with --synthesize a name for every unnamed address of its
pools whose forward name resolves back (forward-confirmed reverse DNS).

DNSSEC private keys are sealed with AES-256-GCM under $CADASTRE_DNS_KEY
(64 hex digits), or, without it, a key derived (HKDF-SHA256) from the token
key. Every replica on one database needs the same key.`,
		Example: `  cadastre zone add example.net
  cadastre zone sign example.net
  cadastre zone ds example.net`,
		Args: unknownCommand,
		RunE: showHelp,
	}
	c.AddCommand(newZoneAdd(a), newZoneUpdate(a), newZoneExport(a), newZoneImport(a), newZoneList(a), newZoneSign(a), newZoneDS(a), newZoneRoll(a), newZoneKeys(a), newZoneRemove(a), newZoneSplit(a), newZoneJoin(a), newZoneSecondaryConfig(a))
	return c
}

func newZoneAdd(a *app) *cobra.Command {
	var spec manage.ZoneSpec
	var kind, pfx string
	var ns, nsAddr, allow, notify []string
	var ttl uint32
	var zoneSpace string
	var catalog bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a zone (or the zones of a reverse prefix)",
		Long: `Add a zone. A forward zone is named by NAME. A reverse zone is named by its
--prefix (give NAME as -, or the name the prefix gives):

  IPv4 on an octet (/8, /16, /24)    one zone: 2.0.192.in-addr.arpa.
  IPv4 longer than /24 (/25-/32)     one RFC 2317 zone: 128/25.2.0.192.in-addr.arpa.
  IPv4 /9-/15 and /17-/23            the /16 or /24 zones that cover it
  IPv6 on a nibble (/32, /48, /64)   one zone: 8.b.d.0.1.0.0.2.ip6.arpa.
  IPv6 between nibbles (/33, /49)    the 2-8 zones of the next nibble that cover it

A registry delegates a prefix that does not end on an octet or a nibble as
several aligned zones (10.1.16.0/20 as 16.1.10.in-addr.arpa. to
31.1.10.in-addr.arpa.), so cadastre adds exactly those, each a zone of its
own (SOA, NS, keys, DS, serial), remembered together under the prefix: all
are added or none, and ` + "`zone sign`, `zone ds` and `zone remove`" + ` take the
prefix to act on all of them. Each named assignment gets its PTR in the zone
that holds its address; names outside every zone are REFUSED. The prefix
must lie inside a block of the register.

Name servers must resolve: one outside the zone is accepted as given; one
inside the zone needs an address, given with --ns-addr HOST=IP (stored as
an A or AAAA record of the zone, the glue a parent needs too). Without
--ns the zone's name servers are the server identity's, $CADASTRE_DNS_NS
(HOST or HOST=IP, comma-separated: cadastre's own name servers; an address
is stored as glue in the zone that holds its host), or, without it,
ns1.ZONE, which then needs --ns-addr. The API and every other caller follow
the same rule.

With --catalog the zone is the catalog (RFC 9432, schema version 2) that
secondaries follow to learn the zones: cadastre lists in it every zone that
allows transfers (--allow-transfer), one "<id>.zones.CATALOG PTR ZONE" each,
and moves its serial (NOTIFY, IXFR) when zones come and go. A Knot
secondary configured once with it (catalog-role: interpret) serves new
zones by itself; ` + "`zone secondary-config --knot`" + ` prints that configuration.`,
		Example: `  cadastre zone add example.net --ns ns1.example.net --ns-addr ns1.example.net=192.0.2.53 --ns ns.provider.example
  cadastre zone add --kind reverse --prefix 192.0.2.0/24 --ns ns1.example.net -
  cadastre zone add --kind reverse --prefix 10.1.16.0/20 --ns ns1.example.net -
  cadastre zone add --kind reverse --prefix 2001:db8:1::/48 --ns ns1.example.net --synthesize 'ip-{addr}.dyn.example.net' -
  cadastre zone add catalog.invalid --catalog --allow-transfer key:xfr.example.net --notify 192.0.2.54:53`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := zone.ParseKind(kind)
			if err != nil {
				return usageError{err}
			}
			spec.Kind = k
			if args[0] != "-" {
				spec.Name = args[0]
			}
			if pfx != "" {
				p, err := netip.ParsePrefix(pfx)
				if err != nil {
					return usagef("--prefix %q: %v", pfx, err)
				}
				spec.Prefix = p
			}
			spec.Config = zone.Config{TTL: ttl, NS: ns, AllowTransfer: allow, Notify: notify, Catalog: catalog, Space: zoneSpace}
			if spec.Glue, err = parseGlue(nsAddr); err != nil {
				return err
			}
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			zs, err := m.AddZones(cmd.Context(), spec)
			if err != nil {
				return err
			}
			names := make([]string, len(zs))
			for i, z := range zs {
				fmt.Fprintf(a.cfg.stdout, "%s\n", z.Name)
				names[i] = z.Name
			}
			a.warnGapsOf(cmd.Context(), m, names...)
			return nil
		},
	}
	add.Flags().StringVar(&kind, "kind", "forward", "forward or reverse")
	add.Flags().StringVar(&pfx, "prefix", "", "address space of a reverse zone; names the zone (give NAME as -)")
	add.Flags().StringVar(&zoneSpace, "space", "", "the space (VRF) whose assignments give the zone its names and PTRs (default: the global and the built-in private space)")
	add.Flags().StringVar(&spec.Synthesize, "synthesize", "", "template for names of unnamed addresses, e.g. ip-{addr}.dyn.example.net")
	add.Flags().StringArrayVar(&ns, "ns", nil, "name server (repeatable; default ns1.ZONE)")
	add.Flags().StringArrayVar(&nsAddr, "ns-addr", nil, "address of an in-zone name server, HOST=IP, stored as its A/AAAA record (repeatable)")
	add.Flags().Uint32Var(&ttl, "ttl", 0, "TTL of the zone's records (default 3600)")
	add.Flags().StringArrayVar(&allow, "allow-transfer", nil, "who may AXFR/IXFR: a prefix or key:TSIG-NAME (repeatable)")
	add.Flags().StringArrayVar(&notify, "notify", nil, "secondary to NOTIFY, address:port (repeatable)")
	add.Flags().BoolVar(&catalog, "catalog", false, "make NAME the catalog zone (RFC 9432) listing the zones secondaries may transfer; the zones it lists also NOTIFY its --notify targets")
	return add
}

func parseGlue(ss []string) ([]manage.Glue, error) {
	var out []manage.Glue
	for _, s := range ss {
		g, err := manage.ParseGlue(s)
		if err != nil {
			return nil, usageError{err}
		}
		out = append(out, g)
	}
	return out, nil
}

// emptyMeansNone turns a flag given as ” into an empty, non-nil list
// (clear it), and a flag not given into nil (keep it).
func emptyMeansNone(changed bool, v []string) []string {
	if !changed {
		return nil
	}
	out := []string{}
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func newZoneUpdate(a *app) *cobra.Command {
	var ns, nsAddr, allow, notify []string
	var ch manage.ZoneChange
	var zoneSpace string
	up := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a zone's name servers, transfer ACL, NOTIFY list, TTL or SOA timers",
		Long: `Change a zone's configuration in place: its keys, DS, records and serial
history stay. Flags not given keep their value; --ns, --allow-transfer and
--notify replace the whole list (give '' to empty --allow-transfer or
--notify). The change moves the serial on and is journalled like any other,
so secondaries take it by IXFR after the NOTIFY. In-zone name servers need
an address, as for zone add (--ns-addr HOST=IP).`,
		Example: `  cadastre zone update example.net --ns ns1.example.net --ns ns2.example.net --ns-addr ns2.example.net=192.0.2.54
  cadastre zone update example.net --allow-transfer 192.0.2.0/24 --allow-transfer key:xfr.example.net
  cadastre zone update example.net --ttl 300 --soa-minimum 60`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			var err error
			if ch.Glue, err = parseGlue(nsAddr); err != nil {
				return err
			}
			if fl.Changed("ns") {
				ch.NS = emptyMeansNone(true, ns)
				if len(ch.NS) == 0 {
					return usagef("--ns: a zone needs at least one name server")
				}
			}
			ch.AllowTransfer = emptyMeansNone(fl.Changed("allow-transfer"), allow)
			ch.Notify = emptyMeansNone(fl.Changed("notify"), notify)
			for _, f := range []string{"ttl", "soa-refresh", "soa-retry", "soa-expire", "soa-minimum"} {
				if v, _ := fl.GetUint32(f); fl.Changed(f) && v == 0 {
					return usagef("--%s: must be more than 0", f)
				}
			}
			if fl.Changed("space") {
				ch.Space = &zoneSpace
			}
			if !fl.Changed("ns") && !fl.Changed("ns-addr") && !fl.Changed("allow-transfer") && !fl.Changed("notify") && !fl.Changed("space") &&
				ch.TTL == 0 && ch.Refresh == 0 && ch.Retry == 0 && ch.Expire == 0 && ch.Minimum == 0 {
				return usagef("zone update %s: nothing to change (see --help for the flags)", args[0])
			}
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			z, err := m.Reconfigure(cmd.Context(), args[0], ch)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "%s\n", z.Name)
			a.warnGapsOf(cmd.Context(), m, z.Name)
			return nil
		},
	}
	f := up.Flags()
	f.StringArrayVar(&ns, "ns", nil, "name server (repeatable; replaces the list)")
	f.StringArrayVar(&nsAddr, "ns-addr", nil, "address of an in-zone name server, HOST=IP, stored as its A/AAAA record (repeatable)")
	f.StringArrayVar(&allow, "allow-transfer", nil, "who may AXFR/IXFR: a prefix or key:TSIG-NAME (repeatable; replaces the list; '' for nobody)")
	f.StringArrayVar(&notify, "notify", nil, "secondary to NOTIFY, address:port (repeatable; replaces the list; '' for none)")
	f.Uint32Var(&ch.TTL, "ttl", 0, "TTL of the zone's records")
	f.Uint32Var(&ch.Refresh, "soa-refresh", 0, "SOA refresh, seconds")
	f.Uint32Var(&ch.Retry, "soa-retry", 0, "SOA retry, seconds")
	f.Uint32Var(&ch.Expire, "soa-expire", 0, "SOA expire, seconds")
	f.Uint32Var(&ch.Minimum, "soa-minimum", 0, "SOA minimum: negative caching TTL, seconds")
	f.StringVar(&zoneSpace, "space", "", "the space (VRF) whose assignments give the zone its names and PTRs ('global': the default, global and built-in private space)")
	return up
}

func newZoneExport(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "export NAME",
		Short: "Print a zone as RFC 1035 zone-file text",
		Long: `Print a zone as a secondary receives it, in RFC 1035 master-file format:
SOA, name servers, static records and the names of assignments. DNSSEC
records are made by the signer and not printed; synthesised names are made
per query and not printed either.`,
		Example: "  cadastre zone export example.net > example.net.zone",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, _, err := a.dnsManager(cmd.Context(), false)
			if err != nil {
				return err
			}
			return m.Export(cmd.Context(), args[0], a.cfg.stdout)
		},
	}
}

func newZoneImport(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "import NAME FILE",
		Short: "Add the records of a zone file as static records, all or none",
		Long: `Read a zone file (RFC 1035 master-file format; names relative to the zone
unless they end in a dot) into static records of the zone, all or none; the
first error names the file and the line (or the record's place in the file).
Skipped, and counted: the SOA (the zone's configuration makes it; change the
timers with zone update), NS records at the apex (the name servers are
configuration: zone update --ns), DNSSEC records (the signer makes them from
the zone's keys), records the zone already has, and the names of
assignments. NS below the apex are delegations and are imported.`,
		Example: "  cadastre zone import example.net example.net.zone",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, _, err := a.dnsManager(cmd.Context(), false)
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return unreadable{err}
			}
			defer f.Close()
			res, err := m.Import(cmd.Context(), args[0], args[1], f)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, res)
			}
			fmt.Fprintf(a.cfg.stdout, "%d added; skipped: %d existing, %d SOA, %d apex NS, %d DNSSEC, %d from assignments\n",
				res.Added, res.Existing, res.SOA, res.ApexNS, res.DNSSEC, res.Generated)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// listedZone is a zone as `zone list --json` prints it: with the ways a
// secondary cannot answer what cadastre answers (the warnings the text
// listing writes to stderr), so that scripts reading the JSON see them.
type listedZone struct {
	zone.Zone
	SecondaryGaps []string `json:"secondary_gaps,omitempty"`
}

// zonesWithGaps is zs with their secondary gaps. Over --server there are
// none to give (see warnGapsOf); a failed check is a warning on stderr,
// as in the text listing.
func (a *app) zonesWithGaps(ctx context.Context, b dnsBackend, zs []zone.Zone) []listedZone {
	gaps := map[string][]string{}
	if m, ok := b.(*manage.Manager); ok {
		gs, err := a.secondaryGaps(ctx, m)
		if err != nil {
			fmt.Fprintf(a.cfg.stderr, "cadastre: warning: secondaries not checked: %v\n", err)
		}
		for _, g := range gs {
			gaps[g.Zone] = append(gaps[g.Zone], g.Reason)
		}
	}
	out := make([]listedZone, 0, len(zs))
	for _, z := range zs {
		out = append(out, listedZone{Zone: z, SecondaryGaps: gaps[z.Name]})
	}
	return out
}

func newZoneList(a *app) *cobra.Command {
	var listJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List zones",
		Example: "  cadastre zone list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			zs, err := m.Zones(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				return writeJSON(a.cfg.stdout, a.zonesWithGaps(cmd.Context(), m, zs))
			}
			rows := make([][]string, 0, len(zs))
			for _, z := range zs {
				p := "-"
				if z.Prefix.IsValid() {
					p = z.Prefix.String()
				}
				sig := "unsigned"
				if z.Config.Signed {
					sig = z.Config.Algorithm.String() + " " + string(z.Config.Denial)
				}
				set := "-"
				if z.Set.IsValid() {
					set = z.Set.String()
				}
				kind := string(z.Kind)
				switch {
				case z.Config.Catalog:
					kind = "catalog"
				case z.Config.Staged:
					// A split or join stopped between its steps: served
					// to the secondaries, not delegated (zone split).
					kind += " (staged)"
				}
				rows = append(rows, []string{z.Name, kind, p, set, dash(z.Synthesize), sig, fmt.Sprint(z.Serial)})
			}
			if err := table(a.cfg.stdout, "ZONE\tKIND\tPREFIX\tADDED AS\tSYNTHESIZE\tDNSSEC\tSERIAL", rows); err != nil {
				return err
			}
			a.warnGapsOf(cmd.Context(), m)
			return nil
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	return list
}

func newZoneSign(a *app) *cobra.Command {
	var alg, denial string
	var split bool
	var pol zone.Config // rollover policy flags
	sign := &cobra.Command{
		Use:   "sign NAME|PREFIX",
		Short: "Sign a zone with DNSSEC, generating its keys",
		Long: `Turn DNSSEC on for a zone: generate a combined signing key (or a KSK and a
ZSK with --split), sealed in the database, and sign every answer. Denial of
existence is NSEC3 without salt or extra iterations (RFC 9276), or compact
denial (RFC 9824). Zones with synthesised names (--synthesize, and the
forward zone of their names) answer NSEC3 denials with minimally covering
NSEC3 records signed per query ("white lies", RFC 7129 appendix B), as a
precomputed chain would deny names that exist; transfers carry the chain of
the stored names. Then give the parent the DS from ` + "`cadastre zone ds NAME`" + `.
A reverse prefix added as several zones (see zone add) signs them all, each
with its own keys.

Keys roll by themselves (RFC 7583) when lifetimes are set: a ZSK (with
--split) by pre-publication, its successor published Ipub = propagation +
DNSKEY TTL before it takes over, the old key removed propagation + the
largest TTL after; a KSK or CSK by double-KSK, the successor signing beside
the old key and shown in CDS/CDNSKEY and ` + "`zone ds`" + `; the old key goes only
after ` + "`cadastre zone ds NAME --confirm`" + ` (the parent publishes the new DS) and
propagation + --parent-ds-ttl more. Run again with new flags to change them.`,
		Example: `  cadastre zone sign example.net --algorithm ed25519
  cadastre zone sign example.net --split --zsk-lifetime 720h --ksk-lifetime 8760h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := manage.SignOptions{SplitKeys: split}
			var err error
			if o.Algorithm, err = zone.ParseAlgorithm(alg); err != nil {
				return usageError{err}
			}
			if o.Denial, err = zone.ParseDenial(denial); err != nil {
				return usageError{err}
			}
			m, _, _, err := a.dnsManager(cmd.Context(), true)
			if err != nil {
				return err
			}
			fl := cmd.Flags()
			for _, d := range []time.Duration{pol.ZSKLifetime, pol.KSKLifetime, pol.Propagation, pol.ParentDSTTL} {
				if d < 0 {
					return usagef("rollover durations must not be negative")
				}
			}
			zs, keyss, err := m.SignZones(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			for i, z := range zs {
				if fl.Changed("zsk-lifetime") || fl.Changed("ksk-lifetime") || fl.Changed("propagation") || fl.Changed("parent-ds-ttl") {
					if z, err = m.UpdateZone(cmd.Context(), z.Name, func(c *zone.Config) error {
						if fl.Changed("zsk-lifetime") {
							c.ZSKLifetime = pol.ZSKLifetime
						}
						if fl.Changed("ksk-lifetime") {
							c.KSKLifetime = pol.KSKLifetime
						}
						if fl.Changed("propagation") {
							c.Propagation = pol.Propagation
						}
						if fl.Changed("parent-ds-ttl") {
							c.ParentDSTTL = pol.ParentDSTTL
						}
						return nil
					}); err != nil {
						return err
					}
				}
				for _, k := range keyss[i] {
					fmt.Fprintf(a.cfg.stdout, "%s %s %s tag %d\n", z.Name, k.Role, k.Algorithm, k.Tag)
				}
			}
			names := make([]string, len(zs))
			for i, z := range zs {
				names[i] = z.Name
			}
			a.warnGapsOf(cmd.Context(), m, names...)
			return nil
		},
	}
	sign.Flags().StringVar(&alg, "algorithm", "ecdsap256", "ecdsap256 or ed25519")
	sign.Flags().StringVar(&denial, "denial", "nsec3", "nsec3 or compact")
	sign.Flags().BoolVar(&split, "split", false, "a KSK and a ZSK instead of one combined key")
	sign.Flags().DurationVar(&pol.ZSKLifetime, "zsk-lifetime", 0, "roll the ZSK automatically this long after it began signing (0: never)")
	sign.Flags().DurationVar(&pol.KSKLifetime, "ksk-lifetime", 0, "start a KSK/CSK rollover this long after it began signing (0: never); it ends after --confirm")
	sign.Flags().DurationVar(&pol.Propagation, "propagation", 0, "time for a change to reach every secondary (0: the SOA retry)")
	sign.Flags().DurationVar(&pol.ParentDSTTL, "parent-ds-ttl", 0, "TTL of the DS in the parent zone (0: 24h)")
	return sign
}

func newZoneDS(a *app) *cobra.Command {
	var confirm bool
	ds := &cobra.Command{
		Use:   "ds NAME|PREFIX",
		Short: "Print the DS records to give the parent zone; --confirm once it has them",
		Long: `Print the DS record the parent zone should publish: that of the newest KSK
(or CSK), which during a rollover is the successor's. Once the parent
publishes it, say so with --confirm: the old key is then removed after the
propagation delay and the parent's DS TTL (see zone sign). cadastre does not
query the parent itself. A reverse prefix added as several zones prints the
DS of each of them (each zone has its own at the registry).`,
		Example: "  cadastre zone ds example.net\n  cadastre zone ds example.net --confirm",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, _, err := a.dnsManager(cmd.Context(), false)
			if err != nil {
				return err
			}
			if confirm {
				k, err := m.ConfirmDS(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.cfg.stdout, "DS of %s key %d confirmed at %s\n", k.Role, k.Tag, k.DSAt.Format(time.RFC3339))
				return nil
			}
			zs, err := m.ZonesOf(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, z := range zs {
				dss, err := m.DS(cmd.Context(), z.Name)
				if err != nil {
					return err
				}
				for _, d := range dss {
					fmt.Fprintln(a.cfg.stdout, strings.ReplaceAll(d.String(), "\t", " "))
				}
			}
			return nil
		},
	}
	ds.Flags().BoolVar(&confirm, "confirm", false, "record that the parent now publishes the DS printed")
	return ds
}

func newZoneRoll(a *app) *cobra.Command {
	var rollKSK bool
	roll := &cobra.Command{
		Use:   "roll NAME",
		Short: "Start a key rollover now (the ZSK, or with --ksk the KSK or CSK)",
		Long: `Publish a successor key now, whatever the lifetimes say; the server carries
the rollover on with RFC 7583 timing (see zone sign). A KSK/CSK rollover
ends after ` + "`cadastre zone ds NAME --confirm`" + `.`,
		Example: "  cadastre zone roll example.net\n  cadastre zone roll example.net --ksk",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, _, err := a.dnsManager(cmd.Context(), true)
			if err != nil {
				return err
			}
			k, err := m.Roll(cmd.Context(), args[0], rollKSK)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "%s %s successor tag %d published\n", strings.TrimSuffix(args[0], ".")+".", k.Role, k.Tag)
			return nil
		},
	}
	roll.Flags().BoolVar(&rollKSK, "ksk", false, "roll the KSK (or CSK) instead of the ZSK")
	return roll
}

func newZoneKeys(a *app) *cobra.Command {
	var keysJSON bool
	keys := &cobra.Command{
		Use:     "keys NAME",
		Short:   "List a zone's DNSSEC keys and where each is in its rollover",
		Example: "  cadastre zone keys example.net",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, _, err := a.dnsManager(cmd.Context(), false)
			if err != nil {
				return err
			}
			ks, err := m.Keys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if keysJSON {
				if ks == nil {
					ks = []zone.Key{}
				}
				return writeJSON(a.cfg.stdout, ks)
			}
			at := func(t time.Time) string {
				if t.IsZero() {
					return "-"
				}
				return t.UTC().Format(time.RFC3339)
			}
			rows := make([][]string, 0, len(ks))
			for _, k := range ks {
				rows = append(rows, []string{fmt.Sprint(k.Tag), string(k.Role), k.Algorithm.String(), string(k.State), at(k.PublishedAt), at(k.ActiveAt), at(k.InactiveAt), at(k.RemovedAt), at(k.DSAt)})
			}
			return table(a.cfg.stdout, "TAG\tROLE\tALGORITHM\tSTATE\tPUBLISHED\tACTIVE\tINACTIVE\tREMOVED\tDS CONFIRMED", rows)
		},
	}
	keys.Flags().BoolVar(&keysJSON, "json", false, "print JSON")
	return keys
}

func newZoneRemove(a *app) *cobra.Command {
	remove := &cobra.Command{
		Use:   "remove NAME|PREFIX",
		Short: "Remove a zone (or the zones of a reverse prefix) with its records and keys",
		Long: `Remove a zone, its static records and its DNSSEC keys; the server stops
answering for it (REFUSED) at its next reload. A reverse prefix added as
several zones (see zone add) is removed whole, by its prefix: one of its
zones alone would leave a hole in space the registry delegates together.
Withdraw the zone's delegation and DS at the parent first.`,
		Example: "  cadastre zone remove example.net\n  cadastre zone remove 10.1.16.0/20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			zs, err := m.RemoveZones(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, z := range zs {
				fmt.Fprintf(a.cfg.stdout, "%s removed\n", z.Name)
			}
			return nil
		},
	}
	return remove
}

func newZoneSplit(a *app) *cobra.Command {
	var perRegion, asJSON, stage bool
	var regions []string
	var wait time.Duration
	split := &cobra.Command{
		Use:   "split PARENT (--per-region | --region NAME...)",
		Short: "Serve each region's names as a child zone REGION.PARENT, delegated from PARENT",
		Long: `Make a child zone REGION.PARENT for each region (--per-region: every region
with live names under REGION.PARENT and no child yet; --region: these), in
one transaction: the child takes the parent's name servers, transfer ACL,
NOTIFY list, timers and signing policy, with keys of its own; the parent gets
the delegation (NS, and the DS of the child's keys when signed) and its
static records at and below the child's apex move into the child. The
register's names move by themselves (a name lives in the longest zone that
matches it), and the server switches at one reload: every query is answered
by the parent as before or by the child as after, never by neither or both.

A secondary applies an IXFR in time that grows with the whole zone (Knot:
~0.25-0.5 us per name), so at millions of names a change reaches it in
seconds; split, a change costs it the IXFR of the region's zone only. A
secondary following the catalog learns the children by itself. The DS in
the parent follows the child's keys as they roll (no ` + "`zone ds --confirm`" + `).
` + "`cadastre zone join`" + ` is the reverse.

The children are staged first: built, signed, listed in the catalog and
NOTIFY sent, while the parent keeps their names and has no delegation yet.
Only when every secondary (the NOTIFY targets of the child and of the
catalog) answers a child's SOA at the serial cadastre serves does a second
transaction publish the delegation and take the names out of the parent,
so that no secondary refers a name to a zone it does not have yet. The
wait is bounded (--wait; 0 delegates at once); if it runs out, the command
fails naming the late secondaries and the children stay staged (` + "`zone list`" + `
says so): run the split again to delegate them, or ` + "`zone join`" + ` to drop them.
--stage stops after the first step.`,
		Example: `  cadastre zone split cloud.example --per-region
  cadastre zone split cloud.example --region us-east --region eu-west`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !perRegion && len(regions) == 0 {
				return usagef("zone split %s: say which children: --per-region, or --region NAME (repeatable)", args[0])
			}
			if perRegion && len(regions) > 0 {
				return usagef("zone split %s: --per-region and --region exclude each other", args[0])
			}
			b, err := a.dnsBackend(cmd.Context(), true)
			if err != nil {
				return err
			}
			out, err := b.Split(cmd.Context(), args[0], manage.SplitOptions{PerRegion: perRegion, Regions: regions, Stage: stage, Wait: waitOption(wait), Log: newLogger(a)})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.cfg.stdout, out)
			}
			rows := make([][]string, 0, len(out))
			for _, s := range out {
				ds := "-"
				if len(s.DS) > 0 {
					ds = strings.Join(s.DS, ", ")
				}
				rows = append(rows, []string{s.Zone.Name, fmt.Sprint(s.Names), fmt.Sprint(s.Records), ds})
			}
			return table(a.cfg.stdout, "ZONE\tNAMED ASSIGNMENTS\tRECORDS MOVED\tDS IN PARENT", rows)
		},
	}
	split.Flags().BoolVar(&perRegion, "per-region", false, "a child for every region with names under REGION.PARENT")
	split.Flags().StringArrayVar(&regions, "region", nil, "a child for this region (repeatable)")
	split.Flags().BoolVar(&stage, "stage", false, "stop once the children are staged (served to the secondaries, not delegated)")
	split.Flags().DurationVar(&wait, "wait", manage.DefaultWait, "how long to wait for the secondaries to serve the children before delegating them (0: do not wait)")
	split.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return split
}

func newZoneJoin(a *app) *cobra.Command {
	var wait time.Duration
	join := &cobra.Command{
		Use:   "join CHILD|PARENT",
		Short: "Take split children back into their parent (the reverse of zone split)",
		Long: `Remove a child zone made by ` + "`cadastre zone split`" + ` (or, given the parent, every
child split from it) in one transaction: its static records move to the
parent, the parent's NS and DS at its apex go, its keys go, and its names
return to the parent at the same reload.

It goes in two steps, the reverse of a split's: the parent first gets the
names and records back and loses the delegation while the child is still
served (staged); once every secondary answers the parent's SOA at the
serial cadastre serves (bounded by --wait; 0: at once), the child is
removed and leaves the catalog. If the wait runs out the child stays
staged: run the join again.`,
		Example: "  cadastre zone join us-east.cloud.example\n  cadastre zone join cloud.example",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			zs, err := b.Join(cmd.Context(), args[0], manage.JoinOptions{Wait: waitOption(wait), Log: newLogger(a)})
			if err != nil {
				return err
			}
			for _, z := range zs {
				fmt.Fprintf(a.cfg.stdout, "%s joined into %s\n", z.Name, z.Config.Parent)
			}
			return nil
		},
	}
	join.Flags().DurationVar(&wait, "wait", manage.DefaultWait, "how long to wait for the secondaries to serve the parent before removing the children (0: do not wait)")
	return join
}

// waitOption is --wait as manage takes it: 0 there is the default, a
// negative wait none.
func waitOption(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func newRecordCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "record",
		Short:   "Static DNS records: add, list, delete",
		Example: "  cadastre record add example.net www A 192.0.2.10",
		Args:    unknownCommand,
		RunE:    showHelp,
	}
	c.AddCommand(newRecordAdd(a), newRecordList(a), newRecordDelete(a))
	return c
}

func newRecordAdd(a *app) *cobra.Command {
	var ttl uint32
	add := &cobra.Command{
		Use:   "add ZONE NAME TYPE DATA",
		Short: "Add a static record (NAME relative to the zone, or @ for its apex)",
		Long: `Add a static record (NAME relative to the zone, or @ for its apex).

NS records below the apex delegate that name to a child zone (served by
cadastre too, or elsewhere): names at and below it are answered with a
referral, with glue from A/AAAA records of in-zone name servers. A DS
record, once the delegation's NS exist, makes the delegation secure: take
it from the child's ` + "`cadastre zone ds CHILD`" + ` (or its CDS), and when it
changes in a KSK rollover add the new DS, delete the old one, and run
` + "`cadastre zone ds CHILD --confirm`" + ` if the child is cadastre's.

DATA is parsed as in a zone file, and refused with the parser's reason when
it would not survive a transfer. TXT: one argument without quotes is one
string ('v=spf1 -all' stays whole); several arguments are several strings;
data with double quotes is read as written ('"a b" "c"' is two strings).
A CNAME stands alone at its name and never at the apex; nothing may lie
below a DNAME.`,
		Example: `  cadastre record add example.net www A 192.0.2.10
  cadastre record add example.net @ TXT 'v=spf1 -all'
  cadastre record add example.net www2 CNAME www.example.net.
  cadastre record add example.net old DNAME example.org.
  cadastre record add example.net @ MX "10 mail.example.net."
  cadastre record add example.net lab NS ns1.lab.example.net.
  cadastre record add example.net ns1.lab A 192.0.2.53
  cadastre record add example.net lab DS "12345 13 2 3F6A..."

A delegation (NS below the apex, DNAME) added above names that assignments
or static records hold is written, with a warning naming what it hides
(at most 100 names): the zone no longer answers them. Records and named
assignments at or below a delegation are then refused (exit 4), but the
delegation's own NS and DS and address records (glue).`,
		Args: cobra.MinimumNArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			r, hidden, err := m.AddRecordHides(cmd.Context(), args[0], args[1], args[2], recordData(args[2], args[3:]), ttl)
			if err != nil && r.ID == 0 {
				return err
			}
			fmt.Fprintf(a.cfg.stdout, "%d %s %d %s %s\n", r.ID, r.Name, r.TTL, r.Type, r.Data)
			if err != nil {
				return err
			}
			// A delegation hides what lies below it: said, not refused,
			// on the local register and over --server alike.
			if len(hidden) > 0 {
				fmt.Fprintf(a.cfg.stderr, "cadastre: warning: %s %s hides %s (no longer served here)\n", r.Name, r.Type, strings.Join(hidden, ", "))
			}
			return nil
		},
	}
	add.Flags().Uint32Var(&ttl, "ttl", 0, "TTL (default: the zone's)")
	return add
}

// recordData joins the DATA arguments. The shell has taken the quotes of
// TXT strings away, so each TXT argument that has none is one string.
func recordData(typ string, args []string) string {
	if len(args) > 1 && (strings.EqualFold(typ, "TXT") || strings.EqualFold(typ, "SPF")) {
		out := make([]string, len(args))
		for i, s := range args {
			if strings.HasPrefix(s, `"`) {
				out[i] = s
			} else {
				out[i] = zone.QuoteTXT(s)
			}
		}
		return strings.Join(out, " ")
	}
	return strings.Join(args, " ")
}

func newRecordList(a *app) *cobra.Command {
	var listJSON bool
	list := &cobra.Command{
		Use:     "list ZONE",
		Short:   "List a zone's static records",
		Example: "  cadastre record list example.net",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			rs, err := m.Records(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if listJSON {
				if rs == nil {
					rs = []zone.Record{}
				}
				return writeJSON(a.cfg.stdout, rs)
			}
			rows := make([][]string, 0, len(rs))
			for _, r := range rs {
				data := r.Data
				if r.NotServed != "" {
					// issue 10: a static PTR at a tenant's named address,
					// or older than the tenant's assignment there.
					data += "  (not served: " + r.NotServed + ")"
				}
				rows = append(rows, []string{fmt.Sprint(r.ID), r.Name, fmt.Sprint(r.TTL), r.Type, data})
			}
			return table(a.cfg.stdout, "ID\tNAME\tTTL\tTYPE\tDATA", rows)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	return list
}

func newRecordDelete(a *app) *cobra.Command {
	var zoneName string
	del := &cobra.Command{
		Use:   "delete ID [--zone ZONE]",
		Short: "Delete a static record by ID (see record list)",
		Long: `Delete a static record by its ID (see record list). With --server, a token
bound to a tenant names the record's zone with --zone (it may not list every
zone); an admin's token may leave it out.`,
		Example: "  cadastre record delete 12\n  cadastre --server https://ipam.example.net record delete 12 --zone example.net",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id int64
			if _, err := fmt.Sscan(args[0], &id); err != nil || id <= 0 {
				return usagef("record delete %q: want a record ID", args[0])
			}
			if a.cfg.server != "" && zoneName != "" {
				c, err := a.client()
				if err != nil {
					return err
				}
				return c.DeleteRecordIn(cmd.Context(), zoneName, id)
			}
			m, err := a.dnsBackend(cmd.Context(), false)
			if err != nil {
				return err
			}
			if zoneName != "" {
				rs, err := m.Records(cmd.Context(), zoneName)
				if err != nil {
					return err
				}
				if !slices.ContainsFunc(rs, func(r zone.Record) bool { return r.ID == id }) {
					return fmt.Errorf("record %d: not in zone %s: %w", id, zoneName, registry.ErrNotFound)
				}
			}
			return m.DeleteRecord(cmd.Context(), id)
		},
	}
	del.Flags().StringVar(&zoneName, "zone", "", "the record's zone (checked; needed with --server and a tenant's token)")
	return del
}

// dnsFlags are the options of the DNS server, shared by `dns serve` and
// `serve --dns`.
type dnsFlags struct {
	poll     time.Duration
	tsig     []string // the removed --tsig, kept to explain where keys went
	tsigFile string
	rate     float64
	nsid     string

	clientRate   float64 // --dns-sign-budget
	rrlRate      float64
	rrlSlip      int
	cookieSecret string
	logSample    int
	sigCache     string
}

func (f *dnsFlags) register(c *cobra.Command) {
	c.Flags().DurationVar(&f.poll, "dns-poll", dnsserver.DefaultPoll, "how often the DNS server checks the event log for changes (one indexed read): a new name is answered within about this")
	c.Flags().StringArrayVar(&f.tsig, "tsig", nil, "removed: secrets on the command line show in ps; use cadastre tsig add or --tsig-file")
	c.Flags().MarkHidden("tsig")
	c.Flags().StringVar(&f.tsigFile, "tsig-file", "", "`FILE` of TSIG keys for transfers, one a line: NAME ALGORITHM BASE64-SECRET (besides the register's keys, which cadastre tsig manages)")
	c.Flags().StringVar(&f.nsid, "nsid", "", "server identifier sent to askers that request it (RFC 5001): text, or hex after 0x")
	c.Flags().Float64Var(&f.rate, "dns-sign-rate", dnsserver.DefaultOnlineRate, "signatures per second each zone may make per query (synthesised names, compact denial, NSEC3 white lies), all askers together; past it UDP askers get TC, TCP askers SERVFAIL. The default is about one CPU core's worth (bench/README.md)")
	c.Flags().Float64Var(&f.clientRate, "dns-sign-budget", dnsserver.DefaultClientSignRate, "signatures per second (out of --dns-sign-rate) each client network (IPv4 /24, IPv6 /56) may have made, so that one flooder cannot spend the zone's budget for everyone; 0 for no per-client budget")
	c.Flags().Float64Var(&f.rrlRate, "dns-rrl-rate", dnsserver.DefaultRRLRate, "response-rate limiting: UDP responses per second to each client network per answer class (one name and type; denials and referrals per zone; errors); past it responses are dropped but every --dns-rrl-slip-th. TCP and askers with a valid DNS cookie are not limited. 0 turns it off")
	c.Flags().IntVar(&f.rrlSlip, "dns-rrl-slip", 2, "every Nth rate-limited response is sent as an empty reply with TC set (BADCOOKIE with a cookie to an asker that sent a client cookie), so that honest askers retry over TCP; 1 slips all, 0 none")
	c.Flags().StringVar(&f.cookieSecret, "dns-cookie-secret-file", "", "`FILE` of DNS cookie secrets (RFC 7873, RFC 9018 server cookies): lines of 32 hex digits (e.g. from openssl rand -hex 16), the current one first, then older ones still accepted; read again when it changes. Servers behind one address share it; to rotate, add the new secret as a second line everywhere, then move it first, and drop the old one an hour later. Default: a random secret, replaced daily")
	c.Flags().StringVar(&f.sigCache, "dns-signature-cache", "", "`FILE` that keeps the precomputed DNSSEC signatures between two starts: the start-up finds there those of what did not change instead of signing every set again (most of a signed zone's start-up CPU), then writes the file anew. It holds signatures, not keys; whoever can write it can make the server serve signatures that fail validation. Default: none, every start signs everything")
	c.Flags().IntVar(&f.logSample, "dns-query-log-sample", 0, "log one DNS query in N (client, name, type, rcode, size, flags) at info level; 0 for none")
}

// apply checks the flags and copies them into opt.
func (f *dnsFlags) apply(opt *dnsserver.Options) error {
	switch {
	case f.rate <= 0:
		return usagef("--dns-sign-rate %v: must be more than 0", f.rate)
	case f.clientRate < 0:
		return usagef("--dns-sign-budget %v: must be 0 (no per-client budget) or more", f.clientRate)
	case f.rrlRate < 0:
		return usagef("--dns-rrl-rate %v: must be 0 (off) or more", f.rrlRate)
	case f.rrlSlip < 0:
		return usagef("--dns-rrl-slip %d: must be 0 (never slip) or more", f.rrlSlip)
	case f.logSample < 0:
		return usagef("--dns-query-log-sample %d: must be 0 (no log) or more", f.logSample)
	}
	opt.OnlineRate, opt.ClientSignRate, opt.RRLRate, opt.RRLSlip = f.rate, f.clientRate, f.rrlRate, f.rrlSlip
	if f.clientRate == 0 {
		opt.ClientSignRate = -1
	}
	if f.rrlSlip == 0 {
		opt.RRLSlip = -1
	}
	opt.CookieSecretFile, opt.QueryLogSample, opt.SignatureCache = f.cookieSecret, f.logSample, f.sigCache
	return nil
}

// startDNS starts the authoritative server on listen.
func (a *app) startDNS(ctx context.Context, listen string, f dnsFlags) (*dnsserver.Server, error) {
	if len(f.tsig) > 0 {
		return nil, usagef("--tsig was removed: a secret on the command line shows in ps and /debug/pprof/cmdline; store the key in the register with `cadastre tsig add NAME --secret-file FILE`, or give `--tsig-file FILE` (lines of NAME ALGORITHM BASE64-SECRET)")
	}
	reg, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	_, st, sealer, err := a.dnsManager(ctx, true)
	if err != nil {
		return nil, err
	}
	nsid, err := parseNSID(f.nsid)
	if err != nil {
		return nil, err
	}
	// Several addresses, comma-separated (or --listen given again).
	addrs := strings.Split(listen, ",")
	opt := dnsserver.Options{Listen: addrs[0], AlsoListen: addrs[1:], NSID: nsid, Poll: f.poll, Log: newLogger(a)}
	if err := f.apply(&opt); err != nil {
		return nil, err
	}
	if f.tsigFile != "" {
		if opt.TSIGKeys, err = readTSIGFile(f.tsigFile); err != nil {
			return nil, err
		}
	}
	s := dnsserver.NewServer(reg, st, sealer, opt)
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// parseNSID reads --nsid: text, or hex after 0x.
func parseNSID(s string) ([]byte, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		if len(s) > 512 {
			return nil, usagef("--nsid: %d bytes, at most 512", len(s))
		}
		return []byte(s), nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) == 0 || len(b) > 512 {
		return nil, usagef("--nsid %q: after 0x, want 1 to 512 bytes in hex", s)
	}
	return b, nil
}

// defaultDNSMetricsListen is where `dns serve` serves metrics unless told
// otherwise: next to `serve`'s default (defaultMetricsListen), so that both
// may run on one machine.
const defaultDNSMetricsListen = "127.0.0.1:9465"

// serveDNSMetrics serves the DNS server's Prometheus metrics (and the Go
// runtime's and the process's, as `serve` does) on addr until stop. If
// optional (the default address) and addr is taken, it warns and serves
// none; otherwise that is a usage error naming the address.
func (a *app) serveDNSMetrics(s *dnsserver.Server, addr string, optional bool) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(s.Collector()); err != nil {
		return nil, fmt.Errorf("dns metrics: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ml, err := net.Listen("tcp", addr)
	switch {
	case err != nil && optional:
		fmt.Fprintf(a.cfg.stderr, "cadastre: warning: metrics not served: the default address %s is taken (%v); give --metrics-listen\n", addr, err)
		return func() {}, nil
	case err != nil:
		return nil, usagef("--metrics-listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go hs.Serve(ml)
	fmt.Fprintf(a.cfg.stderr, "cadastre: metrics on http://%s/metrics\n", ml.Addr())
	return func() { hs.Close() }, nil
}

func newDNSCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:     "dns",
		Short:   "The authoritative DNS server",
		Example: "  cadastre dns serve --listen 127.0.0.1:5353",
		Args:    unknownCommand,
		RunE:    showHelp,
	}
	var listen []string
	var f dnsFlags
	var metricsListen string
	var insecure bool
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Answer DNS queries for the zones over UDP and TCP",
		Long: `Serve the zones (see ` + "`cadastre zone`" + `) over UDP and TCP until SIGTERM. Zone data
follows the event log: a new assignment resolves within --dns-poll. Transfers
(AXFR, IXFR) go to the addresses and TSIG keys in each zone's --allow-transfer;
secondaries in --notify are told of each new serial. Synthesised names are
answered by cadastre only: they are not in transfers. Prometheus metrics
(queries by zone, type and rcode, truncations, signatures, budget and RRL
drops, transfers, NOTIFY) are served on --metrics-listen, loopback by
default, as ` + "`cadastre serve --dns`" + ` serves them on its own.`,
		Example: "  cadastre dns serve --listen 127.0.0.1:5353 --metrics-listen 127.0.0.1:9465",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			metricsOn := metricsListen != "" && metricsListen != "off"
			if metricsOn && !insecure && !loopback(metricsListen) {
				return usagef("--metrics-listen %s: not a loopback address (metrics have no authentication); give --insecure-listen to allow it", metricsListen)
			}
			s, err := a.startDNS(cmd.Context(), strings.Join(listen, ","), f)
			if err != nil {
				return listenErr("--listen", strings.Join(listen, ","), err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if metricsOn {
				stop, err := a.serveDNSMetrics(s, metricsListen, !cmd.Flags().Changed("metrics-listen"))
				if err != nil {
					s.Shutdown(ctx)
					return err
				}
				defer stop()
			}
			fmt.Fprintf(a.cfg.stderr, "cadastre: DNS on %s (udp, tcp)\n", strings.Join(s.Addrs(), ", "))
			<-cmd.Context().Done()
			return s.Shutdown(ctx)
		},
	}
	serve.Flags().StringSliceVar(&listen, "listen", []string{"127.0.0.1:5353"}, "address for UDP and TCP; repeat it (or separate with commas) for several")
	serve.Flags().StringVar(&metricsListen, "metrics-listen", defaultDNSMetricsListen, "serve Prometheus metrics (/metrics) on this address; \"off\" for none")
	serve.Flags().BoolVar(&insecure, "insecure-listen", false, "allow --metrics-listen on a non-loopback address (metrics have no authentication)")
	f.register(serve)
	c.AddCommand(serve)
	return c
}
