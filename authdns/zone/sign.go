package zone

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"unsafe"

	"github.com/miekg/dns"
)

// signOne signs a set as (*dns.RRSIG).Sign does, with a shorter way for
// what is signed per query: one A, AAAA or PTR record with a plain name.
// It builds the RFC 4034 §3.1.8.1 signed data itself, without the copies,
// the 4 KiB buffer and the packing miekg/dns makes for any set, which
// cost about a quarter of an Ed25519 signature. Other sets go to miekg.
func signOne(s *dns.RRSIG, k crypto.Signer, set []dns.RR) error {
	if len(set) != 1 || (s.Algorithm != dns.ECDSAP256SHA256 && s.Algorithm != dns.ED25519) {
		return s.Sign(k, set)
	}
	h := set[0].Header()
	if strings.HasPrefix(h.Name, "*") || strings.ContainsRune(h.Name, '\\') || strings.ContainsRune(s.SignerName, '\\') {
		return s.Sign(k, set)
	}
	switch rr := set[0].(type) {
	case *dns.A:
		if rr.A.To4() == nil {
			return s.Sign(k, set)
		}
	case *dns.AAAA:
		if len(rr.AAAA) != 16 {
			return s.Sign(k, set)
		}
	case *dns.PTR:
		if strings.ContainsRune(rr.Ptr, '\\') {
			return s.Sign(k, set)
		}
	default:
		return s.Sign(k, set)
	}
	s.Hdr.Rrtype, s.Hdr.Name, s.Hdr.Class = dns.TypeRRSIG, h.Name, h.Class
	if s.OrigTtl == 0 {
		s.OrigTtl = h.Ttl
	}
	s.TypeCovered = h.Rrtype
	s.Labels = uint8(dns.CountLabel(h.Name))

	// The signed data in a buffer of the stack (it is signed per query):
	// RRSIG RDATA without the signature, then the record (RFC 4034
	// §3.1.8.1), names in canonical form (§6.2: lower case).
	var buf [384]byte
	b := buf[:0]
	b = binary.BigEndian.AppendUint16(b, s.TypeCovered)
	b = append(b, s.Algorithm, s.Labels)
	b = binary.BigEndian.AppendUint32(b, s.OrigTtl)
	b = binary.BigEndian.AppendUint32(b, s.Expiration)
	b = binary.BigEndian.AppendUint32(b, s.Inception)
	b = binary.BigEndian.AppendUint16(b, s.KeyTag)
	b = appendCanonicalName(b, s.SignerName)
	b = appendCanonicalName(b, h.Name)
	b = binary.BigEndian.AppendUint16(b, h.Rrtype)
	b = binary.BigEndian.AppendUint16(b, h.Class)
	b = binary.BigEndian.AppendUint32(b, s.OrigTtl)
	rdlen := len(b)
	b = append(b, 0, 0)
	switch rr := set[0].(type) {
	case *dns.A:
		b = append(b, rr.A.To4()...)
	case *dns.AAAA:
		b = append(b, rr.AAAA...)
	case *dns.PTR:
		b = appendCanonicalName(b, rr.Ptr)
	}
	binary.BigEndian.PutUint16(b[rdlen:], uint16(len(b)-rdlen-2))

	var sig []byte
	switch s.Algorithm {
	case dns.ED25519:
		if p, ok := k.(ed25519.PrivateKey); ok {
			sig = ed25519.Sign(p, b) // as k.Sign, without the interface's copies
		} else {
			var err error
			// A copy: what an interface's method is given escapes.
			if sig, err = k.Sign(rand.Reader, slices.Clone(b), crypto.Hash(0)); err != nil {
				return err
			}
		}
	case dns.ECDSAP256SHA256:
		d := sha256.Sum256(b)
		der, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return err
		}
		// RFC 6605 §4: r and s, 32 bytes each.
		var raw [64]byte
		if !rawECDSA(raw[:], der) {
			return fmt.Errorf("ECDSA signature: unexpected encoding")
		}
		sig = raw[:]
	}
	var enc [88]byte // base64 of 64 bytes
	if base64.StdEncoding.EncodedLen(len(sig)) != len(enc) {
		s.Signature = base64.StdEncoding.EncodeToString(sig)
		return nil
	}
	base64.StdEncoding.Encode(enc[:], sig)
	s.Signature = string(enc[:])
	return nil
}

// deterministic is a signer that ignores the random source it is given:
// crypto/ecdsa then signs by RFC 6979, Ed25519 always does, so the same
// data signed by the same key in the same period gives the same RRSIG on
// every replica and after every restart (see sigPolicy). Only the
// precomputed signatures need it: those made per query are neither
// transferred nor hashed.
type deterministic struct{ crypto.Signer }

// Sign implements crypto.Signer.
func (d deterministic) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return d.Signer.Sign(nil, digest, opts)
}

// appendCanonicalName appends name, fully qualified and without escapes,
// in lower-case uncompressed wire form.
func appendCanonicalName(b []byte, name string) []byte {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return append(b, 0)
	}
	for label := range strings.SplitSeq(name, ".") {
		b = append(b, byte(len(label)))
		for i := 0; i < len(label); i++ {
			c := label[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
	}
	return append(b, 0)
}

// rawECDSA writes into out (64 bytes) the r and s of a P-256 signature
// in DER (SEQUENCE of two INTEGERs, each at most 33 bytes, so short-form
// lengths), 32 bytes each, or says that der is not one.
func rawECDSA(out, der []byte) bool {
	if len(out) != 64 || len(der) < 8 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return false
	}
	clear(out)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return false
		}
		v := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 32 {
			return false
		}
		copy(out[32*i+32-len(v):32*(i+1)], v)
	}
	return len(rest) == 0
}

// rawSig is a precomputed signature as a version keeps it: what an
// RRSIG holds that its set does not say (RFC 4034 §3.1: the owner, type
// covered, TTLs and signer are the set's and the zone's), and the
// signature itself in binary. A *dns.RRSIG with its base64 text was about
// 210 bytes; this is 80. The record is made again when the set is
// answered, transferred or hashed (rrsig): the same record, field for
// field. Both algorithms served (ECDSA P-256, Ed25519) sign in 64 bytes.
type rawSig struct {
	inc, exp uint32
	tag      uint16
	alg      uint8
	labels   uint8
	sig      [64]byte
}

// sigList is a set's signatures, one per signing key.
type sigList []rawSig

// toRaw is s kept as a rawSig.
func toRaw(s *dns.RRSIG) (rawSig, error) {
	r := rawSig{inc: s.Inception, exp: s.Expiration, tag: s.KeyTag, alg: s.Algorithm, labels: s.Labels}
	var b [128]byte
	if base64.StdEncoding.DecodedLen(len(s.Signature)) > len(b) {
		return rawSig{}, fmt.Errorf("signature of %s: %d characters, want %d bytes", s.Hdr.Name, len(s.Signature), len(r.sig))
	}
	n, err := base64.StdEncoding.Decode(b[:], []byte(s.Signature))
	if err != nil || n != len(r.sig) {
		return rawSig{}, fmt.Errorf("signature of %s: %d bytes, want %d (%v)", s.Hdr.Name, n, len(r.sig), err)
	}
	copy(r.sig[:], b[:n])
	return r, nil
}

// rrsig is the RRSIG record of s over the set whose first record has
// header h, signed by zone signer (as sign made it).
//
// It is made for every positive answer not in the fast path's cache, and
// for each set of a transfer, so it is one allocation: the record and its
// signature's base64 text together (madeSig). EncodeToString and the
// record were three, a tenth of a first-time positive answer's CPU
// (bench/README.md, session 9, "First-time (slow path) answers").
func (s *rawSig) rrsig(h *dns.RR_Header, signer string) *dns.RRSIG {
	m := &madeSig{RRSIG: dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		TypeCovered: h.Rrtype, Algorithm: s.alg, Labels: s.labels, OrigTtl: h.Ttl, Expiration: s.exp, Inception: s.inc,
		KeyTag: s.tag, SignerName: signer}}
	base64.StdEncoding.Encode(m.text[:], s.sig[:])
	// The text is never written again: the string may share it.
	m.Signature = unsafe.String(&m.text[0], len(m.text))
	return &m.RRSIG
}

// madeSig is an RRSIG record made from a rawSig, with the bytes of its
// Signature text (which points into text). Immutable once made.
type madeSig struct {
	dns.RRSIG
	text [88]byte // base64 of the 64 bytes of a rawSig
}

// sigRRs is sigs as records, for the set whose first record is rr.
func (zd *Data) sigRRs(rr dns.RR, sigs sigList) []dns.RR {
	if len(sigs) == 0 {
		return nil
	}
	h := rr.Header()
	out := make([]dns.RR, len(sigs))
	for i := range sigs {
		out[i] = sigs[i].rrsig(h, zd.zone.Name)
	}
	return out
}

// setSigs is the signatures of s as records.
func (zd *Data) setSigs(s *rrset) []dns.RR {
	if len(s.Sigs) == 0 {
		return nil
	}
	return zd.sigRRs(s.RRs[0], s.Sigs)
}

// setSigner makes the precomputed signatures of a build (sign). It
// writes the signed data of a set (RFC 4034 §3.1.8.1: the RRSIG RDATA
// without its signature, then the records in canonical form and order,
// §6.2 and §6.3) into buffers it keeps, and signs it straight into a
// rawSig. miekg/dns's RRSIG.Sign, which made them before, allocates a
// 4 KiB buffer, a copy and a packed form of each record, the DER and
// big.Int form of r and s and a base64 text that toRaw decoded again:
// about 5.6 KB of garbage a signature, the garbage that made GC about a
// quarter of a 10M-name start-up (bench/README.md, session 10). The
// bytes signed, and so the signatures, are miekg/dns's (both algorithms
// sign deterministically here: TestSetSignerAsMiekg compares them).
//
// A setSigner is one goroutine's: signZone gives each of its parts one.
type setSigner struct {
	data  []byte   // the signed data
	wire  []byte   // the set's records in canonical wire form
	spans []rrSpan // each record's place in wire
	pack  []byte   // room for the records packed by miekg/dns
	b32   [20]byte // an NSEC3's next hashed owner name
}

// rrSpan is one record's canonical wire form, wire[start:end], whose
// RDATA begins at rdata: records are sorted by their RDATA (§6.3).
type rrSpan struct{ start, rdata, end int }

// sign is the signature of set by k, valid from inc to exp, as signSet
// and toRaw made it.
func (w *setSigner) sign(set []dns.RR, zone string, k activeKey, inc, exp uint32) (rawSig, error) {
	h := set[0].Header()
	r := rawSig{inc: inc, exp: exp, tag: k.Tag, alg: uint8(k.Algorithm), labels: uint8(dns.CountLabel(h.Name))}
	if strings.HasPrefix(h.Name, "*") {
		r.labels-- // RFC 4034 §3.1.3: the wildcard label is not counted
	}
	if (k.Algorithm != ECDSAP256 && k.Algorithm != Ed25519) || k.Tag == 0 || zone == "" {
		// What miekg/dns refuses or rawSig cannot hold: its error.
		return signRaw(set, zone, k, inc, exp)
	}
	b := binary.BigEndian.AppendUint16(w.data[:0], h.Rrtype)
	b = append(b, r.alg, r.labels)
	b = binary.BigEndian.AppendUint32(b, h.Ttl) // the original TTL: the set's
	b = binary.BigEndian.AppendUint32(b, exp)
	b = binary.BigEndian.AppendUint32(b, inc)
	b = binary.BigEndian.AppendUint16(b, k.Tag)
	b, err := appendWireName(b, zone)
	if err != nil {
		return rawSig{}, fmt.Errorf("sign %s %s: signer %q: %w", h.Name, dns.TypeToString[h.Rrtype], zone, err)
	}
	w.wire, w.spans = w.wire[:0], w.spans[:0]
	for _, rr := range set {
		if err := w.appendRR(rr, h.Ttl); err != nil {
			return rawSig{}, fmt.Errorf("sign %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
	}
	if len(w.spans) > 1 {
		slices.SortFunc(w.spans, func(x, y rrSpan) int { return bytes.Compare(w.wire[x.rdata:x.end], w.wire[y.rdata:y.end]) })
	}
	for i, s := range w.spans {
		// §6.3: a record that is there twice is signed once.
		if i > 0 && bytes.Equal(w.wire[s.start:s.end], w.wire[w.spans[i-1].start:w.spans[i-1].end]) {
			continue
		}
		b = append(b, w.wire[s.start:s.end]...)
	}
	w.data = b

	var d, tag = [32]byte{}, [16]byte{}
	if k.Algorithm == ECDSAP256 || k.cache != nil {
		d = sha256.Sum256(b)
	}
	if k.cache != nil {
		// The signature is a function of the key and the signed data
		// (deterministic): one made before, kept in the cache, is it.
		if tag = digestTag(&k.cacheID, &d); k.cache.lookup(&tag, &r.sig) {
			return r, nil
		}
	}
	switch k.Algorithm {
	case ECDSAP256:
		// A nil random source: crypto/ecdsa signs by RFC 6979 (see
		// deterministic).
		der, err := k.signer.Sign(nil, d[:], crypto.SHA256)
		if err != nil {
			return rawSig{}, fmt.Errorf("sign %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
		if !rawECDSA(r.sig[:], der) {
			return rawSig{}, fmt.Errorf("sign %s %s: ECDSA signature: unexpected encoding", h.Name, dns.TypeToString[h.Rrtype])
		}
	case Ed25519:
		var sig []byte
		if p, ok := k.signer.(ed25519.PrivateKey); ok {
			sig = ed25519.Sign(p, b)
		} else if sig, err = k.signer.Sign(nil, b, crypto.Hash(0)); err != nil {
			return rawSig{}, fmt.Errorf("sign %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
		}
		if len(sig) != len(r.sig) {
			return rawSig{}, fmt.Errorf("sign %s %s: Ed25519 signature of %d bytes", h.Name, dns.TypeToString[h.Rrtype], len(sig))
		}
		copy(r.sig[:], sig)
	}
	if k.cache != nil {
		k.cache.add(&tag, &r.sig)
	}
	return r, nil
}

// signRaw is the signature made by miekg/dns, as a rawSig.
func signRaw(set []dns.RR, zone string, k activeKey, inc, exp uint32) (rawSig, error) {
	h := set[0].Header()
	s := &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Algorithm: uint8(k.Algorithm), KeyTag: k.Tag, SignerName: zone, OrigTtl: h.Ttl, Inception: inc, Expiration: exp}
	if err := s.Sign(deterministic{k.signer}, set); err != nil {
		return rawSig{}, fmt.Errorf("sign %s %s: %w", h.Name, dns.TypeToString[h.Rrtype], err)
	}
	return toRaw(s)
}

// appendRR appends rr to w.wire in canonical form (RFC 4034 §6.2: names
// in lower case, the TTL the original TTL), with its span. The records
// of most sets (A, AAAA, PTR, NSEC3 with plain names) are written here;
// the others are copied, made canonical as miekg/dns makes them, and
// packed by it.
func (w *setSigner) appendRR(rr dns.RR, ttl uint32) error {
	h := rr.Header()
	start := len(w.wire)
	if plainName(h.Name) {
		b := appendCanonicalName(w.wire, h.Name)
		b = binary.BigEndian.AppendUint16(b, h.Rrtype)
		b = binary.BigEndian.AppendUint16(b, h.Class)
		b = binary.BigEndian.AppendUint32(b, ttl)
		rdata := len(b) + 2
		b = append(b, 0, 0)
		ok := true
		switch rr := rr.(type) {
		case *dns.A:
			a := rr.A.To4()
			ok = a != nil
			b = append(b, a...)
		case *dns.AAAA:
			ok = len(rr.AAAA) == net.IPv6len
			b = append(b, rr.AAAA...)
		case *dns.PTR:
			ok = plainName(rr.Ptr)
			b = appendCanonicalName(b, rr.Ptr)
		case *dns.NSEC3:
			b, ok = w.appendNSEC3(b, rr)
		default:
			ok = false
		}
		if ok && len(b)-rdata <= 0xFFFF {
			binary.BigEndian.PutUint16(b[rdata-2:], uint16(len(b)-rdata))
			w.wire = b
			w.spans = append(w.spans, rrSpan{start, rdata, len(b)})
			return nil
		}
	}
	// The rest as miekg/dns's rawSignatureData makes it: a copy (PackRR
	// writes into the record it packs), names in lower case.
	c := dns.Copy(rr)
	ch := c.Header()
	ch.Ttl = ttl
	ch.Name = dns.CanonicalName(ch.Name)
	canonicalRData(c)
	need := dns.Len(c) + 1
	if len(w.pack) < need {
		w.pack = make([]byte, max(need, 512))
	}
	n, err := dns.PackRR(c, w.pack, 0, nil, false)
	if err != nil {
		return fmt.Errorf("pack %s: %w", h.Name, err)
	}
	_, off, err := dns.UnpackDomainName(w.pack[:n], 0)
	if err != nil {
		return fmt.Errorf("pack %s: %w", h.Name, err)
	}
	w.wire = append(w.wire, w.pack[:n]...)
	w.spans = append(w.spans, rrSpan{start, start + off + 10, len(w.wire)})
	return nil
}

// appendNSEC3 appends the RDATA of an NSEC3 record without salt (what a
// chain holds, nsec3RR), or says it is not one.
func (w *setSigner) appendNSEC3(b []byte, rr *dns.NSEC3) ([]byte, bool) {
	if rr.SaltLength != 0 || rr.Salt != "" || base32HexNoPad.DecodedLen(len(rr.NextDomain)) != len(w.b32) || !slices.IsSorted(rr.TypeBitMap) {
		return b, false
	}
	// miekg/dns reads the hash in either case.
	var up [32]byte
	for i := 0; i < len(rr.NextDomain); i++ {
		c := rr.NextDomain[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if n, err := base32HexNoPad.Decode(w.b32[:], up[:len(rr.NextDomain)]); err != nil || n != len(w.b32) {
		return b, false
	}
	b = append(b, rr.Hash, rr.Flags)
	b = binary.BigEndian.AppendUint16(b, rr.Iterations)
	b = append(b, 0, rr.HashLength)
	b = append(b, w.b32[:]...)
	return appendTypeBitmap(b, rr.TypeBitMap), true
}

// base32HexNoPad is the encoding of NSEC3 hashes (RFC 5155 §3.3).
var base32HexNoPad = base32.HexEncoding.WithPadding(base32.NoPadding)

// appendTypeBitmap appends the type bit maps of RFC 4034 §4.1.2 for
// types, which are in ascending order.
func appendTypeBitmap(b []byte, types []uint16) []byte {
	for i := 0; i < len(types); {
		window := types[i] >> 8
		var bits [32]byte
		n := 0
		for ; i < len(types) && types[i]>>8 == window; i++ {
			lo := types[i] & 0xFF
			bits[lo/8] |= 1 << (7 - lo%8)
			n = int(lo/8) + 1
		}
		b = append(b, byte(window), byte(n))
		b = append(b, bits[:n]...)
	}
	return b
}

// plainName says whether name can be written by appendCanonicalName as
// miekg/dns would pack its lower-case form: printable ASCII without
// escapes, labels of 1 to 63 bytes, at most 255 bytes in wire form.
func plainName(name string) bool {
	if len(name) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			if label == 0 && len(name) > 1 {
				return false
			}
			label = 0
		case c <= ' ' || c >= 0x7F || c == '\\' || c == '(' || c == ')' || c == ';' || c == '"' || c == '@':
			return false
		default:
			if label++; label > 63 {
				return false
			}
		}
	}
	return true
}

// appendWireName appends name in lower case, uncompressed wire form.
func appendWireName(b []byte, name string) ([]byte, error) {
	if plainName(name) {
		return appendCanonicalName(b, name), nil
	}
	var buf [256]byte
	n, err := dns.PackDomainName(dns.CanonicalName(name), buf[:], 0, nil, false)
	if err != nil {
		return b, err
	}
	return append(b, buf[:n]...), nil
}

// canonicalRData puts the names in rr's RDATA in lower case, for the
// types RFC 4034 §6.2 lists (without HINFO, RFC 6840 §5.1), as
// miekg/dns's rawSignatureData does.
func canonicalRData(rr dns.RR) {
	switch x := rr.(type) {
	case *dns.NS:
		x.Ns = dns.CanonicalName(x.Ns)
	case *dns.MD:
		x.Md = dns.CanonicalName(x.Md)
	case *dns.MF:
		x.Mf = dns.CanonicalName(x.Mf)
	case *dns.CNAME:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.SOA:
		x.Ns = dns.CanonicalName(x.Ns)
		x.Mbox = dns.CanonicalName(x.Mbox)
	case *dns.MB:
		x.Mb = dns.CanonicalName(x.Mb)
	case *dns.MG:
		x.Mg = dns.CanonicalName(x.Mg)
	case *dns.MR:
		x.Mr = dns.CanonicalName(x.Mr)
	case *dns.PTR:
		x.Ptr = dns.CanonicalName(x.Ptr)
	case *dns.MINFO:
		x.Rmail = dns.CanonicalName(x.Rmail)
		x.Email = dns.CanonicalName(x.Email)
	case *dns.MX:
		x.Mx = dns.CanonicalName(x.Mx)
	case *dns.RP:
		x.Mbox = dns.CanonicalName(x.Mbox)
		x.Txt = dns.CanonicalName(x.Txt)
	case *dns.AFSDB:
		x.Hostname = dns.CanonicalName(x.Hostname)
	case *dns.RT:
		x.Host = dns.CanonicalName(x.Host)
	case *dns.SIG:
		x.SignerName = dns.CanonicalName(x.SignerName)
	case *dns.PX:
		x.Map822 = dns.CanonicalName(x.Map822)
		x.Mapx400 = dns.CanonicalName(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = dns.CanonicalName(x.Replacement)
	case *dns.KX:
		x.Exchanger = dns.CanonicalName(x.Exchanger)
	case *dns.SRV:
		x.Target = dns.CanonicalName(x.Target)
	case *dns.DNAME:
		x.Target = dns.CanonicalName(x.Target)
	}
}
