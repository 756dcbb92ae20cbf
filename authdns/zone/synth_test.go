package zone_test

import (
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
)

const synthFwd = "synth.test."

var (
	synthV6     = netip.MustParsePrefix("fd00:0:0:a::/64")
	synthV4     = netip.MustParsePrefix("10.9.1.0/24")
	synthPoolV6 = netip.MustParsePrefix("fd00:0:0:a::/112") // synthesised in; the rest of the /64 not
	synthPoolV4 = netip.MustParsePrefix("10.9.1.0/26")
)

// newSynthEnv is a SQLite store with a signed forward zone (NSEC3, a
// static record) holding the names two reverse zones synthesise: a
// signed ip6.arpa zone (NSEC3) whose template's suffix lies two labels
// below the apex (ip-{addr}.d.dyn.synth.test: the suffix and the name
// between it and the apex are kept), and a signed in-addr.arpa zone
// (compact denial, Ed25519 with split keys, ip4-{addr}.v4.synth.test);
// each synthesises in one pool, part of its prefix.
func newSynthEnv(t *testing.T) *deltaEnv {
	t.Helper()
	specs := []manage.ZoneSpec{{Name: synthFwd},
		{Kind: zone.Reverse, Prefix: synthV6, Synthesize: "ip-{addr}.d.dyn." + synthFwd},
		{Kind: zone.Reverse, Prefix: synthV4, Synthesize: "ip4-{addr}.v4." + synthFwd}}
	e := newZoneStore(t, synthFwd, specs, synthV4, []staticRecord{{"www", "A", "10.9.0.80"}})
	e.in.Pools = []registry.Pool{{ID: 1, Prefix: synthPoolV6}, {ID: 2, Prefix: synthPoolV4}}
	return e
}

// answers is what snap answers (without DNSSEC: the records) for the
// synthesised names and PTRs of addrs, one line per question.
func answers(snap *zone.Snapshot, addrs []netip.Addr) []string {
	t6, _ := zone.ParseTemplate("ip-{addr}.d.dyn." + synthFwd)
	t4, _ := zone.ParseTemplate("ip4-{addr}.v4." + synthFwd)
	var out []string
	ask := func(name string, qt uint16) {
		zd := snap.Find(name)
		if zd == nil {
			out = append(out, name+" no zone")
			return
		}
		r := zd.Lookup(name, qt, false)
		line := fmt.Sprintf("%s %s rcode %d:", name, dns.TypeToString[qt], r.Rcode)
		for _, rr := range r.Answer {
			line += " " + rr.String()
		}
		out = append(out, line)
	}
	for _, a := range addrs {
		rev, _ := dns.ReverseAddr(a.String())
		ask(rev, dns.TypePTR)
		if a.Is4() {
			ask(t4.Name(a), dns.TypeA)
		} else {
			ask(t6.Name(a), dns.TypeAAAA)
		}
	}
	slices.Sort(out)
	return out
}

// TestSynthDeltaMatchesFullBuild: zones linked by synthesis (reverse
// zones that synthesise the PTRs of their pools' unnamed addresses, and
// the forward zone of their templates' names) are made by delta builds
// when only assignments change, and after each of a random sequence of
// changes (new names in the forward zone, names below a template's
// suffix and at it, addresses in and out of the pools, renames,
// releases, removals) and of renewals, each version has the records,
// signatures, serial and names a full build of the same register makes,
// and answers the synthesised names and PTRs as it does: a newly named
// address is no longer synthesised in the forward zone, a released one
// is again. The snapshots served before are left as they were (their
// forward zone still synthesises what was unnamed then).
func TestSynthDeltaMatchesFullBuild(t *testing.T) {
	e := newSynthEnv(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	b := zone.NewBuilder(e.st, e.sealer, opt)
	first, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	// Readers answer from the first snapshot all along (run with -race:
	// relink must copy a published version, never write into it).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t6, _ := zone.ParseTemplate("ip-{addr}.d.dyn." + synthFwd)
		a := synthPoolV6.Addr()
		for {
			select {
			case <-stop:
				return
			default:
			}
			a = a.Next()
			if !synthPoolV6.Contains(a) {
				a = synthPoolV6.Addr()
			}
			first.Zone(synthFwd).Lookup(t6.Name(a), dns.TypeAAAA, false) // signed, it reads the clock the test moves
			answers(first, []netip.Addr{a})
		}
	}()
	stopReaders := func() {
		select {
		case <-stop:
		default:
			close(stop)
			<-done
		}
	}
	defer stopReaders()
	rnd := mrand.New(mrand.NewPCG(17, 2))
	live := map[int64]registry.Assignment{}
	var nextID int64
	v4, v6 := synthV4.Addr().Next(), synthV6.Addr().Next()
	v4out, v6out := netip.MustParseAddr("10.9.1.200"), netip.MustParseAddr("fd00:0:0:a::1:0")
	var probes []netip.Addr // addresses to ask about: named ones and some never named
	for _, a := range []string{"10.9.1.60", "10.9.1.201", "fd00:0:0:a::ff00", "fd00:0:0:a::2:1"} {
		probes = append(probes, netip.MustParseAddr(a))
	}
	name := func() string {
		switch rnd.IntN(8) {
		case 0:
			return "www." + synthFwd // has a static record: a full build
		case 1:
			return "d.dyn." + synthFwd // a kept name, with records
		case 2, 3:
			return fmt.Sprintf("h%d.s%d.d.dyn.%s", rnd.IntN(20), rnd.IntN(3), synthFwd) // below the suffix
		case 4:
			return ""
		case 5:
			return fmt.Sprintf("x%d.v4.%s", rnd.IntN(10), synthFwd)
		default:
			return fmt.Sprintf("h%d.%s", rnd.IntN(40), synthFwd)
		}
	}
	var snap *zone.Snapshot
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
			if got.RefreshAt().After(zd.RefreshAt()) {
				t.Errorf("step %d zone %s: next renewal at %v, a full build's at %v", step, name, got.RefreshAt(), zd.RefreshAt())
			}
			if g, w := texts(got), texts(zd); !slices.Equal(g, w) {
				t.Fatalf("step %d zone %s (changes %+v): records differ from a full build:\n%s", step, name, changes, lineDiff(g, w))
			}
		}
		if g, w := answers(snap, probes), answers(ref, probes); !slices.Equal(g, w) {
			t.Fatalf("step %d (changes %+v): answers differ from a full build's:\n%s", step, changes, lineDiff(g, w))
		}
	}
	step := 0
	apply := func(changes []zone.AssignChange) {
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
		step++
	}
	for range 60 {
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
				switch rnd.IntN(4) {
				case 0:
					v4 = v4.Next()
					a.Prefix = netip.PrefixFrom(v4, 32)
				case 1:
					v4out = v4out.Next()
					a.Prefix = netip.PrefixFrom(v4out, 32)
				case 2:
					v6 = v6.Next()
					a.Prefix = netip.PrefixFrom(v6, 128)
				default:
					v6out = v6out.Next()
					a.Prefix = netip.PrefixFrom(v6out, 128)
				}
				probes = append(probes, a.Prefix.Addr())
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
		apply(changes)
	}
	if st := b.Stats(); st.Delta < 60 || st.Full > 3*12+3 {
		t.Errorf("builds %+v: the zones linked by synthesis should be made by delta builds but for a name at a static record's owner (www)", st)
	}
	// Renewals, with and without a change: delta builds too.
	validity := 14 * 24 * time.Hour
	slot := (validity - validity/2) / 128
	before := b.Stats()
	for i, d := range []time.Duration{slot, 3 * slot, 40 * slot, 128 * slot, slot} {
		now = now.Add(d)
		var changes []zone.AssignChange
		if i%2 == 1 {
			nextID++
			v6 = v6.Next()
			a := registry.Assignment{ID: nextID, State: registry.StateAssigned, Name: fmt.Sprintf("r%d.d.dyn.%s", i, synthFwd), Prefix: netip.PrefixFrom(v6, 128)}
			probes = append(probes, a.Prefix.Addr())
			changes = append(changes, zone.AssignChange{After: a})
			live[a.ID] = a
		}
		apply(changes)
	}
	if st := b.Stats(); st.Full != before.Full || st.Delta == before.Delta {
		t.Errorf("builds %+v then %+v: renewals should be delta builds", before, st)
	}
	stopReaders()
	// The first snapshot still answers as it did: its forward zone
	// synthesises the names of addresses named since (relink copies).
	t6, _ := zone.ParseTemplate("ip-{addr}.d.dyn." + synthFwd)
	named := 0
	for _, a := range live {
		if !a.Prefix.Addr().Is6() || !synthPoolV6.Contains(a.Prefix.Addr()) || a.Name == "" {
			continue
		}
		named++
		n := t6.Name(a.Prefix.Addr())
		if r := first.Zone(synthFwd).Lookup(n, dns.TypeAAAA, false); len(r.Answer) != 1 {
			t.Errorf("the first snapshot's answer for %s changed: %+v", n, r)
		}
		if r := snap.Zone(synthFwd).Lookup(n, dns.TypeAAAA, false); len(r.Answer) != 0 {
			t.Errorf("the last snapshot synthesises %s, named %s: %+v", n, a.Name, r)
		}
	}
	if named == 0 {
		t.Error("no named address in the synthesising pool: the sequence tests nothing")
	}
	ldns := testenv.Program(t, "ldns-verify-zone", "ldnsutils")
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
