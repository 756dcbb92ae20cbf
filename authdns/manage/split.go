package manage

import (
	"context"
	"fmt"
	"log/slog"
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
// The one transaction is enough for cadastre's own server, not for a
// secondary: Knot, learning the child from the catalog, applied the
// parent's IXFR (the delegation) before it had transferred the child and
// referred queries to a zone it did not have (bench/README.md, session
// 11). So a split goes in two steps. It first stages each child
// (zone.Config.Staged): the child is built, signed, listed in the catalog
// and NOTIFY sent, while the parent keeps its names and static records
// and has no delegation yet (cadastre answers from the parent; the
// secondaries transfer the child). Once every secondary (the child's
// NOTIFY targets and the catalog's) answers the child's SOA at the
// serial cadastre serves, or at once when there are none, a second
// transaction publishes the delegation, removes the moved names and
// records from the parent and clears the flag. A join stages the child
// again with the names back in the parent and no delegation, waits for
// the secondaries to serve that parent, and only then removes the child.
// The flag is in the register: a split or join stopped in between (a
// crash, the wait running out) leaves the child staged, listed so by
// `zone list`, and running the split or the join again finishes it.
//
// A split child's DS in the parent follows its keys (syncParentDS): a
// KSK or CSK rollover publishes the successor's DS beside the current
// one when it publishes the key, and confirms it at once (the parent is
// cadastre's own, so nobody needs to run `zone ds --confirm`); the old DS
// goes with the old key.

// SplitOptions say which children a split makes.
type SplitOptions struct {
	// PerRegion makes a child for every region of the register that
	// has live names under REGION.PARENT and no child yet (and delegates
	// its staged children).
	PerRegion bool `json:"per_region,omitempty"`
	// Regions makes a child for each of these regions (each must have
	// names under REGION.PARENT and no child yet, or a staged child).
	Regions []string `json:"regions,omitempty"`
	// Stage stops once the children are staged: served to the
	// secondaries, not delegated. Running the split again delegates them.
	Stage bool `json:"stage,omitempty"`
	// Wait bounds the wait for the secondaries to serve the children
	// (for a join, the parent) before the next step: 0 is DefaultWait,
	// a negative one does not wait.
	Wait time.Duration `json:"wait,omitempty"`
	// Log, when not nil, hears what the split waits for.
	Log *slog.Logger `json:"-"`
}

// JoinOptions tune a join.
type JoinOptions struct {
	// Wait is as SplitOptions.Wait, for the parent with the names back.
	Wait time.Duration
	Log  *slog.Logger
}

// DefaultWait is how long a split or join waits for its secondaries
// before it gives up, leaving the child staged (Knot transfers a child of
// 227,532 names in seconds; the server builds it in a minute at 10M).
const DefaultWait = 10 * time.Minute

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

// Split makes child zones REGION.PARENT of parent, as o says, staged
// first and delegated once the secondaries serve them (see above); a
// staged child of parent that o names (or every one, with PerRegion) is
// delegated. Refused, with nothing written: an unknown parent or region,
// a parent that is not a forward zone, a region with no live names under
// its child's name, a child that exists already (not staged), a
// delegation (NS or DS) the parent has already at a child's apex, a CNAME
// or DNAME there, a name server of the parent inside a child (its address
// would have to become glue), and a child's apex that a tenant's live
// assignment holds as its name (registry.NameTakenError; checked again
// when a staged child is delegated, with the child left staged). Secondaries
// that do not serve a child within o.Wait: an error, the child left
// staged.
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
	var staged []zone.Zone // staged before: delegated now
	for _, r := range regions {
		name, err := zone.CanonicalName(r.Name + "." + parent.Name)
		if err != nil {
			return nil, fmt.Errorf("zone split %s: region %s does not make a zone name: %w", parent.Name, r.Name, err)
		}
		if z, ok := byName[name]; ok {
			switch {
			case z.Config.Parent == parent.Name && z.Config.Staged:
				if !slices.ContainsFunc(staged, func(s zone.Zone) bool { return s.ID == z.ID }) {
					staged = append(staged, z)
				}
				continue
			case o.PerRegion:
				continue // split before: --per-region adds the regions not split yet
			case z.Config.Parent == parent.Name:
				return nil, fmt.Errorf("zone split %s: region %s is split already (zone %s; `cadastre zone join %s` takes it back): %w", parent.Name, r.Name, name, strings.TrimSuffix(name, "."), registry.ErrExists)
			}
			return nil, fmt.Errorf("zone split %s: zone %s exists already: %w", parent.Name, name, registry.ErrExists)
		}
		if slices.Contains(children, name) {
			continue
		}
		children = append(children, name)
	}
	if len(children) == 0 && len(staged) == 0 {
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

	counted := slices.Clone(children)
	for _, z := range staged {
		counted = append(counted, z.Name)
	}
	names, err := m.countNames(ctx, reg, parent, counted)
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
	if len(keep) == 0 && len(staged) == 0 {
		return nil, fmt.Errorf("zone split %s: no region has live names under REGION.%s of its own; nothing to split: %w", parent.Name, parent.Name, registry.ErrInvalid)
	}
	children = keep

	var out []SplitZone
	if len(children) > 0 {
		made, err := m.stage(ctx, parent, children)
		if err != nil {
			return nil, fmt.Errorf("zone split %s: %w", parent.Name, err)
		}
		out = made
		for _, s := range made {
			staged = append(staged, s.Zone)
		}
	}
	for _, z := range staged {
		if !slices.ContainsFunc(out, func(s SplitZone) bool { return s.Zone.ID == z.ID }) {
			out = append(out, SplitZone{Zone: z})
		}
	}
	for i := range out {
		out[i].Names = names[out[i].Zone.Name]
	}
	if o.Stage {
		return out, nil
	}
	if err := m.waitSecondaries(ctx, staged, o.Wait, o.Log); err != nil {
		return out, fmt.Errorf("zone split %s: %w; the children stay staged (served, not delegated): run the split again to delegate them, or `cadastre zone join` to drop them", parent.Name, err)
	}
	if err := m.delegate(ctx, parent, out); err != nil {
		return out, fmt.Errorf("zone split %s: %w", parent.Name, err)
	}
	return out, nil
}

// stage writes the staged children (zone.Config.Staged) of parent named
// children, in one transaction: each with the parent's configuration,
// keys of its own (signed) and copies of the parent's static records at
// and below its apex, which the parent keeps until delegate.
func (m *Manager) stage(ctx context.Context, parent zone.Zone, children []string) ([]SplitZone, error) {
	rs, err := m.store.Records(ctx, parent.ID)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	cut := &zone.Cut{}
	out := make([]SplitZone, len(children))
	for i, c := range children {
		z := zone.Zone{Kind: zone.Forward, Name: c, Config: childConfig(parent.Config, parent.Name), CreatedAt: now}
		z.Config.Staged = true
		if err := fillConfig(&z); err != nil {
			return nil, err
		}
		add := zone.CutZone{Zone: &z}
		// The parent's records at and below the child's apex are the
		// child's too; the parent drops them when it delegates.
		for _, r := range rs {
			if !dns.IsSubDomain(c, r.Name) {
				continue
			}
			if err := apexAllows(parent, c, r); err != nil {
				return nil, err
			}
			moved := r
			moved.ID, moved.NotServed = 0, ""
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
					// Confirmed: delegate publishes this DS with the
					// delegation (nothing reads it of a staged child:
					// syncParentDS leaves staged children alone).
					k.DSAt = now
				}
				add.Keys = append(add.Keys, &k)
				add.KeyEvents = append(add.KeyEvents, m.event(ctx, "key.add", zone.SubjectKey, fmt.Sprintf("%s %s %d", z.Name, role, k.Tag), nil, k))
			}
		}
		add.Event = m.event(ctx, "zone.add", zone.SubjectZone, z.Name, nil, z)
		cut.Add = append(cut.Add, add)
	}
	if err := m.store.MoveCut(ctx, cut, adminZoneCheck); err != nil {
		return nil, err
	}
	for i, a := range cut.Add {
		out[i].Zone = *a.Zone
	}
	return out, nil
}

// apexAllows refuses a record r of parent that would sit at the apex
// of its new child c where it may not: a delegation (NS, DS) already
// there, a CNAME or a DNAME.
func apexAllows(parent zone.Zone, c string, r zone.Record) error {
	if r.Name != c {
		return nil
	}
	switch t := strings.ToUpper(r.Type); t {
	case "NS", "DS":
		return fmt.Errorf("%s is delegated already (record %s %s %s in %s; remove it, or `cadastre zone add %s` for a zone of your own): %w",
			c, r.Name, r.Type, r.Data, parent.Name, strings.TrimSuffix(c, "."), registry.ErrExists)
	case "CNAME", "DNAME":
		return fmt.Errorf("record %s %s %s in %s would be at the apex of the new zone %s, where a %s may not be: %w",
			r.Name, r.Type, r.Data, parent.Name, c, t, registry.ErrInvalid)
	}
	return nil
}

// delegate publishes parent's delegation of each staged child of out,
// in one transaction: NS and DS at the child's apex, the parent's static
// records at and below it removed (each copied to the child first if
// the child lacks it: added to the parent while the child was staged),
// the flag cleared. It sets out's Records (records the parent gave up)
// and DS.
func (m *Manager) delegate(ctx context.Context, parent zone.Zone, out []SplitZone) error {
	rs, err := m.store.Records(ctx, parent.ID)
	if err != nil {
		return err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	cut := &zone.Cut{}
	for i := range out {
		child, err := m.Zone(ctx, out[i].Zone.Name)
		if err != nil {
			return err
		}
		if !child.Config.Staged || child.Config.Parent != parent.Name {
			return fmt.Errorf("zone %s: no longer a staged child of %s (another split or join finished it): %w", child.Name, parent.Name, registry.ErrState)
		}
		crs, err := m.store.Records(ctx, child.ID)
		if err != nil {
			return err
		}
		out[i].Records = 0
		for _, r := range rs {
			if !dns.IsSubDomain(child.Name, r.Name) {
				continue
			}
			if err := apexAllows(parent, child.Name, r); err != nil {
				return err
			}
			cut.DeleteRecords = append(cut.DeleteRecords, r.ID)
			cut.DeleteEvents = append(cut.DeleteEvents, m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" "+r.Type, r, nil))
			out[i].Records++
			if slices.ContainsFunc(crs, func(c zone.Record) bool { return sameRecord(c, r) }) {
				continue
			}
			moved := r
			moved.ID, moved.ZoneID, moved.NotServed = 0, child.ID, ""
			cut.AddRecords = append(cut.AddRecords, &moved)
			cut.AddEvents = append(cut.AddEvents, m.event(ctx, "record.add", zone.SubjectRecord, moved.Name+" "+moved.Type, nil, moved))
		}
		keys, err := m.store.Keys(ctx, child.ID)
		if err != nil {
			return err
		}
		deleg, err := delegation(parent, child, keys, now)
		if err != nil {
			return err
		}
		out[i].DS = nil
		for _, r := range deleg {
			cut.AddRecords = append(cut.AddRecords, r)
			cut.AddEvents = append(cut.AddEvents, m.event(ctx, "record.add", zone.SubjectRecord, r.Name+" "+r.Type, nil, *r))
			if r.Type == "DS" {
				out[i].DS = append(out[i].DS, r.Data)
			}
		}
		before := child
		child.Config.Staged = false
		cut.Update = append(cut.Update, child)
		cut.UpdateEvents = append(cut.UpdateEvents, m.event(ctx, "zone.update", zone.SubjectZone, child.Name+" delegated from "+parent.Name, before, child))
		out[i].Zone = child
	}
	// The apex checked when the child was staged may have been named
	// since (an admin names freely, a staged zone's apex too): the
	// delegation would make a tenant's live name a zone cut, so it is
	// checked again under the names' locks, as zone add checks.
	return m.store.MoveCut(ctx, cut, adminZoneCheck)
}

// sameRecord says whether a and b are the same record but for their
// zone and ID.
func sameRecord(a, b zone.Record) bool {
	return a.Name == b.Name && strings.EqualFold(a.Type, b.Type) && a.Data == b.Data && a.TTL == b.TTL
}

// secondaries are the name servers that transfer z from cadastre: its
// NOTIFY targets and, when the catalog lists it, the catalog's.
func secondaries(z zone.Zone, zones []zone.Zone) []string {
	out := slices.Clone(z.Config.Notify)
	if !zone.InCatalog(z) {
		return out
	}
	for _, c := range zones {
		if !c.Config.Catalog {
			continue
		}
		for _, t := range c.Config.Notify {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// waitSecondaries waits, at most wait (0: DefaultWait; negative: not at
// all), until cadastre serves each zone of zs (the server gave it a
// serial in the store) and every secondary of it answers its SOA,
// authoritatively, at that serial or a later one. No secondary: nothing
// to wait for (cadastre's own server switches at one reload).
func (m *Manager) waitSecondaries(ctx context.Context, zs []zone.Zone, wait time.Duration, log *slog.Logger) error {
	if wait < 0 {
		return nil
	}
	if wait == 0 {
		wait = DefaultWait
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	for _, want := range zs {
		for logged := ""; ; {
			z, all, err := m.zoneByID(ctx, want)
			if err != nil {
				return err
			}
			targets := secondaries(z, all)
			if len(targets) == 0 {
				break
			}
			var late []string
			if z.Serial == 0 {
				late = append(late, "cadastre's own server (is `cadastre serve --dns` running?)")
			} else {
				for _, t := range targets {
					if got, err := soaSerial(ctx, t, z.Name); err != nil {
						late = append(late, fmt.Sprintf("%s (%v)", t, err))
					} else if got != z.Serial && !serialAfter(got, z.Serial) {
						late = append(late, fmt.Sprintf("%s (serial %d)", t, got))
					}
				}
			}
			if len(late) == 0 {
				log.Info("dns zone served by its secondaries", "zone", z.Name, "serial", z.Serial, "secondaries", targets, "after", time.Since(start).Round(time.Millisecond))
				break
			}
			if l := strings.Join(late, ", "); l != logged {
				log.Info("dns zone: waiting for its secondaries", "zone", z.Name, "serial", z.Serial, "late", l)
				logged = l
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("zone %s at serial %d: not served after %v by %s: %w", z.Name, z.Serial, time.Since(start).Round(time.Second), strings.Join(late, ", "), registry.ErrState)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// soaSerial asks addr (host:port) for name's SOA and returns its serial:
// an error unless the answer is authoritative and holds the SOA of name.
func soaSerial(ctx context.Context, addr, name string) (uint32, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSOA)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.ExchangeContext(ctx, q, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, addr)
	}
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return 0, fmt.Errorf("rcode %s, authoritative %v", dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, name) {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA of %s in the answer", name)
}

// serialAfter is RFC 1982 §3.2: a > b.
func serialAfter(a, b uint32) bool {
	return a != b && (a > b && a-b < 1<<31 || a < b && b-a > 1<<31)
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
// parent's space whose names lie at or below it: in the store, one
// statement per child (registry.NameCounter), else reading the register
// a page at a time.
func (m *Manager) countNames(ctx context.Context, reg registry.Store, parent zone.Zone, children []string) (map[string]int, error) {
	out := map[string]int{}
	spaces := []string{parent.Config.Space}
	if parent.Config.Space == "" {
		spaces = []string{"", registry.GlobalSpace, registry.PrivateSpace}
	}
	counted := false
	if err := reg.View(ctx, func(tx registry.Tx) error {
		nc, ok := tx.(registry.NameCounter)
		if !ok {
			return nil
		}
		for _, c := range children {
			n, err := nc.NamesAt(ctx, c, spaces)
			if err != nil {
				return fmt.Errorf("names under %s: %w", c, err)
			}
			// A name below a deeper child is that child's (children
			// are REGION.PARENT, never one below another).
			out[c] = n
		}
		counted = true
		return nil
	}); err != nil {
		return nil, err
	}
	if counted {
		return out, nil
	}
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
	if child.Config.Parent == "" || !child.Config.Signed || child.Config.Staged {
		return nil // a staged child's DS is published with its delegation (delegate)
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

// Join takes split children back into their parent: name is a child
// (made by Split) or a parent, whose split children are all joined. In
// a first transaction the children's static records are copied to the
// parent, the parent's NS and DS at their apexes go and the children are
// staged again: the names are the parent's again, and cadastre answers
// from it. Once the secondaries serve that parent (o.Wait), a second
// transaction removes the children with their keys, and they leave the
// catalog. Refused: a zone that is neither, and a child that has split
// children of its own (join those first). A child found staged (a split
// or join stopped in between) is joined from the second step.
func (m *Manager) Join(ctx context.Context, name string, o JoinOptions) ([]zone.Zone, error) {
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
	// The first step: the names back in the parent, the children staged.
	back := &zone.Cut{}
	for _, c := range children {
		if c.Config.Staged {
			continue
		}
		for _, r := range prs {
			if r.Name == c.Name && (strings.EqualFold(r.Type, "NS") || strings.EqualFold(r.Type, "DS")) {
				back.DeleteRecords = append(back.DeleteRecords, r.ID)
				back.DeleteEvents = append(back.DeleteEvents, m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" "+r.Type, r, nil))
			}
		}
		crs, err := m.store.Records(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range crs {
			moved := r
			moved.ID, moved.ZoneID, moved.CreatedAt, moved.NotServed = 0, parent.ID, now, ""
			back.AddRecords = append(back.AddRecords, &moved)
			back.AddEvents = append(back.AddEvents, m.event(ctx, "record.add", zone.SubjectRecord, moved.Name+" "+moved.Type, nil, moved))
		}
		before := c
		c.Config.Staged = true
		back.Update = append(back.Update, c)
		back.UpdateEvents = append(back.UpdateEvents, m.event(ctx, "zone.update", zone.SubjectZone, c.Name+" staged to join "+parent.Name, before, c))
	}
	if len(back.Update) > 0 {
		if err := m.store.MoveCut(ctx, back, nil); err != nil {
			return nil, fmt.Errorf("zone join %s: %w", z.Name, err)
		}
		if err := m.waitRebuilt(ctx, parent, o.Wait); err != nil {
			return nil, fmt.Errorf("zone join %s: %w; the children stay staged (the names are the parent's again): run the join again to remove them", z.Name, err)
		}
	}
	if err := m.waitSecondaries(ctx, []zone.Zone{parent}, o.Wait, o.Log); err != nil {
		return nil, fmt.Errorf("zone join %s: %w; the children stay staged (the names are the parent's again): run the join again to remove them", z.Name, err)
	}
	// The second step: the children go, and leave the catalog.
	gone := &zone.Cut{}
	for _, c := range children {
		gone.RemoveZones = append(gone.RemoveZones, c.ID)
		gone.RemoveEvents = append(gone.RemoveEvents, m.event(ctx, "zone.remove", zone.SubjectZone, c.Name, c, nil))
	}
	if err := m.store.MoveCut(ctx, gone, nil); err != nil {
		return nil, fmt.Errorf("zone join %s: %w", z.Name, err)
	}
	return children, nil
}

// waitRebuilt waits, as waitSecondaries, until the server gives parent a
// serial other than the one it had before a change (the version with the
// change), when parent has secondaries to wait for.
func (m *Manager) waitRebuilt(ctx context.Context, parent zone.Zone, wait time.Duration) error {
	if wait < 0 || parent.Serial == 0 {
		return nil
	}
	if wait == 0 {
		wait = DefaultWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		z, all, err := m.zoneByID(ctx, parent)
		if err != nil {
			return err
		}
		if len(secondaries(z, all)) == 0 || z.Serial != parent.Serial {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("zone %s: still at serial %d after %v (is `cadastre serve --dns` running?): %w", parent.Name, parent.Serial, wait, registry.ErrState)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// zoneByID reads z again as stored now (its serial moves as the server
// builds it), with every zone.
func (m *Manager) zoneByID(ctx context.Context, z zone.Zone) (zone.Zone, []zone.Zone, error) {
	all, err := m.store.Zones(ctx)
	if err != nil {
		return zone.Zone{}, nil, err
	}
	i := slices.IndexFunc(all, func(o zone.Zone) bool { return o.ID == z.ID })
	if i < 0 {
		return zone.Zone{}, nil, fmt.Errorf("zone %s: gone while waiting for its secondaries: %w", z.Name, registry.ErrNotFound)
	}
	return all[i], all, nil
}
