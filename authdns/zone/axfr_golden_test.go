package zone_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestAXFRMatchesGolden: the AXFR of each zone of newDeltaEnv (a signed
// NSEC3 forward zone with static records and empty non-terminals, a
// signed NSEC3 ip6.arpa zone, a compact-denial in-addr.arpa zone with
// split Ed25519 keys), signed with fixed keys at a fixed time after a full
// build and after two delta builds, is record for record the one in
// testdata/axfr-golden.txt. The file was written by the code before the
// zone's in-memory representation changed (branch dnsmem, issue 16: sets
// in slices, no signature cache, no hash index): a representation may
// change, what is served may not. ECDSA (RFC 6979) and Ed25519 sign
// deterministically, so the signatures are part of the comparison.
//
// CADASTRE_UPDATE_GOLDEN=1 writes the file instead.
func TestAXFRMatchesGolden(t *testing.T) {
	e := newDeltaEnv(t)
	e.in.Keys = fixedKeys(t, e)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := zone.NewBuilder(e.st, e.sealer, zone.BuilderOptions{Now: func() time.Time { return now }})
	var got []string
	var id int64
	assign := func(name, addr string) registry.Assignment {
		id++
		a := netip.MustParseAddr(addr)
		return registry.Assignment{ID: id, State: registry.StateAssigned, Name: name, Prefix: netip.PrefixFrom(a, a.BitLen())}
	}
	for i := range 12 {
		e.in.Assigns = append(e.in.Assigns,
			assign(fmt.Sprintf("h%d.%s", i, deltaFwd), fmt.Sprintf("10.9.0.%d", 10+i)),
			assign(fmt.Sprintf("v%d.s%d.sub.%s", i, i%3, deltaFwd), fmt.Sprintf("fd00:0:0:9::%x", 0x10+i)))
	}
	steps := [][]zone.AssignChange{
		nil, // the full build
		{{After: assign("new.s1.sub."+deltaFwd, "fd00:0:0:9::ff")}, {After: assign("h99."+deltaFwd, "10.9.0.99")}},
		{{Before: e.in.Assigns[3]}, {Before: e.in.Assigns[0], After: func() registry.Assignment {
			a := e.in.Assigns[0]
			a.Name = "renamed." + deltaFwd
			return a
		}()}},
	}
	for step, changes := range steps {
		if step > 0 {
			e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: changes}
			e.in.Seq++
			for _, c := range changes {
				e.in.Assigns = slices.DeleteFunc(e.in.Assigns, func(a registry.Assignment) bool { return a.ID == c.Before.ID && c.Before.ID != 0 })
				if c.After.ID != 0 {
					e.in.Assigns = append(e.in.Assigns, c.After)
				}
			}
		}
		snap, _, err := b.Rebuild(e.ctx, &e.in, now, "")
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if step > 0 && b.Stats().Delta == 0 {
			t.Fatalf("step %d: no delta build", step)
		}
		if err := snap.CheckHashes(); err != nil {
			t.Fatal(err)
		}
		zones := slices.Sorted(func(yield func(string) bool) {
			for name := range snap.All() {
				if !yield(name) {
					return
				}
			}
		})
		for _, name := range zones {
			zd := snap.Zone(name)
			var axfr, sets []string
			for _, rr := range zd.Transfer() {
				axfr = append(axfr, rr.String())
			}
			for set := range zd.TransferSets() {
				for _, rr := range set {
					sets = append(sets, rr.String())
				}
			}
			slices.Sort(axfr)
			slices.Sort(sets)
			if !slices.Equal(axfr, sets) {
				t.Fatalf("step %d zone %s: TransferSets differs from Transfer:\n%s", step, name, lineDiff(sets, axfr))
			}
			got = append(got, fmt.Sprintf("; step %d zone %s serial %d names %d", step, name, zd.Serial(), zd.Names()))
			got = append(got, axfr...)
		}
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		e.in.Keys = fixedKeys(t, e)
	}
	file := filepath.Join("testdata", "axfr-golden.txt")
	text := strings.Join(got, "\n") + "\n"
	if os.Getenv("CADASTRE_UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"); !slices.Equal(got, w) {
		t.Fatalf("AXFR differs from %s (-want +got):\n%s", file, lineDiff(got, w))
	}
}

// fixedKeys replaces e's zones' keys by keys made from their zone's name:
// the same at every run, so are the signatures.
func fixedKeys(t *testing.T, e *deltaEnv) []zone.Key {
	t.Helper()
	var keys []zone.Key
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, z := range e.in.Zones {
		var stored []zone.Key
		for _, k := range e.in.Keys {
			if k.ZoneID == z.ID {
				stored = append(stored, k)
			}
		}
		for _, sk := range stored {
			seed := sha256.Sum256([]byte(z.Name + "|" + string(sk.Role)))
			dk := &dns.DNSKEY{Hdr: dns.RR_Header{Name: z.Name, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET}, Protocol: 3, Algorithm: uint8(sk.Algorithm), Flags: dns.ZONE}
			if sk.Role != zone.ZSK {
				dk.Flags |= dns.SEP
			}
			var priv crypto.Signer
			switch sk.Algorithm {
			case zone.Ed25519:
				p := ed25519.NewKeyFromSeed(seed[:])
				priv = p
				dk.PublicKey = base64.StdEncoding.EncodeToString(p.Public().(ed25519.PublicKey))
			default:
				p, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), seed[:])
				if err != nil {
					t.Fatal(err)
				}
				pub, err := p.PublicKey.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				priv = p
				dk.PublicKey = base64.StdEncoding.EncodeToString(pub[1:])
			}
			k, err := zone.SealKey(e.sealer, z.Name, sk.Role, dk, priv)
			if err != nil {
				t.Fatal(err)
			}
			k.ID, k.ZoneID, k.CreatedAt, k.PublishedAt, k.ActiveAt = sk.ID, z.ID, at, at, at
			keys = append(keys, k)
		}
	}
	return keys
}
