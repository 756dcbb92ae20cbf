package server_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// splitZone is the child `zone split` makes for the test's region us-east.
const splitZone = "us-east." + fwdZone

// watcher asks a server for names over and over and records every answer
// that is not the name's address, authoritative and signed by the parent
// or the child, and the order in which the signers came: the proof that
// a split (or a join) leaves no moment where a name is unanswered or
// answered by another zone than one of the two.
type watcher struct {
	addr  string
	names map[string]netip.Addr
	stop  chan struct{}
	done  sync.WaitGroup

	mu  sync.Mutex
	bad []string
	// servfail are the times SERVFAIL answers were asked, apart: Knot
	// gives them for a zone it has from the catalog but not transferred
	// yet (a query asked once it serves the zone never gets one).
	servfail []time.Time
	signers  map[string][]string // per name, each change of signer in order
	asked    atomic.Int64
}

func watch(addr string, names map[string]netip.Addr) *watcher {
	w := &watcher{addr: addr, names: names, stop: make(chan struct{}), signers: map[string][]string{}}
	for n, a := range names {
		w.done.Add(1)
		go func() {
			defer w.done.Done()
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				w.check(n, a)
			}
		}()
	}
	return w
}

func (w *watcher) check(name string, want netip.Addr) {
	sent := time.Now()
	r, err := exchange(w.addr, name, dns.TypeA, true)
	w.asked.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // no answer in time on a loaded machine is not a wrong one
		}
		w.bad = append(w.bad, fmt.Sprintf("%s: %v", name, err))
		return
	}
	var addr netip.Addr
	signer := ""
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			addr, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.RRSIG:
			signer = rr.SignerName
		}
	}
	if r.Rcode == dns.RcodeServerFailure {
		w.servfail = append(w.servfail, sent)
		return
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || addr != want || (signer != fwdZone && signer != splitZone) {
		w.bad = append(w.bad, fmt.Sprintf("%s %s: rcode %s, AA %v, address %v, signer %q", time.Now().Format("15:04:05.000"), name, dns.RcodeToString[r.Rcode], r.Authoritative, addr, signer))
		return
	}
	if s := w.signers[name]; len(s) == 0 || s[len(s)-1] != signer {
		w.signers[name] = append(s, signer)
	}
}

// end stops the queries and returns the wrong answers, each name's
// signers in the order they came (each name is asked by one goroutine,
// one query after another), and how many queries were asked.
func (w *watcher) end() (bad []string, signers map[string][]string, asked int64) {
	close(w.stop)
	w.done.Wait()
	return w.bad, w.signers, w.asked.Load()
}

// verdict stops the queries, fails t for every wrong answer and for a
// name not signed by from and then by to, and returns how many queries
// were asked.
func (w *watcher) verdict(t *testing.T, what, from, to string) int64 {
	t.Helper()
	bad, signers, asked := w.end()
	if len(bad) > 0 {
		t.Errorf("%s (%d queries): %d wrong answers, the first: %s, the last: %s", what, asked, len(bad), bad[0], bad[len(bad)-1])
	}
	signedInTurn(t, what, signers, from, to)
	return asked
}

// servfails says how many SERVFAIL answers came, and how many of them
// to queries asked after t.
func (w *watcher) servfails(t time.Time) (all, after int) {
	for _, at := range w.servfail {
		if at.After(t) {
			after++
		}
	}
	return len(w.servfail), after
}

// signedInTurn checks that each name was signed by from, then by to,
// and never by from again.
func signedInTurn(t *testing.T, what string, signers map[string][]string, from, to string) {
	t.Helper()
	for n, s := range signers {
		if strings.Join(s, " ") != from+" "+to {
			t.Errorf("%s: %s signed by %v in turn; want %s, then %s", what, n, s, from, to)
		}
	}
}

// delvValidates runs delv against addr for name, trusting only the
// parent's DS: a name of the child validates only through the DS the
// parent publishes for it.
func delvValidates(t *testing.T, e *env, addr, name, qtype string) {
	t.Helper()
	out := delv(t, e, addr, name, qtype)
	if !strings.Contains(out, "; fully validated") && !strings.Contains(out, "; negative response, fully validated") {
		t.Errorf("delv @%s %s %s, trusting %s only:\n%s", addr, name, qtype, fwdZone, out)
	}
}

// delv is delv's output for name and qtype at addr, trusting only the
// parent's DS.
func delv(t *testing.T, e *env, addr, name, qtype string) string {
	t.Helper()
	bin := tool(t, "delv")
	ds, err := e.mgr.DS(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	var anchors strings.Builder
	anchors.WriteString("trust-anchors {\n")
	for _, d := range ds {
		fmt.Fprintf(&anchors, "  %s static-ds %d %d %d \"%s\";\n", d.Hdr.Name, d.KeyTag, d.Algorithm, d.DigestType, strings.ToUpper(d.Digest))
	}
	anchors.WriteString("};\n")
	file := filepath.Join(t.TempDir(), "anchors")
	if err := os.WriteFile(file, []byte(anchors.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	out, _ := exec.Command(bin, "@"+host, "-p", port, "-a", file, "+root="+fwdZone, name, qtype).CombinedOutput()
	return string(out)
}

// ldnsVerify checks a zone's transfer with ldns-verify-zone.
func ldnsVerify(t *testing.T, e *env, zoneName string) string {
	t.Helper()
	ldns := tool(t, "ldns-verify-zone")
	text := e.axfr(zoneName)
	file := filepath.Join(t.TempDir(), strings.TrimSuffix(zoneName, ".")+".zone")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ldns, "-V", "2", file).CombinedOutput(); err != nil {
		t.Errorf("ldns-verify-zone %s: %v\n%s\n%s", zoneName, err, out, text)
	}
	return text
}

// TestZoneSplitAndJoinUnderQueries: `zone split --per-region` on a
// running server makes us-east.example.test a signed child, delegated
// with NS and DS, in one transaction. Queries for the region's names,
// asked without pause throughout, are answered every time with the
// name's address, signed by the parent until one reload and by the child
// from it (never unanswered, never by another zone, never back); delv,
// trusting only the parent, validates the child's names through the DS,
// on cadastre and on a Knot secondary that learns the child from the
// catalog; ldns-verify-zone accepts both zones. A KSK rollover of the
// child changes the parent's DS by itself, and the join takes it all
// back, again without a gap.
func TestZoneSplitAndJoinUnderQueries(t *testing.T) {
	tool(t, "knotd")
	tool(t, "delv")
	tool(t, "ldns-verify-zone")
	e := newEnv(t, true)
	kport := freePort(t)
	acl := []string{"key:" + tsigName}
	notify := []string{fmt.Sprintf("127.0.0.1:%d", kport)}
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: catalogZone, Config: zone.Config{Catalog: true, AllowTransfer: acl, Notify: notify}}); err != nil {
		t.Fatal(err)
	}
	names := map[string]netip.Addr{}
	for i := range 6 {
		n := fmt.Sprintf("vm%d.%s", i, splitZone)
		names[n] = e.alloc(4, n)
	}
	if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "www.us-east", "A", "10.1.2.250", 0); err != nil {
		t.Fatal(err)
	}
	names["www."+splitZone] = netip.MustParseAddr("10.1.2.250")
	e.start(server.Options{})
	conf, _ := e.knotConfig()
	k := startKnot(t, conf, kport)
	waitUntil(t, 30*time.Second, "knot serves the parent from the catalog", func() bool {
		return soaSerial(k.addr, fwdZone) == e.srv.Serial(fwdZone) && e.srv.Serial(fwdZone) != 0
	})

	// Bad input first: nothing is written.
	before, _ := e.mgr.Records(e.ctx, fwdZone)
	for _, c := range []struct {
		what   string
		parent string
		o      manage.SplitOptions
		want   error
		says   string
	}{
		{"an unknown zone", "nope.test", manage.SplitOptions{PerRegion: true}, registry.ErrNotFound, "nope.test"},
		{"an unknown region", fwdZone, manage.SplitOptions{Regions: []string{"mars"}}, registry.ErrNotFound, "mars"},
		{"a region with no names", fwdZone, manage.SplitOptions{Regions: []string{"eu-west"}}, registry.ErrInvalid, "no live names under eu-west." + fwdZone},
		{"no choice of children", fwdZone, manage.SplitOptions{}, registry.ErrInvalid, "--per-region"},
		{"a reverse zone", v4Zone, manage.SplitOptions{PerRegion: true}, registry.ErrInvalid, "forward zone"},
	} {
		if _, err := e.mgr.Split(e.ctx, c.parent, c.o); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("split %s: %v, want %v saying %q", c.what, err, c.want, c.says)
		}
	}
	if after, _ := e.mgr.Records(e.ctx, fwdZone); len(after) != len(before) {
		t.Fatalf("refused splits changed the parent: %d records, were %d", len(after), len(before))
	}

	// The split, under queries to cadastre and to Knot: staged first
	// (Stage stops there, as a crash would), then delegated by running
	// it again. Knot must answer every query authoritatively with the
	// name's address, from the parent and then from the child: on main,
	// which published the delegation with the child, Knot applied the
	// parent's IXFR before it had the child and referred 10-373 of
	// ~1,500 queries to a zone it did not have.
	ours, theirs := watch(e.addr, names), watch(k.addr, names)
	time.Sleep(300 * time.Millisecond)
	staged, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{PerRegion: true, Stage: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(staged) != 1 || staged[0].Zone.Name != splitZone || !staged[0].Zone.Config.Staged || staged[0].Names != 6 || staged[0].Records != 1 || len(staged[0].DS) != 0 {
		t.Fatalf("staged %+v; want %s staged with 6 names, 1 record copied and no DS yet", staged, splitZone)
	}
	e.waitFor("the staged child served", func() bool { return e.srv.Serial(splitZone) != 0 })
	waitUntil(t, 30*time.Second, "knot serves the staged child at cadastre's serial", func() bool {
		return soaSerial(k.addr, splitZone) == e.srv.Serial(splitZone)
	})
	knotHasChild := time.Now()
	// Staged, cadastre answers from the parent, which has no delegation.
	if r := e.query("udp", "vm0."+splitZone, dns.TypeA, true); !r.Authoritative || len(r.Answer) == 0 || r.Answer[len(r.Answer)-1].(*dns.RRSIG).SignerName != fwdZone {
		t.Errorf("staged: cadastre answers vm0 with %v, want the parent's signed answer", r)
	}
	if r := e.query("udp", splitZone, dns.TypeNS, true); len(r.Answer) != 0 || len(r.Ns) == 0 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Name != fwdZone {
		t.Errorf("staged: the parent delegates already: %v", r)
	}
	// cadastre validates; Knot answers from the child it has, whose DS
	// the parent does not publish yet: a validator finds no trust chain
	// until Knot has the delegation (logged, see README).
	delvValidates(t, e, e.addr, "vm4."+splitZone, "A")
	t.Logf("staged, on knot: %s", delv(t, e, k.addr, "vm4."+splitZone, "A"))
	if _, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{Regions: []string{"us-east"}, Stage: true}); err != nil {
		t.Errorf("staging a staged child again: %v", err)
	}
	out, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{Regions: []string{"us-east"}, Wait: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Zone.Name != splitZone || out[0].Zone.Config.Staged || out[0].Names != 6 || out[0].Records != 1 || len(out[0].DS) != 1 {
		t.Fatalf("split made %+v; want %s delegated with 6 names, 1 record moved and one DS", out, splitZone)
	}
	// Split returns once the delegation is committed; cadastre's server
	// builds the parent from the log after that. Until it has, its serial
	// is the old parent's, which Knot serves too: compare only after
	// cadastre publishes the DS.
	e.waitFor("cadastre serves the delegation's DS", func() bool {
		return len(e.query("tcp", splitZone, dns.TypeDS, true).Answer) > 0
	})
	waitUntil(t, 30*time.Second, "knot serves the child and the parent at cadastre's serials", func() bool {
		return soaSerial(k.addr, splitZone) == e.srv.Serial(splitZone) && soaSerial(k.addr, fwdZone) == e.srv.Serial(fwdZone)
	})
	time.Sleep(300 * time.Millisecond)
	for _, w := range []struct {
		name string
		w    *watcher
	}{{"cadastre", ours}, {"knot", theirs}} {
		asked := w.w.verdict(t, w.name+", during the split", fwdZone, splitZone)
		// Knot answers SERVFAIL for a zone it has from the catalog but
		// not transferred yet (milliseconds here): the staged child
		// before Knot serves it, never once it does.
		sf, late := w.w.servfails(knotHasChild)
		if w.name == "cadastre" && sf > 0 || late > 0 {
			t.Errorf("%s, during the split: %d SERVFAIL, %d of them once knot served the staged child", w.name, sf, late)
		}
		t.Logf("%s: %d queries during the split, %d SERVFAIL while knot bootstrapped the staged child", w.name, asked, sf)
	}

	// The delegation: the parent holds NS and DS, no longer the names.
	parent := ldnsVerify(t, e, fwdZone)
	child := ldnsVerify(t, e, splitZone)
	for _, want := range []string{splitZone + "\t3600\tIN\tNS\t", splitZone + "\t3600\tIN\tDS\t" + out[0].DS[0]} {
		if !strings.Contains(parent, want) {
			t.Errorf("the parent's transfer lacks %q:\n%s", want, parent)
		}
	}
	for n := range names {
		if strings.Contains(parent, "\n"+n) || !strings.Contains(child, n) {
			t.Errorf("%s: in the parent's transfer %v, in the child's %v", n, strings.Contains(parent, "\n"+n), strings.Contains(child, n))
		}
	}
	for _, at := range []string{e.addr, k.addr} {
		delvValidates(t, e, at, "vm0."+splitZone, "A")
		delvValidates(t, e, at, "nope."+splitZone, "A")
	}

	// Again: refused, nothing changes.
	if _, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{Regions: []string{"us-east"}}); !errors.Is(err, registry.ErrExists) || !strings.Contains(err.Error(), "split already") {
		t.Errorf("a second split: %v, want ErrExists saying split already", err)
	}
	if _, err := e.mgr.RemoveZones(e.ctx, splitZone); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "zone join") {
		t.Errorf("zone remove of a split child: %v, want ErrInvalid pointing to zone join", err)
	}

	// A KSK (here CSK) rollover of the child: the successor's DS joins
	// the parent's at once and is confirmed; the old one goes with its key.
	succ, err := e.mgr.Roll(e.ctx, splitZone, true)
	if err != nil {
		t.Fatal(err)
	}
	dsAt := func() []string {
		rs, err := e.mgr.Records(e.ctx, fwdZone)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			if r.Name == splitZone && r.Type == "DS" {
				out = append(out, r.Data)
			}
		}
		return out
	}
	if got := dsAt(); len(got) != 2 {
		t.Errorf("DS in the parent after the successor's publication: %v, want the current key's and the successor's", got)
	}
	keys, err := e.mgr.Keys(e.ctx, splitZone)
	if err != nil {
		t.Fatal(err)
	}
	var old zone.Key
	for _, k := range keys {
		if k.ID != succ.ID && k.State == zone.KeyActive {
			old = k
		}
	}
	e.waitFor("the parent served with both DS", func() bool {
		r := e.query("tcp", splitZone, dns.TypeDS, true)
		return len(r.Answer) == 3 // two DS and their signature
	})
	delvValidates(t, e, e.addr, "vm1."+splitZone, "A")
	z, err := e.mgr.Zone(e.ctx, splitZone)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	succ.State, succ.ActiveAt = zone.KeyActive, now
	retired := old
	retired.State, retired.InactiveAt, retired.RemovedAt = zone.KeyRetired, now, now
	if err := e.mgr.ApplyRoll(e.ctx, z, []manage.RollStep{{Key: succ, Prev: zone.KeyPublished, Why: "test"}, {Key: retired, Prev: zone.KeyActive, Why: "test"}}); err != nil {
		t.Fatal(err)
	}
	if got := dsAt(); len(got) != 1 || !strings.HasPrefix(got[0], fmt.Sprint(succ.Tag)+" ") {
		t.Errorf("DS in the parent after the old key retired: %v, want the successor's (tag %d) alone", got, succ.Tag)
	}
	// The successor signs and its DS is the parent's: confirmed without
	// `zone ds --confirm`.
	keys, err = e.mgr.Keys(e.ctx, splitZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == succ.ID && k.DSAt.IsZero() {
			t.Errorf("the successor signs, its DS is in the parent, but it is not confirmed")
		}
	}
	e.waitFor("the parent served with the successor's DS", func() bool {
		r := e.query("tcp", splitZone, dns.TypeDS, true)
		return len(r.Answer) == 2
	})
	delvValidates(t, e, e.addr, "vm2."+splitZone, "A")

	// The join, under queries again: the parent takes the names back
	// first, the child leaves the catalog once Knot serves that parent.
	ours, theirs = watch(e.addr, names), watch(k.addr, names)
	time.Sleep(300 * time.Millisecond)
	joined, err := e.mgr.Join(e.ctx, fwdZone, manage.JoinOptions{Wait: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(joined) != 1 || joined[0].Name != splitZone {
		t.Fatalf("joined %v, want %s", joined, splitZone)
	}
	e.waitFor("the child gone", func() bool { return e.srv.Serial(splitZone) == 0 })
	waitUntil(t, 30*time.Second, "knot drops the child and serves the parent at cadastre's serial", func() bool {
		return soaSerial(k.addr, splitZone) == 0 && soaSerial(k.addr, fwdZone) == e.srv.Serial(fwdZone)
	})
	time.Sleep(300 * time.Millisecond)
	for _, w := range []struct {
		name string
		w    *watcher
	}{{"cadastre", ours}, {"knot", theirs}} {
		asked := w.w.verdict(t, w.name+", during the join", splitZone, fwdZone)
		if sf, _ := w.w.servfails(time.Time{}); sf > 0 {
			t.Errorf("%s, during the join: %d SERVFAIL", w.name, sf)
		}
		t.Logf("%s: %d queries during the join", w.name, asked)
	}
	parent = ldnsVerify(t, e, fwdZone)
	if strings.Contains(parent, "\tNS\t") && strings.Contains(parent, splitZone+"\t3600\tIN\tNS") || strings.Contains(parent, "\tDS\t") {
		t.Errorf("the parent still delegates after the join:\n%s", parent)
	}
	if !strings.Contains(parent, "www."+splitZone) {
		t.Errorf("the moved static record did not come back to the parent:\n%s", parent)
	}
	for _, at := range []string{e.addr, k.addr} {
		delvValidates(t, e, at, "vm3."+splitZone, "A")
	}
	if _, err := e.mgr.Join(e.ctx, fwdZone, manage.JoinOptions{}); !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "not split") {
		t.Errorf("a second join: %v, want ErrInvalid saying not split", err)
	}
}

// TestZoneSplitRefusesCollisions: a split that would hide or contradict
// data is refused with nothing written: a delegation already at the
// child's apex, a CNAME there, a name server of the parent inside the
// child, and a tenant's live assignment named as the child's apex.
func TestZoneSplitRefusesCollisions(t *testing.T) {
	for _, c := range []struct {
		what  string
		setup func(e *env) error
		want  error
		says  string
	}{
		{"a delegation at the apex", func(e *env) error {
			_, err := e.mgr.AddRecord(e.ctx, fwdZone, "us-east", "NS", "ns1.example.net.", 0)
			return err
		}, registry.ErrExists, "delegated already"},
		{"a CNAME at the apex", func(e *env) error {
			_, err := e.mgr.AddRecord(e.ctx, fwdZone, "us-east", "CNAME", "www."+fwdZone, 0)
			return err
		}, registry.ErrInvalid, "CNAME"},
		{"a name server inside the child", func(e *env) error {
			_, err := e.mgr.Reconfigure(e.ctx, fwdZone, manage.ZoneChange{NS: []string{"ns.us-east." + fwdZone}, Glue: []manage.Glue{{Host: "ns.us-east." + fwdZone, Addr: netip.MustParseAddr("10.1.2.53")}}})
			return err
		}, registry.ErrInvalid, "glue"},
		{"a tenant's name at the apex", func(e *env) error {
			e.alloc(4, splitZone)
			return nil
		}, nil, "us-east." + fwdZone},
	} {
		t.Run(c.what, func(t *testing.T) {
			e := newEnv(t, true)
			e.alloc(4, "vm0."+splitZone)
			if err := c.setup(e); err != nil {
				t.Fatal(err)
			}
			zs, _ := e.mgr.Zones(e.ctx)
			rs, _ := e.mgr.Records(e.ctx, fwdZone)
			_, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{PerRegion: true})
			var taken *registry.NameTakenError
			switch {
			case err == nil:
				t.Fatal("split accepted")
			case c.want == nil && !errors.As(err, &taken):
				t.Errorf("split: %v, want a name-taken error", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("split: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("split: %v, want it to say %q", err, c.says)
			}
			zs2, _ := e.mgr.Zones(e.ctx)
			rs2, _ := e.mgr.Records(e.ctx, fwdZone)
			if len(zs2) != len(zs) || len(rs2) != len(rs) {
				t.Errorf("a refused split wrote: %d zones (were %d), %d records (were %d)", len(zs2), len(zs), len(rs2), len(rs))
			}
		})
	}
}
