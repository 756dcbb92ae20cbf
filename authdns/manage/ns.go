package manage

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Glue is an address given for a name server of a zone (`--ns-addr
// HOST=IP`): an in-zone name server needs one, or secondaries and
// resolvers cannot reach it (kzonecheck and named-checkzone refuse a zone
// whose in-zone NS has no address).
type Glue struct {
	Host string
	Addr netip.Addr
}

// ParseGlue parses HOST=IP.
func ParseGlue(s string) (Glue, error) {
	h, a, ok := strings.Cut(s, "=")
	if !ok {
		return Glue{}, fmt.Errorf("--ns-addr %q: want HOST=IP, e.g. ns1.example.net=192.0.2.53: %w", s, registry.ErrInvalid)
	}
	n, err := zone.CanonicalName(h)
	if err != nil {
		return Glue{}, fmt.Errorf("--ns-addr %q: %w", s, err)
	}
	ip, err := netip.ParseAddr(strings.TrimSpace(a))
	if err != nil {
		return Glue{}, fmt.Errorf("--ns-addr %q: %v: %w", s, err, registry.ErrInvalid)
	}
	return Glue{Host: n, Addr: ip.Unmap()}, nil
}

// WithNameServers returns a Manager whose zones added without NS take
// ns, the server identity (`$CADASTRE_DNS_NS`): cadastre's own name
// servers, each with its address when it has one. A name server inside
// the zone added gets its address stored as glue; one outside is the
// operator's to resolve. Without it a zone added without NS gets
// ns1.ZONE, which then needs an address (glue) to be accepted.
func (m *Manager) WithNameServers(ns []Glue) *Manager {
	c := *m
	c.identity = slices.Clone(ns)
	return &c
}

// ParseNameServer parses HOST or HOST=IP, a name server of the server
// identity.
func ParseNameServer(s string) (Glue, error) {
	if strings.Contains(s, "=") {
		return ParseGlue(s)
	}
	n, err := zone.CanonicalName(s)
	if err != nil {
		return Glue{}, fmt.Errorf("name server %q: %w", s, err)
	}
	return Glue{Host: n}, nil
}

// identityFor fills spec's NS and glue from the server identity when it
// gives none: the identity's hosts, and the addresses of those inside
// the zone.
func (m *Manager) identityFor(spec *ZoneSpec, zoneName string) {
	if len(spec.Config.NS) > 0 || len(m.identity) == 0 || spec.Config.Catalog {
		return
	}
	for _, g := range m.identity {
		spec.Config.NS = append(spec.Config.NS, g.Host)
		if g.Addr.IsValid() && dns.IsSubDomain(zoneName, g.Host) && !slices.ContainsFunc(spec.Glue, func(o Glue) bool { return o.Host == g.Host }) {
			spec.Glue = append(spec.Glue, g)
		}
	}
}

// checkNS checks that every name server of z resolves: one outside the
// zone is the operator's to resolve; one inside needs an address, from
// glue given now or from an A/AAAA static record of the zone. defaulted
// says NS was left out, so the message says how to give it.
func checkNS(z zone.Zone, records []zone.Record, glue []Glue, defaulted bool) error {
	for _, g := range glue {
		if !slices.Contains(z.Config.NS, g.Host) {
			return fmt.Errorf("zone %s: --ns-addr %s: not a name server of the zone (NS: %s): %w", z.Name, g.Host, strings.Join(z.Config.NS, ", "), registry.ErrInvalid)
		}
		if !dns.IsSubDomain(z.Name, g.Host) {
			return fmt.Errorf("zone %s: --ns-addr %s: name server outside the zone; its address belongs in its own zone: %w", z.Name, g.Host, registry.ErrInvalid)
		}
	}
	for _, ns := range z.Config.NS {
		if !dns.IsSubDomain(z.Name, ns) {
			continue
		}
		if slices.ContainsFunc(glue, func(g Glue) bool { return g.Host == ns }) ||
			slices.ContainsFunc(records, func(r zone.Record) bool { return r.Name == ns && (r.Type == "A" || r.Type == "AAAA") }) {
			continue
		}
		if defaulted {
			return fmt.Errorf("zone %s: the default name server %s has no address; give its address with --ns-addr %s=IP, or name servers outside the zone with --ns HOST: %w", z.Name, ns, strings.TrimSuffix(ns, "."), registry.ErrInvalid)
		}
		return fmt.Errorf("zone %s: name server %s is inside the zone and has no address; add --ns-addr %s=IP (or an A/AAAA record for it first): %w", z.Name, ns, strings.TrimSuffix(ns, "."), registry.ErrInvalid)
	}
	return nil
}

// addGlue stores the glue of z as static A/AAAA records; ones that exist
// already are kept. It returns the records it added.
func (m *Manager) addGlue(ctx context.Context, z zone.Zone, glue []Glue) ([]zone.Record, error) {
	var added []zone.Record
	for _, g := range glue {
		typ := "A"
		if g.Addr.Is6() {
			typ = "AAAA"
		}
		r, err := m.AddRecord(ctx, z.Name, g.Host, typ, g.Addr.String(), 0)
		if err != nil && !isExists(err) {
			return added, fmt.Errorf("zone %s: glue %s %s: %w", z.Name, g.Host, g.Addr, err)
		}
		if err == nil {
			added = append(added, r)
		}
	}
	return added, nil
}

// ZoneChange is what `zone update` changes; nil or zero fields keep the
// zone's value. Keys, DS and records stay.
type ZoneChange struct {
	NS                                   []string // replaces the name servers
	Glue                                 []Glue   // addresses of in-zone name servers, stored as A/AAAA records
	AllowTransfer                        []string // replaces the ACL when non-nil (empty: nobody)
	Notify                               []string // replaces the NOTIFY list when non-nil (empty: none)
	TTL, Refresh, Retry, Expire, Minimum uint32
	// Space, when not nil, replaces the zone's space (zone.Config.Space;
	// "global" or "" the default).
	Space *string
	// IfMatch, when set, is the zone's ETag (ZoneETag) as the caller saw
	// it: the change is refused with registry.ErrPrecondition if the
	// configuration moved since.
	IfMatch string
}

// ZoneETag names a zone's configuration as an HTTP entity tag: it moves
// when the configuration does, not with the serial, which every record
// change moves.
func ZoneETag(z zone.Zone) string {
	return registry.ETag(struct {
		Name   string
		Config zone.Config
	}{z.Name, z.Config})
}

// Reconfigure changes a zone's name servers, ACL, NOTIFY list, TTL or SOA
// timers, keeping its keys, DS and records. The zone's serial then moves
// on and the change is journalled like any other, so secondaries take it
// by IXFR.
func (m *Manager) Reconfigure(ctx context.Context, name string, c ZoneChange) (zone.Zone, error) {
	z, err := m.Zone(ctx, name)
	if err != nil {
		return zone.Zone{}, err
	}
	before := z
	if c.IfMatch != "" && c.IfMatch != ZoneETag(z) {
		return zone.Zone{}, fmt.Errorf("zone %s: changed since it was read (ETag %s, If-Match %s): %w", z.Name, ZoneETag(z), c.IfMatch, registry.ErrPrecondition)
	}
	if c.NS != nil {
		z.Config.NS = slices.Clone(c.NS)
	}
	if c.AllowTransfer != nil {
		z.Config.AllowTransfer = slices.Clone(c.AllowTransfer)
	}
	if c.Notify != nil {
		z.Config.Notify = slices.Clone(c.Notify)
	}
	for _, f := range []struct {
		v   uint32
		dst *uint32
	}{{c.TTL, &z.Config.TTL}, {c.Refresh, &z.Config.Refresh}, {c.Retry, &z.Config.Retry}, {c.Expire, &z.Config.Expire}, {c.Minimum, &z.Config.Minimum}} {
		if f.v != 0 {
			*f.dst = f.v
		}
	}
	if c.Space != nil {
		z.Config.Space = *c.Space
	}
	if err := fillConfig(&z); err != nil {
		return zone.Zone{}, err
	}
	if err := m.checkSpace(ctx, z); err != nil {
		return zone.Zone{}, err
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return zone.Zone{}, err
	}
	if err := checkNS(z, rs, c.Glue, false); err != nil {
		return zone.Zone{}, err
	}
	// New name servers at a tenant's live name are refused before the
	// glue is written (UpdateZone checks them again in its transaction).
	if err := m.checkLiveNamesNow(ctx, addedNS(before, z)); err != nil {
		return zone.Zone{}, fmt.Errorf("zone %s: %w", z.Name, err)
	}
	added, err := m.addGlue(ctx, z, c.Glue)
	if err != nil {
		return zone.Zone{}, err
	}
	cfg := z.Config
	z, err = m.UpdateZone(ctx, z.Name, func(old *zone.Config) error {
		*old = cfg
		return nil
	})
	if err != nil {
		// The glue written for the refused name servers goes too.
		for _, r := range added {
			if derr := m.DeleteRecord(ctx, r.ID); derr != nil {
				return zone.Zone{}, fmt.Errorf("%w (and taking glue %s %s back: %v)", err, r.Name, r.Data, derr)
			}
		}
		return zone.Zone{}, err
	}
	return z, nil
}

func isExists(err error) bool { return errors.Is(err, registry.ErrExists) }

// aliasRules keeps CNAME and DNAME sound (RFC 1034 §3.6.2, RFC 2181
// §10.1, RFC 6672 §2.3-2.4): a CNAME is alone at its name and never at
// the apex (which holds SOA and NS); one CNAME or DNAME a name; nothing
// below a DNAME, whose subtree it redirects. rs are the zone's static
// records; owner and t the record to add.
func aliasRules(z zone.Zone, rs []zone.Record, owner string, t uint16) error {
	typ := dns.TypeToString[t]
	if t == dns.TypeCNAME && owner == z.Name {
		return fmt.Errorf("record %s CNAME: not at a zone's apex, which has SOA and NS records (RFC 1034 §3.6.2): %w", owner, registry.ErrInvalid)
	}
	if t == dns.TypeCNAME && slices.Contains(z.Config.NS, owner) {
		return fmt.Errorf("record %s CNAME: %s is a name server of the zone; an NS must name an address, not an alias (RFC 2181 §10.3): %w", owner, owner, registry.ErrInvalid)
	}
	for _, r := range rs {
		switch {
		case r.Name == owner && r.Type == "CNAME":
			return fmt.Errorf("record %s %s: %s has a CNAME, which stands alone at its name (RFC 2181 §10.1; delete record %d first): %w", owner, typ, owner, r.ID, registry.ErrExists)
		case r.Name == owner && t == dns.TypeCNAME:
			return fmt.Errorf("record %s CNAME: %s already has %s data; a CNAME stands alone at its name (RFC 2181 §10.1): %w", owner, owner, r.Type, registry.ErrExists)
		case r.Name == owner && t == dns.TypeDNAME && r.Type == "DNAME":
			return fmt.Errorf("record %s DNAME: %s has a DNAME already; a name has at most one (RFC 6672 §2.4): %w", owner, owner, registry.ErrExists)
		case r.Type == "DNAME" && r.Name != owner && dns.IsSubDomain(r.Name, owner):
			return fmt.Errorf("record %s %s: below the DNAME at %s, which redirects its whole subtree (RFC 6672 §2.4): %w", owner, typ, r.Name, registry.ErrExists)
		case t == dns.TypeDNAME && r.Name != owner && dns.IsSubDomain(owner, r.Name):
			return fmt.Errorf("record %s DNAME: %s %s lies below it; a DNAME's subtree must be empty (RFC 6672 §2.4): %w", owner, r.Name, r.Type, registry.ErrExists)
		}
	}
	return nil
}
