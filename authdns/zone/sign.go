package zone

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

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
// header h, signed by zone signer (as signSet made it).
func (s *rawSig) rrsig(h *dns.RR_Header, signer string) *dns.RRSIG {
	return &dns.RRSIG{Hdr: dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		TypeCovered: h.Rrtype, Algorithm: s.alg, Labels: s.labels, OrigTtl: h.Ttl, Expiration: s.exp, Inception: s.inc,
		KeyTag: s.tag, SignerName: signer, Signature: base64.StdEncoding.EncodeToString(s.sig[:])}
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
