package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

const kidZone = "kid." + fwdZone // a signed child of fwdZone

// dsData is the text of a DS record's data, as `record add` takes it.
func dsData(ds *dns.DS) string { return strings.TrimPrefix(ds.String(), ds.Hdr.String()) }

// delegate makes the child kidZone (signed, KSK and ZSK, TTLs of ttl
// seconds) and delegates to it from fwdZone: NS, glue, and the child's DS.
func (e *env) delegate(ttl uint32) {
	e.t.Helper()
	must := func(_ any, err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
	}
	must(e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: kidZone, Config: zone.Config{TTL: ttl, Minimum: ttl, NS: []string{"ns." + kidZone}, AllowTransfer: []string{"key:" + tsigName}},
		Glue: []manage.Glue{{Host: "ns." + kidZone, Addr: netip.MustParseAddr("127.0.0.1")}}}))
	must(e.sign(kidZone, manage.SignOptions{SplitKeys: true}))
	must(e.mgr.AddRecord(e.ctx, kidZone, "www", "A", "10.1.2.201", 0))
	must(e.mgr.AddRecord(e.ctx, fwdZone, "kid", "NS", "ns."+kidZone, ttl))
	must(e.mgr.AddRecord(e.ctx, fwdZone, "ns.kid", "A", "127.0.0.1", ttl))
	ds, err := e.mgr.DS(e.ctx, kidZone)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range ds {
		must(e.mgr.AddRecord(e.ctx, fwdZone, "kid", "DS", dsData(d), ttl))
	}
}

func nsec3Types(rrs []dns.RR) [][]uint16 {
	var out [][]uint16
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NSEC3); ok {
			out = append(out, n.TypeBitMap)
		}
	}
	return out
}

// A parent zone delegates: to a signed child it serves itself (secure,
// with DS) and to one served elsewhere (insecure, no DS). Names at and
// below a cut get referrals (not authoritative, NS, glue, and the DS or
// the NSEC3 proof of no DS); the DS is answered by the parent, also when
// asked of a server that holds the child; the parent's AXFR passes
// ldns-verify-zone and dnssec-verify (NS at a cut and glue unsigned, the
// cut in the NSEC3 chain).
func TestDelegation(t *testing.T) {
	e := newEnv(t, true)
	e.delegate(60)
	// far: a signed child served elsewhere, with an in-bailiwick server.
	far := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "far." + fwdZone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 60}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	if _, err := far.Generate(256); err != nil {
		t.Fatal(err)
	}
	farDS := far.ToDS(dns.SHA256)
	for _, r := range [][3]string{{"ins", "NS", "ns.elsewhere.net."}, {"far", "NS", "ns.far.example.test."}, {"ns.far", "AAAA", "fd00::53"}, {"far", "DS", dsData(farDS)}} {
		if _, err := e.mgr.AddRecord(e.ctx, fwdZone, r[0], r[1], r[2], 0); err != nil {
			t.Fatal(err)
		}
	}
	// An assigned name in the child is the child's alone.
	e.alloc(4, "vm."+kidZone)
	e.start(server.Options{})

	ids := func(rrs []dns.RR) string { return types(rrs) }
	cases := []struct {
		name      string
		qtype     uint16
		aa        bool
		rcode     int
		answer    string
		authority string
		extra     string // before the OPT
		nsec3     [][]uint16
	}{
		// A secure delegation: NS, DS and its RRSIG; glue.
		{"x.far.example.test.", dns.TypeA, false, dns.RcodeSuccess, "", "NS DS RRSIG", "AAAA", nil},
		{"far.example.test.", dns.TypeNS, false, dns.RcodeSuccess, "", "NS DS RRSIG", "AAAA", nil},
		{"far.example.test.", dns.TypeDS, true, dns.RcodeSuccess, "DS RRSIG", "", "", nil},
		// The DS, from the parent, though the server has the child.
		{kidZone, dns.TypeDS, true, dns.RcodeSuccess, "DS RRSIG", "", "", nil},
		// The child itself answers for its own names.
		{"www." + kidZone, dns.TypeA, true, dns.RcodeSuccess, "A RRSIG", "", "", nil},
		{kidZone, dns.TypeDNSKEY, true, dns.RcodeSuccess, "DNSKEY DNSKEY RRSIG", "", "", nil},
		{"vm." + kidZone, dns.TypeA, true, dns.RcodeSuccess, "A RRSIG", "", "", nil},
		// An insecure delegation: NS and the NSEC3 of the cut, NS only.
		{"a.b.ins.example.test.", dns.TypeAAAA, false, dns.RcodeSuccess, "", "NS NSEC3 RRSIG", "", [][]uint16{{dns.TypeNS}}},
		{"ins.example.test.", dns.TypeA, false, dns.RcodeSuccess, "", "NS NSEC3 RRSIG", "", [][]uint16{{dns.TypeNS}}},
		// Its DS does not exist: a NODATA from the parent.
		{"ins.example.test.", dns.TypeDS, true, dns.RcodeSuccess, "", "SOA RRSIG NSEC3 RRSIG", "", [][]uint16{{dns.TypeNS}}},
	}
	for _, c := range cases {
		r := e.query("udp", c.name, c.qtype, true)
		extra := r.Extra[:len(r.Extra)-1] // the OPT last
		if r.Authoritative != c.aa || r.Rcode != c.rcode || ids(r.Answer) != c.answer || ids(r.Ns) != c.authority || ids(extra) != c.extra {
			t.Errorf("%s %s: AA %v rcode %s answer [%s] authority [%s] additional [%s]; want AA %v %s [%s] [%s] [%s]\n%v", c.name, dns.TypeToString[c.qtype],
				r.Authoritative, dns.RcodeToString[r.Rcode], ids(r.Answer), ids(r.Ns), ids(extra), c.aa, dns.RcodeToString[c.rcode], c.answer, c.authority, c.extra, r)
			continue
		}
		if got := nsec3Types(r.Ns); !slices.EqualFunc(got, c.nsec3, slices.Equal[[]uint16]) {
			t.Errorf("%s %s: NSEC3 bitmaps %v, want %v", c.name, dns.TypeToString[c.qtype], got, c.nsec3)
		}
		for _, rr := range r.Ns {
			if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == dns.TypeNS {
				t.Errorf("%s: the delegation's NS is signed: %v", c.name, sig)
			}
		}
	}
	// The DS in the secure referral and in the child's DS answer are the
	// children's keys.
	ds, _ := e.mgr.DS(e.ctx, kidZone)
	for _, c := range []struct {
		name  string
		qtype uint16
		want  uint16
	}{{"x.far." + fwdZone, dns.TypeA, farDS.KeyTag}, {kidZone, dns.TypeDS, ds[0].KeyTag}} {
		r := e.query("udp", c.name, c.qtype, true)
		var got []uint16
		for _, rr := range append(r.Answer, r.Ns...) {
			if d, ok := rr.(*dns.DS); ok {
				got = append(got, d.KeyTag)
			}
		}
		if !slices.Equal(got, []uint16{c.want}) {
			t.Errorf("%s %s: DS tags %v, want %d", c.name, dns.TypeToString[c.qtype], got, c.want)
		}
	}

	// Bad input: a DS at the apex, a DS where nothing is delegated, and
	// the records are unchanged.
	before, _ := e.mgr.Records(e.ctx, fwdZone)
	for _, bad := range []struct{ name, why string }{{"@", "belongs in the parent"}, {"nodelegation", "no delegation"}} {
		_, err := e.mgr.AddRecord(e.ctx, fwdZone, bad.name, "DS", dsData(ds[0]), 0)
		if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), bad.why) {
			t.Errorf("DS at %s: %v, want ErrInvalid saying %q", bad.name, err, bad.why)
		}
	}
	if after, _ := e.mgr.Records(e.ctx, fwdZone); len(after) != len(before) {
		t.Errorf("refused records changed the zone: %d records, were %d", len(after), len(before))
	}

	// The parent's transfer, verified by tools no one here wrote.
	ldns, verify := tool(t, "ldns-verify-zone"), tool(t, "dnssec-verify")
	text := e.axfr(fwdZone)
	if strings.Contains(text, "vm."+kidZone) {
		t.Errorf("the parent transfers a name of its child:\n%s", text)
	}
	if !strings.Contains(e.axfr(kidZone), "vm."+kidZone) {
		t.Errorf("the child does not transfer its assigned name")
	}
	file := filepath.Join(t.TempDir(), "parent.zone")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ldns, "-V", "2", file).CombinedOutput(); err != nil {
		t.Errorf("ldns-verify-zone: %v\n%s\n%s", err, out, text)
	}
	if out, err := exec.Command(verify, "-z", "-o", fwdZone, file).CombinedOutput(); err != nil {
		t.Errorf("dnssec-verify: %v\n%s", err, out)
	}
}

// A KSK rollover of a child zone, validated live by unbound through the
// parent. unbound trusts only the parent (a trust anchor for fwdZone),
// so every answer from the child validates only through the DS in the
// parent. The child's KSK lives 4 s, with 1 s TTLs, by the real clock;
// the test is the parent's operator: when the child's CDS shows a key
// whose DS the parent lacks, it adds that DS (`cadastre zone ds`),
// removes the old one, and once the parent serves it, tells cadastre
// (ConfirmDS), which then retires the old KSK after Dprp + TTL(DS).
// unbound is asked about the child every 150 ms throughout; every answer
// must validate (AD). At the end the DS is removed: the NSEC3 proof of
// no DS must make the child insecure (answers without AD, not SERVFAIL).
//
// The test waits on what it needs to have seen, never on the machine's
// speed: before each DS change every question has been answered since
// the CDS showed the new key (the window where only the old DS vouches
// for the child), and it stops asking only when every question has been
// answered after the last retirement, a TTL has passed, and at least 40
// answers came in all. Deadlines are hang guards, far above what a loaded
// machine needs.
func TestKSKRolloverUnboundThroughParent(t *testing.T) {
	tool(t, "unbound")
	e := newEnv(t, true)
	const ttl = 1
	e.delegate(ttl)
	if _, err := e.mgr.UpdateZone(e.ctx, kidZone, func(c *zone.Config) error {
		c.KSKLifetime, c.Propagation, c.ParentDSTTL = 4*time.Second, 250*time.Millisecond, ttl*time.Second
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	anchor, err := e.mgr.DS(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	resolver := e.startUnboundWith([]string{anchor[0].String()}, []string{fwdZone})

	parentDS := func() []uint16 { // what the parent serves
		var out []uint16
		for _, rr := range e.query("udp", kidZone, dns.TypeDS, true).Answer {
			if d, ok := rr.(*dns.DS); ok {
				out = append(out, d.KeyTag)
			}
		}
		slices.Sort(out)
		return out
	}
	cds := func() []uint16 {
		var out []uint16
		for _, rr := range e.query("udp", kidZone, dns.TypeCDS, true).Answer {
			if d, ok := rr.(*dns.CDS); ok {
				out = append(out, d.KeyTag)
			}
		}
		slices.Sort(out)
		return out
	}
	// operate replaces the parent's DS by the child's current one: the
	// new one first, so that the parent never has none.
	operate := func() {
		ds, err := e.mgr.DS(e.ctx, kidZone)
		if err != nil {
			t.Fatal(err)
		}
		old, err := e.mgr.Records(e.ctx, fwdZone)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "kid", "DS", dsData(d), ttl); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range old {
			if r.Type == "DS" && r.Name == kidZone {
				if err := e.mgr.DeleteRecord(e.ctx, r.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := []uint16{ds[0].KeyTag}
		e.waitFor("the parent to serve the new DS", func() bool { return slices.Equal(parentDS(), want) })
		if _, err := e.mgr.ConfirmDS(e.ctx, kidZone); err != nil {
			t.Fatal(err)
		}
		t.Logf("parent DS now %v, confirmed", want)
	}

	qs := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"www." + kidZone, dns.TypeA, dns.RcodeSuccess},
		{kidZone, dns.TypeSOA, dns.RcodeSuccess},
		{"nx." + kidZone, dns.TypeA, dns.RcodeNameError},
		{kidZone, dns.TypeDNSKEY, dns.RcodeSuccess},
	}
	// The asker runs beside the operator, so that no step of the
	// rollover or of the parent's change goes unobserved.
	var (
		mu       sync.Mutex
		failures []string
		asked    int // answers received
		timeouts int // questions unbound did not answer in time
	)
	answered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return asked
	}
	const limit = 2 * time.Minute // the whole rollover's hang guard
	deadline := time.Now().Add(limit)
	// awaitAnswers polls until n answers more than mark came in.
	awaitAnswers := func(what string, mark, n int) {
		t.Helper()
		for answered() < mark+n {
			if time.Now().After(deadline) {
				t.Fatalf("after %s: %d answers %s, want %d", limit, answered()-mark, what, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		c := &dns.Client{Timeout: 10 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			q := qs[i%len(qs)]
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.SetEdns0(1232, true)
			r, _, err := c.Exchange(m, resolver)
			mu.Lock()
			switch {
			case err != nil && isTimeout(err):
				// No answer is not a wrong one (resolve says why):
				// the same question is asked again, and only answers
				// count toward the waits below.
				timeouts++
				mu.Unlock()
				i--
				continue
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s %s %s: %v", time.Now().Format("15:04:05.000"), q.name, dns.TypeToString[q.qtype], err))
			case r.Rcode != q.rcode || !r.AuthenticatedData:
				failures = append(failures, fmt.Sprintf("%s %s %s: rcode %s AD %v", time.Now().Format("15:04:05.000"), q.name,
					dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData))
			}
			asked++
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-stopped
	})
	swaps := 0
	retired := func() int {
		n := 0
		for _, k := range keysByRole(t, e, kidZone)[zone.KSK] {
			if k.State == zone.KeyRetired {
				n++
			}
		}
		return n
	}
	for retired() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d KSK rollovers done in %s (%d DS changes)", retired(), limit, swaps)
		}
		if c, p := cds(), parentDS(); len(c) == 1 && !slices.Equal(c, p) {
			awaitAnswers("while the CDS showed a key the parent's DS did not", answered(), len(qs))
			operate()
			swaps++
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A TTL past the last removal (caches may still hold what it
	// replaced), every question answered after it, and 40 in all.
	removed := time.Now()
	awaitAnswers("after the last retirement", answered(), len(qs))
	awaitAnswers("in all", 0, 40)
	time.Sleep(time.Until(removed.Add(ttl * time.Second)))
	close(stop)
	<-stopped
	if swaps < 2 {
		t.Errorf("two KSK rollovers with %d DS changes in the parent", swaps)
	}
	if len(failures) > 0 {
		t.Fatalf("%d of %d answers did not validate during the KSK rollovers:\n%s", len(failures), asked, strings.Join(failures, "\n"))
	}
	if asked < 40 {
		t.Fatalf("only %d answers asked", asked)
	}
	t.Logf("%d validated answers through two KSK rollovers with the DS changed in the parent (%d questions timed out and were asked again)", asked, timeouts)

	// Without a DS the child is provably insecure: unbound answers it,
	// without AD, once the old DS has left its cache.
	rs, _ := e.mgr.Records(e.ctx, fwdZone)
	for _, r := range rs {
		if r.Type == "DS" {
			if err := e.mgr.DeleteRecord(e.ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitFor("the parent to drop the DS", func() bool { return len(parentDS()) == 0 })
	// Until the old DS and the child's answers leave unbound's cache the
	// answer may still validate (AD); it must never be anything but an
	// answer, and must turn insecure.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := resolve(t, resolver, "www."+kidZone, dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			t.Fatalf("child without DS: rcode %s AD %v, want an insecure answer\n%v", dns.RcodeToString[r.Rcode], r.AuthenticatedData, r)
		}
		if !r.AuthenticatedData {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child without DS: still validated (AD) 30 s after the parent dropped the DS with a TTL of %d s\n%v", ttl, r)
		}
	}
}

// unbound follows real referrals: the parent (fwdZone, trusted) is served
// on one address, its two children by another cadastre server on
// 127.0.0.2:53, where a referral's glue can send a resolver (it cannot
// name a port). kid is signed, with its DS in the parent: its answers
// validate through the signed referral. ins is unsigned, and the parent
// proves it has no DS (NSEC3 with NS only): its answers are insecure,
// not bogus.
func TestUnboundFollowsSignedReferrals(t *testing.T) {
	tool(t, "unbound")
	const childAddr = "127.0.0.2:53"
	ctx := registry.WithActor(context.Background(), "test")
	st, err := sqlite.Open(ctx, sqlitetest.Path(t, "child.db"), sqlite.Options{NoSync: true})
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
	child := manage.NewManager(st, sealer, nil)
	insZone := "ins." + fwdZone
	for _, z := range []string{kidZone, insZone} {
		if _, err := child.AddZone(ctx, manage.ZoneSpec{Name: z, Config: zone.Config{NS: []string{"ns." + z}},
			Glue: []manage.Glue{{Host: "ns." + z, Addr: netip.MustParseAddr("127.0.0.2")}}}); err != nil {
			t.Fatal(err)
		}
		for _, r := range [][3]string{{"www", "A", "10.9.9.9"}} {
			if _, err := child.AddRecord(ctx, z, r[0], r[1], r[2], 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := child.Sign(ctx, kidZone, manage.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	srv := server.NewServer(registry.New(st), st, sealer, server.Options{Listen: childAddr})
	// Port 53 needs root (or CAP_NET_BIND_SERVICE). Another run of this
	// test on the machine may hold it for a while: wait for it, bounded.
	for deadline := time.Now().Add(30 * time.Second); ; {
		err := srv.Start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			testenv.Need(t, childAddr, fmt.Sprintf("the child server listens on port 53, so that glue can point at it: %v", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})

	e := newEnv(t, true)
	ds, err := child.DS(ctx, kidZone)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][3]string{{"kid", "NS", "ns." + kidZone}, {"ns.kid", "A", "127.0.0.2"}, {"kid", "DS", dsData(ds[0])},
		{"ins", "NS", "ns." + insZone}, {"ns.ins", "A", "127.0.0.2"}} {
		if _, err := e.mgr.AddRecord(e.ctx, fwdZone, r[0], r[1], r[2], 0); err != nil {
			t.Fatal(err)
		}
	}
	e.start(server.Options{})
	anchor, err := e.mgr.DS(e.ctx, fwdZone)
	if err != nil {
		t.Fatal(err)
	}
	resolver := e.startUnboundWith([]string{anchor[0].String()}, []string{fwdZone})
	before := srv.FastAnswers()
	for _, c := range []struct {
		name  string
		rcode int
		ad    bool
	}{
		{"www." + kidZone, dns.RcodeSuccess, true},
		{"nx." + kidZone, dns.RcodeNameError, true},
		{"www." + insZone, dns.RcodeSuccess, false},
		{"nx." + insZone, dns.RcodeNameError, false},
		{"www." + fwdZone, dns.RcodeSuccess, true},
	} {
		r := resolve(t, resolver, c.name, dns.TypeA)
		if r.Rcode != c.rcode || r.AuthenticatedData != c.ad {
			t.Errorf("%s: rcode %s AD %v, want %s AD %v\n%v", c.name, dns.RcodeToString[r.Rcode], r.AuthenticatedData, dns.RcodeToString[c.rcode], c.ad, r)
		}
	}
	if srv.FastAnswers() == before {
		t.Error("the child server answered nothing: unbound did not follow the referrals")
	}
}
