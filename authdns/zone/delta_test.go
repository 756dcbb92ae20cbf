package zone_test

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

// deltaEnv is a SQLite store with a signed forward zone (NSEC3, with a
// static record and a name below empty non-terminals), a signed ip6.arpa
// zone (NSEC3) and a signed in-addr.arpa zone (compact denial, Ed25519
// with split keys), and the input a server would read from it.
type deltaEnv struct {
	ctx    context.Context
	st     *sqlite.Store
	sealer *zone.Sealer
	in     zone.BuildInput
}

const deltaFwd = "delta.test."

var (
	deltaV4 = netip.MustParsePrefix("10.9.0.0/24")
	deltaV6 = netip.MustParsePrefix("fd00:0:0:9::/64")
)

func newDeltaEnv(t *testing.T) *deltaEnv {
	t.Helper()
	specs := []manage.ZoneSpec{{Name: deltaFwd}, {Kind: zone.Reverse, Prefix: deltaV6}, {Kind: zone.Reverse, Prefix: deltaV4}}
	return newZoneStore(t, deltaFwd, specs, deltaV4, []staticRecord{
		{"www", "A", "10.9.0.80"},
		{"deep.a.b", "TXT", `"below empty non-terminals"`},
	})
}

// staticRecord is a record added to the forward zone of newZoneStore.
type staticRecord struct{ owner, typ, value string }

// newZoneStore is the setup newDeltaEnv and newSynthEnv share: a SQLite
// store with the blocks 10.9.0.0/16 and fd00::/48, the zones of specs
// (fwd's glue ns1.fwd at 10.9.0.53), the static records recs in fwd, and
// every zone signed: NSEC3 with ECDSA P-256, except the reverse zone of
// compact, signed with compact denial and split Ed25519 keys (the three
// signing setups the builder has). The env's input is read after signing.
func newZoneStore(t *testing.T, fwd string, specs []manage.ZoneSpec, compact netip.Prefix, recs []staticRecord) *deltaEnv {
	t.Helper()
	ctx := registry.WithActor(context.Background(), "test")
	st, err := sqlite.Open(ctx, sqlitetest.Path(t, "dns.db"), sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := make([]byte, zone.SealKeySize)
	rand.Read(key)
	sealer, err := zone.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(st)
	for _, b := range []string{"10.9.0.0/16", "fd00::/48"} {
		if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix(b), Source: registry.SourcePrivate}); err != nil {
			t.Fatal(err)
		}
	}
	mgr := manage.NewManager(st, sealer, nil).WithNameServers([]manage.Glue{{Host: "ns1." + fwd, Addr: netip.MustParseAddr("10.9.0.53")}})
	for _, s := range specs {
		if _, err := mgr.AddZone(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		if _, err := mgr.AddRecord(ctx, fwd, r.owner, r.typ, r.value, 0); err != nil {
			t.Fatal(err)
		}
	}
	e := &deltaEnv{ctx: ctx, st: st, sealer: sealer}
	if err := e.read(); err != nil {
		t.Fatal(err)
	}
	for _, z := range e.in.Zones {
		o := manage.SignOptions{}
		if z.Kind == zone.Reverse && z.Prefix == compact {
			o = manage.SignOptions{Algorithm: zone.Ed25519, SplitKeys: true, Denial: zone.Compact}
		}
		if _, _, err := mgr.Sign(ctx, z.Name, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.read(); err != nil {
		t.Fatal(err)
	}
	return e
}

// addHosts adds n named IPv6 addresses, h0 to h(n-1), to the forward
// zone's input.
func (e *deltaEnv) addHosts(n int) {
	addr := deltaV6.Addr()
	for i := range n {
		addr = addr.Next()
		e.in.Assigns = append(e.in.Assigns, registry.Assignment{ID: int64(i + 1), State: registry.StateAssigned, Name: fmt.Sprintf("h%d.%s", i, deltaFwd), Prefix: netip.PrefixFrom(addr, 128)})
	}
}

// read reads the zones (their serials move), records and keys.
func (e *deltaEnv) read() (err error) {
	if e.in.Zones, err = e.st.Zones(e.ctx); err != nil {
		return err
	}
	if e.in.Records, err = e.st.Records(e.ctx, 0); err != nil {
		return err
	}
	e.in.Keys, err = e.st.Keys(e.ctx, 0)
	return err
}

// texts is every record a version transfers, in text, sorted.
func texts(zd *zone.Data) []string {
	var out []string
	for _, rr := range zd.Records() {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// TestDeltaMatchesFullBuild: after each of a random sequence of changes
// to named assignments (new names, names below new empty non-terminals,
// a second address for a name, renames, releases, removals, a name at a
// static record's owner), the version made from the previous one and the
// change has the records and signatures that a full build of the same
// register makes (a fresh builder, which signs everything again: ECDSA
// and Ed25519 sign deterministically here), its content hash holds, and
// ldns-verify-zone accepts the transfers at the end.
func TestDeltaMatchesFullBuild(t *testing.T) {
	e := newDeltaEnv(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	b := zone.NewBuilder(e.st, e.sealer, opt)
	if _, _, err := b.Rebuild(e.ctx, &e.in, now, ""); err != nil {
		t.Fatal(err)
	}
	rnd := mrand.New(mrand.NewPCG(16, 1))
	live := map[int64]registry.Assignment{}
	var nextID int64
	v4, v6 := deltaV4.Addr(), deltaV6.Addr()
	name := func() string {
		switch rnd.IntN(6) {
		case 0:
			return "www." + deltaFwd // has a static record: a full build
		case 1:
			return fmt.Sprintf("h%d.s%d.sub.%s", rnd.IntN(40), rnd.IntN(4), deltaFwd) // empty non-terminals
		case 2:
			return ""
		default:
			return fmt.Sprintf("h%d.%s", rnd.IntN(60), deltaFwd)
		}
	}
	var snap *zone.Snapshot
	exactRenewal := map[string]bool{} // zones whose build renews signatures
	// compare rebuilds with b and with a fresh builder (a full build) and
	// requires the same versions.
	compare := func(step int, changes []zone.AssignChange) {
		t.Helper()
		var err error
		snap, _, err = b.Rebuild(e.ctx, &e.in, now, "")
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := snap.CheckHashes(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		full := e.in
		full.Delta = nil
		ref, _, err := zone.NewBuilder(e.st, e.sealer, opt).Rebuild(e.ctx, &full, now, "")
		if err != nil {
			t.Fatalf("step %d: full build: %v", step, err)
		}
		for name, zd := range ref.All() {
			got := snap.Zone(name)
			if got == nil {
				t.Fatalf("step %d: zone %s not served", step, name)
			}
			if got.Serial() != zd.Serial() || got.Names() != zd.Names() {
				t.Errorf("step %d zone %s: serial %d with %d names, a full build %d with %d", step, name, got.Serial(), got.Names(), zd.Serial(), zd.Names())
			}
			// A delta build may renew early (it keeps the earliest
			// renewal time when the set that had it goes), never late;
			// a renewal finds the exact time again.
			if got.RefreshAt().After(zd.RefreshAt()) || exactRenewal[name] && !got.RefreshAt().Equal(zd.RefreshAt()) {
				t.Errorf("step %d zone %s: next renewal at %v, a full build's at %v", step, name, got.RefreshAt(), zd.RefreshAt())
			}
			if g, w := texts(got), texts(zd); !slices.Equal(g, w) {
				t.Fatalf("step %d zone %s (changes %+v): records differ from a full build:\n%s", step, name, changes, lineDiff(g, w))
			}
		}
	}
	for step := range 60 {
		var changes []zone.AssignChange
		for range 1 + rnd.IntN(3) {
			ids := slices.Sorted(func(yield func(int64) bool) {
				for id := range live {
					if !yield(id) {
						return
					}
				}
			})
			switch op := rnd.IntN(10); {
			case op < 5 || len(ids) == 0:
				nextID++
				a := registry.Assignment{ID: nextID, State: registry.StateAssigned, Name: name()}
				if rnd.IntN(2) == 0 {
					v4 = v4.Next()
					a.Prefix = netip.PrefixFrom(v4, 32)
				} else {
					v6 = v6.Next()
					a.Prefix = netip.PrefixFrom(v6, 128)
				}
				changes = append(changes, zone.AssignChange{After: a})
				live[a.ID] = a
			case op < 7:
				a := live[ids[rnd.IntN(len(ids))]]
				changes = append(changes, zone.AssignChange{Before: a})
				delete(live, a.ID)
			case op < 9:
				a := live[ids[rnd.IntN(len(ids))]]
				n := a
				n.Name = name()
				changes = append(changes, zone.AssignChange{Before: a, After: n})
				live[a.ID] = n
			default:
				a := live[ids[rnd.IntN(len(ids))]]
				n := a
				n.State = registry.StateReleased
				changes = append(changes, zone.AssignChange{Before: a, After: n})
				delete(live, a.ID)
			}
		}
		e.in.Assigns = e.in.Assigns[:0]
		for _, id := range slices.Sorted(func(yield func(int64) bool) {
			for id := range live {
				if !yield(id) {
					return
				}
			}
		}) {
			e.in.Assigns = append(e.in.Assigns, live[id])
		}
		e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: changes}
		e.in.Seq++
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		compare(step, changes)
	}
	if st := b.Stats(); st.Delta < 30 || st.Full < 3 {
		t.Errorf("builds %+v: the sequence should make most versions by delta, and some in full (www)", st)
	}
	// Renewals: the clock moves by parts of the signing period (and past
	// whole periods), with no change or a new name; the sets due are
	// signed again by delta builds, as a full build signs them.
	validity := 14 * 24 * time.Hour
	slot := (validity - validity/2) / 128
	before := b.Stats()
	renewed := 0
	for step, d := range []time.Duration{slot, slot / 2, 3 * slot, 40 * slot, 128 * slot, slot, 200 * slot} {
		at := now.Add(d)
		var changes []zone.AssignChange
		if step%2 == 1 {
			nextID++
			v6 = v6.Next()
			a := registry.Assignment{ID: nextID, State: registry.StateAssigned, Name: fmt.Sprintf("r%d.%s", step, deltaFwd), Prefix: netip.PrefixFrom(v6, 128)}
			changes = append(changes, zone.AssignChange{After: a})
			live[a.ID] = a
			e.in.Assigns = append(e.in.Assigns, a)
		}
		prevSnap := snap
		now = at
		e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: changes}
		e.in.Seq++
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		clear(exactRenewal)
		for name, zd := range snap.All() {
			exactRenewal[name] = zd.Signed() && !now.Before(zd.RefreshAt())
		}
		compare(100+step, changes)
		for name, zd := range snap.All() {
			if p := prevSnap.Zone(name); p != nil && p.Signed() && !now.Before(p.RefreshAt()) {
				renewed++
				if !zd.RefreshAt().After(now) {
					t.Errorf("renewal step %d zone %s: next renewal at %v, not after %v", step, name, zd.RefreshAt(), now)
				}
			}
		}
	}
	if st := b.Stats(); st.Full != before.Full || renewed < 5 {
		t.Errorf("builds %+v then %+v with %d renewals: renewals should be delta builds", before, st, renewed)
	}
	ldns := testenv.Program(t, "ldns-verify-zone", "ldnsutils")
	snap, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, zd := range snap.All() {
		var text strings.Builder
		for _, rr := range zd.Records() {
			text.WriteString(rr.String() + "\n")
		}
		file := filepath.Join(t.TempDir(), "zone")
		if err := os.WriteFile(file, []byte(text.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ldns, "-V", "2", "-t", now.UTC().Format("20060102150405"), file).CombinedOutput(); err != nil {
			t.Errorf("ldns-verify-zone %s: %v\n%s", name, err, out)
		}
	}
}

// lineDiff lists the lines only in got (+) and only in want (-).
func lineDiff(got, want []string) string {
	var b strings.Builder
	for _, l := range got {
		if _, ok := slices.BinarySearch(want, l); !ok {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range want {
		if _, ok := slices.BinarySearch(got, l); !ok {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}

// TestSignatureRenewalsSpread: the precomputed signatures of a zone are
// not all renewed at one boundary: each set's inception is shifted by a
// part of the signing period that depends on the set alone, so when the
// clock moves by one such part, a few sets are signed again (not none,
// not all), and every signature served still has at least the refresh
// time left.
func TestSignatureRenewalsSpread(t *testing.T) {
	e := newDeltaEnv(t)
	e.addHosts(300)
	validity, refresh := 14*24*time.Hour, 7*24*time.Hour
	slot := (validity - refresh) / 128
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Validity: validity, Refresh: refresh, Now: func() time.Time { return now }}
	b := zone.NewBuilder(e.st, e.sealer, opt)
	// sigs maps each RRSIG of the forward zone, but the SOA's (signed
	// again with each serial), to its inception.
	sigs := func(at time.Time) map[string]uint32 {
		t.Helper()
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		snap, _, err := b.Rebuild(e.ctx, &e.in, at, "")
		if err != nil {
			t.Fatal(err)
		}
		zd := snap.Zone(deltaFwd)
		if next := zd.RefreshAt(); !next.After(at) || next.After(at.Add(slot)) {
			t.Errorf("at %v: next renewal at %v, want within %v", at, next, slot)
		}
		out := map[string]uint32{}
		for _, rr := range zd.Records() {
			s, ok := rr.(*dns.RRSIG)
			if !ok || s.TypeCovered == dns.TypeSOA {
				continue
			}
			inc, exp := time.Unix(int64(s.Inception), 0), time.Unix(int64(s.Expiration), 0)
			if exp.Sub(inc) != validity+time.Hour || inc.After(at) || exp.Sub(at) < refresh {
				t.Errorf("at %v: %s signature from %v to %v: want %v long, begun, and %v left", at, s.Header().Name, inc, exp, validity+time.Hour, refresh)
			}
			out[fmt.Sprintf("%s/%d/%d", s.Header().Name, s.TypeCovered, s.KeyTag)] = s.Inception
		}
		return out
	}
	first := sigs(now)
	distinct := map[uint32]bool{}
	for _, inc := range first {
		distinct[inc] = true
	}
	if len(first) < 600 || len(distinct) < 64 {
		t.Fatalf("%d signatures with %d inceptions: renewals are not spread over the period", len(first), len(distinct))
	}
	for step := 1; step <= 3; step++ {
		at := now.Add(time.Duration(step) * slot)
		next := sigs(at)
		renewed := 0
		for k, inc := range next {
			if first[k] != inc {
				renewed++
			}
		}
		if renewed == 0 || renewed > len(first)/16 {
			t.Errorf("after %d parts of the period, %d of %d signatures renewed: want a few", step, renewed, len(first))
		}
		first = next
	}
}

// TestDeltaLeavesPublishedVersionsAlone: while delta builds (changes and
// renewals) make new versions from it, readers keep answering from and
// transferring an older snapshot, which must not change at all (run with
// -race: the versions share all but the changed paths of their trees).
func TestDeltaLeavesPublishedVersionsAlone(t *testing.T) {
	e := newDeltaEnv(t)
	addr := deltaV6.Addr()
	var id int64
	add := func(n int) []zone.AssignChange {
		var cs []zone.AssignChange
		for range n {
			id++
			addr = addr.Next()
			a := registry.Assignment{ID: id, State: registry.StateAssigned, Name: fmt.Sprintf("h%d.s%d.%s", id, id%7, deltaFwd), Prefix: netip.PrefixFrom(addr, 128)}
			e.in.Assigns = append(e.in.Assigns, a)
			cs = append(cs, zone.AssignChange{After: a})
		}
		return cs
	}
	add(200)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := zone.NewBuilder(e.st, e.sealer, zone.BuilderOptions{Now: func() time.Time { return now }})
	old, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for name, zd := range old.All() {
		want[name] = texts(zd)
	}
	stop := make(chan struct{})
	done := make(chan error, 2)
	for range 2 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				zd := old.Zone(deltaFwd)
				zd.Lookup(fmt.Sprintf("h%d.s%d.%s", i%300, i%7, deltaFwd), dns.TypeAAAA, true)
				zd.Lookup(fmt.Sprintf("nx%d.%s", i, deltaFwd), dns.TypeA, true)
				if i%20 == 0 {
					zd.Records()
				}
			}
		}()
	}
	for step := range 20 {
		e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: add(1 + step%3)}
		e.in.Seq++
		if step%5 == 4 {
			now = now.Add(7 * 24 * time.Hour / 128) // some signatures due
		}
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Rebuild(e.ctx, &e.in, now, ""); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	close(stop)
	for range 2 {
		<-done
	}
	if st := b.Stats(); st.Delta < 20 {
		t.Errorf("builds %+v: want delta builds", st)
	}
	for name, zd := range old.All() {
		if g := texts(zd); !slices.Equal(g, want[name]) {
			t.Errorf("zone %s: the published version changed:\n%s", name, lineDiff(g, want[name]))
		}
	}
	if err := old.CheckHashes(); err != nil {
		t.Error(err)
	}
}

// TestZoneMovedByAnotherReplicaKeepsItsNames: when another replica moved
// a zone's serial (here: its renewal, due on its clock a second before
// ours) and this replica's next build has a change since its last
// snapshot that touches no zone, the zone is built in full (its serial
// moved under it), from every assignment: the delta input leaves the
// assignments to be read (LoadAssigns), and a full build must read them.
// Before, it built the zone from none and published it empty of names.
func TestZoneMovedByAnotherReplicaKeepsItsNames(t *testing.T) {
	e := newDeltaEnv(t)
	addr := deltaV6.Addr()
	var all []registry.Assignment
	for i := range 50 {
		addr = addr.Next()
		all = append(all, registry.Assignment{ID: int64(i + 1), State: registry.StateAssigned, Name: fmt.Sprintf("h%d.%s", i, deltaFwd), Prefix: netip.PrefixFrom(addr, 128)})
	}
	e.in.Assigns = all
	e.in.Seq = 1
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	a, b := zone.NewBuilder(e.st, e.sealer, opt), zone.NewBuilder(e.st, e.sealer, opt)
	var first *zone.Snapshot
	for _, r := range []*zone.Builder{a, b} {
		snap, _, err := r.Rebuild(e.ctx, &e.in, now, "")
		if err != nil {
			t.Fatal(err)
		}
		first = snap
	}
	if err := e.read(); err != nil { // the serials given
		t.Fatal(err)
	}
	names := first.Zone(deltaFwd).Names()
	due := first.Zone(deltaFwd).RefreshAt()
	// A change that no zone serves (an unnamed address), as the server
	// reads it: the change, and the assignments only if needed.
	delta := func() zone.BuildInput {
		in := e.in
		in.Seq = 2
		in.Assigns = nil
		in.LoadAssigns = func() ([]registry.Assignment, error) { return all, nil }
		in.Delta = &zone.Delta{Since: 1, Changes: []zone.AssignChange{{After: registry.Assignment{ID: 99, State: registry.StateAssigned, Prefix: netip.MustParsePrefix("10.9.0.99/32")}}}}
		return in
	}
	in := delta()
	if _, changed, err := a.Rebuild(e.ctx, &in, due, ""); err != nil || len(changed) == 0 { // a renewal: the serial moves
		t.Fatalf("the renewal changed %d zones: %v", len(changed), err)
	}
	if err := e.read(); err != nil {
		t.Fatal(err)
	}
	in = delta()
	snap, _, err := b.Rebuild(e.ctx, &in, due.Add(-time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Zone(deltaFwd).Names(); got != names {
		t.Errorf("zone %s: %d names after the other replica moved its serial, want %d", deltaFwd, got, names)
	}
}
