package zone

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Builds proportional to the change. When the input says which
// assignments changed since the last snapshot (BuildInput.Delta), a zone
// whose settings, records and keys are those of the version served, and
// which the changes touch (or some of whose signatures are due for
// renewal), is made from that version rather than from every assignment:
// the changed owner names' sets are edited, only those sets and the NSEC3
// links of the names that came, went or changed types (with the link
// before each, whose next hash moves) are signed, and the journal step
// and content hash come from those sets alone. The version's names, its
// NSEC3 chain and its owner-to-hash index are persistent trees (ptree):
// the new version shares them with the one served but for the paths to
// what changed, O(log n) nodes each, so the previous version is never
// written (published snapshots stay immutable) and nothing is copied
// whole. Renewals (renew) re-sign only the sets due, found by a read-only
// walk of the trees.
//
// A zone falls back to the full build (Build) when anything but its
// assignments changed, when it is a catalog, when its links by synthesis
// or the pools it synthesises in changed (synth.go), or when a change
// touches a name with static records or at or below a delegation, or a
// tenant's assignment (named or not) at the address of a static PTR
// (touchesStaticPTR, heldptr.go). Full builds stay the reference: the test
// TestDeltaMatchesFullBuild checks that after random changes and renewals
// a delta-built version has the content (records and signatures) a full
// build makes.

// Delta says what changed in the register between two event-log
// positions: Assigns is the register at Since with Changes applied.
type Delta struct {
	Since   int64
	Changes []AssignChange
}

// AssignChange is one assignment's change: Before as it was at Since
// (zero ID: it did not exist), After as it is now (zero ID: it is gone).
type AssignChange struct {
	Before, After registry.Assignment
}

// BuildStats counts how a builder made the zone versions it built.
type BuildStats struct {
	Full  uint64 // built from every assignment (Build)
	Delta uint64 // made from the previous version and the change
}

// Stats counts the versions this builder made, by way.
func (b *Builder) Stats() BuildStats { return b.stats }

// assignRR is the record assignment a gives zone z (as Build makes it), or
// nil when it gives none.
func assignRR(z *Zone, zones []Zone, a registry.Assignment) dns.RR {
	if a.ID == 0 || z.Config.Catalog || a.State != registry.StateAssigned || a.Name == "" || !a.Prefix.IsSingleIP() || !z.Config.Serves(a.Space) {
		return nil
	}
	name := dns.CanonicalName(a.Name)
	addr := a.Prefix.Addr()
	ttl := z.Config.TTL
	switch z.Kind {
	case Forward:
		if !dns.IsSubDomain(z.Name, name) || inChild(zones, z.Name, name) {
			return nil
		}
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
		if addr.Is4() {
			hdr.Rrtype = dns.TypeA
			return &dns.A{Hdr: hdr, A: addr.AsSlice()}
		}
		hdr.Rrtype = dns.TypeAAAA
		return &dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()}
	case Reverse:
		if !z.Prefix.Contains(addr) {
			return nil
		}
		return &dns.PTR{Hdr: dns.RR_Header{Name: ptrName(z, addr), Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: name}
	}
	return nil
}

// zoneEdits is the records the changes, in order, take out of and put
// into zone z: their net effect, so that a record put in and taken out
// again (an assignment made and released between two builds), or one an
// assignment had before and after (a change DNS does not show), is in
// neither list.
func zoneEdits(z *Zone, in *BuildInput) (rem, add []dns.RR) {
	// take removes rr from l if there, saying whether it was.
	take := func(l *[]dns.RR, rr dns.RR) bool {
		i := slices.IndexFunc(*l, func(x dns.RR) bool { return dns.IsDuplicate(x, rr) })
		if i < 0 {
			return false
		}
		*l = slices.Delete(*l, i, i+1)
		return true
	}
	for _, c := range in.Delta.Changes {
		if b := assignRR(z, in.Zones, c.Before); b != nil && !take(&add, b) {
			rem = append(rem, b)
		}
		if a := assignRR(z, in.Zones, c.After); a != nil && !take(&rem, a) {
			add = append(add, a)
		}
	}
	return rem, add
}

// deltaable says whether the version o can be the base of a delta build.
func (o *Data) deltaable() bool {
	return o != nil && !o.zone.Config.Catalog
}

// deltaFits says whether the change that takes rem out of zone z and
// puts add in is one a delta build from o handles: it touches no owner
// with static records (or the apex: a static record can equal an
// assignment's, which a set edit could not tell apart) and nothing at or
// below a delegation. The builder asks before it plans the build, as
// zones linked by synthesis are built in full together (rebuildSet).
func (o *Data) deltaFits(z *Zone, in *BuildInput, rem, add []dns.RR) bool {
	static := map[string]bool{z.Name: true}
	for _, r := range in.Records {
		if r.ZoneID != z.ID {
			continue
		}
		rr, err := r.RR()
		if err != nil {
			return false
		}
		static[strings.ToLower(rr.Header().Name)] = true
	}
	for _, l := range [][]dns.RR{rem, add} {
		for _, rr := range l {
			if h := rr.Header(); static[h.Name] || o.cutAt(h.Name) != "" {
				return false
			}
		}
	}
	return true
}

// deltaBuild makes the next version of zone z from o (the version served)
// and the records the change takes out (rem) and puts in (add), signed
// when o is: see the comment at the top. ok is false, with nothing
// done, when the change is not one a delta build handles (the caller
// builds the zone in full). The records and signatures that left and
// came are returned for the journal step.
func (b *Builder) deltaBuild(z Zone, o *Data, in *BuildInput, rem, add []dns.RR, p sigPolicy) (zd *Data, gone, came []dns.RR, ok bool, err error) {
	if !o.deltaFits(&z, in, rem, add) {
		return nil, nil, nil, false, nil
	}
	type key struct {
		owner string
		t     uint16
	}
	edits := map[key]*[2][]dns.RR{}
	for i, l := range [][]dns.RR{rem, add} {
		for _, rr := range l {
			h := rr.Header()
			k := key{h.Name, h.Rrtype}
			e := edits[k]
			if e == nil {
				e = &[2][]dns.RR{}
				edits[k] = e
			}
			e[i] = append(e[i], rr)
		}
	}

	zd = &Data{zone: z, seq: in.Seq, made: new(linkMemo), negTTL: o.negTTL, signed: o.signed, ksks: o.ksks, zsks: o.zsks,
		denial: o.denial, cuts: o.cuts, dnames: o.dnames, keys: o.keys, maxTTL: o.maxTTL,
		sigFrom: p.inception(), sigUntil: p.expiration(), refreshAt: o.refreshAt, sfp: o.sfp,
		// The links by synthesis are o's until relink points them at
		// the linked zones' new versions (synth.go).
		tmpl: o.tmpl, pools: o.pools, synthFor: o.synthFor, forward: o.forward, whiteLies: o.whiteLies}
	kept := o.keptNames()
	// The names are o's, shared: each edit below copies the path to the
	// name it changes (ptree), never a node of o.
	zd.names, zd.chain = o.names, o.chain
	// The SOA record gets the new serial (setSerial writes into it): a
	// copy, in a copy of the apex node.
	zd.soa = &rrset{RRs: []dns.RR{dns.Copy(o.soa.RRs[0])}}
	apex := &node{sets: o.node(z.Name).sets.clone()}
	apex.sets.put(dns.TypeSOA, zd.soa)
	zd.names = zd.names.Set(z.Name, apex)

	copied := map[string]*node{} // nodes of zd already copied from o
	nodeOf := func(name string) *node {
		if n := copied[name]; n != nil {
			return n
		}
		n := &node{}
		if pn := zd.node(name); pn != nil {
			n.sets = pn.sets.clone()
		}
		zd.names, copied[name] = zd.names.Set(name, n), n
		return n
	}
	names := map[string]bool{} // names that came, went or changed types
	var newSets []*rrset
	for _, k := range slices.SortedFunc(maps.Keys(edits), func(a, b key) int {
		if c := strings.Compare(a.owner, b.owner); c != 0 {
			return c
		}
		return int(a.t) - int(b.t)
	}) {
		e := edits[k]
		n := nodeOf(k.owner)
		var rrs []dns.RR
		ps := n.sets.get(k.t)
		if ps != nil {
			for _, rr := range ps.RRs {
				if !slices.ContainsFunc(e[0], func(x dns.RR) bool { return dns.IsDuplicate(x, rr) }) {
					rrs = append(rrs, rr)
				}
			}
		}
		for _, rr := range e[1] {
			if slices.ContainsFunc(rrs, func(x dns.RR) bool { return dns.IsDuplicate(x, rr) }) {
				continue
			}
			if len(rrs) > 0 {
				rr.Header().Ttl = rrs[0].Header().Ttl // RFC 2181 §5.2; rr is ours
			}
			rrs = append(rrs, rr)
		}
		if ps != nil {
			gone = append(append(gone, ps.RRs...), zd.setSigs(ps)...)
		}
		if (ps == nil) != (len(rrs) == 0) || len(n.sets) == 0 {
			names[k.owner] = true
		}
		if len(rrs) == 0 {
			n.sets.del(k.t)
			if len(n.sets) == 0 {
				names[k.owner] = true
			}
			continue
		}
		s := &rrset{RRs: rrs}
		n.sets.put(k.t, s)
		newSets = append(newSets, s)
	}
	// Names that came need their ancestors; names left empty go, with
	// the empty non-terminals above them that nothing holds any more.
	for _, name := range slices.Collect(maps.Keys(names)) {
		n := copied[name]
		if len(n.sets) > 0 {
			for m := name; m != z.Name; {
				i, end := dns.NextLabel(m, 0)
				if end {
					break
				}
				m = m[i:]
				if zd.names.Has(m) {
					break
				}
				zd.names = zd.names.Set(m, &node{})
				names[m] = true
			}
			continue
		}
		for m := name; m != z.Name; {
			if n := zd.node(m); n == nil || len(n.sets) > 0 || kept[m] || hasBelow(zd.names, m) {
				break
			}
			zd.names = zd.names.Delete(m)
			names[m] = true
			i, end := dns.NextLabel(m, 0)
			if end {
				break
			}
			m = m[i:]
		}
	}
	if zd.signed {
		var w setSigner
		for _, s := range newSets {
			sigs, err := sign(&w, s.RRs, z.Name, zd.zsks, p, nil)
			if err != nil {
				return nil, nil, nil, false, err
			}
			s.Sigs = sigs
			zd.refreshAt = earlierSigs(zd.refreshAt, sigs, p)
		}
		// A kept name is in the chain while something below it holds
		// records (synth.go): a name that came or went below it may
		// move it (and those above it) in or out.
		for k := range kept {
			if _, in := o.chain.Get(nsec3Hash(k)); in != zd.held(k, kept) {
				names[k] = true
			}
		}
		cg, cc, err := zd.editChain(o, names, kept, p)
		if err != nil {
			return nil, nil, nil, false, err
		}
		gone, came = append(gone, cg...), cc
		zd.refreshAt = earlier(zd.refreshAt, cc, p)
		if !p.Now.Before(o.refreshAt) {
			rg, rc, err := zd.renew(copied, p)
			if err != nil {
				return nil, nil, nil, false, err
			}
			gone, came = append(gone, rg...), append(came, rc...)
		}
	}
	for _, s := range newSets {
		came = append(append(came, s.RRs...), zd.setSigs(s)...)
	}
	zd.online = newOnlineSigner(zd, p)
	return zd, gone, came, true, nil
}

// hasBelow says whether some name of names is below name: in canonical
// order, the names below a name follow it, so it is whether the next one
// is.
func hasBelow(names ptree[*node], name string) bool {
	next, _, ok := names.After(name)
	return ok && dns.IsSubDomain(name, next)
}

// editChain makes zd's NSEC3 chain from o's: the links of names that went
// leave, those of names that came or changed types are made again, and
// each link whose next hash moved (the one before each link that came or
// went) is made again; the new links are signed. It returns the records
// and signatures of the links that left and came. The chain and the
// owner-to-hash index are o's with the changed paths copied (ptree).
func (zd *Data) editChain(o *Data, names, kept map[string]bool, p sigPolicy) (gone, came []dns.RR, err error) {
	chain := o.chain
	var w setSigner
	fresh := map[string]bool{} // hashes whose link is new
	moved := []string{}        // hashes that came or went: their predecessor's next changes
	for _, name := range slices.Sorted(maps.Keys(names)) {
		h := nsec3Hash(name)
		ps, had := o.chain.Get(h)
		has := zd.names.Has(name) && (!kept[name] || zd.held(name, kept))
		if had {
			rr := o.nsec3RR(h, ps)
			gone = append(append(gone, rr), o.sigRRs(rr, ps.sigs)...)
		}
		switch {
		case had && !has:
			chain = chain.Delete(h)
			moved = append(moved, h)
		case has:
			if !had {
				moved = append(moved, h)
			}
			// name is neither at nor below a cut (deltaFits), so its
			// link's types are those buildChain gives a name.
			ts, _ := zd.cutLinkTypes(name, zd.node(name))
			chain = chain.Set(h, &chainLink{types: ts}) // made below
			fresh[h] = true
		}
	}
	if chain.Len() == 0 {
		zd.chain = chain
		return gone, came, nil
	}
	// The links to make: the new ones, and the one before each hash that
	// came or went (its next hash may have moved).
	remake := maps.Clone(fresh)
	for _, h := range moved {
		ph, _, ok := chain.Before(h)
		if !ok {
			ph, _, _ = chain.Last()
		}
		remake[ph] = true
	}
	for _, h := range slices.Sorted(maps.Keys(remake)) {
		cur, ok := chain.Get(h)
		if !ok {
			continue
		}
		next, _, ok := chain.After(h)
		if !ok {
			next, _, _ = chain.First()
		}
		if !fresh[h] {
			if cur.next == next {
				continue
			}
			// Its successor changed: the link is made again.
			rr := zd.nsec3RR(h, cur)
			gone = append(append(gone, rr), zd.sigRRs(rr, cur.sigs)...)
		}
		nl := &chainLink{next: next, types: cur.types}
		rr := zd.nsec3RR(h, nl)
		sigs, err := sign(&w, []dns.RR{rr}, zd.zone.Name, zd.zsks, p, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("zone %s: %w", zd.zone.Name, err)
		}
		nl.sigs = sigs
		chain = chain.Set(h, nl)
		came = append(append(came, rr), zd.sigRRs(rr, sigs)...)
	}
	zd.chain = chain
	return gone, came, nil
}

// earlierSigs is at, or the renewal time of a signature of sigs (its
// expiration less the refresh time) when one is earlier.
func earlierSigs(at time.Time, sigs sigList, p sigPolicy) time.Time {
	for _, s := range sigs {
		if r := time.Unix(int64(s.exp), 0).Add(-p.Refresh); r.Before(at) {
			at = r
		}
	}
	return at
}

// earlier is earlierSigs for signatures as records (and other records,
// passed over).
func earlier(at time.Time, sigs []dns.RR, p sigPolicy) time.Time {
	for _, rr := range sigs {
		if s, ok := rr.(*dns.RRSIG); ok {
			if r := time.Unix(int64(s.Expiration), 0).Add(-p.Refresh); r.Before(at) {
				at = r
			}
		}
	}
	return at
}

// renew signs again, in a delta build, the sets of zd whose signatures
// are due (their renewal time, expiration less refresh, has come: the
// set's signing period ended, see sigPolicy), as a full build would, and
// sets zd.refreshAt to the earliest renewal time left. copied are the
// nodes zd has of its own (not o's): written in place; any other node on
// the way is copied with the path to it.
//
// Finding the due sets reads every set's first signature once (a walk of
// the trees, nothing copied, hashed or allocated); what is copied and
// signed is only what is due, about 1/128 of the zone per renewal (the
// renewals are spread, forSet). An index by renewal time would make the
// walk logarithmic too, at the price of a tree node per set held in
// memory: at 10M names more than the walk costs in a renewal that signs
// 1/128 of them.
func (zd *Data) renew(copied map[string]*node, p sigPolicy) (gone, came []dns.RR, err error) {
	due := func(sigs sigList) bool {
		if len(sigs) == 0 {
			return false // not signed: at or below a delegation
		}
		exp := time.Unix(int64(sigs[0].exp), 0)
		return !p.Now.Before(exp.Add(-p.Refresh))
	}
	earliest := p.expiration().Add(-p.Refresh) // as signZone: at most the zone's period
	note := func(sigs sigList) { earliest = earlierSigs(earliest, sigs, p) }
	type setAt struct {
		owner string
		t     uint16
	}
	var sets []setAt
	var w setSigner // one for every signature of the renewal
	for name, n := range zd.names.All() {
		for t, s := range n.sets.all() {
			if t == dns.TypeSOA {
				continue
			}
			if due(s.Sigs) {
				sets = append(sets, setAt{name, t})
			} else {
				note(s.Sigs)
			}
		}
	}
	var links []string
	for h, l := range zd.chain.All() {
		if due(l.sigs) {
			links = append(links, h)
		} else {
			note(l.sigs)
		}
	}
	for _, at := range sets {
		n := copied[at.owner]
		if n == nil {
			n = &node{sets: zd.node(at.owner).sets.clone()}
			copied[at.owner] = n
			zd.names = zd.names.Set(at.owner, n)
		}
		s := n.sets.get(at.t)
		keys := zd.zsks
		if at.t == dns.TypeDNSKEY || at.t == dns.TypeCDS || at.t == dns.TypeCDNSKEY {
			keys = zd.ksks
		}
		sigs, err := sign(&w, s.RRs, zd.zone.Name, keys, p, nil)
		if err != nil {
			return nil, nil, err
		}
		n.sets.put(at.t, &rrset{RRs: s.RRs, Sigs: sigs})
		gone, came = append(gone, zd.setSigs(s)...), append(came, zd.sigRRs(s.RRs[0], sigs)...)
		note(sigs)
	}
	for _, h := range links {
		l, _ := zd.chain.Get(h)
		rr := zd.nsec3RR(h, l)
		sigs, err := sign(&w, []dns.RR{rr}, zd.zone.Name, zd.zsks, p, nil)
		if err != nil {
			return nil, nil, err
		}
		zd.chain = zd.chain.Set(h, &chainLink{next: l.next, types: l.types, sigs: sigs})
		gone, came = append(gone, zd.sigRRs(rr, l.sigs)...), append(came, zd.sigRRs(rr, sigs)...)
		note(sigs)
	}
	zd.refreshAt = earliest
	return gone, came, nil
}
