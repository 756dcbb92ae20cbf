package zone_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// TestSignatureCacheServesTheSameSignatures: a builder that finds its
// signatures in the cache a start before wrote (zone.SigCache) serves
// records and signatures byte for byte those of a builder that signs
// everything (ECDSA P-256 with NSEC3, Ed25519 with split keys and compact
// denial), finding every signature there; a cache file cut short or
// changed is not read, and that start signs everything and writes it
// anew; a signing period that moved finds nothing there.
func TestSignatureCacheServesTheSameSignatures(t *testing.T) {
	e := newDeltaEnv(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	ref, _, err := zone.NewBuilder(e.st, e.sealer, opt).Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.read(); err != nil { // the serials the first build set
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signatures")
	// start is a server's start-up with the cache: Load, a full build by
	// a fresh builder, Save. It returns what Load read, what the build
	// found there and what Save wrote.
	start := func(at time.Time) (read, found, wrote int, loadErr error) {
		t.Helper()
		c := zone.NewSigCache(path)
		read, loadErr = c.Load()
		o := opt
		o.Signatures = c
		snap, _, err := zone.NewBuilder(e.st, e.sealer, o).Rebuild(e.ctx, &e.in, at, "")
		if err != nil {
			t.Fatal(err)
		}
		if at.Equal(now) {
			for name, zd := range ref.All() {
				if got, want := texts(snap.Zone(name)), texts(zd); !slices.Equal(got, want) {
					t.Fatalf("zone %s with the cache differs from a build that signs everything:\n%s", name, lineDiff(got, want))
				}
			}
		}
		if wrote, err = c.Save(); err != nil {
			t.Fatal(err)
		}
		return read, int(c.Hits()), wrote, loadErr
	}

	read, found, made, err := start(now)
	if err != nil || read != 0 || found != 0 || made == 0 {
		t.Fatalf("first start (no file): read %d (err %v), found %d, wrote %d; want 0, 0, > 0", read, err, found, made)
	}
	read, found, wrote, err := start(now)
	if err != nil || read != made || found != made || wrote != made {
		t.Fatalf("second start: read %d (err %v), found %d, wrote %d; want %d each", read, err, found, wrote, made)
	}

	// A file changed or cut short is not read: everything is signed
	// again, and the file written anew reads back.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		data []byte
	}{
		{"a signature's byte changed", func() []byte { b := slices.Clone(raw); b[len(b)/2] ^= 1; return b }()},
		{"cut short", raw[:len(raw)-100]},
		{"empty", nil},
	} {
		if err := os.WriteFile(path, bad.data, 0o600); err != nil {
			t.Fatal(err)
		}
		read, found, wrote, err := start(now)
		if err == nil || read != 0 || found != 0 || wrote != made {
			t.Errorf("%s: read %d (err %v), found %d, wrote %d; want an error, 0, 0, %d", bad.name, read, err, found, wrote, made)
		}
		if read, found, _, err := start(now); err != nil || read != made || found != made {
			t.Errorf("%s, the start after: read %d (err %v), found %d; want %d, %d", bad.name, read, err, found, made, made)
		}
	}

	// Past the signing period every signature is a new one: none found,
	// and the file keeps only those the build used.
	later := now.Add(15 * 24 * time.Hour)
	if _, found, wrote, err := start(later); err != nil || found != 0 || wrote != made {
		t.Errorf("a signing period later: found %d, wrote %d (err %v); want 0, %d", found, wrote, err, made)
	}
}
