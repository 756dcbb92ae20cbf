package authdns

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// SubjectTSIG is the subject kind of TSIG key events.
const SubjectTSIG = "tsig_key"

// TSIG algorithms cadastre accepts (RFC 8945 §6: HMAC-SHA256 is the one
// every implementation has; HMAC-MD5 and HMAC-SHA1 are not offered).
var tsigAlgorithms = []string{"hmac-sha256", "hmac-sha384", "hmac-sha512"}

// ParseTSIGAlgorithm checks a TSIG algorithm name ("hmac-sha256", with or
// without the trailing dot, any case) and returns it canonical, without
// the dot.
func ParseTSIGAlgorithm(s string) (string, error) {
	a := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if slices.Contains(tsigAlgorithms, a) {
		return a, nil
	}
	return "", fmt.Errorf("TSIG algorithm %q: want one of %s: %w", s, strings.Join(tsigAlgorithms, ", "), registry.ErrInvalid)
}

// TSIGKey is a TSIG key kept in the register. Its secret is sealed like a
// DNSSEC private key and never leaves the register but to the DNS server.
type TSIGKey struct {
	Name      string    `json:"name"`      // canonical, with the trailing dot
	Algorithm string    `json:"algorithm"` // e.g. hmac-sha256
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Sealed    []byte    `json:"-"`
}

// TSIGSecret is a TSIG key with its secret in the clear, as the server
// and a key file hold it.
type TSIGSecret struct {
	Name      string // canonical, with the trailing dot
	Algorithm string // e.g. hmac-sha256
	Secret    []byte
}

// minTSIGSecret is the shortest secret accepted: RFC 8945 §6 wants the key
// at least as long as the hash output for HMAC-SHA256 (32 bytes); shorter
// keys are accepted by some tools, but cadastre generates 32 and refuses
// fewer than 16 as a sign of a mistake.
const minTSIGSecret = 16

func tsigAAD(name, alg string) []byte { return []byte("tsig|" + name + "|" + alg) }

// checkTSIG canonicalises name and algorithm and checks the secret.
func checkTSIG(name, alg string, secret []byte) (TSIGSecret, error) {
	n, err := CanonicalName(name)
	if err != nil {
		return TSIGSecret{}, fmt.Errorf("TSIG key %w", err)
	}
	a, err := ParseTSIGAlgorithm(alg)
	if err != nil {
		return TSIGSecret{}, fmt.Errorf("TSIG key %s: %w", n, err)
	}
	if len(secret) < minTSIGSecret {
		return TSIGSecret{}, fmt.Errorf("TSIG key %s: secret of %d bytes, need at least %d: %w", n, len(secret), minTSIGSecret, registry.ErrInvalid)
	}
	return TSIGSecret{Name: n, Algorithm: a, Secret: secret}, nil
}

// AddTSIG stores a TSIG key sealed. With secret nil it generates a 32-byte
// one. It returns the key's record and its secret, for the caller to show
// once.
func (m *Manager) AddTSIG(ctx context.Context, name, alg string, secret []byte) (TSIGKey, []byte, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return TSIGKey{}, nil, err
		}
	}
	s, err := checkTSIG(name, alg, secret)
	if err != nil {
		return TSIGKey{}, nil, err
	}
	if m.sealer == nil {
		return TSIGKey{}, nil, errors.New("TSIG key: no sealing key configured")
	}
	k := TSIGKey{Name: s.Name, Algorithm: s.Algorithm, CreatedAt: m.now().UTC().Truncate(time.Microsecond), CreatedBy: registry.Actor(ctx)}
	k.Sealed = m.sealer.seal(tsigAAD(k.Name, k.Algorithm), s.Secret)
	// The event names the key and a fingerprint of the secret, never the
	// secret, so that operators can tell two keys of one name apart.
	after := struct {
		TSIGKey
		Fingerprint string `json:"fingerprint"`
	}{k, TSIGFingerprint(s.Secret)}
	if err := m.store.InsertTSIGKey(ctx, k, m.event(ctx, "tsig.add", SubjectTSIG, k.Name, nil, after)); err != nil {
		return TSIGKey{}, nil, fmt.Errorf("TSIG key %s: %w", k.Name, err)
	}
	return k, s.Secret, nil
}

// TSIGFingerprint names a secret without revealing it.
func TSIGFingerprint(secret []byte) string {
	h := sha256.Sum256(append([]byte("cadastre tsig\x00"), secret...))
	return hex.EncodeToString(h[:6])
}

// TSIGKeys lists the TSIG keys, by name, without secrets.
func (m *Manager) TSIGKeys(ctx context.Context) ([]TSIGKey, error) {
	return m.store.TSIGKeys(ctx)
}

// RemoveTSIG deletes a TSIG key. Zones whose allow-transfer names it then
// refuse transfers signed with it.
func (m *Manager) RemoveTSIG(ctx context.Context, name string) error {
	n, err := CanonicalName(name)
	if err != nil {
		return fmt.Errorf("TSIG key %w", err)
	}
	if err := m.store.DeleteTSIGKey(ctx, n, m.event(ctx, "tsig.remove", SubjectTSIG, n, map[string]string{"name": n}, nil)); err != nil {
		return fmt.Errorf("TSIG key %s: %w", n, err)
	}
	return nil
}

// TSIGSecrets unseals every TSIG key of the register, for the server.
func (m *Manager) TSIGSecrets(ctx context.Context) ([]TSIGSecret, error) {
	return loadTSIG(ctx, m.store, m.sealer)
}

func loadTSIG(ctx context.Context, st Store, sealer *Sealer) ([]TSIGSecret, error) {
	ks, err := st.TSIGKeys(ctx)
	if err != nil || len(ks) == 0 {
		return nil, err
	}
	if sealer == nil {
		return nil, errors.New("TSIG keys: no sealing key configured")
	}
	out := make([]TSIGSecret, 0, len(ks))
	for _, k := range ks {
		sec, err := sealer.open(tsigAAD(k.Name, k.Algorithm), k.Sealed)
		if err != nil {
			return nil, fmt.Errorf("TSIG key %s: %w", k.Name, ErrSealed)
		}
		out = append(out, TSIGSecret{Name: k.Name, Algorithm: k.Algorithm, Secret: sec})
	}
	return out, nil
}

// ReadTSIGFile reads TSIG keys from r, one a line: "NAME ALGORITHM
// BASE64-SECRET"; blank lines and lines starting with # are skipped.
// Errors name the source and the line.
func ReadTSIGFile(r io.Reader, source string) ([]TSIGSecret, error) {
	var out []TSIGSecret
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want NAME ALGORITHM BASE64-SECRET: %w", source, n, registry.ErrInvalid)
		}
		sec, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: secret is not base64: %w", source, n, registry.ErrInvalid)
		}
		s, err := checkTSIG(f[0], f[1], sec)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", source, n, err)
		}
		if slices.ContainsFunc(out, func(o TSIGSecret) bool { return o.Name == s.Name }) {
			return nil, fmt.Errorf("%s:%d: TSIG key %s given twice: %w", source, n, s.Name, registry.ErrInvalid)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return out, nil
}

// tsigRing is the server's TSIG keys: replaced whole when the register's
// keys change, read by every query without a lock. A published map is
// never written.
type tsigRing struct {
	keys atomic.Pointer[map[string]TSIGSecret]
}

func (r *tsigRing) set(ks []TSIGSecret) {
	m := make(map[string]TSIGSecret, len(ks))
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
