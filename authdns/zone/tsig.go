package zone

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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
	// Grants are the name suffixes (canonical, with the trailing dot)
	// under which RFC 2136 UPDATEs signed with the key may change static
	// records; none for a key that only signs transfers.
	Grants []string `json:"grants,omitempty"`
	Sealed []byte   `json:"-"`
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

// TSIGAAD binds a sealed TSIG secret to its key name and algorithm.
func TSIGAAD(name, alg string) []byte { return []byte("tsig|" + name + "|" + alg) }

// CheckTSIG canonicalises name and algorithm and checks the secret.
func CheckTSIG(name, alg string, secret []byte) (TSIGSecret, error) {
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

// TSIGFingerprint names a secret without revealing it.
func TSIGFingerprint(secret []byte) string {
	h := sha256.Sum256(append([]byte("cadastre tsig\x00"), secret...))
	return hex.EncodeToString(h[:6])
}

// LoadTSIG reads the stored TSIG keys and unseals their secrets.
func LoadTSIG(ctx context.Context, st Store, sealer *Sealer) ([]TSIGSecret, error) {
	ks, err := st.TSIGKeys(ctx)
	if err != nil || len(ks) == 0 {
		return nil, err
	}
	if sealer == nil {
		return nil, errors.New("TSIG keys: no sealing key configured")
	}
	out := make([]TSIGSecret, 0, len(ks))
	for _, k := range ks {
		sec, err := sealer.open(TSIGAAD(k.Name, k.Algorithm), k.Sealed)
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
		s, err := CheckTSIG(f[0], f[1], sec)
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
