package zone

import (
	"bytes"
	"crypto"
	"fmt"
	"hash/maphash"
	"iter"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// rrset is one owner name's records of one type, with their signatures.
type rrset struct {
	RRs  []dns.RR
	Sigs sigList // as records: Data.setSigs
}

// node is one name of a zone. A node with no sets is an empty
// non-terminal: it exists because names below it do (RFC 8020).
type node struct {
	sets typeSets
}

func (n *node) types() []uint16 {
	ts := make([]uint16, len(n.sets))
	for i, e := range n.sets {
		ts[i] = e.t
	}
	return ts
}

// typeSets is a name's sets by type, in type order. A name holds one or
// two types (a signed name's NSEC3 is not among them): a slice of a few
// entries is a tenth of the memory of a map (about 200 bytes for the
// smallest), and as quick to search at that size. Like the map it
// replaces it is shared between versions: clone before writing.
type typeSets []typedSet

type typedSet struct {
	t uint16
	s *rrset
}

// get is the set of type t, or nil.
func (ts typeSets) get(t uint16) *rrset {
	for _, e := range ts {
		if e.t == t {
			return e.s
		}
	}
	return nil
}

// put makes s the set of type t.
func (ts *typeSets) put(t uint16, s *rrset) {
	i, ok := slices.BinarySearchFunc(*ts, t, func(e typedSet, t uint16) int { return int(e.t) - int(t) })
	if ok {
		(*ts)[i].s = s
		return
	}
	*ts = slices.Insert(*ts, i, typedSet{t, s})
}

// del drops the set of type t.
func (ts *typeSets) del(t uint16) {
	*ts = slices.DeleteFunc(*ts, func(e typedSet) bool { return e.t == t })
}

// clone is a copy to write into.
func (ts typeSets) clone() typeSets { return slices.Clip(slices.Clone(ts)) }

// all yields each type and its set, in type order.
func (ts typeSets) all() iter.Seq2[uint16, *rrset] {
	return func(yield func(uint16, *rrset) bool) {
		for _, e := range ts {
			if !yield(e.t, e.s) {
				return
			}
		}
	}
}

// activeKey is a key ready to sign.
type activeKey struct {
	Key
	dnskey *dns.DNSKEY
	signer crypto.Signer
	// cache, when not nil, keeps the key's precomputed signatures
	// between starts (SigCache), under cacheID (sigKeyID).
	cache   *SigCache
	cacheID [32]byte
}

// nsec3Entry is one link of a precomputed NSEC3 chain, as a full build
// makes it.
type nsec3Entry struct {
	hash string // base32hex, upper case, as dns.HashName gives it
	l    *chainLink
}

// chainLink is one link of the NSEC3 chain as a version keeps it: the hash is
// its key in the chain, and its record is made from the hash, next and
// types when asked for (nsec3RR): an NSEC3 record with its owner name kept
// for each name of the zone was about 220 bytes a name, this is 64 (next
// is the next link's key, and bitmaps are shared: neither is a copy).
// Immutable once in a published chain.
type chainLink struct {
	next  string   // the next link's hash
	types []uint16 // the type bitmap (shared: never written)
	sigs  sigList  // the record's signatures
}

// nsec3RR is the NSEC3 record of link l at hash h (RFC 5155: SHA-1, no
// salt, no extra iterations, no opt-out; the negative TTL, RFC 9077).
func (zd *Data) nsec3RR(h string, l *chainLink) *dns.NSEC3 {
	// The owner, strings.ToLower(h) + "." + zone, in one allocation
	// (this runs for each link of a negative answer).
	var b strings.Builder
	b.Grow(len(h) + 1 + len(zd.zone.Name))
	for i := 0; i < len(h); i++ {
		c := h[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteByte('.')
	b.WriteString(zd.zone.Name)
	return &dns.NSEC3{Hdr: dns.RR_Header{Name: b.String(), Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: zd.negTTL},
		Hash: dns.SHA1, HashLength: 20, NextDomain: l.next, TypeBitMap: l.types}
}

// appendLink appends to out the NSEC3 record of link l at hash h and its
// signatures, for an answer. The records are made from the link (a
// version keeps links, not records: nsec3RR, rawSig.rrsig), and the last
// ones made are kept in the version's memo: most denials of a zone carry
// the same few links (its apex's, the one covering its wildcard), which
// are then made once, not at each answer.
func (zd *Data) appendLink(out []dns.RR, h string, l *chainLink) []dns.RR {
	if zd.made == nil {
		return zd.makeLink(out, h, l)
	}
	slot := &zd.made[memoSlot(h)]
	if m := slot.Load(); m != nil && m.l == l {
		return append(out, m.rrs...)
	}
	rrs := zd.makeLink(nil, h, l)
	slot.Store(&madeLink{l: l, rrs: rrs})
	return append(out, rrs...)
}

// linkMemo is a version's memo of links made as records for answers
// (appendLink): direct-mapped by hash, so a flood of random names (each
// covered by another link) costs one store per answer and keeps it at
// 256 entries, and the links asked again and again stay in it. Entries
// are replaced, never written, so answers share their records: like the
// version's, they are never written (Snapshot).
type linkMemo [256]atomic.Pointer[madeLink]

// madeLink is link l made as records: its NSEC3 record and signatures.
type madeLink struct {
	l   *chainLink
	rrs []dns.RR
}

// memoSlot is the slot of hash h (base32hex, upper case) in a linkMemo:
// the first 8 of its bits (SHA-1 output, so evenly spread).
func memoSlot(h string) int {
	if len(h) < 2 {
		return 0
	}
	v := func(c byte) int {
		if c <= '9' {
			return int(c - '0')
		}
		return int(c-'A') + 10
	}
	return (v(h[0])<<3 | v(h[1])>>2) & 255
}

// makeLink appends to out the NSEC3 record of link l at hash h and its
// signatures, made now.
func (zd *Data) makeLink(out []dns.RR, h string, l *chainLink) []dns.RR {
	rr := zd.nsec3RR(h, l)
	out = append(out, rr)
	for i := range l.sigs {
		out = append(out, l.sigs[i].rrsig(&rr.Hdr, zd.zone.Name))
	}
	return out
}

// appendSigs appends to out the signatures of s as records.
func (zd *Data) appendSigs(out []dns.RR, s *rrset) []dns.RR {
	if len(s.Sigs) == 0 {
		return out
	}
	h := s.RRs[0].Header()
	for i := range s.Sigs {
		out = append(out, s.Sigs[i].rrsig(h, zd.zone.Name))
	}
	return out
}

// linkSet is link l at hash h as a set: its record and signatures.
func (zd *Data) linkSet(h string, l *chainLink) *rrset {
	return &rrset{RRs: []dns.RR{zd.nsec3RR(h, l)}, Sigs: l.sigs}
}

// sameLink says whether two links make the same record (in zones of the
// same negative TTL).
func sameLink(a, b *chainLink) bool { return a.next == b.next && slices.Equal(a.types, b.types) }

// Data is one version of a zone as served: immutable once built,
// its records as well (they are shared by every goroutine answering from
// the snapshot, and by the next build): copy a record before writing
// into it, or before handing it to anything that does (dns.PackRR).
type Data struct {
	zone   Zone
	serial uint32
	hash   string   // sum.String(): names the content in the store
	sum    sumHash  // digest of everything served but the SOA set
	fp     [32]byte // fingerprint of what the build read; zero after a delta build
	sfp    [32]byte // its static part: all but the assignments
	seq    int64    // the event-log position it reflects
	// names is every name of the version, in canonical order (RFC 4034
	// §6.1), persistent: a delta build copies only the changed paths
	// (ptree). building holds them while a full build lays them out
	// (Build, link, signZone), until freeze makes names of it.
	names    ptree[*node]
	building map[string]*node
	soa      *rrset
	soaNeg   []dns.RR // SOA and its signatures with the negative TTL
	negTTL   uint32

	signed bool
	ksks   []activeKey // sign DNSKEY, CDS, CDNSKEY
	zsks   []activeKey // sign the rest
	// chain is the NSEC3 chain by hash (base32hex, upper case),
	// persistent. An owner name's hash is computed when needed (a delta
	// build hashes the names it changes): an index of every name's hash
	// kept for that cost a tree node per name.
	chain ptree[*chainLink]
	// denial is the method used in answers, the zone's configured one.
	denial Denial
	// whiteLies is set for NSEC3 zones whose names are synthesised (a
	// reverse zone with a template, the forward zone of its names): a
	// precomputed chain cannot know of synthesised names, and its spans
	// would deny names that exist (to a resolver that caches them, RFC
	// 8198), so their negative answers carry minimally covering NSEC3
	// records signed per query instead (RFC 7129 appendix B). Transfers
	// still carry the chain of the stored names, which is right for a
	// secondary that serves no synthesised name.
	whiteLies bool

	// Synthesis. A reverse zone with a template answers PTR for unnamed
	// addresses in pools; the forward zone that holds the template's
	// names answers A/AAAA for them (synthFor).
	tmpl     *Template
	pools    []netip.Prefix
	synthFor []*Data
	forward  *Data // for a synthesising reverse zone: where its names live

	// cuts are the delegation points: names below the apex with NS
	// records. What is at a cut but its DS, and all below it (glue), is
	// not authoritative: not signed, not in the NSEC3 chain, answered by
	// a referral.
	cuts map[string]bool
	// dnames are the names with a DNAME record (RFC 6672), whose
	// subtrees answer with a synthesised CNAME.
	dnames map[string]bool

	keys   []Key  // the zone's keys, retired ones included, for rollovers
	maxTTL uint32 // the largest TTL served, for RFC 7583 Iret

	sigFrom, sigUntil time.Time
	refreshAt         time.Time // when precomputed signatures need renewing
	online            *onlineSigner
	made              *linkMemo // links made as records for answers; nil: none kept
}

// BuildInput is what one build reads from the register and the store.
type BuildInput struct {
	Zones   []Zone
	Records []Record
	Keys    []Key
	Assigns []registry.Assignment
	Pools   []registry.Pool
	Seq     int64
	// Delta, when not nil, says which assignments changed since the
	// position Delta.Since: a builder whose last snapshot is at that
	// position makes the zones they touch from it (delta.go).
	Delta *Delta
	// LoadAssigns, when Assigns is nil, reads them: called only if some
	// zone needs a full build (with Delta, most builds need none). What
	// it read is dropped from the input (Assigns nil again) once the
	// build has laid out its zones, before signing them.
	LoadAssigns func() ([]registry.Assignment, error)
}

// assigns reads in.Assigns if they are still to be read.
func (in *BuildInput) assigns() error {
	if in.Assigns != nil || in.LoadAssigns == nil {
		return nil
	}
	as, err := in.LoadAssigns()
	if err != nil {
		return err
	}
	in.Assigns, in.LoadAssigns = as, nil
	if in.Assigns == nil {
		in.Assigns = []registry.Assignment{}
	}
	return nil
}

// sigPolicy says how long signatures live.
//
// Signatures are a function of the data, the key and the time: their
// inception and expiration come from a fixed grid of periods (validity
// minus refresh long, counted from the Unix epoch, each set's shifted by
// a part of a period that depends on the set's owner and type alone:
// forSet) and ECDSA signs deterministically (RFC 6979; Ed25519 always
// does). So a restarted server, or another replica on the same database,
// signs the same set with the same RRSIG within one period: the content
// hash, and with it the serial, stays put, and a journal written by one
// replica describes what every replica serves. Every precomputed
// signature is renewed at its period's end, with refresh still left
// before it expires; the shifts spread those renewals over the period, a
// 128th of the zone at a time, instead of re-signing (and transferring)
// the whole zone at one boundary.
type sigPolicy struct {
	Now      time.Time
	Validity time.Duration // expiration - start of the period
	Refresh  time.Duration // what is left when a signature is renewed
	shift    time.Duration // of one set's periods from the zone's (forSet)
}

// period is the length of a signing period: at least a second.
func (p sigPolicy) period() time.Duration {
	return max(p.Validity-p.Refresh, time.Second)
}

// Start is the beginning of the signing period holding now (of the set's
// periods, shifted, for a policy of forSet).
func (p sigPolicy) Start() time.Time {
	g := int64(p.period() / time.Second)
	u := p.Now.Unix() - int64(p.shift/time.Second)
	return time.Unix(u-((u%g)+g)%g+int64(p.shift/time.Second), 0)
}

// inception is an hour before the period starts, for clocks that lag.
func (p sigPolicy) inception() time.Time { return p.Start().Add(-time.Hour) }

// expiration is validity after the period starts.
func (p sigPolicy) expiration() time.Time { return p.Start().Add(p.Validity) }

// spreadSlots is how many parts of the signing period the renewals of
// precomputed signatures are spread over.
const spreadSlots = 128

// forSet is the policy of the set of type t at owner: its periods are the
// zone's shifted by a part of a period that depends on the owner and the
// type alone (FNV-1a), so that the sets of a zone are renewed a few at a
// time over the period, each still with Refresh left, rather than all at
// once at its end; and every replica still signs a set with the same
// inception and expiration (see sigPolicy).
func (p sigPolicy) forSet(owner string, t uint16) sigPolicy {
	g := p.period() / time.Second
	shift := time.Duration(int64(setHash(owner, t)%spreadSlots)*int64(g)/spreadSlots) * time.Second
	q := p
	q.shift = shift
	return q
}

// setHash is FNV-1a of the owner in lower case and the type (two bytes,
// big-endian), as hash/fnv computes it, without its three allocations
// (the hash, the lower-case copy as bytes, the type's bytes): it runs for
// every set a start-up signs.
func setHash(owner string, t uint16) uint32 {
	const offset, prime = 2166136261, 16777619
	for i := 0; i < len(owner); i++ {
		if owner[i] >= utf8.RuneSelf {
			owner = strings.ToLower(owner) // as the hash was: Unicode's lower case
			break
		}
	}
	h := uint32(offset)
	for i := 0; i < len(owner); i++ {
		c := owner[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * prime
	}
	h = (h ^ uint32(t>>8)) * prime
	return (h ^ uint32(t&0xFF)) * prime
}

// sign returns the signatures of set by keys: for each key, the one of
// prev (the signatures the version before had for the same records) made
// by that key in the set's current signing period, or a new one. Nothing
// else is kept between builds: a set keeps its own signatures, and a
// version's sets are compared with the one before's (signZone) or edited
// from them (delta.go), so a set is signed only when its records or its
// period changed, or a key came. (A cache keyed by the text of every set,
// kept until the next build, cost more memory per name than the name.)
func sign(w *setSigner, set []dns.RR, zone string, keys []activeKey, p sigPolicy, prev sigList) (sigList, error) {
	if len(set) == 0 {
		return nil, nil
	}
	out := make(sigList, 0, len(keys))
	p = p.forSet(set[0].Header().Name, set[0].Header().Rrtype)
	inc, exp := uint32(p.inception().Unix()), uint32(p.expiration().Unix())
	for _, k := range keys {
		if s, ok := sigBy(prev, k, inc, exp); ok {
			out = append(out, s)
			continue
		}
		if w == nil {
			w = new(setSigner)
		}
		r, err := w.sign(set, zone, k, inc, exp)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// sigBy is the signature of sigs made by k with inception inc and
// expiration exp, if there is one.
func sigBy(sigs sigList, k activeKey, inc, exp uint32) (rawSig, bool) {
	for _, s := range sigs {
		if s.tag == k.Tag && s.alg == uint8(k.Algorithm) && s.inc == inc && s.exp == exp {
			return s, true
		}
	}
	return rawSig{}, false
}

func (zd *Data) add(rr dns.RR) {
	h := rr.Header()
	h.Name = strings.ToLower(h.Name)
	n := zd.building[h.Name]
	if n == nil {
		n = &node{}
		zd.building[h.Name] = n
	}
	s := n.sets.get(h.Rrtype)
	if s == nil {
		s = &rrset{}
		n.sets.put(h.Rrtype, s)
	}
	for _, o := range s.RRs {
		if dns.IsDuplicate(o, rr) {
			return
		}
	}
	// RFC 2181 §5.2: all records of a set share one TTL.
	if len(s.RRs) > 0 {
		h.Ttl = s.RRs[0].Header().Ttl
	}
	s.RRs = append(s.RRs, rr)
}

// addENTs makes every name between each owner and the apex exist.
func (zd *Data) addENTs() {
	for name := range zd.building {
		for n := name; n != zd.zone.Name; {
			i, end := dns.NextLabel(n, 0)
			if end {
				break
			}
			n = n[i:]
			if _, ok := zd.building[n]; ok {
				break
			}
			zd.building[n] = &node{}
		}
	}
}

// Build makes the unsigned data of z: SOA, NS, static records, and
// names from assignments.
func Build(z Zone, in *BuildInput) (*Data, error) {
	zd, err := build(z, in)
	if err != nil {
		return nil, err
	}
	zd.freeze()
	return zd, nil
}

// build is Build with the names still in zd.building, for the builder
// to link and sign before it freezes them.
func build(z Zone, in *BuildInput) (*Data, error) {
	zd := &Data{zone: z, building: map[string]*node{z.Name: {}}, seq: in.Seq, made: new(linkMemo)}
	zd.names = newPtree[*node](canonicalCompare, maphash.MakeSeed())
	zd.chain = newPtree[*chainLink](strings.Compare, maphash.MakeSeed())
	c := z.Config
	zd.negTTL = min(c.TTL, c.Minimum) // RFC 2308 §5, RFC 9077 §3
	for _, ns := range c.NS {
		zd.add(&dns.NS{Hdr: dns.RR_Header{Name: z.Name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: c.TTL}, Ns: ns})
	}
	// staticPTR: the owners of the zone's static PTR records, where a
	// tenant's named assignment takes the PTR set over (shadowPTRs).
	var staticPTR map[string]bool
	rrs := make([]dns.RR, 0, 8)
	var recs []Record // the zone's, as rrs
	for _, r := range in.Records {
		if r.ZoneID != z.ID {
			continue
		}
		rr, err := r.RR()
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.Name, err)
		}
		rrs, recs = append(rrs, rr), append(recs, r)
		if z.Kind == Reverse && rr.Header().Rrtype == dns.TypePTR {
			if staticPTR == nil {
				staticPTR = map[string]bool{}
			}
			staticPTR[strings.ToLower(rr.Header().Name)] = true
		}
	}
	// A static PTR older than a tenant's assignment covering its address
	// is not served (heldptr.go); the rest are added in their order, as
	// they always were (the first record of a set gives its TTL).
	hidden := zd.olderThanHolders(in.Assigns, recs)
	for i, rr := range rrs {
		if !hidden[i] {
			zd.add(rr)
		}
	}
	// taken: the PTR records of assignments at those owners, by owner;
	// tenanted: the owners where one of them is a tenant's.
	var taken map[string][]dns.RR
	var tenanted map[string]bool
	if c.Catalog {
		zd.addCatalog(in.Zones)
	}
	for _, a := range in.Assigns {
		if c.Catalog {
			break // a catalog lists zones, never a host
		}
		if a.State != registry.StateAssigned || a.Name == "" || !a.Prefix.IsSingleIP() || !c.Serves(a.Space) {
			continue
		}
		name := dns.CanonicalName(a.Name)
		addr := a.Prefix.Addr()
		switch z.Kind {
		case Forward:
			if !dns.IsSubDomain(z.Name, name) || inChild(in.Zones, z.Name, name) {
				continue
			}
			hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: c.TTL}
			if addr.Is4() {
				hdr.Rrtype = dns.TypeA
				zd.add(&dns.A{Hdr: hdr, A: addr.AsSlice()})
			} else {
				hdr.Rrtype = dns.TypeAAAA
				zd.add(&dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()})
			}
		case Reverse:
			if !z.Prefix.Contains(addr) {
				continue
			}
			owner := ptrName(&z, addr)
			rr := &dns.PTR{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: c.TTL}, Ptr: name}
			zd.add(rr)
			if staticPTR[owner] {
				if taken == nil {
					taken, tenanted = map[string][]dns.RR{}, map[string]bool{}
				}
				taken[owner] = append(taken[owner], &dns.PTR{Hdr: rr.Hdr, Ptr: name})
				tenanted[owner] = tenanted[owner] || a.Tenant != ""
			}
		}
	}
	zd.shadowPTRs(taken, tenanted, c.TTL)
	if z.Synthesize != "" {
		t, err := ParseTemplate(z.Synthesize)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.Name, err)
		}
		zd.tmpl = &t
		for _, p := range in.Pools {
			if p.Prefix.Overlaps(z.Prefix) && c.Serves(p.Space) {
				zd.pools = append(zd.pools, p.Prefix)
			}
		}
	}
	zd.soa = &rrset{RRs: []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: z.Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: c.TTL},
		Ns: c.NS[0], Mbox: c.Mbox, Refresh: c.Refresh, Retry: c.Retry, Expire: c.Expire, Minttl: c.Minimum}}}
	// The apex node holds the SOA too, for answers and the NSEC3 bitmap;
	// hashing, signing and transfers treat it apart, as the serial is
	// chosen last.
	zd.building[z.Name].sets.put(dns.TypeSOA, zd.soa)
	zd.denial = c.Denial
	for name, n := range zd.building {
		if name != z.Name && n.sets.get(dns.TypeNS) != nil {
			if zd.cuts == nil {
				zd.cuts = map[string]bool{}
			}
			zd.cuts[name] = true
		}
		if n.sets.get(dns.TypeDNAME) != nil {
			if zd.dnames == nil {
				zd.dnames = map[string]bool{}
			}
			zd.dnames[name] = true
		}
	}
	return zd, nil
}

// olderThanHolders says which of recs, the static records of reverse
// zone zd.zone, are PTRs at an address a tenant's live assignment of as
// covers and that were written before it (PTRShadowedBy: PTRBeforeHolder),
// by index. A named live address's own rule is shadowPTRs'. Nil when no
// record is hidden; as is read once, and only by a reverse zone with
// static PTRs.
func (zd *Data) olderThanHolders(as []registry.Assignment, recs []Record) map[int]bool {
	z := &zd.zone
	addrs := StaticPTRAddrs(z, recs)
	if len(addrs) == 0 {
		return nil
	}
	at := make(map[netip.Addr][]int, len(addrs))
	for i, r := range recs {
		if r.Type != "PTR" {
			continue
		}
		if p, ok := reversePrefix(z, r.Name); ok && p.IsSingleIP() {
			at[p.Addr()] = append(at[p.Addr()], i)
		}
	}
	var hidden map[int]bool
	for _, a := range as {
		if a.Tenant == "" || !z.Prefix.Overlaps(a.Prefix) {
			continue
		}
		for _, addr := range covered(addrs, a.Prefix) {
			for _, i := range at[addr] {
				if PTRShadowedBy(z, recs[i], addr, a) == PTRBeforeHolder {
					if hidden == nil {
						hidden = map[int]bool{}
					}
					hidden[i] = true
				}
			}
		}
	}
	return hidden
}

// shadowPTRs makes the PTR set at each owner in tenanted the records of
// the assignments there (taken) alone, without the zone's static PTR
// records at that owner: the live address of a tenant answers with its
// assignment's name, never also (or, with equal data, instead) with a
// static PTR written while the address was free or by someone else
// (issue 10). Static records at the operator's own addresses (no tenant)
// stay beside the assignment's. The set's TTL is the zone's, as an
// assignment's record has.
//
// The delta build needs no rule of its own: a change at an owner with
// static records is built in full (deltaFits). Static PTRs at a tenant's
// unnamed or quarantined address: olderThanHolders (heldptr.go).
func (zd *Data) shadowPTRs(taken map[string][]dns.RR, tenanted map[string]bool, ttl uint32) {
	for owner, yes := range tenanted {
		if !yes {
			continue
		}
		set := &rrset{}
		for _, rr := range taken[owner] {
			if slices.ContainsFunc(set.RRs, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
				continue
			}
			rr.Header().Ttl = ttl
			set.RRs = append(set.RRs, rr)
		}
		zd.building[owner].sets.put(dns.TypePTR, set)
	}
}

// freeze makes the persistent index of names from the names a full
// build laid out, and drops the map it laid them out in: from here on
// the version is read, or edited by delta builds into the next one.
func (zd *Data) freeze() {
	if zd.building == nil {
		return
	}
	names := make([]string, 0, len(zd.building))
	for name := range zd.building {
		names = append(names, name)
	}
	sortCanonical(names)
	nodes := make([]*node, len(names))
	for i, name := range names {
		nodes[i] = zd.building[name]
	}
	zd.names = zd.names.fromSorted(names, nodes)
	zd.building = nil
}

// node is the node of name, or nil.
func (zd *Data) node(name string) *node {
	n, _ := zd.names.Get(name)
	return n
}

// hashes and rrsets are the hashes and sets of a chain, in its order.
func hashes(chain []nsec3Entry) []string {
	out := make([]string, len(chain))
	for i, e := range chain {
		out[i] = e.hash
	}
	return out
}

func links(chain []nsec3Entry) []*chainLink {
	out := make([]*chainLink, len(chain))
	for i, e := range chain {
		out[i] = e.l
	}
	return out
}

// inChild says whether name belongs to a zone below zone: the child
// serves it, and the parent has at most a delegation above it. A staged
// child (Config.Staged) takes no name from its parent yet: both hold it.
func inChild(zones []Zone, zone, name string) bool {
	for _, o := range zones {
		if !o.Config.Staged && len(o.Name) > len(zone) && dns.IsSubDomain(zone, o.Name) && dns.IsSubDomain(o.Name, name) {
			return true
		}
	}
	return false
}

// cutAt is the delegation point at or above name nearest the apex (the
// one that takes name out of the zone), or "" when name is authoritative.
func (zd *Data) cutAt(name string) string {
	if len(zd.cuts) == 0 {
		return ""
	}
	cut := ""
	for n := name; n != zd.zone.Name; {
		if zd.cuts[n] {
			cut = n
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return cut
}

// link connects synthesising reverse zones with the forward zones that
// hold their names, once every zone of a snapshot is built.
func link(zs map[string]*Data) {
	for _, r := range zs {
		if r.tmpl == nil {
			continue
		}
		if f := findZone(zs, r.tmpl.Suffix); f != nil {
			r.forward = f
			f.synthFor = append(f.synthFor, r)
			// The template's suffix exists in the forward zone even
			// before any name below it is asked for.
			if _, ok := f.building[r.tmpl.Suffix]; !ok {
				f.building[r.tmpl.Suffix] = &node{}
			}
		}
	}
	for _, zd := range zs {
		zd.addENTs()
		zd.whiteLies = (zd.tmpl != nil || len(zd.synthFor) > 0) && zd.denial == NSEC3
	}
}

// findAnswering is the zone that answers queries for name: the longest
// matching suffix that is not a staged zone (its parent answers until it
// is delegated).
func findAnswering(zs map[string]*Data, name string) *Data {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if zd, ok := zs[name[off:]]; ok && !zd.zone.Config.Staged {
			return zd
		}
	}
	return nil
}

// findZone is the zone holding name: the longest matching suffix.
func findZone(zs map[string]*Data, name string) *Data {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if zd, ok := zs[name[off:]]; ok {
			return zd
		}
	}
	return nil
}

// signZone adds DNSKEY, CDS, CDNSKEY, NSEC3PARAM, the NSEC3 chain and the
// signatures of every set. The SOA is signed last, by setSerial.
//
// Sets whose records are those of prev (the version served before), in
// the same signing period with the same keys, keep prev's signatures
// without a look-up: only what changed is signed or looked up.
func (zd *Data) signZone(keys []Key, sealer *Sealer, p sigPolicy, prev *Data, cache *SigCache) error {
	c := zd.zone.Config
	var mine []Key
	for _, k := range keys {
		if k.ZoneID == zd.zone.ID {
			mine = append(mine, k)
		}
	}
	zd.keys = mine
	ksk, _ := NewestSEP(mine, KSK)
	csk, _ := NewestSEP(mine, CSK)
	for _, k := range mine {
		if k.State == KeyRetired {
			continue
		}
		dk := k.dnskey(zd.zone.Name, c.TTL)
		zd.add(dk)
		if k.State != KeyActive {
			continue
		}
		if k.ID == ksk.ID || k.ID == csk.ID {
			// RFC 7344: CDS/CDNSKEY tell the parent which DS to publish:
			// during a KSK rollover, only the successor's.
			cdnskey := &dns.CDNSKEY{DNSKEY: *dk}
			cdnskey.Hdr.Rrtype = dns.TypeCDNSKEY
			zd.add(cdnskey)
			cds := &dns.CDS{DS: *dk.ToDS(dns.SHA256)}
			cds.Hdr.Rrtype = dns.TypeCDS
			zd.add(cds)
		}
		if sealer == nil {
			return fmt.Errorf("zone %s: signed, but no sealing key is configured", zd.zone.Name)
		}
		s, err := k.signer(sealer, zd.zone.Name)
		if err != nil {
			return err
		}
		ak := activeKey{Key: k, dnskey: dk, signer: s}
		if cache != nil {
			ak.cache, ak.cacheID = cache, sigKeyID(ak)
		}
		switch k.Role {
		case CSK:
			zd.ksks, zd.zsks = append(zd.ksks, ak), append(zd.zsks, ak)
		case KSK:
			zd.ksks = append(zd.ksks, ak)
		case ZSK:
			zd.zsks = append(zd.zsks, ak)
		}
	}
	if len(zd.ksks) == 0 || len(zd.zsks) == 0 {
		return fmt.Errorf("zone %s: signed, but has no active key for every role (run `cadastre zone sign`)", zd.zone.Name)
	}
	zd.signed = true
	zd.sigFrom, zd.sigUntil = p.inception(), p.expiration()
	zd.add(&dns.NSEC3PARAM{Hdr: dns.RR_Header{Name: zd.zone.Name, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: 0}, Hash: dns.SHA1})
	// Every name is laid out: the index of names is made before signing
	// (rather than after, by finish), so that the chain is a walk of the
	// names in canonical order and the sort's keys come and go while the
	// heap holds no signature yet.
	zd.freeze()
	chain := zd.buildChain()
	reuse := prev != nil && prev.signed && sameTags(prev.zsks, zd.zsks) && sameTags(prev.ksks, zd.ksks)
	// current says whether sigs, of the set of type t at owner, were
	// made in the set's current period.
	current := func(owner string, t uint16, sigs sigList) bool {
		return len(sigs) > 0 && sigs[0].inc == uint32(p.forSet(owner, t).inception().Unix())
	}
	// The sets and links are signed on every processor (parallel): a
	// zone of millions of names is millions of signatures at start-up,
	// and each set and link is signed alone. Each part notes its
	// earliest expiration; the zone's is the earliest of the parts'.
	parts := max(1, runtime.GOMAXPROCS(0))
	signers := make([]setSigner, parts) // each part's buffers
	earliest := make([]time.Time, parts)
	for i := range earliest {
		earliest[i] = p.expiration()
	}
	note := func(part int, sigs sigList) {
		for _, s := range sigs {
			if e := time.Unix(int64(s.exp), 0); e.Before(earliest[part]) {
				earliest[part] = e
			}
		}
	}
	type owner struct {
		name string
		n    *node
	}
	owners := make([]owner, 0, zd.names.Len())
	for name, n := range zd.names.All() {
		owners = append(owners, owner{name, n})
	}
	err := parallel(parts, len(owners), func(part, lo, hi int) error {
		for _, o := range owners[lo:hi] {
			name, n := o.name, o.n
			var pn *node
			if prev != nil && prev.signed {
				pn = prev.node(name)
			}
			cut := zd.cutAt(name)
			for t, s := range n.sets.all() {
				if t == dns.TypeSOA {
					continue
				}
				if cut != "" && (cut != name || t != dns.TypeDS) {
					// RFC 4035 §2.2: the NS of a delegation and glue belong
					// to the child; only the DS is the parent's to sign.
					s.Sigs = nil
					continue
				}
				var had sigList // prev's signatures of the same records
				if pn != nil {
					if ps := pn.sets.get(t); ps != nil && sameRRs(ps.RRs, s.RRs) {
						if reuse && current(s.RRs[0].Header().Name, t, ps.Sigs) {
							s.Sigs = ps.Sigs
							note(part, s.Sigs)
							continue
						}
						had = ps.Sigs
					}
				}
				keys := zd.zsks
				if t == dns.TypeDNSKEY || t == dns.TypeCDS || t == dns.TypeCDNSKEY {
					keys = zd.ksks
				}
				sigs, err := sign(&signers[part], s.RRs, zd.zone.Name, keys, p, had)
				if err != nil {
					return err
				}
				s.Sigs = sigs
				note(part, sigs)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	zd.maxTTL = max(c.TTL, zd.negTTL)
	for _, o := range owners {
		for _, s := range o.n.sets.all() {
			zd.maxTTL = max(zd.maxTTL, s.RRs[0].Header().Ttl)
		}
	}
	owners = nil // 24 bytes a name, not kept while the links are signed
	err = parallel(parts, len(chain), func(part, lo, hi int) error {
		for _, e := range chain[lo:hi] {
			var had sigList
			rr := zd.nsec3RR(e.hash, e.l)
			if prev != nil && prev.signed {
				if pl, ok := prev.chain.Get(e.hash); ok && sameLink(pl, e.l) && prev.negTTL == zd.negTTL {
					if reuse && current(rr.Hdr.Name, dns.TypeNSEC3, pl.sigs) {
						e.l.sigs = pl.sigs
						note(part, e.l.sigs)
						continue
					}
					had = pl.sigs
				}
			}
			sigs, err := sign(&signers[part], []dns.RR{rr}, zd.zone.Name, zd.zsks, p, had)
			if err != nil {
				return err
			}
			e.l.sigs = sigs
			note(part, sigs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	zd.chain = zd.chain.fromSorted(hashes(chain), links(chain))
	zd.refreshAt = slices.MinFunc(earliest, time.Time.Compare).Add(-p.Refresh)
	zd.online = newOnlineSigner(zd, p)
	return nil
}

// parallel calls f on parts contiguous parts of [0, n), each in its own
// goroutine (part is the part's number, for what each keeps apart), and
// returns the error of the first part that failed. Small zones are
// split too (a goroutine costs less than one signature), which keeps
// this path the one every test runs.
func parallel(parts, n int, f func(part, lo, hi int) error) error {
	parts = min(parts, n)
	if parts <= 1 {
		return f(0, 0, n)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Go(func() { errs[i] = f(i, i*n/parts, (i+1)*n/parts) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// bitmapSet interns NSEC3 type bitmaps: a zone's links have a handful of
// distinct ones (AAAA and RRSIG, A and RRSIG, none for an empty
// non-terminal...), so its links share them rather than each holding
// its own. Shared, they are never written.
type bitmapSet map[string][]uint16

func (b bitmapSet) get(ts []uint16) []uint16 {
	k := make([]byte, 0, 2*len(ts))
	for _, t := range ts {
		k = append(k, byte(t>>8), byte(t))
	}
	if s, ok := b[string(k)]; ok {
		return s
	}
	s := slices.Clip(ts)
	b[string(k)] = s
	return s
}

// nsec3Hash is the RFC 5155 hash of name with no salt and no extra
// iterations (RFC 9276 §3.1).
func nsec3Hash(name string) string { return dns.HashName(name, dns.SHA1, 0, "") }

// cutLinkTypes is the type bitmap of name's NSEC3 link (n its node): its
// types and RRSIG if it has any (an empty non-terminal has none); at a
// delegation point NS and, if signed, DS and RRSIG; ok is false below a
// cut, where a name has no link.
func (zd *Data) cutLinkTypes(name string, n *node) (ts []uint16, ok bool) {
	ts = n.types()
	sigs := len(ts) > 0
	if cut := zd.cutAt(name); cut != "" {
		if cut != name {
			return nil, false
		}
		ts, sigs = []uint16{dns.TypeNS}, n.sets.get(dns.TypeDS) != nil
		if sigs {
			ts = append(ts, dns.TypeDS)
		}
	}
	if sigs {
		ts = append(ts, dns.TypeRRSIG)
		slices.Sort(ts)
	}
	return ts, true
}

// buildChain makes the NSEC3 chain over every authoritative name, empty
// non-terminals and delegation points included, without opt-out (RFC
// 5155 §7.1): a delegation's NSEC3 shows NS, and DS with RRSIG when the
// parent has a DS for it, which proves a delegation insecure; names
// below a cut (glue) are left out. Names prev had keep their hashes.
//
// An empty name with no record below it is left out too: link makes a
// synthesis template's suffix (and the names between it and the apex)
// exist so that the primary answers NODATA there, but a transfer carries
// no name below it, and an NSEC3 for a name that is neither a name of the
// transfer nor a non-terminal of one is refused by validators
// (ldns-verify-zone: "original of NSEC3 hashed name could not be
// found"). Zones with synthesised names answer with white lies, so the
// chain only serves transfers, and there the name does not exist.
func (zd *Data) buildChain() []nsec3Entry {
	type link struct {
		hash  string
		types []uint16
	}
	// The names in canonical order (RFC 4034 §6.1), which puts a name's
	// descendants right after it: the names above the one at hand are a
	// stack (above), and a name with records marks those of the stack
	// that are not marked yet. (A map of the names held cost 2.37M
	// look-ups with cache misses, about 5 s, at 10M assignments.)
	type entry struct {
		name string
		n    *node
		held bool // holds records, or a name below it does
	}
	names := make([]entry, 0, zd.names.Len())
	var above []int
	for name, n := range zd.names.All() {
		for len(above) > 0 && !isBelow(name, names[above[len(above)-1]].name) {
			above = above[:len(above)-1]
		}
		names = append(names, entry{name: name, n: n})
		if len(n.sets) > 0 {
			names[len(names)-1].held = true
			for i := len(above) - 1; i >= 0 && !names[above[i]].held; i-- {
				names[above[i]].held = true
			}
		}
		above = append(above, len(names)-1)
	}
	links := make([]link, 0, len(names))
	linked := make([]string, 0, len(names))
	bitmaps := bitmapSet{}
	for _, e := range names {
		if !e.held {
			continue
		}
		ts, ok := zd.cutLinkTypes(e.name, e.n)
		if !ok {
			continue
		}
		links = append(links, link{types: bitmaps.get(ts)})
		linked = append(linked, e.name)
	}
	names = nil
	// The hashes (SHA-1, and an allocation or two each) on every processor.
	parallel(max(1, runtime.GOMAXPROCS(0)), len(links), func(_, lo, hi int) error {
		for i := lo; i < hi; i++ {
			links[i].hash = nsec3Hash(linked[i])
		}
		return nil
	})
	slices.SortFunc(links, func(a, b link) int { return strings.Compare(a.hash, b.hash) })
	chain := make([]nsec3Entry, len(links))
	for i, l := range links {
		chain[i] = nsec3Entry{hash: l.hash, l: &chainLink{next: links[(i+1)%len(links)].hash, types: l.types}}
	}
	return chain
}

// isBelow says whether name is parent or a name below it; both are in
// canonical form (lower case, fully qualified).
func isBelow(name, parent string) bool {
	if !strings.HasSuffix(name, parent) {
		return false
	}
	i := len(name) - len(parent)
	// The label before parent ends at a dot that is not escaped.
	return i == 0 || parent == "." || (name[i-1] == '.' && !escaped(name, i-1))
}

// coverLink is the link whose span covers h, with its hash: the one
// before h; before the first, the last one (which wraps around to the
// first).
func (zd *Data) coverLink(h string) (string, *chainLink, bool) {
	if k, l, ok := zd.chain.Before(h); ok {
		return k, l, true
	}
	return zd.chain.Last()
}

// setSerial puts the SOA with serial in place and signs it.
func (zd *Data) setSerial(serial uint32, p sigPolicy) error {
	had := zd.soa.Sigs // the same SOA again (finish's retries): kept
	if serial != zd.serial {
		had = nil
	}
	zd.serial = serial
	soa := zd.soa.RRs[0].(*dns.SOA)
	soa.Serial = serial
	if zd.signed {
		sigs, err := sign(nil, zd.soa.RRs, zd.zone.Name, zd.zsks, p, had)
		if err != nil {
			return err
		}
		zd.soa.Sigs = sigs
		for _, s := range sigs {
			// The SOA is signed again at each serial, and when its own
			// period ends.
			if r := time.Unix(int64(s.exp), 0).Add(-p.Refresh); r.Before(zd.refreshAt) {
				zd.refreshAt = r
			}
		}
	}
	zd.soaNeg = nil
	for _, rr := range append([]dns.RR{soa}, zd.setSigs(zd.soa)...) {
		c := dns.Copy(rr)
		c.Header().Ttl = zd.negTTL
		zd.soaNeg = append(zd.soaNeg, c)
	}
	return nil
}

// nextSerial is the serial after s in RFC 1982 arithmetic: it only moves
// forward. Zero is skipped so that "never set" stays recognisable.
func nextSerial(s uint32, now time.Time) uint32 {
	if s == 0 {
		return uint32(now.Unix())
	}
	if s+1 == 0 {
		return 1
	}
	return s + 1
}

// Records lists every record of the zone for a transfer: SOA first, then
// each set with its signatures, then the NSEC3 chain; the caller adds the
// closing SOA.
func (zd *Data) Records() []dns.RR {
	out := append([]dns.RR{}, zd.soa.RRs...)
	out = append(out, zd.setSigs(zd.soa)...)
	for _, n := range zd.names.All() {
		for _, t := range n.types() {
			if t == dns.TypeSOA {
				continue
			}
			out = append(out, n.sets.get(t).RRs...)
			out = append(out, zd.setSigs(n.sets.get(t))...)
		}
	}
	for h, l := range zd.chain.All() {
		rr := zd.nsec3RR(h, l)
		out = append(out, rr)
		out = append(out, zd.sigRRs(rr, l.sigs)...)
	}
	return out
}

// sortCanonical orders names as RFC 4034 §6.1 does: by labels from the
// right. Each name's key (its labels from the right, each ended by a zero
// byte, which sorts before any byte of a label) is made once, the labels
// split as canonicalCompare splits them. The keys are kept in one buffer
// and a permutation is sorted: a string and a builder's garbage for each
// key cost about 100 bytes a name (some 360 MB at 10M names, during a
// start-up's largest heap); this is the key's bytes and 12.
func sortCanonical(names []string) {
	size := 0
	for _, n := range names {
		size += len(n) + 1
	}
	keys := make([]byte, 0, size)
	ends := make([]int, len(names)) // name i's key is keys[ends[i-1]:ends[i]]
	for i, n := range names {
		for s := trimDot(n); s != ""; {
			j := lastLabel(s)
			keys = append(append(keys, s[j:]...), 0)
			s = trimDot(s[:j])
		}
		ends[i] = len(keys)
	}
	key := func(i int32) []byte {
		if i == 0 {
			return keys[:ends[0]]
		}
		return keys[ends[i-1]:ends[i]]
	}
	order := make([]int32, len(names))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(key(a), key(b)) })
	sorted := make([]string, len(names))
	for i, j := range order {
		sorted[i] = names[j]
	}
	copy(names, sorted)
}

// sameTags says whether two key lists have the same tags in order.
func sameTags(a, b []activeKey) bool {
	return slices.EqualFunc(a, b, func(x, y activeKey) bool { return x.Tag == y.Tag && x.Algorithm == y.Algorithm })
}

// corrupt flips a byte of every signature at owner, for tests of validators.
func (zd *Data) corrupt(owner string) {
	n := zd.node(owner)
	if zd.building != nil {
		n = zd.building[owner]
	}
	if n == nil {
		return
	}
	for _, set := range n.sets.all() {
		set.Sigs = slices.Clone(set.Sigs) // they may be the previous version's
		for i := range set.Sigs {
			set.Sigs[i].sig[0] ^= 0x04
		}
	}
}
