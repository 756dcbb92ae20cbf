package manage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Splitting a zone: a region's names as a delegated zone of their own.
//
// A secondary such as Knot applies an IXFR in time that grows with the
// whole zone (bench/README.md, "Session 10: Knot's IXFR at 10M names"),
// so a zone of millions of names keeps it near a second per change. Split
// makes REGION.PARENT a child zone per region, in one transaction with
// everything a DNS engineer would otherwise do by hand: the child (same
// name servers, ACL, NOTIFY list, timers and signing policy as the
// parent, its own keys), the delegation in the parent (NS at the child's
// apex and, for a signed child, the DS of its keys), and the parent's
// static records at and below the child's apex moved into the child. The
// register's names move by themselves: a name lives in the longest zone
// that matches it. Because it is one transaction, a server that follows
// the log builds one snapshot with all of it: every query is answered by
// the parent as before or by the child as after, never by neither or
// both, and a validator's chain runs through the parent's DS from the
// first answer. Join is the reverse.
//
// A split child's DS in the parent follows its keys (syncParentDS): a
// KSK or CSK rollover publishes the successor's DS beside the current
// one when it publishes the key, and confirms it at once (the parent is
// cadastre's own, so nobody needs to run `zone ds --confirm`); the old DS
// goes with the old key.

// SplitOptions say which children a split makes.
type SplitOptions struct {
	// PerRegion makes a child for every region of the register that
	// has live names under REGION.PARENT and no child yet.
	PerRegion bool
	// Regions makes a child for each of these regions (each must have
	// names under REGION.PARENT and no child yet).
	Regions []string
}

// SplitZone is one child a split made.
type SplitZone struct {
	Zone zone.Zone `json:"zone"`
	// Names is how many live assignments' names moved to the child.
	Names int `json:"names"`
	// Records is how many of the parent's static records moved.
	Records int `json:"records"`
	// DS is the delegation signer data published in the parent (none
	// for an unsigned child).
	DS []string `json:"ds,omitempty"`
}

// splitPage is how many named assignments a split reads at a time while
// it counts the names each child takes (at 10M assignments, 3M names:
// one page at a time keeps the CLI's memory flat).
const splitPage = 50000

// Split makes child zones REGION.PARENT of parent, as o says, in one
// transaction (see above). Refused, with nothing written: an unknown
// parent or region, a parent that is not a forward zone, a region with no
// live names under its child's name, a child that exists already, a
// delegation (NS or DS) the parent has already at a child's apex, a
// CNAME or DNAME there, a name server of the parent inside a child (its
// address would have to become glue), and a child's apex that a tenant's
// live assignment holds as its name (registry.NameTakenError).
func (m *Manager) Split(ctx context.Context, parentName string, o SplitOptions) ([]SplitZone, error) {
	if !o.PerRegion && len(o.Regions) == 0 {
		return nil, fmt.Errorf("zone split %s: say which children: --per-region, or --region NAME (repeatable): %w", parentName, registry.ErrInvalid)
	}
	if o.PerRegion && len(o.Regions) > 0 {
		return nil, fmt.Errorf("zone split %s: --per-region and --region exclude each other: %w", parentName, registry.ErrInvalid)
	}
	parent, err := m.Zone(ctx, parentName)
	if err != nil {
		return nil, fmt.Errorf("zone split: %w", err)
	}
	if parent.Kind != zone.Forward || parent.Config.Catalog {
		return nil, fmt.Errorf("zone split %s: only a forward zone's names are split by region (this is a %s zone): %w", parent.Name, kindOf(parent), registry.ErrInvalid)
	}
	reg, ok := m.store.(registry.Store)
	if !ok {
		return nil, fmt.Errorf("zone split %s: the store does not hold the register: %w", parent.Name, registry.ErrInvalid)
	}
	if parent.Config.Signed && m.sealer == nil {
		return nil, fmt.Errorf("zone split %s: no sealing key configured for the children's private keys: %w", parent.Name, registry.ErrInvalid)
	}
	have, err := m.store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]zone.Zone{}
	for _, z := range have {
		byName[z.Name] = z
	}

	// The children asked for, by name, before counting names.
	var regions []registry.Region
	if err := reg.View(ctx, func(tx registry.Tx) error {
		if o.PerRegion {
			regions, err = tx.Regions(ctx)
			return err
		}
		for _, n := range o.Regions {
			r, err := tx.RegionByName(ctx, n)
			if err != nil {
				return fmt.Errorf("region %s: %w", n, err)
			}
			regions = append(regions, r)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("zone split %s: %w", parent.Name, err)
	}
	var children []string
	for _, r := range regions {
		name, err := zone.CanonicalName(r.Name + "." + parent.Name)
		if err != nil {
			return nil, fmt.Errorf("zone split %s: region %s does not make a zone name: %w", parent.Name, r.Name, err)
		}
		if z, ok := byName[name]; ok {
			if o.PerRegion {
				continue // split before: --per-region adds the regions not split yet
			}
			if z.Config.Parent == parent.Name {
				return nil, fmt.Errorf("zone split %s: region %s is split already (zone %s; `cadastre zone join %s` takes it back): %w", parent.Name, r.Name, name, strings.TrimSuffix(name, "."), registry.ErrExists)
			}
			return nil, fmt.Errorf("zone split %s: zone %s exists already: %w", parent.Name, name, registry.ErrExists)
		}
		if slices.Contains(children, name) {
			continue
		}
		children = append(children, name)
	}
	if len(children) == 0 {
		return nil, fmt.Errorf("zone split %s: every region is split already: %w", parent.Name, registry.ErrExists)
	}
	for _, ns := range parent.Config.NS {
		for _, c := range children {
			if dns.IsSubDomain(c, ns) {
				return nil, fmt.Errorf("zone split %s: name server %s lies in the new zone %s (its address would have to be glue); give %s name servers outside it first (`cadastre zone update %s --ns ...`): %w",
					parent.Name, ns, c, parent.Name, strings.TrimSuffix(parent.Name, "."), registry.ErrInvalid)
			}
		}
	}

	names, err := m.countNames(ctx, reg, parent, children)
	if err != nil {
		return nil, fmt.Errorf("zone split %s: %w", parent.Name, err)
	}
	var keep []string
	for _, c := range children {
		switch {
		case names[c] > 0:
			keep = append(keep, c)
		case !o.PerRegion:
			return nil, fmt.Errorf("zone split %s: region %s has no live names under %s; nothing to split: %w", parent.Name, strings.TrimSuffix(strings.TrimSuffix(c, parent.Name), "."), c, registry.ErrInvalid)
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("zone split %s: no region has live names under REGION.%s of its own; nothing to split: %w", parent.Name, parent.Name, registry.ErrInvalid)
	}
	children = keep

	rs, err := m.store.Records(ctx, parent.ID)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	cut := &zone.Cut{}
	out := make([]SplitZone, len(children))
	for i, c := range children {
		z := zone.Zone{Kind: zone.Forward, Name: c, Config: childConfig(parent.Config, parent.Name), CreatedAt: now}
		if err := fillConfig(&z); err != nil {
			return nil, err
		}
		add := zone.CutZone{Zone: &z}
		// The parent's records at and below the child's apex move to
		// the child, where the cut would otherwise hide them.
		for _, r := range rs {
			if !dns.IsSubDomain(c, r.Name) {
				continue
			}
			t := strings.ToUpper(r.Type)
			if r.Name == c {
				switch t {
				case "NS", "DS":
					return nil, fmt.Errorf("zone split %s: %s is delegated already (record %s %s %s in %s; remove it, or `cadastre zone add %s` for a zone of your own): %w",
						parent.Name, c, r.Name, r.Type, r.Data, parent.Name, strings.TrimSuffix(c, "."), registry.ErrExists)
				case "CNAME", "DNAME":
					return nil, fmt.Errorf("zone split %s: record %s %s %s in %s would be at the apex of the new zone %s, where a %s may not be: %w",
						parent.Name, r.Name, r.Type, r.Data, parent.Name, c, t, registry.ErrInvalid)
				}
			}
			moved := r
			moved.ID, moved.NotServed = 0, ""
			cut.DeleteRecords = append(cut.DeleteRecords, r.ID)
			e := m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" "+r.Type, r, nil)
			cut.DeleteEvents = append(cut.DeleteEvents, e)
			add.Records = append(add.Records, &moved)
			add.RecordEvents = append(add.RecordEvents, m.event(ctx, "record.add", zone.SubjectRecord, moved.Name+" "+moved.Type, nil, moved))
			out[i].Records++
		}
		if z.Config.Signed {
			roles := []zone.Role{zone.CSK}
			if z.Config.SplitKeys {
				roles = []zone.Role{zone.KSK, zone.ZSK}
			}
			used := map[uint16]bool{}
			for _, role := range roles {
				k, err := m.generate(z.Name, role, z.Config.Algorithm, used)
				if err != nil {
					return nil, err
				}
				used[k.Tag] = true
				k.CreatedAt, k.PublishedAt, k.ActiveAt = now, now, now
				if role != zone.ZSK {
					// The parent publishes its DS in this same
					// transaction: confirmed (see ConfirmDS).
					k.DSAt = now
				}
				add.Keys = append(add.Keys, &k)
				add.KeyEvents = append(add.KeyEvents, m.event(ctx, "key.add", zone.SubjectKey, fmt.Sprintf("%s %s %d", z.Name, role, k.Tag), nil, k))
			}
		}
		add.Event = m.event(ctx, "zone.add", zone.SubjectZone, z.Name, nil, z)
		keys := make([]zone.Key, len(add.Keys))
		for j, k := range add.Keys {
			keys[j] = *k
		}
		deleg, err := delegation(parent, z, keys, now)
		if err != nil {
			return nil, err
		}
		for _, r := range deleg {
			cut.AddRecords = append(cut.AddRecords, r)
			cut.AddEvents = append(cut.AddEvents, m.event(ctx, "record.add", zone.SubjectRecord, r.Name+" "+r.Type, nil, *r))
			if r.Type == "DS" {
				out[i].DS = append(out[i].DS, r.Data)
			}
		}
		cut.Add = append(cut.Add, add)
		out[i].Names = names[c]
	}
	if err := m.store.MoveCut(ctx, cut, adminZoneCheck); err != nil {
		return nil, fmt.Errorf("zone split %s: %w", parent.Name, err)
	}
	for i, a := range cut.Add {
		out[i].Zone = *a.Zone
	}
	return out, nil
}

func kindOf(z zone.Zone) string {
	if z.Config.Catalog {
		return "catalog"
	}
	return string(z.Kind)
}

// childConfig is a split child's configuration: the parent's, so that
// secondaries, transfers and signing policy go on as they were, with
// the parent named and the DS TTL the parent's own (the DS records are
// the parent's, at its TTL: RFC 7583 times a KSK rollover by it).
func childConfig(p zone.Config, parent string) zone.Config {
	c := p
	c.NS = slices.Clone(p.NS)
	c.AllowTransfer = slices.Clone(p.AllowTransfer)
	c.Notify = slices.Clone(p.Notify)
	c.Catalog = false
	c.Parent = parent
	c.ParentDSTTL = time.Duration(p.TTL) * time.Second
	return c
}

// countNames counts, per child name, the live named assignments of
// parent's space whose names lie at or below it, reading the register a
// page at a time.
func (m *Manager) countNames(ctx context.Context, reg registry.Store, parent zone.Zone, children []string) (map[string]int, error) {
	out := map[string]int{}
	var after int64
	for {
		var page []registry.Assignment
		if err := reg.View(ctx, func(tx registry.Tx) error {
			var err error
			page, err = tx.Assignments(ctx, registry.AssignmentFilter{Named: true, States: []registry.State{registry.StateAssigned}, AfterID: after, Limit: splitPage})
			return err
		}); err != nil {
			return nil, fmt.Errorf("named assignments: %w", err)
		}
		for _, a := range page {
			if !parent.Config.Serves(a.Space) {
				continue
			}
			n := dns.CanonicalName(a.Name)
			for _, c := range children {
				if dns.IsSubDomain(c, n) {
					out[c]++
					break
				}
			}
		}
		if len(page) < splitPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// delegation is what parent publishes at child's apex: NS records for
// the child's name servers and, when the child is signed, the DS of
// each of its keys that is a secure entry point and not retired (during
// a KSK rollover, the current key's and its successor's).
func delegation(parent, child zone.Zone, keys []zone.Key, now time.Time) ([]*zone.Record, error) {
	var out []*zone.Record
	add := func(typ, data string) error {
		r, _, err := zone.ParseRecord(zone.Record{ZoneID: parent.ID, Name: child.Name, Type: typ, TTL: parent.Config.TTL, Data: data, CreatedAt: now}, parent.Name)
		if err != nil {
			return fmt.Errorf("zone %s: delegation to %s: %w", parent.Name, child.Name, err)
		}
		out = append(out, &r)
		return nil
	}
	for _, ns := range child.Config.NS {
		if err := add("NS", ns); err != nil {
			return nil, err
		}
	}
	for _, d := range dsData(child, keys, parent.Config.TTL) {
		if err := add("DS", d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dsData is the DS data (presentation form, without owner, TTL and
// type) of child's keys that the parent publishes: every secure entry
// point (the KSKs, or without KSKs the CSKs) that is not retired.
func dsData(child zone.Zone, keys []zone.Key, ttl uint32) []string {
	if !child.Config.Signed {
		return nil
	}
	sep := zone.CSK
	if slices.ContainsFunc(keys, func(k zone.Key) bool { return k.Role == zone.KSK && k.State != zone.KeyRetired }) {
		sep = zone.KSK
	}
	var out []string
	for _, k := range keys {
		if k.Role != sep || k.State == zone.KeyRetired {
			continue
		}
		d := zone.DS(child.Name, k, ttl)
		out = append(out, fmt.Sprintf("%d %d %d %s", d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest)))
	}
	return out
}

// syncParentDS makes the DS records that a split child's parent
// publishes at the child's apex those of the child's keys (dsData), and
// confirms the newest key's DS (Key.DSAt) once the parent has it: the
// parent is cadastre's own, so a KSK or CSK rollover of the child needs
// no `zone ds --confirm`. It adds the new DS before anything else can
// depend on it and removes an old one only when its key is retired, so
// the parent's DS set always holds one for a key that signs the child's
// DNSKEY set. A zone that was not split is left alone.
func (m *Manager) syncParentDS(ctx context.Context, child zone.Zone) error {
	if child.Config.Parent == "" || !child.Config.Signed {
		return nil
	}
	parent, err := m.Zone(ctx, child.Config.Parent)
	if err != nil {
		return fmt.Errorf("zone %s: its parent: %w", child.Name, err)
	}
	keys, err := m.store.Keys(ctx, child.ID)
	if err != nil {
		return err
	}
	rs, err := m.store.Records(ctx, parent.ID)
	if err != nil {
		return err
	}
	want := dsData(child, keys, parent.Config.TTL)
	now := m.now().UTC().Truncate(time.Microsecond)
	var del []int64
	var add []*zone.Record
	var es []registry.Event
	var have []string
	for _, r := range rs {
		if r.Name != child.Name || !strings.EqualFold(r.Type, "DS") {
			continue
		}
		if slices.Contains(want, r.Data) && !slices.Contains(have, r.Data) {
			have = append(have, r.Data)
			continue
		}
		del = append(del, r.ID)
		es = append(es, m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" DS", r, nil))
	}
	for _, d := range want {
		if slices.Contains(have, d) {
			continue
		}
		r, _, err := zone.ParseRecord(zone.Record{ZoneID: parent.ID, Name: child.Name, Type: "DS", TTL: parent.Config.TTL, Data: d, CreatedAt: now}, parent.Name)
		if err != nil {
			return fmt.Errorf("zone %s: DS in %s: %w", child.Name, parent.Name, err)
		}
		add = append(add, &r)
	}
	for _, r := range add {
		es = append(es, m.event(ctx, "record.add", zone.SubjectRecord, r.Name+" DS", nil, *r))
	}
	if len(del)+len(add) > 0 {
		if err := m.store.ChangeRecords(ctx, del, add, es, nil); err != nil {
			return fmt.Errorf("zone %s: DS in %s: %w", child.Name, parent.Name, err)
		}
	}
	sep := zone.CSK
	if slices.ContainsFunc(keys, func(k zone.Key) bool { return k.Role == zone.KSK && k.State != zone.KeyRetired }) {
		sep = zone.KSK
	}
	if n, ok := zone.NewestSEP(keys, sep); ok && n.DSAt.IsZero() {
		n.DSAt = now
		e := m.event(ctx, "key.ds", zone.SubjectKey, fmt.Sprintf("%s %s %d DS published in %s", child.Name, n.Role, n.Tag, parent.Name), nil, n)
		e.SubjectID = n.ID
		if err := m.store.UpdateKey(ctx, n, n.State, e); err != nil {
			return fmt.Errorf("zone %s: key %d: %w", child.Name, n.Tag, err)
		}
	}
	return nil
}

// Join takes split children back into their parent, in one transaction:
// name is a child (made by Split) or a parent, whose split children are
// all joined. The children's static records move to the parent, the
// parent's NS and DS at their apexes go, and the children are removed
// with their keys; the names move back by themselves. Refused: a zone
// that is neither, and a child that has split children of its own (join
// those first).
func (m *Manager) Join(ctx context.Context, name string) ([]zone.Zone, error) {
	z, err := m.Zone(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("zone join: %w", err)
	}
	have, err := m.store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	var children []zone.Zone
	parent := z
	if z.Config.Parent != "" {
		children = []zone.Zone{z}
		i := slices.IndexFunc(have, func(o zone.Zone) bool { return o.Name == z.Config.Parent })
		if i < 0 {
			return nil, fmt.Errorf("zone join %s: its parent %s is gone: %w", z.Name, z.Config.Parent, registry.ErrNotFound)
		}
		parent = have[i]
	} else {
		for _, o := range have {
			if o.Config.Parent == z.Name {
				children = append(children, o)
			}
		}
		if len(children) == 0 {
			return nil, fmt.Errorf("zone join %s: not split (no zone was split from it, and it was not split from another): %w", z.Name, registry.ErrInvalid)
		}
	}
	for _, c := range children {
		for _, o := range have {
			if o.Config.Parent == c.Name {
				return nil, fmt.Errorf("zone join %s: zone %s was split from it; join that first: %w", c.Name, o.Name, registry.ErrInvalid)
			}
		}
	}
	prs, err := m.store.Records(ctx, parent.ID)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	cut := &zone.Cut{}
	for _, c := range children {
		for _, r := range prs {
			if r.Name == c.Name && (strings.EqualFold(r.Type, "NS") || strings.EqualFold(r.Type, "DS")) {
				cut.DeleteRecords = append(cut.DeleteRecords, r.ID)
				cut.DeleteEvents = append(cut.DeleteEvents, m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" "+r.Type, r, nil))
			}
		}
		crs, err := m.store.Records(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range crs {
			moved := r
			moved.ID, moved.ZoneID, moved.CreatedAt, moved.NotServed = 0, parent.ID, now, ""
			cut.AddRecords = append(cut.AddRecords, &moved)
			cut.AddEvents = append(cut.AddEvents, m.event(ctx, "record.add", zone.SubjectRecord, moved.Name+" "+moved.Type, nil, moved))
		}
		cut.RemoveZones = append(cut.RemoveZones, c.ID)
		cut.RemoveEvents = append(cut.RemoveEvents, m.event(ctx, "zone.remove", zone.SubjectZone, c.Name, c, nil))
	}
	if err := m.store.MoveCut(ctx, cut, nil); err != nil {
		return nil, fmt.Errorf("zone join %s: %w", z.Name, err)
	}
	return children, nil
}
