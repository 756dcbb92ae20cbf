package authdns

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
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
	var rdata []byte
	switch rr := set[0].(type) {
	case *dns.A:
		if ip4 := rr.A.To4(); ip4 != nil {
			rdata = ip4
		}
	case *dns.AAAA:
		if len(rr.AAAA) == 16 {
			rdata = rr.AAAA
		}
	case *dns.PTR:
		rdata = appendCanonicalName(nil, rr.Ptr) // RFC 4034 §6.2: lower case
	}
	if rdata == nil || strings.HasPrefix(h.Name, "*") || strings.ContainsRune(h.Name, '\\') || strings.ContainsRune(s.SignerName, '\\') {
		return s.Sign(k, set)
	}
	if p, ok := set[0].(*dns.PTR); ok && strings.ContainsRune(p.Ptr, '\\') {
		return s.Sign(k, set)
	}
	s.Hdr.Rrtype, s.Hdr.Name, s.Hdr.Class = dns.TypeRRSIG, h.Name, h.Class
	if s.OrigTtl == 0 {
		s.OrigTtl = h.Ttl
	}
	s.TypeCovered = h.Rrtype
	s.Labels = uint8(dns.CountLabel(h.Name))

	b := make([]byte, 0, 18+2*len(h.Name)+len(s.SignerName)+14+len(rdata)+4)
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
	b = binary.BigEndian.AppendUint16(b, uint16(len(rdata)))
	b = append(b, rdata...)

	var sig []byte
	switch s.Algorithm {
	case dns.ED25519:
		var err error
		if sig, err = k.Sign(rand.Reader, b, crypto.Hash(0)); err != nil {
			return err
		}
	case dns.ECDSAP256SHA256:
		d := sha256.Sum256(b)
		if ps, ok := k.(*p256Signer); ok {
			var err error
			if sig, err = ps.signRaw(d[:]); err != nil {
				return err
			}
			break
		}
		der, err := k.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			return err
		}
		// RFC 6605 §4: r and s, 32 bytes each.
		if sig = rawECDSA(der); sig == nil {
			return fmt.Errorf("ECDSA signature: unexpected encoding")
		}
	}
	s.Signature = base64.StdEncoding.EncodeToString(sig)
	return nil
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

// rawECDSA turns a P-256 signature in DER (SEQUENCE of two INTEGERs, each
// at most 33 bytes, so short-form lengths) into r and s of 32 bytes each.
func rawECDSA(der []byte) []byte {
	if len(der) < 8 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return nil
	}
	out := make([]byte, 64)
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return nil
		}
		v := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 32 {
			return nil
		}
		copy(out[32*i+32-len(v):32*(i+1)], v)
	}
	if len(rest) != 0 {
		return nil
	}
	return out
}

// p256Signer signs with an ECDSA P-256 key at about half the CPU of
// ecdsa.SignASN1, because synthesised answers are signed per query and
// their rate is bounded by this cost (issue 6: at least Knot's
// onlinesign rate). The standard library spends about half of a P-256
// signature outside the curve: it derives the nonce with an HMAC-DRBG
// over SHA-512 (hedged signatures, ~20 % of a signature here) and
// inverts it with a constant-time Fermat exponentiation (~15 %). This
// signer takes the nonce k straight from crypto/rand (ECDSA's
// classic random nonce; the kernel's CSPRNG is what the DRBG is seeded
// from anyway), computes kG with crypto/ecdh's constant-time base-point
// multiplication, and inverts k with math/big after multiplying it by a
// random blinding factor b, so the variable-time inversion sees only
// k·b, which says nothing of k: k⁻¹ = (k·b)⁻¹·b; the private scalar is
// blinded the same way (d + j·n). The signature is a plain ECDSA
// signature (RFC 6605), verified by every validator.
type p256Signer struct {
	priv *ecdsa.PrivateKey
	d, n *big.Int
}

func newP256Signer(p *ecdsa.PrivateKey) *p256Signer {
	return &p256Signer{priv: p, d: new(big.Int).Set(p.D), n: elliptic.P256().Params().N}
}

// Public implements crypto.Signer.
func (p *p256Signer) Public() crypto.PublicKey { return p.priv.Public() }

// Sign implements crypto.Signer for what miekg/dns signs (ASN.1 DER, as
// ecdsa.PrivateKey.Sign returns); rand is not used: the nonce always
// comes from crypto/rand.
func (p *p256Signer) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	raw, err := p.signRaw(digest)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
}

// signRaw returns r and s of 32 bytes each (RFC 6605 §4) over a SHA-256
// digest.
func (p *p256Signer) signRaw(digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("P-256 signature: digest of %d bytes, want %d", len(digest), sha256.Size)
	}
	var kb, bb [32]byte
	var jb [8]byte
	// A k of 0 or ≥ n (which ecdh rejects), or an r or s of 0, has a
	// chance of about 2⁻³² per try: the loop ends at the first try but
	// for a broken random source.
	for range 16 {
		if _, err := rand.Read(kb[:]); err != nil {
			return nil, fmt.Errorf("P-256 signature: nonce: %w", err)
		}
		if _, err := rand.Read(bb[:]); err != nil {
			return nil, fmt.Errorf("P-256 signature: blinding: %w", err)
		}
		if _, err := rand.Read(jb[:]); err != nil {
			return nil, fmt.Errorf("P-256 signature: blinding: %w", err)
		}
		kp, err := ecdh.P256().NewPrivateKey(kb[:])
		if err != nil {
			continue
		}
		R := kp.PublicKey().Bytes() // 0x04, x, y
		r := new(big.Int).SetBytes(R[1:33])
		r.Mod(r, p.n)
		b := new(big.Int).SetBytes(bb[:])
		b.Mod(b, p.n)
		if r.Sign() == 0 || b.Sign() == 0 {
			continue
		}
		kinv := new(big.Int).SetBytes(kb[:])
		kinv.Mul(kinv, b).Mod(kinv, p.n)
		if kinv.ModInverse(kinv, p.n) == nil {
			continue
		}
		kinv.Mul(kinv, b).Mod(kinv, p.n)
		// s = k⁻¹(e + r·d) mod n; e is the whole digest, as n has 256
		// bits. d enters as d + j·n for a random j, the same mod n but a
		// different number each time, so that math/big's timing does
		// not depend on d alone.
		dj := new(big.Int).SetBytes(jb[:])
		dj.Mul(dj, p.n).Add(dj, p.d)
		s := new(big.Int).Mul(r, dj)
		s.Add(s, new(big.Int).SetBytes(digest)).Mod(s, p.n)
		s.Mul(s, kinv).Mod(s, p.n)
		if s.Sign() == 0 {
			continue
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
	}
	return nil, errors.New("P-256 signature: no valid nonce in 16 tries (broken random source?)")
}
