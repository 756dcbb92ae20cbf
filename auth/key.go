package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ParseKey reads a key written as hex (at least 64 hex digits).
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("token key: not hex: %v", err)
	}
	if len(k) < KeySize {
		return nil, fmt.Errorf("token key: %d bytes, need at least %d (64 hex digits)", len(k), KeySize)
	}
	return k, nil
}

// NewKey returns a fresh random token key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return k
}

// KeyID names a key without revealing it (a truncated SHA-256 of a label
// and the key), so that events and logs can say which key is in use and
// operators can compare replicas' key files.
func KeyID(key []byte) string {
	h := sha256.Sum256(append([]byte("cadastre token key id\x00"), key...))
	return hex.EncodeToString(h[:6])
}

// Keys are the token keys a server holds. Current seals the verifiers of
// new tokens and of re-keyed ones; Previous, kept after a rotation, still
// opens verifiers sealed before it, so that replicas keep working while
// the key file travels and the database is re-keyed.
type Keys struct {
	Current  []byte
	Previous []byte // nil outside a rotation
}

// KeyFile is the content of the token key file: the keys, and the key that
// seals DNS secrets (DNSSEC private keys, TSIG secrets) when it is not
// derived from the current token key. The first rotation pins the key
// derived from the original token key there, so DNS secrets sealed before
// the rotation keep opening.
type KeyFile struct {
	Keys
	DNSSeal []byte // nil: derive from Current
}

// ParseKeyFile reads a key file: either one line of hex (the original
// format: the current key), or lines "current HEX", "previous HEX" and
// "dns-seal HEX"; blank lines and lines starting with # are ignored.
func ParseKeyFile(text string) (KeyFile, error) {
	var f KeyFile
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		label, value, ok := strings.Cut(line, " ")
		if !ok {
			label, value = "current", line
		}
		k, err := ParseKey(value)
		if err != nil {
			return KeyFile{}, fmt.Errorf("line %d (%s): %w", n, label, err)
		}
		var dst *[]byte
		switch label {
		case "current":
			dst = &f.Current
		case "previous":
			dst = &f.Previous
		case "dns-seal":
			dst = &f.DNSSeal
		default:
			return KeyFile{}, fmt.Errorf("line %d: unknown label %q (want current, previous or dns-seal)", n, label)
		}
		if *dst != nil {
			return KeyFile{}, fmt.Errorf("line %d: a second %s key", n, label)
		}
		*dst = k
	}
	if f.Current == nil {
		return KeyFile{}, errors.New("no current key")
	}
	return f, nil
}

// String writes f in the format ParseKeyFile reads. It holds secrets: it
// is for the key file only, never for logs.
func (f KeyFile) String() string {
	var b strings.Builder
	b.WriteString("# cadastre token key file: keep it private, back it up with the database\n")
	fmt.Fprintf(&b, "current %s\n", hex.EncodeToString(f.Current))
	if f.Previous != nil {
		fmt.Fprintf(&b, "previous %s\n", hex.EncodeToString(f.Previous))
	}
	if f.DNSSeal != nil {
		fmt.Fprintf(&b, "dns-seal %s\n", hex.EncodeToString(f.DNSSeal))
	}
	return b.String()
}

// ParseKeyEnv reads keys from an environment variable's value: the
// current key's hex, optionally followed by a comma and the previous key's.
func ParseKeyEnv(s string) (Keys, error) {
	cur, prev, two := strings.Cut(s, ",")
	var ks Keys
	var err error
	if ks.Current, err = ParseKey(cur); err != nil {
		return Keys{}, err
	}
	if two {
		if ks.Previous, err = ParseKey(prev); err != nil {
			return Keys{}, fmt.Errorf("previous %w", err)
		}
	}
	return ks, nil
}

// ReadKeyFile reads the key file at path. A missing file is an error
// wrapping fs.ErrNotExist; a file readable by others is refused.
func ReadKeyFile(path string) (KeyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return KeyFile{}, fmt.Errorf("token key file: %w", err)
	}
	if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
		return KeyFile{}, fmt.Errorf("token key file %s: readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	f, err := ParseKeyFile(string(b))
	if err != nil {
		return KeyFile{}, fmt.Errorf("token key file %s: %w", path, err)
	}
	return f, nil
}

// WriteKeyFile replaces the key file at path with f atomically (a
// temporary file in the same directory, synced, then renamed), readable
// by its owner only: a crash leaves the old file or the new one.
func WriteKeyFile(path string, f KeyFile) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(f.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("token key file %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CreateKeyFile makes a key file with a new random key at path, failing if
// one exists already.
func CreateKeyFile(path string) (KeyFile, error) {
	f := KeyFile{Keys: Keys{Current: NewKey()}}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return KeyFile{}, fmt.Errorf("token key file: %w", err)
	}
	if _, err := fh.WriteString(f.String()); err != nil {
		fh.Close()
		return KeyFile{}, fmt.Errorf("token key file %s: %w", path, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return KeyFile{}, fmt.Errorf("token key file %s: %w", path, err)
	}
	return f, fh.Close()
}

// IsMissing says whether err is a key file that does not exist.
func IsMissing(err error) bool { return errors.Is(err, fs.ErrNotExist) }
