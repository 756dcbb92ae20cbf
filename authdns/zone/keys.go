package zone

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// SealKeySize is the length of the key that seals private keys at rest.
const SealKeySize = 32

// ErrSealed means a private key could not be unsealed: the sealing key
// from configuration is not the one it was sealed with, or the stored
// bytes were changed.
var ErrSealed = errors.New("cannot unseal DNSSEC private key (wrong $CADASTRE_DNS_KEY or token key?)")

// Sealer encrypts private keys with AES-256-GCM. The additional data binds
// each ciphertext to its zone and key tag, so a sealed key copied onto
// another row does not open.
type Sealer struct{ aead cipher.AEAD }

// NewSealer makes a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("DNS sealing key: %d bytes, need %d (64 hex digits): %w", len(key), SealKeySize, registry.ErrInvalid)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: g}, nil
}

// DeriveSealKey derives the sealing key from the API token key with HKDF
// (RFC 5869, SHA-256), for operators who configure only that one secret.
func DeriveSealKey(tokenKey []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, tokenKey, nil, "cadastre dnssec private keys v1", SealKeySize)
}

func aad(zone string, tag uint16) []byte { return fmt.Appendf(nil, "%s|%d", zone, tag) }

// Seal encrypts a private key (PKCS #8 DER) for zone and tag.
func (s *Sealer) Seal(zone string, tag uint16, der []byte) []byte {
	return s.SealData(aad(zone, tag), der)
}

// Open decrypts what Seal made.
func (s *Sealer) Open(zone string, tag uint16, sealed []byte) ([]byte, error) {
	der, err := s.open(aad(zone, tag), sealed)
	if err != nil {
		return nil, fmt.Errorf("zone %s key %d: %w", zone, tag, err)
	}
	return der, nil
}

// SealData encrypts data bound to ad (what it belongs to).
func (s *Sealer) SealData(ad, data []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return s.aead.Seal(nonce, nonce, data, ad)
}

// open decrypts what seal made with the same ad.
// OpenData is the inverse of SealData with the same associated data.
func (s *Sealer) OpenData(ad, sealed []byte) ([]byte, error) { return s.open(ad, sealed) }

func (s *Sealer) open(ad, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealed
	}
	data, err := s.aead.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, ErrSealed
	}
	return data, nil
}

// flags is the DNSKEY flags field of a role: 257 (SEP) for keys the
// parent's DS points at.
func (r Role) flags() uint16 {
	if r == ZSK {
		return dns.ZONE
	}
	return dns.ZONE | dns.SEP
}

// NewKey generates a key pair for zone and role. It does not check that
// the tag is free among the zone's keys; the caller does. It never returns
// a key whose tag is 0: miekg/dns refuses to sign with one ("bad key"), so
// one generated key in 65,536 would leave its zone unsigned.
func NewKey(zone string, role Role, alg Algorithm) (*dns.DNSKEY, crypto.Signer, error) {
	var bits int
	switch alg {
	case ECDSAP256:
		bits = 256
	case Ed25519:
		bits = 256
	default:
		return nil, nil, fmt.Errorf("algorithm %v: %w", alg, registry.ErrInvalid)
	}
	var k *dns.DNSKEY
	var priv crypto.PrivateKey
	for k == nil || k.KeyTag() == 0 {
		k = &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET}, Flags: role.flags(), Protocol: 3, Algorithm: uint8(alg)}
		var err error
		if priv, err = k.Generate(bits); err != nil {
			return nil, nil, err
		}
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("algorithm %v: generated key cannot sign", alg)
	}
	return k, s, nil
}

// dnskey is k as a DNSKEY record of zone.
func (k Key) dnskey(zone string, ttl uint32) *dns.DNSKEY {
	return &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl},
		Flags: k.Role.flags(), Protocol: 3, Algorithm: uint8(k.Algorithm), PublicKey: k.Public}
}

// signer unseals k's private key.
func (k Key) signer(s *Sealer, zone string) (crypto.Signer, error) {
	der, err := s.Open(zone, k.Tag, k.Sealed)
	if err != nil {
		return nil, err
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("zone %s key %d: %w", zone, k.Tag, err)
	}
	switch p := p.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("zone %s key %d: not P-256", zone, k.Tag)
		}
		return p, nil
	case ed25519.PrivateKey:
		return p, nil
	}
	return nil, fmt.Errorf("zone %s key %d: unsupported private key %T", zone, k.Tag, p)
}

// SealKey turns a generated key pair into a storable Key.
func SealKey(s *Sealer, zone string, role Role, dk *dns.DNSKEY, priv crypto.Signer) (Key, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	tag := dk.KeyTag()
	return Key{Role: role, Algorithm: Algorithm(dk.Algorithm), Tag: tag, Public: dk.PublicKey, Sealed: s.Seal(zone, tag, der), State: KeyActive}, nil
}

// DS is the delegation signer record of a key (SHA-256 digest, RFC 4509).
func DS(zone string, k Key, ttl uint32) *dns.DS {
	return k.dnskey(zone, ttl).ToDS(dns.SHA256)
}
