package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// tsigRing is the server's TSIG keys: replaced whole when the register's
// keys change, read by every query without a lock. A published map is
// never written.
type tsigRing struct {
	keys atomic.Pointer[map[string]zone.TSIGSecret]
}

func (r *tsigRing) set(ks []zone.TSIGSecret) {
	m := make(map[string]zone.TSIGSecret, len(ks))
	for _, k := range ks {
		m[k.Name] = k
	}
	r.keys.Store(&m)
}

// Generate implements dns.TsigProvider. A request naming a key with
// another algorithm than the key's is refused (RFC 8945 §5.2.2: BADKEY).
func (r *tsigRing) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	m := r.keys.Load()
	if m == nil {
		return nil, dns.ErrSecret
	}
	k, ok := (*m)[strings.ToLower(t.Hdr.Name)]
	if !ok {
		return nil, dns.ErrSecret
	}
	var h func() hash.Hash
	switch strings.TrimSuffix(strings.ToLower(t.Algorithm), ".") {
	case "hmac-sha256":
		h = sha256.New
	case "hmac-sha384":
		h = sha512.New384
	case "hmac-sha512":
		h = sha512.New
	default:
		return nil, dns.ErrKeyAlg
	}
	if strings.TrimSuffix(strings.ToLower(t.Algorithm), ".") != k.Algorithm {
		return nil, dns.ErrKeyAlg
	}
	mac := hmac.New(h, k.Secret)
	mac.Write(msg)
	return mac.Sum(nil), nil
}

// Verify implements dns.TsigProvider.
func (r *tsigRing) Verify(msg []byte, t *dns.TSIG) error {
	b, err := r.Generate(msg, t)
	if err != nil {
		return err
	}
	mac, err := hex.DecodeString(t.MAC)
	if err != nil {
		return err
	}
	if !hmac.Equal(b, mac) {
		return dns.ErrSig
	}
	return nil
}
