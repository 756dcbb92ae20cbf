package manage

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// How synthesised names reach secondaries. cadastre makes the names of
// unnamed addresses per query (a reverse zone's --synthesize template, and
// the A/AAAA of those names in the forward zone that holds them); they are
// never in a transfer, which carries only stored names. A secondary
// answers them only if it synthesises them itself: Knot's mod-synthrecord
// does, for the templates it can express, and `cadastre zone
// secondary-config --knot` configures it. Where it cannot, or where the
// zone is signed (a secondary holds no private key and cannot sign the
// names it makes, so a validator would find them bogus; cadastre signs
// them online), the secondary answers NXDOMAIN for names the primary
// answers: SecondaryGaps says so, and the CLI, the zone list and the
// server's start log repeat it.

// Gap is a way a secondary cannot answer what cadastre answers.
type Gap struct {
	Zone   string `json:"zone"`
	Reason string `json:"reason"`
}

func (g Gap) String() string { return g.Zone + ": " + g.Reason }

// synthesis is a synthesising reverse zone and the forward zone its names
// live in (nil when cadastre does not serve it).
type synthesis struct {
	rev     zone.Zone
	fwd     *zone.Zone
	tmpl    zone.Template
	network []netip.Prefix // the pools in the reverse zone: what is synthesised
}

func synthesesOf(zs []zone.Zone, pools []netip.Prefix) []synthesis {
	var out []synthesis
	for _, z := range zs {
		if z.Synthesize == "" {
			continue
		}
		t, err := zone.ParseTemplate(z.Synthesize)
		if err != nil {
			continue
		}
		s := synthesis{rev: z, tmpl: t}
		best := ""
		for i, f := range zs {
			if f.Kind == zone.Forward && dns.IsSubDomain(f.Name, t.Suffix) && len(f.Name) > len(best) {
				best, s.fwd = f.Name, &zs[i]
			}
		}
		for _, p := range pools {
			if p.Overlaps(z.Prefix) {
				if p.Bits() < z.Prefix.Bits() {
					p = z.Prefix // a pool wider than the zone: the zone's part
				}
				s.network = append(s.network, p.Masked())
			}
		}
		out = append(out, s)
	}
	return out
}

// knotExpresses says why Knot's mod-synthrecord cannot make the names of
// s in zone name ("" when it can): the module puts its prefix, the
// address with '-' for ':' and '.', and then the zone's apex (forward) or
// the origin (reverse); nothing may follow the address in the label, and
// forward names must sit at the apex of a zone.
func knotExpresses(s synthesis, forward bool) string {
	if s.tmpl.After != "" {
		return fmt.Sprintf("template %s has text after {addr}, which Knot's mod-synthrecord cannot put there", s.tmpl)
	}
	if forward && (s.fwd == nil || s.fwd.Name != s.tmpl.Suffix) {
		return fmt.Sprintf("template %s puts names below %s, not at the apex of their zone, where Knot's mod-synthrecord makes them (serve %s as a zone of its own)", s.tmpl, s.tmpl.Suffix, s.tmpl.Suffix)
	}
	return ""
}

// SecondaryGaps lists where a standard secondary (Knot with the
// configuration KnotSecondary writes) cannot answer what cadastre answers,
// for the zones that have secondaries (some may transfer them). pools are
// the register's pool prefixes, where synthesis happens.
func SecondaryGaps(zs []zone.Zone, pools []netip.Prefix) []Gap {
	var out []Gap
	has := func(z zone.Zone) bool { return len(z.Config.AllowTransfer) > 0 || len(z.Config.Notify) > 0 }
	for _, s := range synthesesOf(zs, pools) {
		if len(s.network) == 0 {
			continue
		}
		if has(s.rev) {
			switch {
			case s.rev.Config.Signed:
				out = append(out, Gap{s.rev.Name, "signed, and its PTR for unnamed addresses are synthesised and signed per query: a secondary holds no key to sign them and answers NXDOMAIN for them"})
			case knotExpresses(s, false) != "":
				out = append(out, Gap{s.rev.Name, knotExpresses(s, false) + "; a secondary answers NXDOMAIN for the synthesised PTR"})
			}
		}
		if s.fwd != nil && has(*s.fwd) {
			switch {
			case s.fwd.Config.Signed:
				out = append(out, Gap{s.fwd.Name, fmt.Sprintf("signed, and the names of %s (%s) are synthesised and signed per query: a secondary holds no key to sign them and answers NXDOMAIN for them", s.rev.Name, s.tmpl)})
			case knotExpresses(s, true) != "":
				out = append(out, Gap{s.fwd.Name, knotExpresses(s, true) + "; a secondary answers NXDOMAIN for those names"})
			}
		}
	}
	return out
}

// KnotOptions say what the Knot configuration points at.
type KnotOptions struct {
	// Primary is the address Knot transfers from and takes NOTIFY from.
	Primary netip.AddrPort
	// Key signs transfers and NOTIFY (TSIG); nil: by address alone.
	Key *zone.TSIGSecret
	// Zones limits the zone sections to these names; empty: every zone
	// that allows transfers (and the catalog, if there is one).
	Zones []string
}

// KnotSecondary writes a Knot DNS (3.x) configuration for a secondary of
// the zones: the key, the primary as remote, an ACL for its NOTIFY, a
// template, mod-synthrecord for the synthesis Knot can express (unsigned
// zones), and a zone section each. With a catalog zone, the catalog is
// configured to be interpreted (catalog-role: interpret) with the template
// for its members, so that zones added later need no configuration; zones
// that need a module are written out besides, as Knot applies no module to
// a catalog member (a zone configured explicitly is not taken from the
// catalog). It returns the gaps (see SecondaryGaps) of those zones, which
// it also writes as comments.
func KnotSecondary(w io.Writer, zs []zone.Zone, pools []netip.Prefix, o KnotOptions) ([]Gap, error) {
	if !o.Primary.IsValid() {
		return nil, fmt.Errorf("secondary config: the primary's address:port is required: %w", registry.ErrInvalid)
	}
	want := map[string]bool{}
	for _, n := range o.Zones {
		c, err := zone.CanonicalName(n)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(zs, func(z zone.Zone) bool { return z.Name == c }) {
			return nil, fmt.Errorf("secondary config: zone %s: %w", c, registry.ErrNotFound)
		}
		want[c] = true
	}
	var catalog *zone.Zone
	var sel []zone.Zone
	for i, z := range zs {
		if len(want) > 0 && !want[z.Name] || len(want) == 0 && len(z.Config.AllowTransfer) == 0 {
			continue
		}
		if z.Config.Catalog {
			catalog = &zs[i]
		}
		sel = append(sel, z)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Knot DNS secondary of cadastre (%s), from `cadastre zone secondary-config --knot`.\n", o.Primary)
	gaps := SecondaryGaps(sel, pools)
	for _, g := range gaps {
		fmt.Fprintf(&b, "# WARNING %s\n", g)
	}
	key := ""
	if o.Key != nil {
		key = o.Key.Name
		fmt.Fprintf(&b, "key:\n  - id: %s\n    algorithm: %s\n    secret: %s\n", key, o.Key.Algorithm, base64.StdEncoding.EncodeToString(o.Key.Secret))
	}
	host := o.Primary.Addr().Unmap()
	fmt.Fprintf(&b, "remote:\n  - id: cadastre\n    address: %s@%d\n", host, o.Primary.Port())
	if key != "" {
		fmt.Fprintf(&b, "    key: %s\n", key)
	}
	fmt.Fprintf(&b, "acl:\n  - id: cadastre-notify\n    address: %s\n    action: notify\n", host)
	if key != "" {
		fmt.Fprintf(&b, "    key: %s\n", key)
	}
	b.WriteString("template:\n  - id: cadastre\n    master: cadastre\n    acl: cadastre-notify\n    zonefile-load: none\n    journal-content: changes\n")

	// Modules for the synthesis Knot can express in unsigned zones.
	modules := map[string][]string{}
	var mods strings.Builder
	gap := func(name string) bool {
		return slices.ContainsFunc(gaps, func(g Gap) bool { return g.Zone == name })
	}
	for i, s := range synthesesOf(sel, pools) {
		if len(s.network) == 0 {
			continue
		}
		nets := make([]string, len(s.network))
		for j, p := range s.network {
			nets[j] = p.String()
		}
		ttl := s.rev.Config.TTL
		if !gap(s.rev.Name) && slices.ContainsFunc(sel, func(z zone.Zone) bool { return z.Name == s.rev.Name }) {
			id := fmt.Sprintf("cadastre-ptr-%d", i+1)
			fmt.Fprintf(&mods, "  - id: %s\n    type: reverse\n    prefix: %q\n    origin: %s\n    network: [%s]\n    ttl: %d\n", id, s.tmpl.Before, s.tmpl.Suffix, strings.Join(nets, ", "), ttl)
			modules[s.rev.Name] = append(modules[s.rev.Name], id)
		}
		if s.fwd != nil && !gap(s.fwd.Name) && slices.ContainsFunc(sel, func(z zone.Zone) bool { return z.Name == s.fwd.Name }) {
			id := fmt.Sprintf("cadastre-addr-%d", i+1)
			fmt.Fprintf(&mods, "  - id: %s\n    type: forward\n    prefix: %q\n    network: [%s]\n    ttl: %d\n", id, s.tmpl.Before, strings.Join(nets, ", "), s.fwd.Config.TTL)
			modules[s.fwd.Name] = append(modules[s.fwd.Name], id)
		}
	}
	if mods.Len() > 0 {
		b.WriteString("mod-synthrecord:\n")
		b.WriteString(mods.String())
	}
	b.WriteString("zone:\n")
	for _, z := range sel {
		switch {
		case z.Config.Catalog:
			fmt.Fprintf(&b, "  - domain: %s\n    template: cadastre\n    catalog-role: interpret\n    catalog-template: cadastre\n", z.Name)
		case catalog != nil && len(modules[z.Name]) == 0 && len(z.Config.AllowTransfer) > 0:
			// A member of the catalog: Knot learns it from there.
		default:
			if catalog != nil && len(modules[z.Name]) > 0 {
				fmt.Fprintf(&b, "  # in the catalog too: Knot logs \"member zone already configured, ignoring\" and keeps this one, with its module\n")
			}
			fmt.Fprintf(&b, "  - domain: %s\n    template: cadastre\n", z.Name)
			if ids := modules[z.Name]; len(ids) > 0 {
				for i := range ids {
					ids[i] = "mod-synthrecord/" + ids[i]
				}
				fmt.Fprintf(&b, "    module: [%s]\n", strings.Join(ids, ", "))
			}
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	return gaps, nil
}
