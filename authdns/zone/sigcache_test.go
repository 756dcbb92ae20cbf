package zone_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

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

// TestSignatureCacheMissesAreRenewals: what a start misses in the cache
// the start before wrote is exactly what that start would not serve:
// the signatures of the sets whose signing period began between the two
// starts (the spread renewals, a 128th of the sets each 128th of the
// period: bench/README.md, "Session 15: DNS at 10M names end to end")
// and the SOA's, signed again with the serial those renewals move. Within
// one part of the period nothing is missed.
func TestSignatureCacheMissesAreRenewals(t *testing.T) {
	e := newDeltaEnv(t)
	e.addHosts(300)
	validity, refresh := 14*24*time.Hour, 7*24*time.Hour
	slot := (validity - refresh) / 128
	// A part of the period begins at every multiple of slot since the
	// epoch (forSet's shifts are whole parts): t1 is 10 s after one.
	t1 := time.Unix(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).Unix()/int64(slot/time.Second)*int64(slot/time.Second)+10, 0)
	path := filepath.Join(t.TempDir(), "signatures")
	// start is a server's start-up at at with the cache: Load, a full
	// build by a fresh builder, Save. It returns the signatures the build
	// found in the cache and made, and every RRSIG it serves, in text.
	start := func(at time.Time) (found, made int, sigs map[string]*dns.RRSIG) {
		t.Helper()
		c := zone.NewSigCache(path)
		if _, err := c.Load(); err != nil {
			t.Fatal(err)
		}
		o := zone.BuilderOptions{Validity: validity, Refresh: refresh, Now: func() time.Time { return at }, Signatures: c}
		snap, _, err := zone.NewBuilder(e.st, e.sealer, o).Rebuild(e.ctx, &e.in, at, "")
		if err != nil {
			t.Fatal(err)
		}
		wrote, err := c.Save()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.read(); err != nil { // as the next start reads them: the serials this one set
			t.Fatal(err)
		}
		sigs = map[string]*dns.RRSIG{}
		for _, zd := range snap.All() {
			for _, rr := range zd.Records() {
				if s, ok := rr.(*dns.RRSIG); ok {
					sigs[s.String()] = s
				}
			}
		}
		return int(c.Hits()), wrote - int(c.Hits()), sigs
	}
	_, made1, before := start(t1)
	if found, made, same := start(t1.Add(slot - 20*time.Second)); found != made1 || made != 0 {
		for text := range same {
			if _, ok := before[text]; !ok {
				t.Logf("new: %s", text)
			}
		}
		t.Fatalf("a start in the same part of the period: found %d, made %d; want %d, 0", found, made, made1)
	}
	prev := t1
	for parts := 1; parts <= 3; parts++ {
		at := t1.Add(time.Duration(parts) * slot)
		found, made, after := start(at)
		renewed, soas := 0, 0
		for text, s := range after {
			if _, ok := before[text]; ok {
				continue
			}
			renewed++
			began := time.Unix(int64(s.Inception), 0).Add(time.Hour) // inception is an hour before the period
			switch {
			case s.TypeCovered == dns.TypeSOA:
				soas++
			case !began.After(prev) || began.After(at):
				t.Errorf("%d parts later: %s's signature's period began at %v, not between the starts (%v, %v]", parts, s.Header().Name, began, prev, at)
			}
		}
		if made != renewed || renewed == soas || made > (made+found)/8 {
			t.Errorf("a start one part of the period after the last: made %d signatures, found %d; %d served are new (%d SOA): want made = new, a few more than the SOAs", made, found, renewed, soas)
		}
		t.Logf("one part of the period later: %d of %d signatures made again (%d SOA)", made, made+found, soas)
		before, prev = after, at
	}
}
