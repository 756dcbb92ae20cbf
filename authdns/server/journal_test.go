package server_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// restart stops e's server and starts a new one on the same store, as a
// process restart would.
func (e *env) restart(opt server.Options) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.start(opt)
}

// RFC 1982 serials move only when the zone does: a restart with nothing
// changed serves every zone, signed or not, with the serial it had.
func TestSerialSurvivesRestart(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			e := newEnv(t, signed)
			e.start(server.Options{})
			zones := []string{fwdZone, dynZone, v4Zone, v4Zone2, v6Zone}
			before := map[string]uint32{}
			for _, z := range zones {
				before[z] = e.srv.Serial(z)
			}
			for i := range 2 {
				e.restart(server.Options{})
				for _, z := range zones {
					if got := e.srv.Serial(z); got != before[z] || got == 0 {
						t.Errorf("restart %d: %s serial %d, was %d", i+1, z, got, before[z])
					}
				}
			}
			// And a change still moves it by one.
			e.alloc(4, "after."+fwdZone)
			e.waitFor("the new serial", func() bool { return e.srv.Serial(fwdZone) == before[fwdZone]+1 })
		})
	}
}

// transferFrom runs an AXFR (serial 0) or IXFR from serial against addr
// with the test's TSIG key and returns every record.
func transferFrom(t *testing.T, addr, zoneName string, ixfr bool, serial uint32) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	if ixfr {
		m.SetIxfr(zoneName, serial, "ns1."+zoneName, "hostmaster."+zoneName)
	} else {
		m.SetAxfr(zoneName)
	}
	m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
	tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			t.Fatalf("transfer of %s: %v", zoneName, env.Error)
		}
		rrs = append(rrs, env.RR...)
	}
	return rrs
}

// zoneSet is a zone's records as a set of lines, the SOA included once.
func zoneSet(axfr []dns.RR) map[string]bool {
	out := map[string]bool{}
	for _, rr := range axfr[:len(axfr)-1] { // without the closing SOA
		out[rr.String()] = true
	}
	return out
}

// applyIXFR applies an incremental transfer (RFC 1995 §4: new SOA, then
// sequences of old SOA, deletions, new SOA, additions; then the new SOA)
// to a zone, as a secondary would, failing on a deletion of something
// the zone does not hold.
func applyIXFR(t *testing.T, zoneName map[string]bool, rrs []dns.RR) map[string]bool {
	t.Helper()
	if len(rrs) < 3 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[1].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("not an incremental transfer: %d records, starting %v", len(rrs), rrs[:min(2, len(rrs))])
	}
	out := maps.Clone(zoneName)
	deleting := false
	for _, rr := range rrs[1 : len(rrs)-1] {
		if rr.Header().Rrtype == dns.TypeSOA {
			deleting = !deleting
		}
		k := rr.String()
		if deleting {
			if !out[k] {
				t.Fatalf("IXFR deletes a record the secondary does not have: %s", k)
			}
			delete(out, k)
		} else {
			out[k] = true
		}
	}
	return out
}

func sameZone(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s: missing %s", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s: extra %s", what, k)
		}
	}
}

// The IXFR journal is in the store: a server started after a restart
// answers IXFR from a serial its predecessor produced, condensed over
// several steps, and the result is exactly the zone it serves by AXFR.
func TestIXFRAcrossRestart(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{})
	s0 := e.srv.Serial(fwdZone)
	base := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	e.alloc(4, "j1."+fwdZone)
	e.waitFor("serial+1", func() bool { return e.srv.Serial(fwdZone) == s0+1 })
	if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "j2", "TXT", `"two"`, 0); err != nil {
		t.Fatal(err)
	}
	e.waitFor("serial+2", func() bool { return e.srv.Serial(fwdZone) == s0+2 })
	// A record that comes and goes between two serials drops out.
	e.restart(server.Options{})
	if got := e.srv.Serial(fwdZone); got != s0+2 {
		t.Fatalf("serial after restart %d, want %d", got, s0+2)
	}
	want := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	ixfr := transferFrom(t, e.addr, fwdZone, true, s0)
	if ixfr[1].(*dns.SOA).Serial != s0 || ixfr[0].(*dns.SOA).Serial != s0+2 {
		t.Fatalf("IXFR from %d: SOAs %v, %v", s0, ixfr[0], ixfr[1])
	}
	// Condensed: one difference sequence (RFC 1995 §4), so four SOAs.
	soas := 0
	for _, rr := range ixfr {
		if rr.Header().Rrtype == dns.TypeSOA {
			soas++
		}
	}
	if soas != 4 {
		t.Errorf("IXFR has %d SOAs, want 4 (one condensed sequence)", soas)
	}
	sameZone(t, "pre-restart zone + IXFR", applyIXFR(t, base, ixfr), want)
	if err := e.srv.CheckHashes(); err != nil {
		t.Fatal(err)
	}
	for _, rr := range ixfr {
		if n := rr.Header().Name; n == "www."+fwdZone || n == "vm1."+fwdZone {
			t.Errorf("IXFR carries %s, which did not change: not incremental", rr)
		}
	}

	// From the serial in between, too; from one never served, AXFR.
	mid := transferFrom(t, e.addr, fwdZone, true, s0+1)
	if mid[1].(*dns.SOA).Serial != s0+1 {
		t.Fatalf("IXFR from %d starts %v", s0+1, mid[1])
	}
	if full := transferFrom(t, e.addr, fwdZone, true, s0-7); len(full) < len(want) || full[1].Header().Rrtype == dns.TypeSOA {
		t.Fatalf("IXFR from a serial not in the journal: %d records, want an AXFR of %d", len(full), len(want))
	}
}

// startReplica starts another server on st (a second connection to the
// same database), as `cadastre serve --dns` on another machine would.
func startReplica(t *testing.T, e *env, st envStore, poll time.Duration) *server.Server {
	t.Helper()
	s := server.NewServer(registry.New(st), st, e.sealer, server.Options{Listen: "127.0.0.1:0", Poll: poll})
	if err := s.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

// Two replicas on one PostgreSQL database serve the same signed zone,
// byte for byte, under one serial; a change is journalled once, by the
// replica that moved the serial, and the other answers IXFR from it.
func TestIXFRFromAnotherReplica(t *testing.T) {
	dsn := pgSchema(t)
	e := newEnvOn(t, true, openPG(t, dsn))
	e.start(server.Options{})
	s0 := e.srv.Serial(fwdZone)
	b := startReplica(t, e, openPG(t, dsn), 20*time.Millisecond)
	if got := b.Serial(fwdZone); got != s0 {
		t.Fatalf("replica B serves serial %d, A %d", got, s0)
	}
	base := transferFrom(t, e.addr, fwdZone, false, 0)
	sameZone(t, "AXFR of B vs A", zoneSet(transferFrom(t, b.Addr(), fwdZone, false, 0)), zoneSet(base))

	e.alloc(4, "r1."+fwdZone)
	// Where the replicas were when the wait ended, for a failure: both
	// still at s0 means neither saw the change (seen 2026-12-05 while
	// another database on the server held a transaction open for 23 min:
	// the event log's position on PostgreSQL), past s0+1 a second change.
	var sa, sb uint32
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serials when the wait ended: A %d, B %d (s0 %d)", sa, sb, s0)
		}
	})
	e.waitFor("both replicas at serial+1", func() bool {
		sa, sb = e.srv.Serial(fwdZone), b.Serial(fwdZone)
		return sa == s0+1 && sb == s0+1
	})
	want := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	sameZone(t, "AXFR of B vs A after the change", zoneSet(transferFrom(t, b.Addr(), fwdZone, false, 0)), want)
	ixfr := transferFrom(t, b.Addr(), fwdZone, true, s0)
	sameZone(t, "A's zone + B's IXFR", applyIXFR(t, zoneSet(base), ixfr), want)
	for _, s := range []*server.Server{e.srv, b} {
		if err := s.CheckHashes(); err != nil {
			t.Fatal(err)
		}
	}

	z, err := e.mgr.Zone(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := e.store.Journal(e.ctx, z.ID, s0)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || steps[0].To != s0+1 {
		t.Fatalf("journal from %d has %d steps, want the one to %d", s0, len(steps), s0+1)
	}
}

// An incrementally built zone is the zone a fresh build makes: after a
// run of random changes (names given, renamed and taken back, static
// records added and deleted), each build keeping the hash up to date
// from what changed (most from the change alone: zone.Delta), a
// restarted server builds everything from scratch
// and finds the same content (so the serial stays), and serves by AXFR
// what the incremental server served; IXFR from the first serial leads
// a secondary's copy there.
func TestIncrementalBuildsEqualAFullBuild(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{Poll: time.Hour}) // builds only when the test says
	zones := []string{fwdZone, dynZone, v4Zone, v4Zone2, v6Zone}
	first := map[string]uint32{}
	bases := map[string]map[string]bool{}
	for _, z := range zones {
		first[z] = e.srv.Serial(z)
		if z != v4Zone2 { // not transferable: no allow-transfer
			bases[z] = zoneSet(transferFrom(t, e.addr, z, false, 0))
		}
	}
	untouched := e.srv.BuiltAt(v4Zone2) // only us-east changes below
	r := rand.New(rand.NewPCG(6, 1995))
	var live []registry.Assignment
	var records []zone.Record
	for i := range 40 {
		switch op := r.IntN(5); {
		case op <= 1 || len(live) == 0:
			fam := []int{4, 6}[r.IntN(2)]
			as, err := e.reg.Allocate(e.ctx, registry.Request{Region: "us-east", Family: fam, Name: fmt.Sprintf("n%d.%s", i, fwdZone), Tenant: "acme"})
			if err != nil {
				t.Fatal(err)
			}
			live = append(live, as[0])
		case op == 2:
			k := r.IntN(len(live))
			if _, err := e.reg.Release(e.ctx, registry.Target{ID: live[k].ID}, 0, nil); err != nil {
				t.Fatal(err)
			}
			live = slices.Delete(live, k, k+1)
		case op == 3:
			k := r.IntN(len(live))
			name := fmt.Sprintf("renamed%d.%s", i, fwdZone)
			a, err := e.reg.UpdateAssignment(e.ctx, live[k].ID, "", nil, &name, nil)
			if err != nil {
				t.Fatal(err)
			}
			live[k] = a
		default:
			if len(records) > 0 && r.IntN(2) == 0 {
				if err := e.mgr.DeleteRecord(e.ctx, records[0].ID); err != nil {
					t.Fatal(err)
				}
				records = records[1:]
				break
			}
			rec, err := e.mgr.AddRecord(e.ctx, fwdZone, fmt.Sprintf("s%d.sub", i), "TXT", fmt.Sprintf(`"%d"`, i), 0)
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, rec)
		}
		if err := e.srv.Reload(e.ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.CheckHashes(); err != nil {
			t.Fatalf("after change %d: %v", i, err)
		}
	}
	if got := e.srv.BuiltAt(v4Zone2); got != untouched {
		t.Errorf("%s, which no change touched, was built again (at event %d, first at %d)", v4Zone2, got, untouched)
	}
	if e.srv.BuiltAt(fwdZone) == e.srv.BuiltAt(v4Zone2) {
		t.Errorf("%s was not built again", fwdZone)
	}
	// Builds after a change of assignments alone are made from the
	// change (zone.Delta); the full build after the restart checks them.
	if st := e.srv.BuildStats(); st.Delta < 10 {
		t.Errorf("builds %+v: changes of assignments alone should build zones from the change", st)
	}
	served := map[string]map[string]bool{}
	serials := map[string]uint32{}
	for z := range bases {
		served[z] = zoneSet(transferFrom(t, e.addr, z, false, 0))
		serials[z] = e.srv.Serial(z)
	}
	e.restart(server.Options{Poll: time.Hour})
	for z := range bases {
		if got := e.srv.Serial(z); got != serials[z] {
			t.Errorf("%s: a full build moved the serial %d -> %d: its content differs", z, serials[z], got)
		}
		sameZone(t, z+" full build vs incremental", zoneSet(transferFrom(t, e.addr, z, false, 0)), served[z])
		if serials[z] != first[z] {
			sameZone(t, z+" first version + IXFR", applyIXFR(t, bases[z], transferFrom(t, e.addr, z, true, first[z])), served[z])
		}
	}
}

// A replica that builds after another moved the serial past its own
// previous version still journals its step: the step from the stored
// version is its change from its previous version less the journal's,
// so no serial is left without a step (and no secondary is sent to AXFR).
func TestJournalStepFromALaggingReplica(t *testing.T) {
	e := newEnv(t, true)
	e.start(server.Options{Poll: time.Hour}) // A: builds when told
	b := startReplica(t, e, e.store, time.Hour)
	s0 := e.srv.Serial(fwdZone)
	if b.Serial(fwdZone) != s0 {
		t.Fatalf("B at %d, A at %d", b.Serial(fwdZone), s0)
	}
	base := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	reload := func(s *server.Server) {
		t.Helper()
		if err := s.Reload(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.alloc(4, "x1."+fwdZone)
	if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "gone", "TXT", `"soon"`, 0); err != nil {
		t.Fatal(err)
	}
	reload(e.srv) // A: s0 -> s0+1
	at1 := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	e.alloc(4, "x2."+fwdZone)
	rs, err := e.mgr.Records(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Name == "gone."+fwdZone {
			if err := e.mgr.DeleteRecord(e.ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	reload(b) // B, still at s0: s0+1 -> s0+2
	if got := b.Serial(fwdZone); got != s0+2 {
		t.Fatalf("B at %d, want %d", got, s0+2)
	}
	reload(e.srv) // A takes B's version
	if got := e.srv.Serial(fwdZone); got != s0+2 {
		t.Fatalf("A at %d, want %d", got, s0+2)
	}
	want := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	sameZone(t, "B's AXFR vs A's", zoneSet(transferFrom(t, b.Addr(), fwdZone, false, 0)), want)
	sameZone(t, "version s0+1 + IXFR", applyIXFR(t, at1, transferFrom(t, e.addr, fwdZone, true, s0+1)), want)
	sameZone(t, "version s0 + IXFR", applyIXFR(t, base, transferFrom(t, b.Addr(), fwdZone, true, s0)), want)
	for _, s := range []*server.Server{e.srv, b} {
		if err := s.CheckHashes(); err != nil {
			t.Fatal(err)
		}
	}
}

// Two replicas polling every 20 ms on one PostgreSQL database while
// names come and go: they race for each serial, and whichever wins
// journals the step. Afterwards both serve the same zone under one
// serial, the journal leads without a gap from the first serial to the
// last, and an IXFR from the first serial, from either replica, brings a
// secondary's copy to what they serve.
func TestReplicasRacingLeaveNoJournalGap(t *testing.T) {
	dsn := pgSchema(t)
	e := newEnvOn(t, true, openPG(t, dsn))
	e.start(server.Options{})
	b := startReplica(t, e, openPG(t, dsn), 20*time.Millisecond)
	s0 := e.srv.Serial(fwdZone)
	base := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	for i := range 30 {
		e.alloc(4, fmt.Sprintf("race%d.%s", i, fwdZone))
		time.Sleep(time.Duration(i%4) * 10 * time.Millisecond)
	}
	var last uint32
	e.waitFor("both replicas on one serial with every name", func() bool {
		last = e.srv.Serial(fwdZone)
		r := e.query("udp", "race29."+fwdZone, dns.TypeA, false)
		return last == b.Serial(fwdZone) && len(r.Answer) == 1
	})
	want := zoneSet(transferFrom(t, e.addr, fwdZone, false, 0))
	sameZone(t, "B's AXFR vs A's", zoneSet(transferFrom(t, b.Addr(), fwdZone, false, 0)), want)
	z, err := e.mgr.Zone(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := e.store.Journal(e.ctx, z.ID, s0)
	if err != nil {
		t.Fatal(err)
	}
	cur := s0
	for _, d := range steps {
		if d.From != cur {
			t.Fatalf("journal gap: a step from %d follows the one to %d", d.From, cur)
		}
		cur = d.To
	}
	if cur != last {
		t.Fatalf("journal from %d ends at %d, the zone is at %d", s0, cur, last)
	}
	t.Logf("%d steps from %d to %d", len(steps), s0, last)
	for _, addr := range []string{e.addr, b.Addr()} {
		sameZone(t, "first version + IXFR from "+addr, applyIXFR(t, base, transferFrom(t, addr, fwdZone, true, s0)), want)
	}
}
