package zone

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Incremental builds. A build still reads the register and lays out the
// unsigned zone (cheap), but what costs is done only for what changed
// since the version served before (prev): sets whose records are the
// same keep prev's signatures, NSEC3 links whose record is the same keep
// theirs, the journal step is the sets that differ, and the content hash
// is updated by them rather than recomputed.

// sumHash is an order-free digest of a set of records: the sum, modulo
// 2^256, of the SHA-256 of each record's wire form. Adding and removing
// records updates it without looking at the others.
type sumHash [4]uint64

func (h *sumHash) add(w string, sign int) {
	d := sha256.Sum256([]byte(w))
	var carry uint64
	for i := range 4 {
		v := binary.LittleEndian.Uint64(d[8*i:])
		if sign < 0 {
			v = ^v // subtract: add the two's complement below
		}
		s := h[i] + v
		c1 := uint64(0)
		if s < h[i] {
			c1 = 1
		}
		s2 := s + carry
		if s2 < s {
			c1 = 1
		}
		h[i], carry = s2, c1
	}
	if sign < 0 {
		// Two's complement of d: ^d + 1.
		h.addOne()
	}
}

func (h *sumHash) addOne() {
	for i := range 4 {
		h[i]++
		if h[i] != 0 {
			return
		}
	}
}

func (h sumHash) String() string {
	var b [32]byte
	for i := range 4 {
		binary.BigEndian.PutUint64(b[8*(3-i):], h[i])
	}
	return "sum:" + hex.EncodeToString(b[:])
}

// packer packs records into uncompressed wire form with one buffer.
type packer struct{ buf []byte }

func (p *packer) pack(rr dns.RR) (string, error) {
	var w string
	var err error
	w, p.buf, err = packRR(rr, p.buf)
	return w, err
}

// fullHash digests everything the zone serves but its SOA set.
func (zd *Data) fullHash() (sumHash, error) {
	var h sumHash
	var p packer
	each := func(rrs []dns.RR) error {
		for _, rr := range rrs {
			w, err := p.pack(rr)
			if err != nil {
				return err
			}
			h.add(w, 1)
		}
		return nil
	}
	for _, n := range zd.names.All() {
		for t, s := range n.sets.all() {
			if t == dns.TypeSOA {
				continue
			}
			if err := each(s.RRs); err != nil {
				return h, err
			}
			if err := each(zd.setSigs(s)); err != nil {
				return h, err
			}
		}
	}
	for k, l := range zd.chain.All() {
		s := zd.linkSet(k, l)
		if err := each(s.RRs); err != nil {
			return h, err
		}
		if err := each(zd.setSigs(s)); err != nil {
			return h, err
		}
	}
	return h, nil
}

// sameRRs says whether two lists hold the same records in the same order
// (TTLs included), cheaply when they are the same objects.
func sameRRs(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if !dns.IsDuplicate(a[i], b[i]) || a[i].Header().Ttl != b[i].Header().Ttl {
			return false
		}
	}
	return true
}

func sameSet(a, b *rrset) bool { return sameRRs(a.RRs, b.RRs) && slices.Equal(a.Sigs, b.Sigs) }

// bodyDiff is what changed from prev to zd but the SOA set: records of
// prev not in zd and of zd not in prev, in wire form, with the update of
// the content hash.
func bodyDiff(prev, zd *Data) (removed, added []string, h sumHash, err error) {
	var rem, add []dns.RR
	take := func(to *[]dns.RR, s *rrset) {
		*to = append(*to, s.RRs...)
		*to = append(*to, zd.setSigs(s)...)
	}
	for name, n := range zd.names.All() {
		pn := prev.node(name)
		for t, s := range n.sets.all() {
			if t == dns.TypeSOA {
				continue
			}
			var ps *rrset
			if pn != nil {
				ps = pn.sets.get(t)
			}
			if ps != nil && sameSet(ps, s) {
				continue
			}
			if ps != nil {
				take(&rem, ps)
			}
			take(&add, s)
		}
		if pn == nil {
			continue
		}
		for t, ps := range pn.sets.all() {
			if n.sets.get(t) == nil && t != dns.TypeSOA {
				take(&rem, ps)
			}
		}
	}
	for name, pn := range prev.names.All() {
		if zd.names.Has(name) {
			continue
		}
		for t, ps := range pn.sets.all() {
			if t != dns.TypeSOA {
				take(&rem, ps)
			}
		}
	}
	for h, l := range zd.chain.All() {
		s := zd.linkSet(h, l)
		pl, ok := prev.chain.Get(h)
		if ok {
			ps := prev.linkSet(h, pl)
			if sameSet(ps, s) {
				continue
			}
			take(&rem, ps)
		}
		take(&add, s)
	}
	for h, pl := range prev.chain.All() {
		if !zd.chain.Has(h) {
			take(&rem, prev.linkSet(h, pl))
		}
	}
	return wireDiff(prev.sum, rem, add)
}

// wireDiff is the difference between the records rem that left and add
// that came, in wire form, with the content hash from prev updated by it.
func wireDiff(prev sumHash, rem, add []dns.RR) (removed, added []string, h sumHash, err error) {
	// A set rebuilt with a record it had before shows that record on
	// both sides: it did not change.
	var p packer
	left := map[string]int{}
	for _, rr := range rem {
		w, err := p.pack(rr)
		if err != nil {
			return nil, nil, h, err
		}
		if left[w] == 0 {
			removed = append(removed, w)
		}
		left[w]++
	}
	for _, rr := range add {
		w, err := p.pack(rr)
		if err != nil {
			return nil, nil, h, err
		}
		if left[w] > 0 {
			left[w] = -1 // in both: drop from removed, skip here
			continue
		}
		if left[w] == 0 {
			added = append(added, w)
			left[w] = -2
		}
	}
	kept := removed[:0]
	for _, w := range removed {
		if left[w] > 0 {
			kept = append(kept, w)
		}
	}
	removed = kept
	h = prev
	for _, w := range removed {
		h.add(w, -1)
	}
	for _, w := range added {
		h.add(w, 1)
	}
	return removed, added, h, nil
}

// soaWires is the SOA and its signatures in wire form.
func (zd *Data) soaWires(p *packer) (string, []string, error) {
	soa, err := p.pack(zd.soa.RRs[0])
	if err != nil {
		return "", nil, err
	}
	var sigs []string
	for _, rr := range zd.setSigs(zd.soa) {
		w, err := p.pack(rr)
		if err != nil {
			return "", nil, err
		}
		sigs = append(sigs, w)
	}
	return soa, sigs, nil
}

// journalStep is the journal step from prev to zd, whose serial is set:
// each side's SOA first, then its SOA signatures, then the body.
func journalStep(prev, zd *Data, removed, added []string) (*Diff, error) {
	var p packer
	soa, sigs, err := prev.soaWires(&p)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return stepFrom(prev.serial, append([]string{soa}, sigs...), zd, removed, added)
}

// stepFrom is the journal step from serial from, whose SOA and SOA
// signatures are head, to zd.
func stepFrom(from uint32, head []string, zd *Data, removed, added []string) (*Diff, error) {
	var p packer
	soa, sigs, err := zd.soaWires(&p)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	d := &Diff{ZoneID: zd.zone.ID, From: from, To: zd.serial}
	for _, w := range head {
		d.Removed = append(d.Removed, w...)
	}
	for _, w := range removed {
		d.Removed = append(d.Removed, w...)
	}
	d.Added = append(d.Added, soa...)
	for _, w := range sigs {
		d.Added = append(d.Added, w...)
	}
	for _, w := range added {
		d.Added = append(d.Added, w...)
	}
	return d, nil
}

// composeStep is the journal step from the stored version (serial to of
// c) to zd when this replica's previous version prev is older: c holds
// the journal's steps from prev to the stored version, removed and added
// this build's difference from prev. A record is removed if the stored
// version has it and zd does not, added if the other way round.
func composeStep(c *condensed, to uint32, zd *Data, removed, added []string) (*Diff, error) {
	soaSig := func(w string) bool {
		t, covered := wireTypes(w)
		return t == dns.TypeRRSIG && covered == dns.TypeSOA
	}
	set := func(ws []string) map[string]bool {
		m := make(map[string]bool, len(ws))
		for _, w := range ws {
			m[w] = true
		}
		return m
	}
	rem1, add1 := set(removed), set(added)
	head := []string{c.ToSOA}
	var rem2, add2 []string
	for _, w := range c.Removed.list() {
		if !soaSig(w) { // prev's SOA signatures: not in the stored version
			rem2 = append(rem2, w)
		}
	}
	for _, w := range c.Added.list() {
		if soaSig(w) {
			head = append(head, w) // the stored version's SOA signatures
		} else {
			add2 = append(add2, w)
		}
	}
	r2, a2 := set(rem2), set(add2)
	var rem, add []string
	for _, w := range removed {
		if !r2[w] {
			rem = append(rem, w) // in prev and the stored version, not in zd
		}
	}
	for _, w := range add2 {
		if !add1[w] {
			rem = append(rem, w) // came in the stored version, not in zd
		}
	}
	for _, w := range rem2 {
		if !rem1[w] {
			add = append(add, w) // left in the stored version, back in zd
		}
	}
	for _, w := range added {
		if !a2[w] {
			add = append(add, w) // new in zd, not in the stored version
		}
	}
	return stepFrom(to, head, zd, rem, add)
}

// fingerprint digests what a build of zone z reads: the zone's settings,
// its static records and keys, the named assignments it would hold, the
// pools it synthesises names in, the signing period and the test hook
// that breaks signatures. A zone whose fingerprint (and stored serial)
// did not change since the version served is not built again. With canon
// nil the assignments are left out: the static part, which a delta build
// requires unchanged (delta.go).
func fingerprint(z Zone, in *BuildInput, canon []string, period time.Time, corrupt string) [32]byte {
	h := sha256.New()
	cfg, _ := json.Marshal(z.Config)
	fmt.Fprintf(h, "zone %d %s %s %v %s %s\n", z.ID, z.Name, z.Kind, z.Prefix, z.Synthesize, cfg)
	fmt.Fprintf(h, "period %d corrupt %q\n", period.Unix(), corrupt)
	if z.Config.Catalog {
		catalogFingerprint(h, in.Zones)
	}
	for _, r := range in.Records {
		if r.ZoneID == z.ID {
			fmt.Fprintf(h, "record %d %s %s %d %q\n", r.ID, r.Name, r.Type, r.TTL, r.Data)
		}
	}
	for _, k := range in.Keys {
		if k.ZoneID == z.ID {
			fmt.Fprintf(h, "key %d %s %d %d %s %s %d %d %d %d %d\n", k.ID, k.Role, k.Algorithm, k.Tag, k.Public, k.State,
				k.PublishedAt.UnixMicro(), k.ActiveAt.UnixMicro(), k.InactiveAt.UnixMicro(), k.RemovedAt.UnixMicro(), k.DSAt.UnixMicro())
		}
	}
	var b []byte
	// The tenants' assignments at the addresses of static PTRs decide
	// which of those are served (heldptr.go), named or not.
	var ptrAddrs []netip.Addr
	if canon != nil {
		ptrAddrs = StaticPTRAddrs(&z, in.Records)
	}
	for i, a := range in.Assigns {
		if canon == nil {
			break // the static part only (delta.go)
		}
		if len(ptrAddrs) > 0 && a.Tenant != "" && (a.State == registry.StateAssigned || a.State == registry.StateQuarantined) &&
			z.Config.Serves(a.Space) && len(covered(ptrAddrs, a.Prefix)) > 0 {
			b = fmt.Appendf(b[:0], "held %d %s %s %s %d\n", a.ID, a.Prefix, a.Space, a.State, a.CreatedAt.UnixMicro())
			h.Write(b)
		}
		if canon[i] == "" || !z.Config.Serves(a.Space) {
			continue
		}
		addr := a.Prefix.Addr()
		if z.Kind == Forward && dns.IsSubDomain(z.Name, canon[i]) || z.Kind == Reverse && z.Prefix.Contains(addr) {
			b = append(b[:0], canon[i]...)
			b = append(b, ' ')
			b = addr.AppendTo(b)
			if z.Kind == Reverse && a.Tenant != "" {
				// A tenant's named address takes the PTR set over from
				// static records (shadowPTRs).
				b = append(b, " tenant"...)
			}
			b = append(b, '\n')
			h.Write(b)
		}
	}
	if z.Synthesize != "" {
		for _, p := range in.Pools {
			if p.Prefix.Overlaps(z.Prefix) && z.Config.Serves(p.Space) {
				fmt.Fprintf(h, "pool %v\n", p.Prefix)
			}
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// canonicalNames is the owner name of each assignment that can have one
// (assigned, named, one address), "" for the others.
func canonicalNames(as []registry.Assignment) []string {
	out := make([]string, len(as))
	for i, a := range as {
		if a.State == registry.StateAssigned && a.Name != "" && a.Prefix.IsSingleIP() {
			out[i] = dns.CanonicalName(a.Name)
		}
	}
	return out
}

// rebuildSet says which zones to build: those new or changed, with the
// zones linked to them by synthesis (a reverse zone with a template and
// the forward zone that holds its names) when one of them is built in
// full: link lays out the links of full builds. A zone of such a group
// that was to be made by a delta build (deltas) is then built in full:
// it is listed in forced. Linked zones made by delta builds, or left as
// they were, are linked to each other's new versions by relink.
//
// A signed zone some of whose signatures are due for renewal at now is
// built too: renewals are spread over the signing period (forSet).
func rebuildSet(zones []Zone, fps map[string][32]byte, old map[string]*Data, now time.Time, deltas map[string][2][]dns.RR) (out map[string]bool, forced []string) {
	out = map[string]bool{}
	names := map[string]*Data{}
	for _, z := range zones {
		o := old[z.Name]
		out[z.Name] = o == nil || o.fp != fps[z.Name] || o.zone.ID != z.ID || o.serial != z.Serial || o.hash != z.SerialHash ||
			o.signed && !now.Before(o.refreshAt)
		names[z.Name] = nil
	}
	delta := map[string]bool{}
	for name := range deltas {
		delta[name] = true
	}
	isFull := func(name string) bool { return out[name] && !delta[name] }
	for again := true; again; {
		again = false
		for _, z := range zones {
			if z.Synthesize == "" {
				continue
			}
			t, err := ParseTemplate(z.Synthesize)
			if err != nil {
				continue
			}
			fz := findZoneName(names, t.Suffix)
			if fz == "" || isFull(z.Name) == isFull(fz) {
				continue
			}
			for _, name := range []string{z.Name, fz} {
				if delta[name] {
					delete(delta, name)
					forced = append(forced, name)
				}
				out[name] = true
			}
			again = true
		}
	}
	return out, forced
}

// findZoneName is the name of the zone holding name, or "".
func findZoneName(zs map[string]*Data, name string) string {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if _, ok := zs[name[off:]]; ok {
			return name[off:]
		}
	}
	return ""
}
