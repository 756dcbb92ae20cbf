package server_test

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// ask queries s without the network, with DO.
func ask(s *server.Server, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(4096, true)
	return s.Respond(m, true)
}

// keyView is what a zone shows of its keys: the DNSKEY tags (by flags),
// the tags signing a set, and the CDS tags.
type keyView struct {
	dnskey  []uint16
	signers []uint16
	cds     []uint16
}

func viewKeys(t *testing.T, s *server.Server, zoneName, signed string, qtype uint16) keyView {
	t.Helper()
	var v keyView
	for _, rr := range ask(s, zoneName, dns.TypeDNSKEY).Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			v.dnskey = append(v.dnskey, k.KeyTag())
		}
	}
	for _, rr := range ask(s, signed, qtype).Answer {
		if sig, ok := rr.(*dns.RRSIG); ok {
			v.signers = append(v.signers, sig.KeyTag)
		}
	}
	for _, rr := range ask(s, zoneName, dns.TypeCDS).Answer {
		if c, ok := rr.(*dns.CDS); ok {
			v.cds = append(v.cds, c.KeyTag)
		}
	}
	slices.Sort(v.dnskey)
	slices.Sort(v.signers)
	slices.Sort(v.cds)
	return v
}

func tags(ks ...zone.Key) []uint16 {
	var out []uint16
	for _, k := range ks {
		out = append(out, k.Tag)
	}
	slices.Sort(out)
	return out
}

// rollAt moves the clock to at, lets the server make what is due and
// rebuild, and says whether a key changed.
func rollAt(t *testing.T, e *env, s *server.Server, clock *fakeClock, at time.Time) bool {
	t.Helper()
	clock.Set(at)
	if err := s.Reload(e.ctx); err != nil { // what the manager changed
		t.Fatal(err)
	}
	changed, err := s.Roll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckHashes(); err != nil {
		t.Fatal(err)
	}
	return changed
}

func keysByRole(t *testing.T, e *env, zoneName string) map[zone.Role][]zone.Key {
	t.Helper()
	ks, err := e.mgr.Keys(e.ctx, zoneName)
	if err != nil {
		t.Fatal(err)
	}
	out := map[zone.Role][]zone.Key{}
	seen := map[uint16]bool{}
	for _, k := range ks {
		if seen[k.Tag] {
			t.Fatalf("zone %s: key tag %d used twice", zoneName, k.Tag)
		}
		seen[k.Tag] = true
		out[k.Role] = append(out[k.Role], k)
	}
	return out
}

// The RFC 7583 pre-publication ZSK rollover, on a clock the test moves:
// each step happens at its time and not a minute before.
func TestZSKRolloverTiming(t *testing.T) {
	e := newEnv(t, true)
	const lifetime = 30 * 24 * time.Hour
	if _, err := e.mgr.UpdateZone(e.ctx, v4Zone, func(c *zone.Config) error {
		c.ZSKLifetime, c.Propagation = lifetime, time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ks := keysByRole(t, e, v4Zone)
	ksk, zskA := ks[zone.KSK][0], ks[zone.ZSK][0]
	t0 := zskA.ActiveAt
	if t0.IsZero() || zskA.PublishedAt.IsZero() {
		t.Fatalf("a new key has no timestamps: %+v", zskA)
	}
	clock := newFakeClock(t0)
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{Now: clock.Now})
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	ptr := ptrOf(netip.MustParseAddr("10.1.2.1"))
	check := func(what string, dnskey, signers []uint16) {
		t.Helper()
		v := viewKeys(t, s, v4Zone, v4Zone, dns.TypeSOA)
		if !slices.Equal(v.dnskey, dnskey) || !slices.Equal(v.signers, signers) {
			t.Fatalf("%s (at t0+%v): DNSKEY %v signed by %v; want %v by %v", what, clock.Now().Sub(t0), v.dnskey, v.signers, dnskey, signers)
		}
		// Every other set is signed by the same ZSK.
		if r := ask(s, ptr, dns.TypePTR); len(r.Answer) > 0 {
			for _, rr := range r.Answer {
				if sig, ok := rr.(*dns.RRSIG); ok && !slices.Contains(signers, sig.KeyTag) {
					t.Fatalf("%s: PTR signed by %d", what, sig.KeyTag)
				}
			}
		}
	}
	// Ipub = Dprp + TTL(DNSKEY) = 1 h + 3600 s; Iret = Dprp + max TTL = 2 h.
	const ipub, iret = 2 * time.Hour, 2 * time.Hour
	serial := s.Serial(v4Zone)
	if rollAt(t, e, s, clock, t0.Add(lifetime-ipub-time.Minute)) {
		t.Fatal("successor published more than Ipub before the lifetime ends")
	}
	check("before the successor", tags(ksk, zskA), tags(zskA))

	pub := t0.Add(lifetime - ipub + time.Minute)
	if !rollAt(t, e, s, clock, pub) {
		t.Fatal("no successor published Ipub before the lifetime ends")
	}
	zskB := keysByRole(t, e, v4Zone)[zone.ZSK][1]
	if zskB.State != zone.KeyPublished || !zskB.ActiveAt.IsZero() {
		t.Fatalf("successor: %+v", zskB)
	}
	check("successor pre-published", tags(ksk, zskA, zskB), tags(zskA))
	if s.Serial(v4Zone) == serial {
		t.Fatal("the serial did not move with the DNSKEY RRset")
	}

	if rollAt(t, e, s, clock, pub.Add(ipub-time.Minute)) {
		t.Fatal("successor signs before Ipub")
	}
	check("successor still waiting", tags(ksk, zskA, zskB), tags(zskA))

	switchAt := pub.Add(ipub)
	if !rollAt(t, e, s, clock, switchAt) {
		t.Fatal("successor does not sign after Ipub")
	}
	check("successor signs, old key still published", tags(ksk, zskA, zskB), tags(zskB))

	if rollAt(t, e, s, clock, switchAt.Add(iret-time.Minute)) {
		t.Fatal("old ZSK removed before Iret")
	}
	check("old key kept for Iret", tags(ksk, zskA, zskB), tags(zskB))
	if !rollAt(t, e, s, clock, switchAt.Add(iret)) {
		t.Fatal("old ZSK not removed after Iret")
	}
	check("old key removed", tags(ksk, zskB), tags(zskB))

	// And the next rollover comes a lifetime after the successor began.
	if rollAt(t, e, s, clock, switchAt.Add(lifetime-ipub-time.Minute)) {
		t.Fatal("second rollover too early")
	}
	if !rollAt(t, e, s, clock, switchAt.Add(lifetime-ipub)) {
		t.Fatal("no second rollover")
	}
	zs := keysByRole(t, e, v4Zone)[zone.ZSK]
	if len(zs) != 3 || zs[0].State != zone.KeyRetired || zs[1].State != zone.KeyActive || zs[2].State != zone.KeyPublished {
		t.Fatalf("ZSKs after two rollovers began: %+v", zs)
	}
	var rolls int
	evs, _ := events(t, e)
	for _, ev := range evs {
		if ev.Action == "key.roll" {
			rolls++
		}
	}
	if rolls != 3 {
		t.Fatalf("%d key.roll events, want 3 (B active, A inactive, A retired)", rolls)
	}
}

func events(t *testing.T, e *env) ([]registry.Event, error) {
	t.Helper()
	var out []registry.Event
	err := e.store.View(e.ctx, func(tx registry.Tx) error {
		var err error
		out, err = tx.Events(e.ctx, registry.EventFilter{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, err
}

// A CSK rollover (double-KSK): the successor signs beside the old key
// after Ipub, the CDS switches to it, and the old key stays for as long as
// the parent's DS is not confirmed, then for the DS TTL after.
func TestCSKRolloverWaitsForDS(t *testing.T) {
	e := newEnv(t, true)
	const lifetime = 365 * 24 * time.Hour
	if _, err := e.mgr.UpdateZone(e.ctx, fwdZone, func(c *zone.Config) error {
		c.KSKLifetime, c.Propagation, c.ParentDSTTL = lifetime, time.Hour, 24*time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	old := keysByRole(t, e, fwdZone)[zone.CSK][0]
	t0 := old.ActiveAt
	clock := newFakeClock(t0)
	mgr := manage.NewManager(e.store, e.sealer, clock.Now)
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{Now: clock.Now})
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	check := func(what string, dnskey, signers, cds []uint16) {
		t.Helper()
		v := viewKeys(t, s, fwdZone, "www."+fwdZone, dns.TypeA)
		if !slices.Equal(v.dnskey, dnskey) || !slices.Equal(v.signers, signers) || !slices.Equal(v.cds, cds) {
			t.Fatalf("%s (t0+%v): DNSKEY %v, www signed by %v, CDS %v; want %v, %v, %v", what, clock.Now().Sub(t0), v.dnskey, v.signers, v.cds, dnskey, signers, cds)
		}
		ds, err := mgr.DS(e.ctx, fwdZone)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].KeyTag != cds[0] {
			t.Fatalf("%s: zone ds prints %v, CDS is %v", what, ds, cds)
		}
	}
	const ipub = 2 * time.Hour
	check("one CSK", tags(old), tags(old), tags(old))
	pub := t0.Add(lifetime - ipub)
	if !rollAt(t, e, s, clock, pub) {
		t.Fatal("no successor")
	}
	succ := keysByRole(t, e, fwdZone)[zone.CSK][1]
	check("successor published, parent keeps the old DS", tags(old, succ), tags(old), tags(old))
	if !rollAt(t, e, s, clock, pub.Add(ipub)) {
		t.Fatal("successor does not sign")
	}
	check("both sign, CDS shows the successor", tags(old, succ), tags(old, succ), tags(succ))
	for _, d := range []time.Duration{24 * time.Hour, 30 * 24 * time.Hour} {
		if rollAt(t, e, s, clock, pub.Add(ipub+d)) {
			t.Fatalf("old CSK changed %v later without DS confirmation", d)
		}
	}
	check("no DS confirmation: the old key stays", tags(old, succ), tags(old, succ), tags(succ))

	confirmed := clock.Now()
	k, err := mgr.ConfirmDS(e.ctx, fwdZone)
	if err != nil || k.Tag != succ.Tag || !k.DSAt.Equal(confirmed.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("ConfirmDS: %+v %v", k, err)
	}
	s.Reload(e.ctx)
	// Iret(KSK) = Dprp + TTL(DS) = 25 h.
	if rollAt(t, e, s, clock, confirmed.Add(25*time.Hour-time.Minute)) {
		t.Fatal("old CSK removed while the old DS may be cached")
	}
	if !rollAt(t, e, s, clock, confirmed.Add(25*time.Hour)) {
		t.Fatal("old CSK not removed")
	}
	check("rollover done", tags(succ), tags(succ), tags(succ))
	if ks := keysByRole(t, e, fwdZone)[zone.CSK]; ks[0].State != zone.KeyRetired || ks[0].RemovedAt.IsZero() {
		t.Fatalf("old key: %+v", ks[0])
	}
}

// A manual KSK rollover of a split zone keeps the ZSK and ends the same way.
func TestManualKSKRollover(t *testing.T) {
	e := newEnv(t, true)
	if _, err := e.mgr.UpdateZone(e.ctx, v4Zone, func(c *zone.Config) error {
		c.Propagation, c.ParentDSTTL = time.Minute, time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ks := keysByRole(t, e, v4Zone)
	old, zsk := ks[zone.KSK][0], ks[zone.ZSK][0]
	clock := newFakeClock(time.Now())
	mgr := manage.NewManager(e.store, e.sealer, clock.Now)
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{Now: clock.Now})
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	succ, err := mgr.Roll(e.ctx, v4Zone, true)
	if err != nil || succ.Role != zone.KSK || succ.Tag == old.Tag || succ.Tag == zsk.Tag {
		t.Fatalf("Roll: %+v %v", succ, err)
	}
	if _, err := mgr.Roll(e.ctx, v4Zone, true); err == nil {
		t.Fatal("a second KSK rollover started during the first")
	}
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	rollAt(t, e, s, clock, clock.Now().Add(time.Minute+time.Hour)) // Ipub = 1 min + 3600 s
	v := viewKeys(t, s, v4Zone, v4Zone, dns.TypeDNSKEY)
	if !slices.Equal(v.signers, tags(old, succ)) || !slices.Equal(v.cds, tags(succ)) {
		t.Fatalf("after Ipub: %+v", v)
	}
	if v := viewKeys(t, s, v4Zone, v4Zone, dns.TypeSOA); !slices.Equal(v.signers, tags(zsk)) {
		t.Fatalf("the ZSK alone signs the SOA: %+v", v)
	}
	if _, err := mgr.ConfirmDS(e.ctx, v4Zone); err != nil {
		t.Fatal(err)
	}
	rollAt(t, e, s, clock, clock.Now().Add(time.Hour+time.Minute))
	if v := viewKeys(t, s, v4Zone, v4Zone, dns.TypeDNSKEY); !slices.Equal(v.dnskey, tags(zsk, succ)) || !slices.Equal(v.signers, tags(succ)) {
		t.Fatalf("after the DS TTL: %+v", v)
	}
}

// Rollovers in fast time: a split zone with 1 s TTLs rolls its ZSK every
// 3 s by the real clock, while unbound, validating, is asked about it
// without pause; every answer must validate (AD), through at least two
// complete rollovers, and the SOA must be seen signed by three ZSKs.
//
// Nothing here waits for a fixed time or counts on the machine's speed:
// the loop polls until both rollovers are done and three signers were
// seen, bounded by a deadline far above the ~8 s the rollovers take (if a
// loaded machine made one pass of the loop outlast a key's whole signing
// time, the next rollover's signer is watched instead). Dprp is 1 s: the
// server's own propagation (a 20 ms poll, then a rebuild) must stay under
// it for the cache model's rules to hold, and under -race on a machine
// loaded 30 times over a rebuild can take longer than the 250 ms it was.
func TestRolloverUnboundKeepsValidating(t *testing.T) {
	tool(t, "unbound")
	e := newEnv(t, true)
	if _, err := e.mgr.UpdateZone(e.ctx, v4Zone, func(c *zone.Config) error {
		c.TTL, c.Minimum = 1, 1
		c.ZSKLifetime, c.Propagation = 3*time.Second, time.Second
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	named := e.alloc(4, "roll."+fwdZone)
	e.start(server.Options{})
	resolver := e.startUnbound()
	qs := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{v4Zone, dns.TypeSOA, dns.RcodeSuccess},
		{ptrOf(named), dns.TypePTR, dns.RcodeSuccess},
		{"7.7." + v4Zone, dns.TypePTR, dns.RcodeNameError},
		{v4Zone, dns.TypeTXT, dns.RcodeSuccess},
		{v4Zone, dns.TypeDNSKEY, dns.RcodeSuccess},
	}
	signers := map[uint16]bool{}
	// Unbound re-fetches keys when a signature does not validate, which
	// hides a rollover made too fast; the RFC 7583 rules are also checked
	// on what the server itself serves, as a cache with these TTLs would
	// have seen it.
	seen := &cacheModel{ttl: time.Second}
	const limit = 2 * time.Minute // a hang guard, not a speed target
	deadline := time.Now().Add(limit)
	asked, retired := 0, 0
	for retired < 2 || len(signers) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d ZSK rollovers done, the SOA seen signed by %d ZSKs (want 2 and 3)", limit, retired, len(signers))
		}
		for _, q := range qs {
			r := resolve(t, resolver, q.name, q.qtype)
			asked++
			if r.Rcode != q.rcode || !r.AuthenticatedData {
				t.Fatalf("during the rollover (keys %+v): %s %s: rcode %s AD %v\n%v", keysByRole(t, e, v4Zone)[zone.ZSK], q.name,
					dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData, r)
			}
		}
		// Each answer is placed in time by when its question left and
		// when the answer came back: the model flags only what happened
		// for certain, however slow the machine made the exchange.
		sent := time.Now()
		soa := e.query("udp", v4Zone, dns.TypeSOA, true)
		got := time.Now()
		for _, rr := range soa.Answer {
			if sig, ok := rr.(*dns.RRSIG); ok {
				signers[sig.KeyTag] = true
				seen.signed(t, sent, got, sig.KeyTag)
			}
		}
		var keys []uint16
		sent = time.Now()
		dnskey := e.query("udp", v4Zone, dns.TypeDNSKEY, true)
		got = time.Now()
		for _, rr := range dnskey.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok {
				keys = append(keys, k.KeyTag())
			}
		}
		seen.published(t, sent, got, keys)
		retired = 0
		for _, k := range keysByRole(t, e, v4Zone)[zone.ZSK] {
			if k.State == zone.KeyRetired {
				retired++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d validated answers through %d ZSK rollovers (signers %v)", asked, retired, signers)
}

// cacheModel checks the two rules a rollover must keep for any cache
// holding records up to ttl: a key signs only if every DNSKEY RRset served
// in the last ttl held it (pre-publication), and a key leaves the DNSKEY
// RRset only when no signature it made in the last ttl can be cached.
// Each observation is known to have been served between the question's
// sending and the answer's arrival; a rule is reported broken only if it
// is broken at every instant those intervals allow, so that a slow
// exchange on a loaded machine cannot look like a broken rule.
type cacheModel struct {
	ttl     time.Duration
	keysets []struct {
		sent, got time.Time
		tags      []uint16
	}
	lastSig map[uint16]time.Time // the latest sending time of a question answered with the key's signature
}

// signed records a signature by tag, served between sent and got.
func (c *cacheModel) signed(t *testing.T, sent, got time.Time, tag uint16) {
	t.Helper()
	for _, ks := range c.keysets {
		// The longest the signature can have come after that RRset: got - ks.sent.
		if got.Sub(ks.sent) < c.ttl && !slices.Contains(ks.tags, tag) {
			t.Fatalf("key %d signs at most %v after a DNSKEY RRset without it was served (a cache may still hold that set)", tag, got.Sub(ks.sent))
		}
	}
	if c.lastSig == nil {
		c.lastSig = map[uint16]time.Time{}
	}
	c.lastSig[tag] = sent
}

// published records the DNSKEY RRset tags, served between sent and got.
func (c *cacheModel) published(t *testing.T, sent, got time.Time, tags []uint16) {
	t.Helper()
	for tag, last := range c.lastSig {
		// The longest the RRset can have come after that signature: got - last.
		if got.Sub(last) < c.ttl && !slices.Contains(tags, tag) {
			t.Fatalf("key %d left the DNSKEY RRset at most %v after it signed (a cache may still hold that signature)", tag, got.Sub(last))
		}
	}
	c.keysets = append(c.keysets, struct {
		sent, got time.Time
		tags      []uint16
	}{sent, got, tags})
}
