package zone

import (
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// typeNXNAME marks a name that does not exist in compact denial (RFC 9824 §2).
const typeNXNAME = 128

// reversePrefix reads the address space a name in reverse zone z stands
// for: a whole address at the leaves, a shorter prefix above them.
func reversePrefix(z *Zone, name string) (netip.Prefix, bool) {
	if name == z.Name {
		// The apex: an address itself in a /32 or /128 zone.
		return z.Prefix, true
	}
	// name is rest + "." + z.Name, read without building that suffix
	// (this runs for every synthesised answer).
	if len(name) < len(z.Name)+2 || name[len(name)-len(z.Name)-1] != '.' || name[len(name)-len(z.Name):] != z.Name {
		return netip.Prefix{}, false
	}
	rest := name[:len(name)-len(z.Name)-1]
	if z.Prefix.Addr().Is4() {
		labels := strings.Split(rest, ".")
		b := z.Prefix.Addr().As4()
		octet := func(l string) (byte, bool) {
			v, err := strconv.ParseUint(l, 10, 8)
			return byte(v), err == nil && strconv.FormatUint(v, 10) == l
		}
		if bits := z.Prefix.Bits(); bits > 24 && bits < 32 { // RFC 2317: one label, the last octet
			v, ok := octet(labels[0])
			if len(labels) != 1 || !ok {
				return netip.Prefix{}, false
			}
			b[3] = v
			a := netip.AddrFrom4(b)
			return netip.PrefixFrom(a, 32), z.Prefix.Contains(a)
		}
		have := z.Prefix.Bits() / 8
		if have+len(labels) > 4 {
			return netip.Prefix{}, false
		}
		for i, l := range labels {
			v, ok := octet(l)
			if !ok {
				return netip.Prefix{}, false
			}
			b[have+len(labels)-1-i] = v
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), (have+len(labels))*8), true
	}
	// ip6.arpa: one hex digit a label, read in place (this runs for
	// every synthesised answer): rest is digits with a dot between each.
	have := z.Prefix.Bits() / 4
	count := (len(rest) + 1) / 2
	if len(rest)%2 == 0 || have+count > 32 {
		return netip.Prefix{}, false
	}
	b := z.Prefix.Addr().As16()
	for i := range count {
		if i > 0 && rest[2*i-1] != '.' {
			return netip.Prefix{}, false
		}
		v := strings.IndexByte("0123456789abcdef", rest[2*i])
		if v < 0 {
			return netip.Prefix{}, false
		}
		n := have + count - 1 - i
		if n%2 == 0 {
			b[n/2] = b[n/2]&0x0f | byte(v)<<4
		} else {
			b[n/2] = b[n/2]&0xf0 | byte(v)
		}
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), (have+count)*4), true
}

func inPools(pools []netip.Prefix, a netip.Addr) bool {
	for _, p := range pools {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// synth tells whether name exists by synthesis, and its one synthesised
// record if it is a leaf. Only unnamed addresses are synthesised: a named
// one has its PTR in the zone data, and its synthetic names do not exist.
func (zd *Data) synth(name string) (exists bool, rr dns.RR) {
	if zd.tmpl != nil {
		p, ok := reversePrefix(&zd.zone, name)
		if !ok {
			return false, nil
		}
		if p.IsSingleIP() {
			if !inPools(zd.pools, p.Addr()) {
				return false, nil
			}
			return true, &dns.PTR{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: zd.zone.Config.TTL}, Ptr: zd.tmpl.Name(p.Addr())}
		}
		for _, pool := range zd.pools {
			if pool.Overlaps(p) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, r := range zd.synthFor {
		a, ok := r.tmpl.Addr(name)
		if !ok || !r.zone.Prefix.Contains(a) || !inPools(r.pools, a) {
			continue
		}
		if n := r.node(ptrName(&r.zone, a)); n != nil && n.sets.get(dns.TypePTR) != nil {
			return false, nil
		}
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: zd.zone.Config.TTL}
		if a.Is4() {
			hdr.Rrtype = dns.TypeA
			return true, &dns.A{Hdr: hdr, A: a.AsSlice()}
		}
		hdr.Rrtype = dns.TypeAAAA
		return true, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}
	}
	return false, nil
}

// Result is what a look-up found.
type Result struct {
	Rcode     int
	Answer    []dns.RR
	Authority []dns.RR
	// overBudget is set when an online signature was needed but the
	// zone's signing budget was spent (a random-subdomain flood).
	OverBudget bool
	// referral is an answer for a name delegated away: not authoritative,
	// the child's NS in the authority section, glue in additional.
	Referral   bool
	Additional []dns.RR
}

// Lookup answers qname/qtype from this version of the zone. dnssec asks
// for signatures and denial proofs.
func (zd *Data) Lookup(qname string, qtype uint16, dnssec bool) Result {
	return zd.lookup(qname, qtype, dnssec && zd.signed, 0, nil)
}

// maxChain bounds the CNAME and DNAME links followed inside one zone.
const maxChain = 8

func (zd *Data) lookup(qname string, qtype uint16, dnssec bool, depth int, sp Spender) Result {
	if cut := zd.cutAt(qname); cut != "" && (qname != cut || qtype != dns.TypeDS) {
		return zd.referral(cut, dnssec, sp)
	}
	if len(zd.dnames) > 0 {
		if owner := zd.dnameAbove(qname); owner != "" {
			return zd.dname(owner, qname, qtype, dnssec, depth, sp)
		}
	}
	n := zd.node(qname)
	if n != nil {
		if s := n.sets.get(qtype); s != nil {
			return zd.positive(s, dnssec)
		}
		if qtype == dns.TypeRRSIG && dnssec {
			// The signatures kept beside each set: the bitmap of the
			// name's NSEC3 lists RRSIG, so a NODATA would contradict it.
			if sigs := zd.nodeSigs(n); len(sigs) > 0 {
				return Result{Rcode: dns.RcodeSuccess, Answer: sigs}
			}
		}
		if c := n.sets.get(dns.TypeCNAME); c != nil && qtype != dns.TypeANY {
			// RFC 1034 §4.3.2 step 3a: the alias, then what it names
			// when this zone holds it.
			return zd.chase(zd.positive(c, dnssec), c.RRs[0].(*dns.CNAME).Target, qtype, dnssec, depth, sp)
		}
		if qtype == dns.TypeANY && len(n.sets) > 0 {
			// RFC 8482 §4.1: answer ANY with one RRset of the name.
			return zd.positive(n.sets.get(n.types()[0]), dnssec)
		}
	}
	// A NODATA for the types made per query (compact denial's NSEC, the
	// signatures of a synthesised record) must not have its proof claim
	// them: validators would call it bogus.
	omit := uint16(0)
	if qtype == dns.TypeNSEC || qtype == dns.TypeRRSIG {
		omit = qtype
	}
	exists, srr := false, dns.RR(nil)
	if zd.tmpl != nil || len(zd.synthFor) > 0 {
		exists, srr = zd.synth(qname)
	}
	if srr != nil && (srr.Header().Rrtype == qtype || qtype == dns.TypeANY) && (n == nil || n.sets.get(srr.Header().Rrtype) == nil) {
		return zd.synthesised(srr, dnssec, sp)
	}
	if n != nil || exists {
		var types []uint16
		if n != nil {
			types = n.types()
		}
		if srr != nil {
			types = append(types, srr.Header().Rrtype)
		}
		types = slices.DeleteFunc(types, func(t uint16) bool { return t == omit })
		return zd.negative(qname, false, types, dnssec, omit, sp)
	}
	return zd.negative(qname, true, nil, dnssec, omit, sp)
}

// synthesised is the answer made of srr, a record made by synthesis,
// signed now (or from the online cache) when dnssec is set.
func (zd *Data) synthesised(srr dns.RR, dnssec bool, sp Spender) Result {
	if !dnssec {
		return Result{Rcode: dns.RcodeSuccess, Answer: []dns.RR{srr}}
	}
	// One slice for the record and its signatures: the answer path
	// runs this for every new synthesised name.
	answer := make([]dns.RR, 1, 1+len(zd.zsks))
	answer[0] = srr
	sigs, ok := zd.online.sign(answer, sp)
	if !ok {
		return Result{OverBudget: true}
	}
	return Result{Rcode: dns.RcodeSuccess, Answer: append(answer, sigs...)}
}

// LookupSynthesised answers qname/qtype as LookupSpending does when that
// answer is one record made by synthesis (the PTR of an unnamed address
// of a pool, the AAAA or A of its name), with its signatures when dnssec
// is set, and nothing else. For every other question (a stored name, a
// name at or below a cut or a DNAME, another type, a negative answer) it
// returns false having signed and spent nothing: LookupSpending answers
// those. The server's UDP path packs these answers itself, as they are
// the ones made anew for each name asked.
func (zd *Data) LookupSynthesised(qname string, qtype uint16, dnssec bool, sp Spender) (Result, bool) {
	if zd.tmpl == nil && len(zd.synthFor) == 0 || zd.node(qname) != nil || zd.cutAt(qname) != "" {
		return Result{}, false
	}
	if len(zd.dnames) > 0 && zd.dnameAbove(qname) != "" {
		return Result{}, false
	}
	_, srr := zd.synth(qname)
	if srr == nil || srr.Header().Rrtype != qtype {
		return Result{}, false
	}
	return zd.synthesised(srr, dnssec && zd.signed, sp), true
}

// chase appends to res, an answer ending in an alias to target, the
// answer for target when it lies in this zone and exists there.
func (zd *Data) chase(res Result, target string, qtype uint16, dnssec bool, depth int, sp Spender) Result {
	target = strings.ToLower(target)
	if depth >= maxChain || !dns.IsSubDomain(zd.zone.Name, target) {
		return res
	}
	next := zd.lookup(target, qtype, dnssec, depth+1, sp)
	if next.OverBudget {
		return next
	}
	if next.Rcode == dns.RcodeSuccess && !next.Referral && len(next.Answer) > 0 {
		res.Answer = append(append([]dns.RR{}, res.Answer...), next.Answer...)
	}
	return res
}

// dnameAbove is the owner of a DNAME strictly above name, if any.
func (zd *Data) dnameAbove(name string) string {
	for n := name; n != zd.zone.Name; {
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
		if zd.dnames[n] {
			return n
		}
	}
	return ""
}

// dname answers a name below a DNAME (RFC 6672 §3.1): the DNAME, signed
// as any RRset, and a CNAME synthesised to the name under its target,
// unsigned (validators check it against the DNAME, §5.3.3), with the
// DNAME's TTL; YXDOMAIN when the new name would be too long.
func (zd *Data) dname(owner, qname string, qtype uint16, dnssec bool, depth int, sp Spender) Result {
	d := zd.node(owner).sets.get(dns.TypeDNAME)
	res := zd.positive(d, dnssec)
	dn := d.RRs[0].(*dns.DNAME)
	target := qname[:len(qname)-len(owner)] + dn.Target
	if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
		res.Rcode = dns.RcodeYXDomain
		return res
	}
	cname := &dns.CNAME{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: dn.Hdr.Ttl}, Target: target}
	res.Answer = append(append([]dns.RR{}, res.Answer...), cname)
	if qtype == dns.TypeCNAME {
		return res
	}
	return zd.chase(res, target, qtype, dnssec, depth, sp)
}

// referral sends the asker to the child zone at cut (RFC 1034 §4.3.2,
// RFC 4035 §3.1.4): its NS, and with DNSSEC the DS and its signatures,
// or the proof that there is no DS (the NSEC3 matching cut, RFC 5155
// §7.2.7; with compact denial an NSEC of cut showing only NS, RFC 9824),
// which tells a validator the child is unsigned. In-bailiwick name
// servers' addresses go along as glue.
func (zd *Data) referral(cut string, dnssec bool, sp Spender) Result {
	n := zd.node(cut)
	ns := n.sets.get(dns.TypeNS)
	res := Result{Rcode: dns.RcodeSuccess, Referral: true, Authority: append([]dns.RR{}, ns.RRs...)}
	if dnssec {
		switch ds := n.sets.get(dns.TypeDS); {
		case ds != nil:
			res.Authority = zd.appendSigs(append(res.Authority, ds.RRs...), ds)
		case zd.denial == Compact:
			nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: cut, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: zd.negTTL},
				NextDomain: "\\000." + cut, TypeBitMap: []uint16{dns.TypeNS, dns.TypeRRSIG, dns.TypeNSEC}}
			sigs, ok := zd.online.sign([]dns.RR{nsec}, sp)
			if !ok {
				return Result{OverBudget: true}
			}
			res.Authority = append(append(res.Authority, nsec), sigs...)
		default:
			h := nsec3Hash(cut)
			if l, ok := zd.chain.Get(h); ok {
				res.Authority = zd.appendLink(res.Authority, h, l)
			}
		}
	}
	for _, rr := range ns.RRs {
		target := strings.ToLower(rr.(*dns.NS).Ns)
		if !dns.IsSubDomain(cut, target) {
			continue
		}
		if g := zd.node(target); g != nil {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if s := g.sets.get(t); s != nil {
					res.Additional = append(res.Additional, s.RRs...)
				}
			}
		}
	}
	return res
}

func (zd *Data) positive(s *rrset, dnssec bool) Result {
	res := Result{Rcode: dns.RcodeSuccess, Answer: s.RRs}
	if dnssec {
		res.Answer = zd.appendSigs(append(make([]dns.RR, 0, len(s.RRs)+len(s.Sigs)), s.RRs...), s)
	}
	return res
}

// negSOA is the SOA for the authority section of a negative answer: its
// TTL, and its signatures', is min(SOA TTL, SOA minimum) (RFC 2308 §3,
// RFC 4035 §2.3).
func (zd *Data) negSOA(dnssec bool) []dns.RR {
	if dnssec {
		return zd.soaNeg
	}
	return zd.soaNeg[:1]
}

// negative is NXDOMAIN (nx) or NODATA for qname, whose node has types.
func (zd *Data) negative(qname string, nx bool, types []uint16, dnssec bool, omit uint16, sp Spender) Result {
	res := Result{Rcode: dns.RcodeSuccess, Authority: zd.negSOA(dnssec)}
	if nx {
		res.Rcode = dns.RcodeNameError
	}
	if !dnssec {
		return res
	}
	auth := append([]dns.RR{}, res.Authority...)
	if zd.denial == Compact {
		// RFC 9824: the answer is a NODATA for qname, with an NSEC that
		// covers nothing but qname itself, signed now.
		bitmap := []uint16{dns.TypeNSEC, dns.TypeRRSIG}
		if nx {
			bitmap = append(bitmap, typeNXNAME)
			res.Rcode = dns.RcodeSuccess
		} else {
			bitmap = append(bitmap, types...)
		}
		bitmap = slices.DeleteFunc(bitmap, func(t uint16) bool { return t == omit })
		nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: zd.negTTL},
			NextDomain: "\\000." + qname, TypeBitMap: sortTypes(bitmap)}
		sigs, ok := zd.online.sign([]dns.RR{nsec}, sp)
		if !ok {
			return Result{OverBudget: true}
		}
		res.Authority = append(append(auth, nsec), sigs...)
		return res
	}
	if zd.whiteLies {
		return zd.whiteLie(qname, nx, types, res, omit, sp)
	}
	// The links are made as records here (appendLink): each once, as
	// one may serve two proofs.
	var seen [3]string
	addLink := func(h string, l *chainLink, ok bool) {
		if !ok || slices.Contains(seen[:], h) {
			return
		}
		copy(seen[1:], seen[:2])
		seen[0] = h
		auth = zd.appendLink(auth, h, l)
	}
	if !nx {
		// RFC 5155 §7.2.3: the NSEC3 matching qname.
		h := nsec3Hash(qname)
		l, ok := zd.chain.Get(h)
		addLink(h, l, ok)
		res.Authority = auth
		return res
	}
	// RFC 5155 §7.2.2: closest encloser proof and no wildcard.
	ce, nextCloser := qname, qname
	for ce != zd.zone.Name {
		i, end := dns.NextLabel(ce, 0)
		if end {
			break
		}
		nextCloser, ce = ce, ce[i:]
		if zd.names.Has(ce) {
			break
		}
	}
	h := nsec3Hash(ce)
	l, ok := zd.chain.Get(h)
	addLink(h, l, ok)
	addLink(zd.coverLink(nsec3Hash(nextCloser)))
	addLink(zd.coverLink(nsec3Hash("*." + ce)))
	res.Authority = auth
	return res
}

// whiteLie completes a negative answer res of a zone with synthesised
// names with NSEC3 records made for it and signed now, as Knot's
// onlinesign and PowerDNS's narrow mode do (RFC 7129 appendix B): each
// spans from just before a hash to just after it, so it denies that one
// hash and nothing a resolver could take for another name. NODATA: the
// NSEC3 matching qname (RFC 5155 §7.2.3). NXDOMAIN: the NSEC3 matching
// the closest encloser, and ones covering the next closer name and the
// wildcard below the encloser (§7.2.2). The signatures are cached and
// spent from the zone's online budget like every per-query signature.
func (zd *Data) whiteLie(qname string, nx bool, types []uint16, res Result, omit uint16, sp Spender) Result {
	auth := append([]dns.RR{}, res.Authority...)
	add := func(owner, next string, bitmap []uint16) bool {
		n := &dns.NSEC3{Hdr: dns.RR_Header{Name: strings.ToLower(owner) + "." + zd.zone.Name, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: zd.negTTL},
			Hash: dns.SHA1, HashLength: 20, NextDomain: next, TypeBitMap: bitmap}
		for _, rr := range auth {
			if rr.Header().Rrtype == dns.TypeNSEC3 && rr.Header().Name == n.Hdr.Name {
				return true // one NSEC3 serves two proofs
			}
		}
		sigs, ok := zd.online.sign([]dns.RR{n}, sp)
		if !ok {
			return false
		}
		auth = append(append(auth, n), sigs...)
		return true
	}
	matching := func(name string, types []uint16, omit uint16) bool {
		h := nsec3Hash(name)
		return add(h, hashStep(h, 1), slices.DeleteFunc(nsec3Bitmap(types), func(t uint16) bool { return t == omit }))
	}
	covering := func(name string) bool {
		h := nsec3Hash(name)
		return add(hashStep(h, -1), hashStep(h, 1), nil)
	}
	if !nx {
		if !matching(qname, types, omit) {
			return Result{OverBudget: true}
		}
		res.Authority = auth
		return res
	}
	ce, nextCloser := qname, qname
	var ceTypes []uint16
	for ce != zd.zone.Name {
		i, end := dns.NextLabel(ce, 0)
		if end {
			break
		}
		nextCloser, ce = ce, ce[i:]
		if ts, ok := zd.existing(ce); ok {
			ceTypes = ts
			break
		}
	}
	if ce == zd.zone.Name {
		ceTypes = zd.node(ce).types()
	}
	if !matching(ce, ceTypes, 0) || !covering(nextCloser) || !covering("*."+ce) {
		return Result{OverBudget: true}
	}
	res.Authority = auth
	return res
}

// existing says whether name exists in the zone, stored or synthesised,
// and with which types.
func (zd *Data) existing(name string) ([]uint16, bool) {
	var types []uint16
	n := zd.node(name)
	if n != nil {
		types = n.types()
	}
	exists, srr := zd.synth(name)
	if srr != nil {
		types = append(types, srr.Header().Rrtype)
	}
	return types, n != nil || exists
}

// nsec3Bitmap is the type bitmap of an NSEC3 for a name with types: those
// and RRSIG, or nothing for an empty non-terminal (RFC 5155 §3.2).
func nsec3Bitmap(types []uint16) []uint16 {
	if len(types) == 0 {
		return nil
	}
	return sortTypes(append(append([]uint16{}, types...), dns.TypeRRSIG))
}

// hashStep adds d (1 or -1) to an NSEC3 hash, base32hex as dns.HashName
// gives it, wrapping around as the chain does.
func hashStep(h string, d int) string {
	b, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(h)
	if err != nil || len(b) == 0 {
		return h
	}
	for i := len(b) - 1; i >= 0; i-- {
		if d > 0 {
			b[i]++
			if b[i] != 0 {
				break
			}
		} else {
			b[i]--
			if b[i] != 0xff {
				break
			}
		}
	}
	return base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

func sortTypes(ts []uint16) []uint16 {
	out := make([]uint16, 0, len(ts))
	seen := map[uint16]bool{}
	for _, t := range ts {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// onlineSigner signs what is made per query (synthesised records, compact
// denial) with the zone's signing keys and the version's validity window,
// caching what it signed and spending from a budget, so that a flood of
// random names costs at most the budget's worth of signatures.
type onlineSigner struct {
	zd     *Data
	policy sigPolicy

	mu     sync.Mutex
	cache  map[string][]dns.RR
	Tokens float64
	last   time.Time
	Rate   float64 // signatures per second
	Burst  float64
	Now    func() time.Time
	Count  *atomic.Uint64 // signatures made, for the server's statistics
}

// maxOnlineCache bounds the cache of online signatures per zone version.
const maxOnlineCache = 1 << 16

func newOnlineSigner(zd *Data, p sigPolicy) *onlineSigner {
	return &onlineSigner{zd: zd, policy: p, cache: map[string][]dns.RR{}, Rate: DefaultOnlineRate, Burst: 2 * DefaultOnlineRate, Tokens: 2 * DefaultOnlineRate, Now: time.Now}
}

// setKey is the text of a set signed per query, the key of its
// signatures in the online cache.
func setKey(set []dns.RR, tag uint16) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|", tag)
	for _, rr := range set {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// onlineKey is the cache key of a set signed per query: for the one
// synthesised record of a positive answer, its name, TTL and data, which
// is cheaper than the text of the whole record (setKey) and names the
// same signed data.
func onlineKey(set []dns.RR) string {
	if len(set) != 1 {
		return setKey(set, 0)
	}
	var buf [320]byte // built on the stack, one allocation: the string
	var b []byte
	switch rr := set[0].(type) {
	case *dns.PTR:
		b = append(append(append(buf[:0], "PTR|"...), rr.Hdr.Name...), '|')
		b = append(append(strconv.AppendUint(b, uint64(rr.Hdr.Ttl), 10), '|'), rr.Ptr...)
	case *dns.AAAA:
		b = append(append(append(buf[:0], "AAAA|"...), rr.Hdr.Name...), '|')
		b = append(append(strconv.AppendUint(b, uint64(rr.Hdr.Ttl), 10), '|'), rr.AAAA...)
	case *dns.A:
		b = append(append(append(buf[:0], "A|"...), rr.Hdr.Name...), '|')
		b = append(append(strconv.AppendUint(b, uint64(rr.Hdr.Ttl), 10), '|'), rr.A...)
	default:
		return setKey(set, 0)
	}
	return string(b)
}

func (o *onlineSigner) sign(set []dns.RR, sp Spender) ([]dns.RR, bool) {
	ck := onlineKey(set)
	o.mu.Lock()
	if sigs, ok := o.cache[ck]; ok {
		o.mu.Unlock()
		return sigs, true
	}
	now := o.Now()
	if !o.last.IsZero() {
		o.Tokens = min(o.Burst, o.Tokens+now.Sub(o.last).Seconds()*o.Rate)
	}
	o.last = now
	if o.Tokens < float64(len(o.zd.zsks)) {
		o.mu.Unlock()
		return nil, false
	}
	// The asker's own budget comes before the zone's tokens are taken,
	// so that a flooder past its budget spends nothing of the others'.
	if sp != nil && !sp.Spend(len(o.zd.zsks)) {
		o.mu.Unlock()
		return nil, false
	}
	o.Tokens -= float64(len(o.zd.zsks))
	o.mu.Unlock()

	if o.Count != nil {
		o.Count.Add(uint64(len(o.zd.zsks)))
	}
	var sigs []dns.RR
	for _, k := range o.zd.zsks {
		s, err := signOnline(set, o.zd.zone.Name, k, o.zd.sigFrom, o.zd.sigUntil)
		if err != nil {
			return nil, false
		}
		sigs = append(sigs, s)
	}
	o.mu.Lock()
	if len(o.cache) >= maxOnlineCache {
		clear(o.cache)
	}
	o.cache[ck] = sigs
	o.mu.Unlock()
	return sigs, true
}

// signOnline signs with the version's window, so that answers of one
// version carry the same inception and expiration.
func signOnline(set []dns.RR, zone string, k activeKey, from, until time.Time) (*dns.RRSIG, error) {
	h := set[0].Header()
	s := &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Algorithm: uint8(k.Algorithm), KeyTag: k.Tag, SignerName: zone, OrigTtl: h.Ttl,
		Inception: uint32(from.Unix()), Expiration: uint32(until.Unix())}
	if err := signOne(s, k.signer, set); err != nil {
		return nil, err
	}
	return s, nil
}

// sigs is every signature kept at the node, in type order: the answer
// to a query for type RRSIG.
func (zd *Data) nodeSigs(n *node) []dns.RR {
	var out []dns.RR
	for _, t := range n.types() {
		out = append(out, zd.setSigs(n.sets.get(t))...)
	}
	return out
}
