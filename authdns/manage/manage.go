// Package manage holds what an operator may configure in cadastre's DNS:
// zones (forward, reverse, the zones of a reverse prefix), transfer ACLs,
// static records, TSIG keys, signing, and the RFC 7583 key rollover steps
// (PlanRoll, Manager.Roll, Manager.ConfirmDS). It works over the zone
// package's types and Store; it answers no query (authdns/server does).
package manage

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Manager holds the rules for configuring zones: what a zone, a static
// record and a key may be. The CLI and the API call it; a Store stores.
type Manager struct {
	store  zone.Store
	sealer *zone.Sealer
	now    func() time.Time
	// identity is the server's own name servers, the NS of zones added
	// without any (see WithNameServers).
	identity []Glue
}

// NewManager returns a Manager over s. sealer may be nil for commands that
// never touch private keys; now may be nil for time.Now.
func NewManager(s zone.Store, sealer *zone.Sealer, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{store: s, sealer: sealer, now: now}
}

// Default SOA values (RFC 1912 §2.2 ranges; a short negative TTL because
// new assignments should resolve soon after they are made).
const (
	DefaultTTL     = 3600
	DefaultRefresh = 14400
	DefaultRetry   = 3600
	DefaultExpire  = 1209600
	DefaultMinimum = 300
)

// ZoneSpec is what an operator gives to create a zone.
type ZoneSpec struct {
	Name       string // optional for reverse zones: derived from Prefix
	Kind       zone.Kind
	Prefix     netip.Prefix
	Synthesize string
	Config     zone.Config
	// Glue gives addresses of in-zone name servers, stored as static
	// A/AAAA records of the zone (--ns-addr).
	Glue []Glue
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (m *Manager) event(ctx context.Context, action, kind, subject string, before, after any) registry.Event {
	e := registry.Event{At: m.now().UTC().Truncate(time.Microsecond), Actor: registry.Actor(ctx), Action: action, SubjectKind: kind, Subject: subject}
	if before != nil {
		e.Before = mustJSON(before)
	}
	if after != nil {
		e.After = mustJSON(after)
	}
	return e
}

// checkSpace refuses a zone space that the register does not have, when
// the store keeps the register too.
func (m *Manager) checkSpace(ctx context.Context, z zone.Zone) error {
	reg, ok := m.store.(registry.Store)
	if !ok || z.Config.Space == "" {
		return nil
	}
	return reg.View(ctx, func(tx registry.Tx) error {
		if _, err := tx.SpaceByName(ctx, z.Config.Space); err != nil {
			return fmt.Errorf("zone %s: space %s: %w", z.Name, z.Config.Space, err)
		}
		return nil
	})
}

// AddZone creates one zone. Reverse zones take their name from their
// prefix. A zone may sit below another (a child): the parent delegates to
// it with NS records (and DS records, when the child is signed) that the
// operator adds to the parent, as for a child served elsewhere. A reverse
// prefix served as several zones (see ReverseZones) needs AddZones.
func (m *Manager) AddZone(ctx context.Context, spec ZoneSpec) (zone.Zone, error) {
	if spec.Kind == zone.Reverse && spec.Prefix.IsValid() {
		if ps, err := zone.ReverseZones(spec.Prefix); err == nil && len(ps) > 1 {
			_, err := zone.ReverseZoneName(spec.Prefix)
			return zone.Zone{}, err
		}
	}
	zs, err := m.AddZones(ctx, spec)
	if err != nil {
		return zone.Zone{}, err
	}
	return zs[0], nil
}

// AddZones creates the zones spec asks for: one zone, or, for a reverse
// prefix that does not end on an octet (IPv4 /1-/23) or a nibble (IPv6),
// the aligned zones that cover it exactly, as a registry delegates them
// (10.1.16.0/20: the 16 zones 16.1.10.in-addr.arpa. to
// 31.1.10.in-addr.arpa.), each with the configuration of spec and Set
// recording the prefix. All are stored, or none. When the store also
// holds the register, a reverse prefix must lie inside one of its blocks:
// reverse DNS for space the operator does not hold is never delegated.
func (m *Manager) AddZones(ctx context.Context, spec ZoneSpec) ([]zone.Zone, error) {
	kind := spec.Kind
	if kind == "" {
		kind = zone.Forward
	}
	if spec.Config.Catalog && kind != zone.Forward {
		return nil, checkCatalog(&spec, nil)
	}
	spec.Config.NS = slices.Clone(spec.Config.NS)
	spec.Glue = slices.Clone(spec.Glue)
	if n, err := zone.CanonicalName(spec.Name); err == nil {
		m.identityFor(&spec, n)
	} else {
		m.identityFor(&spec, "")
	}
	// defaulted: ns1.ZONE, for want of NS and a server identity.
	defaulted := len(spec.Config.NS) == 0
	if _, err := zone.ParseKind(string(kind)); err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	var out []zone.Zone
	switch kind {
	case zone.Reverse:
		if !spec.Prefix.IsValid() {
			return nil, fmt.Errorf("reverse zone %s: --prefix is required: %w", spec.Name, registry.ErrInvalid)
		}
		ps, err := zone.ReverseZones(spec.Prefix)
		if err != nil {
			return nil, err
		}
		var tmpl string
		if spec.Synthesize != "" {
			t, err := zone.ParseTemplate(spec.Synthesize)
			if err != nil {
				return nil, err
			}
			tmpl = t.String()
		}
		for _, p := range ps {
			name, err := zone.ReverseZoneName(p)
			if err != nil {
				return nil, err
			}
			z := zone.Zone{Kind: zone.Reverse, Name: name, Prefix: p, Synthesize: tmpl, Config: spec.Config, CreatedAt: now}
			z.Config.NS = slices.Clone(spec.Config.NS)
			if len(ps) > 1 {
				z.Set = spec.Prefix
			}
			out = append(out, z)
		}
		if spec.Name != "" {
			given, err := zone.CanonicalName(spec.Name)
			if err != nil {
				return nil, err
			}
			switch {
			case len(out) > 1:
				return nil, fmt.Errorf("reverse zone %s: prefix %v is served as %d zones, %s to %s; give NAME as -: %w", given, spec.Prefix, len(out), out[0].Name, out[len(out)-1].Name, registry.ErrInvalid)
			case given != out[0].Name:
				return nil, fmt.Errorf("reverse zone %s: prefix %v names zone %s: %w", given, spec.Prefix, out[0].Name, registry.ErrInvalid)
			}
		}
		if err := m.held(ctx, spec.Prefix); err != nil {
			return nil, err
		}
	default:
		if spec.Config.Catalog {
			have, err := m.store.Zones(ctx)
			if err != nil {
				return nil, err
			}
			if err := checkCatalog(&spec, have); err != nil {
				return nil, err
			}
		}
		if spec.Prefix.IsValid() || spec.Synthesize != "" {
			return nil, fmt.Errorf("forward zone %s: --prefix and --synthesize are for reverse zones: %w", spec.Name, registry.ErrInvalid)
		}
		name, err := zone.CanonicalName(spec.Name)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(name, ".arpa.") {
			return nil, fmt.Errorf("zone %s: use --kind reverse --prefix P for reverse zones: %w", name, registry.ErrInvalid)
		}
		out = []zone.Zone{{Kind: zone.Forward, Name: name, Config: spec.Config, CreatedAt: now}}
		out[0].Config.NS = slices.Clone(spec.Config.NS) // fillConfig writes into it
	}
	for i := range out {
		if err := fillConfig(&out[i]); err != nil {
			return nil, err
		}
		if err := m.checkSpace(ctx, out[i]); err != nil {
			return nil, err
		}
	}
	have, err := m.store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	for _, z := range out {
		for _, o := range have {
			switch {
			case o.Name == z.Name:
				return nil, fmt.Errorf("zone %s: %w", z.Name, registry.ErrExists)
			case z.Kind == zone.Reverse && o.Kind == zone.Reverse && o.Prefix.Overlaps(z.Prefix):
				return nil, fmt.Errorf("zone %s (%v): overlaps zone %s (%v): %w", z.Name, z.Prefix, o.Name, o.Prefix, registry.ErrOverlap)
			}
		}
	}
	// After the conflicts: "exists" says more than "no NS address".
	// Every zone's name servers resolve: in-zone ones have an address.
	for _, z := range out {
		if err := checkNS(z, nil, spec.Glue, defaulted); err != nil {
			return nil, err
		}
	}
	ptrs := make([]*zone.Zone, len(out))
	events := make([]registry.Event, len(out))
	for i := range out {
		ptrs[i] = &out[i]
		events[i] = m.event(ctx, "zone.add", zone.SubjectZone, out[i].Name, nil, out[i])
	}
	if err := m.store.InsertZones(ctx, ptrs, events, adminZoneCheck); err != nil {
		if len(out) > 1 {
			return nil, fmt.Errorf("reverse prefix %v: %w", spec.Prefix, err)
		}
		return nil, fmt.Errorf("zone %s: %w", out[0].Name, err)
	}
	for _, z := range out {
		if _, err := m.addGlue(ctx, z, spec.Glue); err != nil {
			// The glue was checked above, so only the store can fail
			// here: take the zones back, all or nothing.
			ids := make([]int64, len(out))
			events := make([]registry.Event, len(out))
			for i, z := range out {
				ids[i] = z.ID
				events[i] = m.event(ctx, "zone.remove", zone.SubjectZone, z.Name, z, nil)
			}
			if derr := m.store.DeleteZones(ctx, ids, events); derr != nil {
				return nil, fmt.Errorf("%w (and taking the zone back: %v)", err, derr)
			}
			return nil, err
		}
	}
	return out, nil
}

// held checks that p lies inside a block of the register, when the store
// holds the register too (the CLI's and the server's stores do).
func (m *Manager) held(ctx context.Context, p netip.Prefix) error {
	rs, ok := m.store.(registry.Store)
	if !ok {
		return nil
	}
	var blocks []registry.Block
	if err := rs.View(ctx, func(tx registry.Tx) error {
		var err error
		blocks, err = tx.BlocksOverlapping(ctx, p)
		return err
	}); err != nil {
		return fmt.Errorf("reverse zone %v: blocks: %w", p, err)
	}
	for _, b := range blocks {
		if b.Prefix.Bits() <= p.Bits() && b.Prefix.Contains(p.Addr()) {
			return nil
		}
	}
	return fmt.Errorf("reverse zone %v: not inside any block of the register (add the block first: cadastre block add): %w", p, registry.ErrInvalid)
}

// ZonesOf finds the zones an operator names: a zone name, or a reverse
// prefix, which stands for the zone of exactly that prefix or every zone
// of a set added with it (Zone.Set).
func (m *Manager) ZonesOf(ctx context.Context, nameOrPrefix string) ([]zone.Zone, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(nameOrPrefix))
	if err != nil {
		z, err := m.Zone(ctx, nameOrPrefix)
		if err != nil {
			return nil, err
		}
		return []zone.Zone{z}, nil
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("reverse prefix %v: host bits set (did you mean %v?): %w", p, p.Masked(), registry.ErrInvalid)
	}
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	var out []zone.Zone
	for _, z := range zs {
		if z.Kind == zone.Reverse && (z.Set == p || !z.Set.IsValid() && z.Prefix == p) {
			out = append(out, z)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("reverse prefix %v: no zone was added for it: %w", p, registry.ErrNotFound)
	}
	slices.SortFunc(out, func(a, b zone.Zone) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, nil
}

// RemoveZones removes the zones an operator names (see ZonesOf) with
// their static records and keys, all or none. A zone of a set goes only
// with its set: removing one would leave a hole in a prefix the registry
// delegates whole.
func (m *Manager) RemoveZones(ctx context.Context, nameOrPrefix string) ([]zone.Zone, error) {
	zs, err := m.ZonesOf(ctx, nameOrPrefix)
	if err != nil {
		return nil, err
	}
	if len(zs) == 1 && zs[0].Set.IsValid() {
		return nil, fmt.Errorf("zone %s: part of reverse prefix %v, served as several zones; remove them together with `cadastre zone remove %v`: %w", zs[0].Name, zs[0].Set, zs[0].Set, registry.ErrInvalid)
	}
	// A split child goes by a join, which takes its delegation out of
	// the parent with it; a parent goes once its children are joined.
	if len(zs) == 1 && zs[0].Config.Parent != "" {
		return nil, fmt.Errorf("zone %s: split from %s; `cadastre zone join %s` returns its names to %s and removes it with its delegation: %w", zs[0].Name, zs[0].Config.Parent, strings.TrimSuffix(zs[0].Name, "."), zs[0].Config.Parent, registry.ErrInvalid)
	}
	if all, err := m.store.Zones(ctx); err == nil {
		for _, o := range all {
			if len(zs) == 1 && o.Config.Parent == zs[0].Name {
				return nil, fmt.Errorf("zone %s: zone %s was split from it; `cadastre zone join %s` first: %w", zs[0].Name, o.Name, strings.TrimSuffix(zs[0].Name, "."), registry.ErrInvalid)
			}
		}
	}
	ids := make([]int64, len(zs))
	events := make([]registry.Event, len(zs))
	for i, z := range zs {
		ids[i] = z.ID
		events[i] = m.event(ctx, "zone.remove", zone.SubjectZone, z.Name, z, nil)
		events[i].SubjectID = z.ID
	}
	if err := m.store.DeleteZones(ctx, ids, events); err != nil {
		return nil, fmt.Errorf("remove %s: %w", nameOrPrefix, err)
	}
	return zs, nil
}

// fillConfig applies defaults and checks a zone's configuration.
func fillConfig(z *zone.Zone) error {
	c := &z.Config
	// "global" names the default: the global and built-in private space.
	if c.Space == registry.GlobalSpace {
		c.Space = ""
	}
	if c.Space != "" {
		if err := registry.ValidateSpaceName(c.Space); err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	if c.Retry == 0 {
		c.Retry = DefaultRetry
	}
	if c.Expire == 0 {
		c.Expire = DefaultExpire
	}
	if c.Minimum == 0 {
		c.Minimum = DefaultMinimum
	}
	if len(c.NS) == 0 {
		c.NS = []string{"ns1." + z.Name}
	}
	for i, n := range c.NS {
		cn, err := zone.CanonicalName(n)
		if err != nil {
			return fmt.Errorf("zone %s: NS: %w", z.Name, err)
		}
		c.NS[i] = cn
	}
	if c.Mbox == "" {
		c.Mbox = "hostmaster." + z.Name
	}
	mb, err := zone.CanonicalName(c.Mbox)
	if err != nil {
		return fmt.Errorf("zone %s: SOA mailbox: %w", z.Name, err)
	}
	c.Mbox = mb
	for _, a := range c.AllowTransfer {
		if _, err := ParseACL(a); err != nil {
			return fmt.Errorf("zone %s: %w", z.Name, err)
		}
	}
	for _, n := range c.Notify {
		if _, err := netip.ParseAddrPort(n); err != nil {
			return fmt.Errorf("zone %s: notify %q: want address:port, e.g. 192.0.2.53:53: %w", z.Name, n, registry.ErrInvalid)
		}
	}
	if c.Signed {
		if c.Algorithm == 0 {
			c.Algorithm = zone.ECDSAP256
		}
		if c.Denial == "" {
			c.Denial = zone.NSEC3
		}
	}
	return nil
}

// ACLEntry is one allow-transfer entry: a prefix or a TSIG key name.
type ACLEntry struct {
	Prefix netip.Prefix
	Key    string
}

// ParseACL parses an allow-transfer entry: a prefix, an address or
// key:NAME.
func ParseACL(s string) (ACLEntry, error) {
	if k, ok := strings.CutPrefix(s, "key:"); ok {
		n, err := zone.CanonicalName(k)
		if err != nil {
			return ACLEntry{}, fmt.Errorf("allow-transfer %q: %w", s, err)
		}
		return ACLEntry{Key: n}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return ACLEntry{Prefix: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return ACLEntry{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	return ACLEntry{}, fmt.Errorf("allow-transfer %q: want a prefix, an address or key:NAME: %w", s, registry.ErrInvalid)
}

// Zones lists the zones by name.
func (m *Manager) Zones(ctx context.Context) ([]zone.Zone, error) {
	zs, err := m.store.Zones(ctx)
	slices.SortFunc(zs, func(a, b zone.Zone) int { return strings.Compare(a.Name, b.Name) })
	return zs, err
}

// Zone finds one zone by name.
func (m *Manager) Zone(ctx context.Context, name string) (zone.Zone, error) {
	n, err := zone.CanonicalName(name)
	if err != nil {
		return zone.Zone{}, err
	}
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return zone.Zone{}, err
	}
	for _, z := range zs {
		if z.Name == n {
			return z, nil
		}
	}
	return zone.Zone{}, fmt.Errorf("zone %s: %w", n, registry.ErrNotFound)
}

// UpdateZone changes a zone's configuration with fn; the rules of AddZone
// apply to the result: a name server it did not have before is refused,
// in the write transaction, when a tenant's live assignment holds its
// name (registry.NameTakenError), as zone add refuses it.
func (m *Manager) UpdateZone(ctx context.Context, name string, fn func(*zone.Config) error) (zone.Zone, error) {
	z, err := m.Zone(ctx, name)
	if err != nil {
		return zone.Zone{}, err
	}
	before := z
	z.Config.NS = slices.Clone(z.Config.NS)
	if err := fn(&z.Config); err != nil {
		return zone.Zone{}, err
	}
	if err := fillConfig(&z); err != nil {
		return zone.Zone{}, err
	}
	e := m.event(ctx, "zone.update", zone.SubjectZone, z.Name, before, z)
	e.SubjectID = z.ID
	added := addedNS(before, z)
	check := func(ctx context.Context, tx registry.Tx, _ zone.Zone) error {
		return checkLiveNames(ctx, tx, added)
	}
	if err := m.store.UpdateZone(ctx, z, e, check); err != nil {
		return zone.Zone{}, fmt.Errorf("zone %s: %w", z.Name, err)
	}
	return z, nil
}

// addedNS lists the name servers of after that before did not have: an
// update checks only those against tenants' live names, so that a zone
// whose name server an admin later gave a tenant's assignment (admins
// may) can still change its timers.
func addedNS(before, after zone.Zone) []string {
	var out []string
	for _, n := range after.Config.NS {
		if !slices.ContainsFunc(before.Config.NS, func(o string) bool { return dns.CanonicalName(o) == dns.CanonicalName(n) }) {
			out = append(out, n)
		}
	}
	return out
}

// checkLiveNames refuses, in tx, any of names (each once) that a
// tenant's live assignment holds (registry.CheckLiveNameIn).
func checkLiveNames(ctx context.Context, tx registry.Tx, names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		n = dns.CanonicalName(n)
		if seen[n] {
			continue
		}
		seen[n] = true
		if err := registry.CheckLiveNameIn(ctx, tx, "", n); err != nil {
			return err
		}
	}
	return nil
}

// checkLiveNamesNow is checkLiveNames in a read view of the register,
// when the store keeps it: a refusal before anything is written (zone
// update writes its glue before the zone), which the write
// transaction's check then confirms.
func (m *Manager) checkLiveNamesNow(ctx context.Context, names []string) error {
	reg, ok := m.store.(registry.Store)
	if !ok || len(names) == 0 {
		return nil
	}
	return reg.View(ctx, func(tx registry.Tx) error { return checkLiveNames(ctx, tx, names) })
}

// Types an operator may not add: the server makes them itself, or they
// are not records.
var reservedTypes = map[uint16]string{
	dns.TypeSOA: "comes from the zone's configuration", dns.TypeDNSKEY: "comes from the zone's keys",
	dns.TypeRRSIG: "is made by the signer", dns.TypeNSEC: "is made by the signer", dns.TypeNSEC3: "is made by the signer",
	dns.TypeNSEC3PARAM: "is made by the signer", dns.TypeCDS: "is made from the zone's keys", dns.TypeCDNSKEY: "is made from the zone's keys",
	dns.TypeOPT: "is not a record", dns.TypeTSIG: "is not a record", dns.TypeTKEY: "is not a record",
}

// AddRecord adds a static record to a zone. name may be relative to the
// zone ("www") or fully qualified; "@" is the apex. ttl 0 means the zone's.
// It is an admin's write (the CLI's): any name but one a tenant's live
// assignment holds (AdminRecordCheck, 409 name-taken, exit 4).
func (m *Manager) AddRecord(ctx context.Context, zoneName, name, typ, data string, ttl uint32) (zone.Record, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return zone.Record{}, err
	}
	return m.AddRecordChecked(ctx, AdminZoneRecordCheck(z), zoneName, name, typ, data, ttl)
}

// AdminZoneRecordCheck is AdminRecordCheck for records of zone z, with,
// in a reverse zone, ReverseRecordCheck for a caller bound to no tenant:
// the check of every admin write of static records (record add, zone
// import, an RFC 2136 update).
func AdminZoneRecordCheck(z zone.Zone) zone.RecordCheck {
	return func(ctx context.Context, tx registry.Tx, r zone.Record) error {
		if err := AdminRecordCheck(ctx, tx, r); err != nil {
			return err
		}
		return ReverseRecordCheck(ctx, tx, z, "", r)
	}
}

// ReverseRecordCheck refuses (registry.NameTakenError, holder an
// assignment of another tenant), in a record write's transaction, a
// static record of reverse zone z whose name lies in the address space of
// a live (assigned or quarantined) assignment of a tenant other than
// tenant ("" for a caller bound to none: an admin, the CLI, an RFC 2136
// update): a PTR at 5.0.0.10.in-addr.arpa. while 10.0.0.5 is another
// tenant's VM would make the reverse zone answer for that tenant's
// address with the writer's name. Also refused: a delegating record (NS,
// DNAME) at a name whose space holds such an assignment, which would hand
// that tenant's reverse names to other servers. The operator's own
// assignments (no tenant) and the caller's tenant's are not refused. To
// give a tenant's address another reverse name, name its assignment
// (`cadastre rename`): the zone answers its PTR from the name.
//
// Only the zone's own space is looked at (Config.Serves): 10.0.0.5 of
// another VPC is not what this zone answers for. The assignments are
// read under the locks every allocation in the zone's space takes
// (registry.Tx.LockAddresses): on PostgreSQL an allocation of the address
// on another replica is waited for, not read before it commits. A PTR
// written while the address was free stays when the address is later
// allocated, and is not served while a tenant holds the address: the zone
// builder answers a named assignment's name alone there, and otherwise
// serves only the PTRs written after the assignment was made, which this
// check lets only the tenant itself write (zone.PTRShadowedBy); `record
// list` marks the others (MarkNotServed).
func ReverseRecordCheck(ctx context.Context, tx registry.Tx, z zone.Zone, tenant string, r zone.Record) error {
	p, ok := zone.ReversePrefix(z, r.Name)
	if !ok {
		return nil
	}
	typ := strings.ToUpper(r.Type)
	delegating := typ == "NS" || typ == "DNAME"
	spaces := []string{z.Config.Space}
	if z.Config.Space == "" {
		spaces = []string{registry.GlobalSpace, registry.PrivateSpace}
	}
	for _, space := range spaces {
		// The zone's whole prefix, not p: a zone import checks many
		// names of one zone, and the store locks each prefix once.
		if err := tx.LockAddresses(ctx, space, z.Prefix); err != nil {
			return fmt.Errorf("record %s: %w", r.Name, err)
		}
		as, err := tx.AssignmentsAt(ctx, space, p)
		if err != nil {
			return fmt.Errorf("record %s: assignments of %s in space %s: %w", r.Name, p, space, err)
		}
		for _, a := range as {
			if a.State == registry.StateReleased || a.Tenant == "" || a.Tenant == tenant {
				continue
			}
			if a.Prefix.Bits() <= p.Bits() || delegating {
				return &registry.NameTakenError{Name: r.Name, Holder: registry.HolderAssignment}
			}
		}
	}
	return nil
}

// adminZoneCheck refuses, in a zone add's write transaction, a zone
// whose apex or a configured name server is a name a tenant's live
// assignment holds (registry.NameTakenError): the name would answer for
// the zone (its SOA and NS, or the glue that follows) and for the VM.
// Reverse zones are checked as forward ones: their name servers are
// forward names like any other (ns1.example.net), and an admin may name
// an assignment freely, a name under in-addr.arpa included.
//
// A reverse zone's synthesis template is refused when a live assignment of
// a tenant holds a name of its shape (registry.HolderSynthesis): the
// forward zone would answer that name with the address it spells as well
// as with the assignment's.
func adminZoneCheck(ctx context.Context, tx registry.Tx, z zone.Zone) error {
	if err := checkLiveNames(ctx, tx, append([]string{z.Name}, z.Config.NS...)); err != nil {
		return err
	}
	if z.Synthesize == "" {
		return nil
	}
	t, err := zone.ParseTemplate(z.Synthesize)
	if err != nil {
		return err
	}
	held, err := tx.TemplateNames(ctx, t.Before, t.After+"."+t.Suffix, 1)
	if err != nil {
		return fmt.Errorf("template %s: %w", z.Synthesize, err)
	}
	if len(held) > 0 {
		return fmt.Errorf("template %s would answer for %s: %w", z.Synthesize, held[0], &registry.NameTakenError{Name: held[0], Holder: registry.HolderAssignment})
	}
	return nil
}

// AdminRecordCheck is the name rule of a record written by an admin or
// an RFC 2136 update (bound to no tenant), run in the record's write
// transaction under the name's lock: a name a tenant's live assignment
// holds is refused (registry.NameTakenError). Otherwise an admin's A
// record at a tenant's VM name would make it answer with both addresses.
// So is a record a delegation hides (registry.Occluded), which would
// never be served. An NS record's target is checked too (NSTargetCheck).
func AdminRecordCheck(ctx context.Context, tx registry.Tx, r zone.Record) error {
	if err := registry.CheckAdminRecordIn(ctx, tx, "", r.Name, r.Type); err != nil {
		return err
	}
	return NSTargetCheck(ctx, tx, "", r)
}

// NSTargetCheck refuses an NS record (a delegation) whose target, the
// name server, is a name a live assignment of a tenant other than tenant
// holds: the name would then be a name server of the delegation (and any
// address record for it glue) and a tenant's VM at once, as zone add and
// zone update refuse for a zone's own name servers. A tenant's own VM may
// serve its delegation.
func NSTargetCheck(ctx context.Context, tx registry.Tx, tenant string, r zone.Record) error {
	if !strings.EqualFold(r.Type, "NS") {
		return nil
	}
	return registry.CheckLiveNameIn(ctx, tx, tenant, dns.CanonicalName(strings.TrimSpace(r.Data)))
}

// AddRecordChecked is AddRecord with check run in the write transaction,
// before the record is written (the name rules of tenants, whose answer
// must still hold when the record is written: registry.RecordCheck).
func (m *Manager) AddRecordChecked(ctx context.Context, check zone.RecordCheck, zoneName, name, typ, data string, ttl uint32) (zone.Record, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return zone.Record{}, err
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return zone.Record{}, err
	}
	r, err := m.prepareRecord(z, rs, name, typ, data, ttl)
	if err != nil {
		return zone.Record{}, err
	}
	if err := m.store.InsertRecord(ctx, &r, m.event(ctx, "record.add", zone.SubjectRecord, r.Name+" "+r.Type, nil, r), check); err != nil {
		return zone.Record{}, fmt.Errorf("record %s %s %s: %w", r.Name, r.Type, r.Data, err)
	}
	return r, nil
}

// prepareRecord checks a record to add to z, which has the static records
// rs, and returns it as it would be stored.
func (m *Manager) prepareRecord(z zone.Zone, rs []zone.Record, name, typ, data string, ttl uint32) (zone.Record, error) {
	if err := refuseCatalogRecord(z); err != nil {
		return zone.Record{}, err
	}
	var err error
	owner := z.Name
	if name != "@" && name != "" {
		if !strings.HasSuffix(name, ".") {
			name += "." + z.Name
		}
		if owner, err = zone.CanonicalName(name); err != nil {
			return zone.Record{}, err
		}
	}
	if !dns.IsSubDomain(z.Name, owner) {
		return zone.Record{}, fmt.Errorf("record %s: not in zone %s: %w", owner, z.Name, registry.ErrInvalid)
	}
	if strings.HasPrefix(owner, "*.") || strings.Contains(owner, ".*.") {
		return zone.Record{}, fmt.Errorf("record %s: wildcards are not supported: %w", owner, registry.ErrInvalid)
	}
	t, ok := dns.StringToType[strings.ToUpper(typ)]
	if !ok {
		return zone.Record{}, fmt.Errorf("record %s: unknown type %q: %w", owner, typ, registry.ErrInvalid)
	}
	if why, bad := reservedTypes[t]; bad {
		return zone.Record{}, fmt.Errorf("record %s %s: the type %s: %w", owner, typ, why, registry.ErrInvalid)
	}
	if err := aliasRules(z, rs, owner, t); err != nil {
		return zone.Record{}, err
	}
	if t == dns.TypeDS {
		// A DS belongs to a delegation point (RFC 4035 §2.4): never the
		// apex, whose DS is the parent's, and only where NS delegate.
		if owner == z.Name {
			return zone.Record{}, fmt.Errorf("record %s DS: the DS of a zone's apex belongs in the parent zone (`cadastre zone ds %s` prints it): %w", owner, z.Name, registry.ErrInvalid)
		}
		if !slices.ContainsFunc(rs, func(r zone.Record) bool { return r.Name == owner && r.Type == "NS" }) {
			return zone.Record{}, fmt.Errorf("record %s DS: no delegation at %s (add its NS records first): %w", owner, owner, registry.ErrInvalid)
		}
	}
	if ttl == 0 {
		ttl = z.Config.TTL
	}
	r := zone.Record{ZoneID: z.ID, Name: owner, Type: dns.TypeToString[t], TTL: ttl, CreatedAt: m.now().UTC().Truncate(time.Microsecond)}
	r.Data = data
	// Stored as the parser understood it, so that duplicates written
	// differently are one record.
	if r, _, err = zone.ParseRecord(r, z.Name); err != nil {
		return zone.Record{}, err
	}
	return r, nil
}

// DeleteRecord removes a static record by ID.
func (m *Manager) DeleteRecord(ctx context.Context, id int64) error {
	e := m.event(ctx, "record.delete", zone.SubjectRecord, fmt.Sprint(id), nil, nil)
	e.SubjectID = id
	return m.store.DeleteRecord(ctx, id, e)
}

// Records lists a zone's static records, with NotServed set on those
// the zone does not answer with (MarkNotServed).
func (m *Manager) Records(ctx context.Context, zoneName string) ([]zone.Record, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return nil, err
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return nil, err
	}
	if reg, ok := m.store.(registry.Store); ok {
		if err := reg.View(ctx, func(tx registry.Tx) error { return MarkNotServed(ctx, tx, z, rs) }); err != nil {
			return nil, fmt.Errorf("zone %s: records: %w", z.Name, err)
		}
	}
	return rs, nil
}

// NotServedPTR is why a static PTR at a tenant's named address is not
// served (zone.PTRNamed). It names neither the tenant nor the name: a
// tenant's token may list the records under its suffixes.
const NotServedPTR = zone.PTRNamed

// NotServedBeforeHolder is why a static PTR older than the tenant's
// assignment at its address (unnamed, or quarantined) is not served
// (zone.PTRBeforeHolder).
const NotServedBeforeHolder = zone.PTRBeforeHolder

// markWholeZone is how many static PTR records make MarkNotServed read
// the assignments of the zone's whole prefix at once rather than those
// of each record's address, in a zone of at most 2^16 addresses (an
// ip6.arpa zone may hold millions of assignments: read per record).
const markWholeZone = 64

// MarkNotServed sets NotServed on the static PTR records of reverse zone
// z (rs) that the zone builder does not serve (zone.PTRShadowedBy): those
// at the address of a tenant's live named assignment, where the
// assignment's name alone answers, and those written before the
// assignment of the tenant that holds the address now, live or
// quarantined (issue 10: a PTR written while the address was free, or
// for an earlier holder, must not answer for the tenant that holds it
// now). The operator sees them in `record list` and deletes them, or
// leaves them for when the address is free again.
func MarkNotServed(ctx context.Context, tx registry.Tx, z zone.Zone, rs []zone.Record) error {
	addrs := zone.StaticPTRAddrs(&z, rs)
	if len(addrs) == 0 {
		return nil
	}
	as, err := tenantsAt(ctx, tx, z, addrs)
	if err != nil || len(as) == 0 {
		return err
	}
	for i, r := range rs {
		if r.ZoneID != z.ID || r.Type != "PTR" {
			continue
		}
		p, ok := zone.ReversePrefix(z, r.Name)
		if !ok || !p.IsSingleIP() {
			continue
		}
		for _, a := range as {
			switch why := zone.PTRShadowedBy(&z, r, p.Addr(), a); why {
			case "":
			case zone.PTRNamed:
				rs[i].NotServed = why
			default:
				if rs[i].NotServed == "" {
					rs[i].NotServed = why
				}
			}
		}
	}
	return nil
}

// TenantsAtStaticPTRs reads in tx the live (assigned or quarantined)
// assignments of tenants that cover the address of a static PTR record
// (of rs) of a reverse zone of zs, in a space the zone serves, each once:
// with the named assignments, what the zone builder reads to decide which
// static PTRs it serves (zone.PTRShadowedBy). Static PTRs are few beside
// assignments, so this is a handful of index look-ups per zone.
func TenantsAtStaticPTRs(ctx context.Context, tx registry.Tx, zs []zone.Zone, rs []zone.Record) ([]registry.Assignment, error) {
	var out []registry.Assignment
	seen := map[int64]bool{}
	for _, z := range zs {
		addrs := zone.StaticPTRAddrs(&z, rs)
		if len(addrs) == 0 {
			continue
		}
		as, err := tenantsAt(ctx, tx, z, addrs)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.Name, err)
		}
		for _, a := range as {
			if !seen[a.ID] {
				seen[a.ID] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// tenantsAt is the live assignments of tenants in the spaces reverse zone
// z serves that cover one of addrs (sorted), each once, with Space set.
func tenantsAt(ctx context.Context, tx registry.Tx, z zone.Zone, addrs []netip.Addr) ([]registry.Assignment, error) {
	spaces := []string{z.Config.Space}
	if z.Config.Space == "" {
		spaces = []string{registry.GlobalSpace, registry.PrivateSpace}
	}
	var out []registry.Assignment
	seen := map[int64]bool{}
	keep := func(space string, as []registry.Assignment) {
		for _, a := range as {
			if seen[a.ID] || a.Tenant == "" || a.State != registry.StateAssigned && a.State != registry.StateQuarantined {
				continue
			}
			i, _ := slices.BinarySearchFunc(addrs, a.Prefix.Masked().Addr(), netip.Addr.Compare)
			if i == len(addrs) || !a.Prefix.Contains(addrs[i]) {
				continue
			}
			if a.Space == "" {
				a.Space = space
			}
			seen[a.ID] = true
			out = append(out, a)
		}
	}
	for _, space := range spaces {
		if len(addrs) > markWholeZone && z.Prefix.Addr().BitLen()-z.Prefix.Bits() <= 16 {
			as, err := tx.AssignmentsAt(ctx, space, z.Prefix)
			if err != nil {
				return nil, fmt.Errorf("assignments of %s in space %s: %w", z.Prefix, space, err)
			}
			keep(space, as)
			continue
		}
		for _, addr := range addrs {
			p := netip.PrefixFrom(addr, addr.BitLen())
			as, err := tx.AssignmentsAt(ctx, space, p)
			if err != nil {
				return nil, fmt.Errorf("assignments of %s in space %s: %w", p, space, err)
			}
			keep(space, as)
		}
	}
	return out, nil
}

// SignOptions choose how a zone is signed.
type SignOptions struct {
	Algorithm zone.Algorithm // 0: ECDSA P-256
	Denial    zone.Denial    // "": NSEC3
	SplitKeys bool           // KSK and ZSK instead of one CSK
}

// Sign turns DNSSEC on for a zone: it generates its keys (a CSK, or a KSK
// and a ZSK) unless active ones of the algorithm exist, and stores them
// sealed. Signing again with the same algorithm changes only the denial
// method; another algorithm would be an algorithm rollover, not built yet.
func (m *Manager) Sign(ctx context.Context, zoneName string, o SignOptions) (zone.Zone, []zone.Key, error) {
	return m.sign(ctx, zoneName, o, false)
}

// SignZones signs the zones an operator names (see ZonesOf): the zones
// of a reverse prefix are signed together, each with its own keys (a DS
// names its zone, so each needs its own at the parent). The checks run
// on every zone before any is changed.
func (m *Manager) SignZones(ctx context.Context, nameOrPrefix string, o SignOptions) ([]zone.Zone, [][]zone.Key, error) {
	zs, err := m.ZonesOf(ctx, nameOrPrefix)
	if err != nil {
		return nil, nil, err
	}
	for _, z := range zs {
		if _, _, err := m.sign(ctx, z.Name, o, true); err != nil {
			return nil, nil, err
		}
	}
	var out []zone.Zone
	var keys [][]zone.Key
	for _, z := range zs {
		z, ks, err := m.sign(ctx, z.Name, o, false)
		if err != nil {
			return out, keys, err
		}
		out, keys = append(out, z), append(keys, ks)
	}
	return out, keys, nil
}

func (m *Manager) sign(ctx context.Context, zoneName string, o SignOptions, check bool) (zone.Zone, []zone.Key, error) {
	if m.sealer == nil {
		return zone.Zone{}, nil, fmt.Errorf("zone %s: no sealing key configured for private keys: %w", zoneName, registry.ErrInvalid)
	}
	if o.Algorithm == 0 {
		o.Algorithm = zone.ECDSAP256
	}
	if o.Denial == "" {
		o.Denial = zone.NSEC3
	}
	if _, err := zone.ParseAlgorithm(o.Algorithm.String()); err != nil {
		return zone.Zone{}, nil, err
	}
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return zone.Zone{}, nil, err
	}
	keys, err := m.store.Keys(ctx, z.ID)
	if err != nil {
		return zone.Zone{}, nil, err
	}
	var live []zone.Key
	used := map[uint16]bool{}
	for _, k := range keys {
		used[k.Tag] = true
		if k.State != zone.KeyRetired {
			live = append(live, k)
		}
	}
	for _, k := range live {
		if k.Algorithm != o.Algorithm {
			return zone.Zone{}, nil, fmt.Errorf("zone %s: signed with %v; changing to %v is an algorithm rollover, not supported yet: %w", z.Name, k.Algorithm, o.Algorithm, registry.ErrState)
		}
	}
	if check {
		return z, live, nil
	}
	if len(live) == 0 {
		roles := []zone.Role{zone.CSK}
		if o.SplitKeys {
			roles = []zone.Role{zone.KSK, zone.ZSK}
		}
		for _, role := range roles {
			k, err := m.generate(z.Name, role, o.Algorithm, used)
			if err != nil {
				return zone.Zone{}, nil, err
			}
			now := m.now().UTC().Truncate(time.Microsecond)
			k.ZoneID, k.CreatedAt, k.PublishedAt, k.ActiveAt = z.ID, now, now, now
			e := m.event(ctx, "key.add", zone.SubjectKey, fmt.Sprintf("%s %s %d", z.Name, role, k.Tag), nil, k)
			if err := m.store.InsertKey(ctx, &k, e); err != nil {
				return zone.Zone{}, nil, fmt.Errorf("zone %s: key %d: %w", z.Name, k.Tag, err)
			}
			used[k.Tag] = true
			live = append(live, k)
		}
	}
	z, err = m.UpdateZone(ctx, z.Name, func(c *zone.Config) error {
		c.Signed, c.Algorithm, c.Denial, c.SplitKeys = true, o.Algorithm, o.Denial, o.SplitKeys
		return nil
	})
	if err != nil {
		return z, live, err
	}
	// A split child signed after its split: the parent publishes its DS.
	return z, live, m.syncParentDS(ctx, z)
}

// generate makes a key whose tag no other key of the zone has: validators
// try every key with a signature's tag, so a collision costs them work
// and confuses operators (RFC 4034 Appendix B).
func (m *Manager) generate(zoneName string, role zone.Role, alg zone.Algorithm, used map[uint16]bool) (zone.Key, error) {
	for range 64 {
		dk, priv, err := zone.NewKey(zoneName, role, alg)
		if err != nil {
			return zone.Key{}, err
		}
		if used[dk.KeyTag()] {
			continue
		}
		return zone.SealKey(m.sealer, zoneName, role, dk, priv)
	}
	return zone.Key{}, fmt.Errorf("zone %s: no key with a free tag after 64 tries", zoneName)
}

// Keys lists a zone's keys.
func (m *Manager) Keys(ctx context.Context, zoneName string) ([]zone.Key, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return nil, err
	}
	return m.store.Keys(ctx, z.ID)
}

// DS lists the DS records the parent should publish for a signed zone:
// that of its newest active KSK (or CSK). During a KSK rollover this is
// the successor's alone, once it signs; the old key signs on until the
// new DS is confirmed (ConfirmDS) and the old DS has left caches.
func (m *Manager) DS(ctx context.Context, zoneName string) ([]*dns.DS, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return nil, err
	}
	if !z.Config.Signed {
		return nil, fmt.Errorf("zone %s: not signed (run `cadastre zone sign %s`): %w", z.Name, strings.TrimSuffix(z.Name, "."), registry.ErrState)
	}
	keys, err := m.store.Keys(ctx, z.ID)
	if err != nil {
		return nil, err
	}
	var out []*dns.DS
	for _, role := range []zone.Role{zone.KSK, zone.CSK} {
		if k, ok := zone.NewestSEP(keys, role); ok {
			out = append(out, zone.DS(z.Name, k, z.Config.TTL))
		}
	}
	return out, nil
}

// AddTSIG stores a TSIG key sealed. With secret nil it generates a 32-byte
// one. grants are the name suffixes under which RFC 2136 UPDATEs signed
// with the key may change static records (none: the key changes
// nothing). It returns the key's record and its secret, for the caller to
// show once.
func (m *Manager) AddTSIG(ctx context.Context, name, alg string, secret []byte, grants ...string) (zone.TSIGKey, []byte, error) {
	gs, err := canonicalGrants(grants)
	if err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", name, err)
	}
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return zone.TSIGKey{}, nil, err
		}
	}
	s, err := zone.CheckTSIG(name, alg, secret)
	if err != nil {
		return zone.TSIGKey{}, nil, err
	}
	if m.sealer == nil {
		return zone.TSIGKey{}, nil, errors.New("TSIG key: no sealing key configured")
	}
	k := zone.TSIGKey{Name: s.Name, Algorithm: s.Algorithm, CreatedAt: m.now().UTC().Truncate(time.Microsecond), CreatedBy: registry.Actor(ctx), Grants: gs}
	k.Sealed = m.sealer.SealData(zone.TSIGAAD(k.Name, k.Algorithm), s.Secret)
	// The event names the key and a fingerprint of the secret, never the
	// secret, so that operators can tell two keys of one name apart.
	after := struct {
		zone.TSIGKey
		Fingerprint string `json:"fingerprint"`
	}{k, zone.TSIGFingerprint(s.Secret)}
	if err := m.store.InsertTSIGKey(ctx, k, m.event(ctx, "tsig.add", zone.SubjectTSIG, k.Name, nil, after)); err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", k.Name, err)
	}
	return k, s.Secret, nil
}

// TSIGChange is what UpdateTSIG changes of a key; zero fields keep what
// the key has.
type TSIGChange struct {
	// Algorithm is the key's new algorithm ("" keeps it). The secret is
	// kept unless a new one is given: both ends must change together.
	Algorithm string
	// Secret is the new secret; with NewSecret a new 32-byte one is
	// generated instead (and returned, to be shown once).
	Secret    []byte
	NewSecret bool
	// Grants replace the key's RFC 2136 grants (an empty list: none);
	// nil keeps them.
	Grants *[]string
}

// UpdateTSIG changes a TSIG key in place: rotates its secret, changes its
// algorithm or replaces its update grants, keeping its name (zones'
// allow-transfer entries and secondaries' configuration name it). The
// event records the key and the fingerprints of the old and new secrets,
// never a secret. It returns the key and, when one was generated, the
// new secret for the caller to show once.
func (m *Manager) UpdateTSIG(ctx context.Context, name string, ch TSIGChange) (zone.TSIGKey, []byte, error) {
	n, err := zone.CanonicalName(name)
	if err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %w", err)
	}
	if ch.NewSecret && ch.Secret != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: a new secret is either generated or given, not both: %w", n, registry.ErrInvalid)
	}
	if m.sealer == nil {
		return zone.TSIGKey{}, nil, errors.New("TSIG key: no sealing key configured")
	}
	ks, err := m.store.TSIGKeys(ctx)
	if err != nil {
		return zone.TSIGKey{}, nil, err
	}
	i := slices.IndexFunc(ks, func(k zone.TSIGKey) bool { return k.Name == n })
	if i < 0 {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", n, registry.ErrNotFound)
	}
	old := ks[i]
	oldSecret, err := m.sealer.OpenData(zone.TSIGAAD(old.Name, old.Algorithm), old.Sealed)
	if err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", n, zone.ErrSealed)
	}
	k := old
	secret, generated := oldSecret, []byte(nil)
	switch {
	case ch.NewSecret:
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return zone.TSIGKey{}, nil, err
		}
		generated = secret
	case ch.Secret != nil:
		secret = ch.Secret
	}
	alg := old.Algorithm
	if ch.Algorithm != "" {
		alg = ch.Algorithm
	}
	s, err := zone.CheckTSIG(n, alg, secret)
	if err != nil {
		return zone.TSIGKey{}, nil, err
	}
	k.Algorithm = s.Algorithm
	if ch.Grants != nil {
		if k.Grants, err = canonicalGrants(*ch.Grants); err != nil {
			return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", n, err)
		}
	}
	k.Sealed = m.sealer.SealData(zone.TSIGAAD(k.Name, k.Algorithm), s.Secret)
	type withPrint struct {
		zone.TSIGKey
		Fingerprint string `json:"fingerprint"`
	}
	before, after := withPrint{old, zone.TSIGFingerprint(oldSecret)}, withPrint{k, zone.TSIGFingerprint(s.Secret)}
	if err := m.store.UpdateTSIGKey(ctx, k, m.event(ctx, "tsig.update", zone.SubjectTSIG, k.Name, before, after)); err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", k.Name, err)
	}
	return k, generated, nil
}

// TSIGKeys lists the TSIG keys, by name, without secrets.
func (m *Manager) TSIGKeys(ctx context.Context) ([]zone.TSIGKey, error) {
	return m.store.TSIGKeys(ctx)
}

// RemoveTSIG deletes a TSIG key. Zones whose allow-transfer names it then
// refuse transfers signed with it.
func (m *Manager) RemoveTSIG(ctx context.Context, name string) error {
	n, err := zone.CanonicalName(name)
	if err != nil {
		return fmt.Errorf("TSIG key %w", err)
	}
	if err := m.store.DeleteTSIGKey(ctx, n, m.event(ctx, "tsig.remove", zone.SubjectTSIG, n, map[string]string{"name": n}, nil)); err != nil {
		return fmt.Errorf("TSIG key %s: %w", n, err)
	}
	return nil
}

// TSIGSecrets unseals every TSIG key of the register, for the server.
func (m *Manager) TSIGSecrets(ctx context.Context) ([]zone.TSIGSecret, error) {
	return zone.LoadTSIG(ctx, m.store, m.sealer)
}
