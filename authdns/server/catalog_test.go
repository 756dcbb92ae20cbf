package server_test

// Secondaries configured from what `cadastre zone secondary-config
// --knot` writes: Knot as the consumer of cadastre's catalog zone (RFC
// 9432), and Knot synthesising names with mod-synthrecord as cadastre
// does.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

const catalogZone = "catalog.invalid."

// knotConfig is what secondary-config --knot writes for the env's zones,
// with cadastre at e.addr and the transfer key.
func (e *env) knotConfig(zones ...string) (string, []manage.Gap) {
	e.t.Helper()
	secret, err := base64.StdEncoding.DecodeString(tsigValue)
	if err != nil {
		e.t.Fatal(err)
	}
	zs, err := e.mgr.Zones(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	pools := []netip.Prefix{netip.MustParsePrefix(v4Pool), netip.MustParsePrefix(v4Pool2), netip.MustParsePrefix(v6Pool)}
	var b bytes.Buffer
	gaps, err := manage.KnotSecondary(&b, zs, pools, manage.KnotOptions{
		Primary: netip.MustParseAddrPort(e.addr),
		Key:     &zone.TSIGSecret{Name: tsigName, Algorithm: "hmac-sha256", Secret: secret},
		Zones:   zones,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return b.String(), gaps
}

// waitUntil polls cond for at most d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
	}
}

func TestKnotCatalogConsumer(t *testing.T) {
	tool(t, "knotd")
	tool(t, "unbound")
	e := newEnv(t, true)
	kport := freePort(t)
	acl := []string{"key:" + tsigName}
	notify := []string{fmt.Sprintf("127.0.0.1:%d", kport)}
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: catalogZone, Config: zone.Config{Catalog: true, AllowTransfer: acl, Notify: notify}}); err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})

	// The catalog as RFC 9432 has it: version 2, one PTR per zone that
	// may be transferred, under zones.
	cat := e.axfr(catalogZone)
	if !strings.Contains(cat, "version."+catalogZone+"\t3600\tIN\tTXT\t\"2\"") {
		t.Fatalf("no version 2 in the catalog:\n%s", cat)
	}
	for _, z := range []string{fwdZone, dynZone, v4Zone, v6Zone} {
		if !strings.Contains(cat, ".zones."+catalogZone+"\t3600\tIN\tPTR\t"+z) {
			t.Errorf("catalog lacks %s:\n%s", z, cat)
		}
	}
	if strings.Contains(cat, "PTR\t"+v4Zone2) {
		t.Errorf("catalog lists %s, which nobody may transfer:\n%s", v4Zone2, cat)
	}

	conf, gaps := e.knotConfig()
	if strings.Contains(conf, "domain: "+fwdZone) {
		t.Fatalf("members are written out beside the catalog:\n%s", conf)
	}
	t.Logf("gaps: %v", gaps)
	k := startKnot(t, conf, kport)
	for _, z := range []string{fwdZone, v4Zone} {
		waitUntil(t, 20*time.Second, "knot serves "+z+" learned from the catalog", func() bool {
			return soaSerial(k.addr, z) == e.srv.Serial(z) && e.srv.Serial(z) != 0
		})
	}

	// A zone added after Knot started reaches it by itself: the
	// catalog's serial moves, NOTIFY, IXFR of the catalog, then AXFR of
	// the new zone. The zone names no NOTIFY target of its own: as a
	// member of the catalog it notifies the catalog's (Knot could
	// transfer it before it was signed, and would then wait for a
	// refresh).
	const newZone = "new.test."
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: newZone, Config: zone.Config{AllowTransfer: acl}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mgr.AddRecord(e.ctx, newZone, "www", "A", "192.0.2.80", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(newZone, manage.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the new zone served", func() bool { return e.srv.Serial(newZone) != 0 })
	waitUntil(t, 20*time.Second, "knot serves the zone added after it started", func() bool {
		r, err := exchange(k.addr, "www."+newZone, dns.TypeA, true)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 && soaSerial(k.addr, newZone) == e.srv.Serial(newZone)
	})
	if k.logged("["+catalogZone+"]", "IXFR, incoming", "finished") == 0 {
		t.Errorf("knot did not follow the catalog by IXFR")
	}

	// unbound validates answers from the Knot secondary for the zone it
	// learned from the catalog.
	ds, err := e.mgr.DS(e.ctx, newZone)
	if err != nil {
		t.Fatal(err)
	}
	var anchors []string
	for _, d := range ds {
		anchors = append(anchors, d.String())
	}
	resolver := e.startUnboundAt(k.addr, anchors, []string{newZone, fwdZone})
	for _, c := range []struct {
		qname string
		rcode int
		n     int
	}{{"www." + newZone, dns.RcodeSuccess, 1}, {"nope." + newZone, dns.RcodeNameError, 0}} {
		r := resolve(t, resolver, c.qname, dns.TypeA)
		n := 0
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == dns.TypeA {
				n++
			}
		}
		if r.Rcode != c.rcode || n != c.n || !r.AuthenticatedData {
			t.Errorf("%s from knot via unbound: rcode %s, %d A, AD %v; want %s, %d, AD\n%v", c.qname, dns.RcodeToString[r.Rcode], n, r.AuthenticatedData, dns.RcodeToString[c.rcode], c.n, r)
		}
	}

	// A removed zone leaves the catalog, and Knot drops it.
	if _, err := e.mgr.RemoveZones(e.ctx, newZone); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "knot drops the zone removed from the catalog", func() bool {
		r, err := exchange(k.addr, "www."+newZone, dns.TypeA, false)
		return err == nil && r.Rcode == dns.RcodeRefused
	})
}

// TestKnotSecondarySynthesises: for unsigned zones whose template Knot's
// mod-synthrecord can express, Knot configured by secondary-config
// answers synthesised names as cadastre does, reverse and forward.
func TestKnotSecondarySynthesises(t *testing.T) {
	tool(t, "knotd")
	e := newEnv(t, false)
	// With a catalog too: the zones that need the module are written out,
	// and Knot keeps them as configured rather than as catalog members.
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: catalogZone, Config: zone.Config{Catalog: true, AllowTransfer: []string{"key:" + tsigName}}}); err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	conf, gaps := e.knotConfig()
	if len(gaps) != 0 {
		t.Fatalf("gaps for unsigned zones at a template's apex: %v", gaps)
	}
	if !strings.Contains(conf, "mod-synthrecord") {
		t.Fatalf("no mod-synthrecord:\n%s", conf)
	}
	k := startKnot(t, conf, 0)
	for _, z := range []string{v6Zone, dynZone, fwdZone, v4Zone} {
		waitUntil(t, 20*time.Second, "knot serves "+z, func() bool { return soaSerial(k.addr, z) == e.srv.Serial(z) && e.srv.Serial(z) != 0 })
	}
	unnamed := e.alloc(6, "")
	waitUntil(t, 10*time.Second, "cadastre answers the new address", func() bool {
		return len(e.query("udp", ptrOf(unnamed), dns.TypePTR, false).Answer) == 1
	})
	synth := "ip-" + strings.ReplaceAll(unnamed.String(), ":", "-") + "." + dynZone
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{ptrOf(unnamed), dns.TypePTR}, {synth, dns.TypeAAAA}} {
		ours, err := exchange(e.addr, q.name, q.qtype, false)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := exchange(k.addr, q.name, q.qtype, false)
		if err != nil {
			t.Fatal(err)
		}
		if ours.Rcode != dns.RcodeSuccess || len(ours.Answer) != 1 || theirs.Rcode != ours.Rcode || section(ours.Answer) != section(theirs.Answer) {
			t.Errorf("%s %s differs:\n--- cadastre\n%v\n--- knot\n%v\n%s", q.name, dns.TypeToString[q.qtype], ours, theirs, conf)
		}
	}
}

// TestSecondaryGaps: where a secondary cannot answer what cadastre
// answers, the gap is named.
func TestSecondaryGaps(t *testing.T) {
	zs := func(signed bool, tmpl string) []zone.Zone {
		acl := []string{"key:" + tsigName}
		return []zone.Zone{
			{Name: "example.test.", Kind: zone.Forward, Config: zone.Config{AllowTransfer: acl, Signed: signed}},
			{Name: v6Zone, Kind: zone.Reverse, Prefix: netip.MustParsePrefix(v6Pool), Synthesize: tmpl, Config: zone.Config{AllowTransfer: acl, Signed: signed}},
		}
	}
	pools := []netip.Prefix{netip.MustParsePrefix(v6Pool)}
	for _, c := range []struct {
		name   string
		zones  []zone.Zone
		wanted []string // zones with a gap
	}{
		{"unsigned, names at the apex: Knot expresses it", zs(false, "ip-{addr}.example.test."), nil},
		{"signed: nobody can sign them", zs(true, "ip-{addr}.example.test."), []string{v6Zone, "example.test."}},
		{"text after the address", zs(false, "ip-{addr}-v6.example.test."), []string{v6Zone, "example.test."}},
		{"names in a subtree of the forward zone", zs(false, "ip-{addr}.dyn.example.test."), []string{"example.test."}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, g := range manage.SecondaryGaps(c.zones, pools) {
				got = append(got, g.Zone)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.wanted) {
				t.Fatalf("gaps in %v, want %v", got, c.wanted)
			}
		})
	}
}

// TestStartLogsSecondaryGaps: the server names at start each zone whose
// secondaries cannot answer what it answers.
func TestStartLogsSecondaryGaps(t *testing.T) {
	e := newEnv(t, true)
	var log syncBuffer
	e.start(server.Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	out := log.String()
	for _, z := range []string{v6Zone, dynZone} {
		if !strings.Contains(out, `msg="dns secondaries cannot answer what this server answers" zone=`+z) {
			t.Errorf("no gap logged for %s:\n%s", z, out)
		}
	}
	if strings.Contains(out, "zone="+fwdZone+" why") {
		t.Errorf("a gap logged for %s, which synthesises nothing:\n%s", fwdZone, out)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// notifySink is a secondary that records the NOTIFYs it gets (zone and
// the serial of the SOA they carry) and acknowledges them.
type notifySink struct {
	mu  sync.Mutex
	got map[string][]uint32
}

func (n *notifySink) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if r.Opcode == dns.OpcodeNotify && len(r.Question) == 1 {
		var serial uint32
		if len(r.Answer) == 1 {
			if soa, ok := r.Answer[0].(*dns.SOA); ok {
				serial = soa.Serial
			}
		}
		n.mu.Lock()
		n.got[r.Question[0].Name] = append(n.got[r.Question[0].Name], serial)
		n.mu.Unlock()
	}
	m := new(dns.Msg)
	m.SetReply(r)
	w.WriteMsg(m)
}

func (n *notifySink) serials(zoneName string) []uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got[zoneName])
}

// TestCatalogMembersNotifyCatalogSecondaries: a zone the catalog lists
// notifies the catalog's NOTIFY targets, without a --notify of its own
// (a secondary that learned the zone from the catalog otherwise hears of
// its changes only at the SOA refresh); a zone the catalog does not list
// (no transfers allowed) does not.
func TestCatalogMembersNotifyCatalogSecondaries(t *testing.T) {
	e := newEnv(t, false)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &notifySink{got: map[string][]uint32{}}
	ds := &dns.Server{PacketConn: pc, Handler: sink}
	go ds.ActivateAndServe()
	t.Cleanup(func() { ds.Shutdown() })
	acl := []string{"key:" + tsigName}
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: catalogZone, Config: zone.Config{Catalog: true, AllowTransfer: acl, Notify: []string{pc.LocalAddr().String()}}}); err != nil {
		t.Fatal(err)
	}
	e.start(server.Options{})
	for _, z := range []string{catalogZone, fwdZone, dynZone, v4Zone, v6Zone} {
		waitUntil(t, 10*time.Second, "NOTIFY for "+z+" at load", func() bool { return slices.Contains(sink.serials(z), e.srv.Serial(z)) })
	}

	serial := e.srv.Serial(fwdZone)
	if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "new", "A", "10.1.2.201", 0); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the change served", func() bool { return e.srv.Serial(fwdZone) != serial })
	waitUntil(t, 10*time.Second, "NOTIFY for the change of "+fwdZone, func() bool { return slices.Contains(sink.serials(fwdZone), e.srv.Serial(fwdZone)) })

	// The zone the catalog does not list was loaded with the others, and
	// the member's change came after: had it been notified, it would be
	// by now.
	if got := sink.serials(v4Zone2); len(got) != 0 {
		t.Fatalf("NOTIFY for %s, which the catalog does not list: serials %v", v4Zone2, got)
	}
}
