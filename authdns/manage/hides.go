package manage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// MaxHidden bounds the names Hides lists.
const MaxHidden = 100

// Delegates reports whether r hands its name and all below it to other
// servers or another tree: an NS record below its zone's apex, or a
// DNAME (whose subtree it redirects).
func Delegates(z zone.Zone, r zone.Record) bool {
	switch strings.ToUpper(r.Type) {
	case "NS":
		return !strings.EqualFold(r.Name, z.Name)
	case "DNAME":
		return true
	}
	return false
}

// AddRecordHides is AddRecord followed by Hides: the record as written,
// and, when it delegates, what it hides (the CLI's warning, as the API's
// answer carries it).
func (m *Manager) AddRecordHides(ctx context.Context, zoneName, name, typ, data string, ttl uint32) (zone.Record, []string, error) {
	r, err := m.AddRecord(ctx, zoneName, name, typ, data, ttl)
	if err != nil {
		return r, nil, err
	}
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return r, nil, err
	}
	hidden, err := m.Hides(ctx, z, r)
	return r, hidden, err
}

// Hides lists, once the delegating record r of zone z is written
// (Delegates), what it hides: the names of live assignments at or below
// r's name, whose A/AAAA the zone no longer serves, and the zone's static
// records at or below it but the delegation's own NS and DS at its name
// and address records (which may be glue), at most MaxHidden names in
// all, each once. Names a zone of the register below r's name answers
// are that zone's, and not listed. The operator's write is not refused
// (issue 10: it may be the point), but is told what it hides; tenants
// can no longer add names there (registry.HolderBelowDelegation). It
// lists nothing for another record.
func (m *Manager) Hides(ctx context.Context, z zone.Zone, r zone.Record) ([]string, error) {
	if !Delegates(z, r) {
		return nil, nil
	}
	zs, err := m.store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	// A zone of the register at or below the delegation answers its own
	// names: the delegation hands them to it.
	var kids []string
	for _, k := range zs {
		if k.Name != z.Name && dns.IsSubDomain(r.Name, k.Name) {
			kids = append(kids, k.Name)
		}
	}
	hidden := func(name string) bool {
		n := dns.CanonicalName(name)
		if !dns.IsSubDomain(r.Name, n) || (strings.EqualFold(r.Type, "DNAME") && n == r.Name) {
			return false
		}
		return !slices.ContainsFunc(kids, func(k string) bool { return dns.IsSubDomain(k, n) })
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] && len(out) < MaxHidden {
			seen[name] = true
			out = append(out, name)
		}
	}
	if reg, ok := m.store.(registry.Store); ok {
		var names []string
		if err := reg.View(ctx, func(tx registry.Tx) (err error) {
			names, err = tx.NamesBelow(ctx, r.Name, 10*MaxHidden)
			return err
		}); err != nil {
			return nil, fmt.Errorf("record %s %s: the assignments it hides: %w", r.Name, r.Type, err)
		}
		for _, n := range names {
			if hidden(n) {
				add(n)
			}
		}
	}
	rs, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return nil, err
	}
	for _, x := range rs {
		typ := strings.ToUpper(x.Type)
		switch {
		case x.Name == r.Name && (typ == "NS" || typ == "DS"):
		case typ == "A" || typ == "AAAA":
		case hidden(x.Name):
			add(x.Name)
		}
	}
	return out, nil
}

// occludedInWrite refuses (registry.NameTakenError, with the record) a
// record of add that a delegation of the same write hides: an NS record
// below z's apex among all (the zone's static records as the write leaves
// them) at an ancestor of the record's name (anything but an address
// record, glue, which an admin may write there) or at its name (anything
// but NS and DS), as registry.CheckAdminRecordIn refuses it against the
// delegations written before. The store's check of each record in the
// write transaction sees only those: a zone file or an RFC 2136 update
// holding a delegation and a TXT below it wrote both, the TXT never
// served (audit12).
func occludedInWrite(z zone.Zone, all []zone.Record, add []*zone.Record) (int, error) {
	cuts := map[string]bool{}
	for _, r := range all {
		if strings.EqualFold(r.Type, "NS") && r.Name != z.Name {
			cuts[r.Name] = true
		}
	}
	if len(cuts) == 0 {
		return 0, nil
	}
	for i, r := range add {
		typ := strings.ToUpper(r.Type)
		for a := r.Name; a != z.Name; {
			j := strings.IndexByte(a, '.')
			if j < 0 || j == len(a)-1 {
				break
			}
			if a = a[j+1:]; a != z.Name && cuts[a] && typ != "A" && typ != "AAAA" {
				return i, &registry.NameTakenError{Name: r.Name, Holder: registry.HolderBelowDelegation}
			}
		}
		if cuts[r.Name] {
			if err := registry.Occluded(r.Name, typ, registry.HolderDelegation); err != nil {
				return i, err
			}
		}
	}
	return 0, nil
}
