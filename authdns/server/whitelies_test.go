package server_test

import (
	"encoding/base32"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/registry"
)

// newWhiteLieEnv is the test register with every zone signed with NSEC3,
// the synthesising ones included (their negative answers are white lies),
// plus the /20 and /49 sets of reverse_test.go (the /49 synthesising too).
func newWhiteLieEnv(t testing.TB) (*env, netip.Addr) {
	t.Helper()
	e := newEnv(t, false)
	e.addSets()
	for _, z := range []string{fwdZone, dynZone, v4Zone, v6Zone, set6} {
		if _, _, err := e.mgr.SignZones(e.ctx, z, manage.SignOptions{}); err != nil {
			t.Fatalf("sign %s: %v", z, err)
		}
	}
	as, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var unnamed netip.Addr
	for _, a := range as {
		if a.Name == "" && netip.MustParsePrefix(v6Pool).Contains(a.Prefix.Addr()) {
			unnamed = a.Prefix.Addr()
		}
	}
	if !unnamed.IsValid() {
		t.Fatal("no unnamed address in the /64 pool")
	}
	return e, unnamed
}

// whiteLieCase is a negative answer and what proves it.
type whiteLieCase struct {
	name  string
	qname string
	qtype uint16
	nx    bool
}

func whiteLieCases(unnamed netip.Addr) []whiteLieCase {
	synth := "ip-" + strings.ReplaceAll(unnamed.String(), ":", "-") + "." + dynZone
	leaf := ptrOf(unnamed)
	return []whiteLieCase{
		{"NXDOMAIN: a synthesised name outside every pool", "ip-fd12-3456-789a-2--1." + dynZone, dns.TypeAAAA, true},
		{"NXDOMAIN: a non-canonical spelling", "ip-fd12-3456-789a-0001--1." + dynZone, dns.TypeAAAA, true},
		{"NXDOMAIN: below a synthesised name", "x." + synth, dns.TypeAAAA, true},
		{"NXDOMAIN: a random name at the apex", "r4nd0m." + dynZone, dns.TypeA, true},
		{"NXDOMAIN: below a synthesised PTR (bad label depth)", "x." + leaf, dns.TypePTR, true},
		{"NXDOMAIN: a label that is no nibble", "g." + leaf[2:], dns.TypePTR, true},
		{"NXDOMAIN: an address of the /49 outside every pool", nib("fd12:3456:789a:c000::1"), dns.TypePTR, true},
		{"NODATA: at a synthesised name", synth, dns.TypeTXT, false},
		{"NODATA: at a synthesised PTR", leaf, dns.TypeTXT, false},
		{"NODATA: at a nibble non-terminal", leaf[16:], dns.TypePTR, false},
		{"NODATA: at the apex of a synthesising zone", dynZone, dns.TypeTXT, false},
		{"NODATA: at the apex of a reverse zone", v6Zone, dns.TypeTXT, false},
	}
}

// TestUnboundValidatesWhiteLies: with NSEC3 chosen for the zones with
// synthesised names, unbound validates (AD) their NXDOMAIN and NODATA
// answers, made of NSEC3 records signed per query, and their positive
// synthesised answers.
func TestUnboundValidatesWhiteLies(t *testing.T) {
	tool(t, "unbound")
	e, unnamed := newWhiteLieEnv(t)
	e.start(server.Options{})
	zs, err := e.mgr.ZonesOf(e.ctx, set6)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, z := range zs {
		extra = append(extra, z.Name)
	}
	resolver := e.startUnbound(extra...)
	synth := "ip-" + strings.ReplaceAll(unnamed.String(), ":", "-") + "." + dynZone
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"synthesised PTR", ptrOf(unnamed), dns.TypePTR},
		{"synthesised AAAA", synth, dns.TypeAAAA},
		{"synthesised PTR in a zone of the /49", nib("fd12:3456:789a:f000::99"), dns.TypePTR},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := resolve(t, resolver, c.qname, c.qtype)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || !r.AuthenticatedData {
				t.Fatalf("%s %s: %v", c.qname, dns.TypeToString[c.qtype], r)
			}
		})
	}
	for _, c := range whiteLieCases(unnamed) {
		t.Run(c.name, func(t *testing.T) {
			r := resolve(t, resolver, c.qname, c.qtype)
			want := dns.RcodeSuccess
			if c.nx {
				want = dns.RcodeNameError
			}
			if r.Rcode != want || len(r.Answer) != 0 || !r.AuthenticatedData {
				t.Fatalf("%s %s: rcode %s, AD %v; want %s, no answer, AD\n%v", c.qname, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], r.AuthenticatedData, dns.RcodeToString[want], r)
			}
		})
	}
}

// TestWhiteLiesWellFormed checks the answers themselves, as a validator
// would and more: the rcode, the SOA, NSEC3 records with no salt and no
// extra iterations that each span at most two hashes (so they deny
// nothing but what was asked), the proofs RFC 5155 §7.2.2 and §7.2.3 ask
// for, and every signature verified by the zone's key.
func TestWhiteLiesWellFormed(t *testing.T) {
	e, unnamed := newWhiteLieEnv(t)
	e.start(server.Options{})
	for _, c := range whiteLieCases(unnamed) {
		t.Run(c.name, func(t *testing.T) {
			checkWhiteLie(t, e, c.qname, c.qtype, c.nx)
		})
	}
}

// FuzzWhiteLies asks for names in the synthesising zones built from
// fuzzed labels; whatever exists or not, a negative answer must be a
// well-formed, minimally covering, verified NSEC3 proof.
func FuzzWhiteLies(f *testing.F) {
	e, unnamed := newWhiteLieEnv(f)
	e.srv = server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: 1e9})
	if err := e.srv.Reload(e.ctx); err != nil {
		f.Fatal(err)
	}
	leaf := ptrOf(unnamed)
	for _, s := range []string{"x", "g", "0.0", "ip-fd12-3456-789a-1--5", "ip-fd12-3456-789a-1--5.x", "*", "a.b.c", "f." + leaf[2:20], leaf[:40]} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	zones := []string{dynZone, v6Zone, last6}
	f.Fuzz(func(t *testing.T, labels string, zoneName uint8) {
		qname := strings.ToLower(strings.Trim(labels, ".")) + "." + zones[int(zoneName)%len(zones)]
		if _, ok := dns.IsDomainName(qname); !ok || strings.Contains(qname, "..") || len(qname) > 250 || strings.ContainsAny(qname, "\\\" ();@$") {
			return
		}
		m := new(dns.Msg)
		m.SetQuestion(qname, dns.TypeTXT)
		m.SetEdns0(1232, true)
		r := e.srv.Respond(m, true)
		if r == nil || r.Rcode == dns.RcodeRefused {
			t.Fatalf("%s: %v", qname, r)
		}
		if r.Rcode == dns.RcodeNameError || r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0 {
			checkProof(t, e, r, qname, r.Rcode == dns.RcodeNameError)
		}
	})
}

func checkWhiteLie(t *testing.T, e *env, qname string, qtype uint16, nx bool) {
	t.Helper()
	r := e.query("udp", qname, qtype, true)
	want := dns.RcodeSuccess
	if nx {
		want = dns.RcodeNameError
	}
	if r.Rcode != want || len(r.Answer) != 0 || r.Truncated {
		t.Fatalf("%s %s: %v; want %s and no answer", qname, dns.TypeToString[qtype], r, dns.RcodeToString[want])
	}
	checkProof(t, e, r, qname, nx)
}

// keysOf fetches a zone's DNSKEY set through the server.
func keysOf(t *testing.T, e *env, zoneName string) []*dns.DNSKEY {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(zoneName, dns.TypeDNSKEY)
	m.SetEdns0(1232, true)
	r := e.srv.Respond(m, true)
	var out []*dns.DNSKEY
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no DNSKEY for %s", zoneName)
	}
	return out
}

func checkProof(t *testing.T, e *env, r *dns.Msg, qname string, nx bool) {
	t.Helper()
	var soa *dns.SOA
	var nsec3s []*dns.NSEC3
	sigs := map[string][]*dns.RRSIG{}
	for _, rr := range r.Ns {
		switch rr := rr.(type) {
		case *dns.SOA:
			soa = rr
		case *dns.NSEC3:
			nsec3s = append(nsec3s, rr)
		case *dns.RRSIG:
			sigs[rr.Hdr.Name+"/"+dns.TypeToString[rr.TypeCovered]] = append(sigs[rr.Hdr.Name+"/"+dns.TypeToString[rr.TypeCovered]], rr)
		case *dns.NSEC:
			t.Fatalf("%s: NSEC in an NSEC3 zone: %v", qname, rr)
		}
	}
	if soa == nil || !dns.IsSubDomain(soa.Hdr.Name, qname) {
		t.Fatalf("%s: no SOA of its zone: %v", qname, r)
	}
	zoneName := soa.Hdr.Name
	keys := keysOf(t, e, zoneName)
	verify := func(rrs []dns.RR) {
		h := rrs[0].Header()
		ss := sigs[h.Name+"/"+dns.TypeToString[h.Rrtype]]
		if len(ss) == 0 {
			t.Fatalf("%s: %s %s unsigned", qname, h.Name, dns.TypeToString[h.Rrtype])
		}
		for _, s := range ss {
			ok := false
			for _, k := range keys {
				if k.KeyTag() == s.KeyTag && s.Verify(k, rrs) == nil && s.ValidityPeriod(time.Now()) {
					ok = true
				}
			}
			if !ok || s.OrigTtl < h.Ttl || s.Hdr.Ttl != h.Ttl {
				t.Fatalf("%s: signature of %s %s does not verify or has the wrong TTL: %v", qname, h.Name, dns.TypeToString[h.Rrtype], s)
			}
		}
	}
	verify([]dns.RR{soa})
	if soa.Hdr.Ttl != min(soa.Minttl, 3600) {
		t.Fatalf("%s: negative SOA TTL %d", qname, soa.Hdr.Ttl)
	}
	if len(nsec3s) == 0 || len(nsec3s) > 3 {
		t.Fatalf("%s: %d NSEC3 records: %v", qname, len(nsec3s), r)
	}
	for _, n := range nsec3s {
		if n.Iterations != 0 || n.Salt != "" || n.Hash != dns.SHA1 || n.Flags != 0 || !dns.IsSubDomain(zoneName, n.Hdr.Name) || dns.CountLabel(n.Hdr.Name) != dns.CountLabel(zoneName)+1 {
			t.Fatalf("%s: NSEC3 not per RFC 9276 or not in zone %s: %v", qname, zoneName, n)
		}
		if n.Hdr.Ttl != soa.Hdr.Ttl {
			t.Fatalf("%s: NSEC3 TTL %d, SOA %d (RFC 9077)", qname, n.Hdr.Ttl, soa.Hdr.Ttl)
		}
		owner := strings.ToUpper(strings.SplitN(n.Hdr.Name, ".", 2)[0])
		if span := hashSpan(t, owner, n.NextDomain); span < 1 || span > 2 {
			t.Fatalf("%s: NSEC3 %s spans %d hashes, not a white lie", qname, n.Hdr.Name, span)
		}
		verify([]dns.RR{n})
	}
	matches := func(name string) *dns.NSEC3 {
		for _, n := range nsec3s {
			if n.Match(name) {
				return n
			}
		}
		return nil
	}
	covers := func(name string) bool {
		for _, n := range nsec3s {
			if n.Cover(name) {
				return true
			}
		}
		return false
	}
	if !nx {
		n := matches(qname)
		if n == nil {
			t.Fatalf("NODATA %s: no NSEC3 matches it: %v", qname, r)
		}
		for _, ty := range n.TypeBitMap {
			if ty == r.Question[0].Qtype || ty == dns.TypeCNAME {
				t.Fatalf("NODATA %s: the bitmap has %s", qname, dns.TypeToString[ty])
			}
		}
		return
	}
	// RFC 5155 §8.3: find the closest encloser the proof names.
	ce, nc := "", qname
	for name := qname; ; {
		i, end := dns.NextLabel(name, 0)
		if end {
			break
		}
		parent := name[i:]
		if matches(parent) != nil {
			ce, nc = parent, name
			break
		}
		name = parent
	}
	if ce == "" || !dns.IsSubDomain(zoneName, ce) {
		t.Fatalf("NXDOMAIN %s: no closest encloser proven: %v", qname, r)
	}
	if !covers(nc) || !covers("*."+ce) {
		t.Fatalf("NXDOMAIN %s: next closer %s or wildcard *.%s not covered: %v", qname, nc, ce, r)
	}
	if matches(qname) != nil {
		t.Fatalf("NXDOMAIN %s: an NSEC3 matches the name denied", qname)
	}
}

// hashSpan is next - owner of an NSEC3, as 160-bit numbers modulo 2^160.
func hashSpan(t *testing.T, owner, next string) int64 {
	t.Helper()
	dec := func(s string) *big.Int {
		b, err := base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != 20 {
			t.Fatalf("hash %q: %v", s, err)
		}
		return new(big.Int).SetBytes(b)
	}
	d := new(big.Int).Sub(dec(next), dec(owner))
	d.Mod(d, new(big.Int).Lsh(big.NewInt(1), 160))
	if !d.IsInt64() {
		return -1
	}
	return d.Int64()
}

// TestWhiteLiesFloodBudget: a random-subdomain flood against a zone with
// white lies spends at most the zone's online budget on signatures (the
// clock is frozen, so the budget never refills: at most its burst, twice
// OnlineRate); what the budget cannot pay for is sent to TCP over UDP
// (TC) and refused with SERVFAIL over TCP, while names already proven
// keep their answers from the cache.
func TestWhiteLiesFloodBudget(t *testing.T) {
	e, _ := newWhiteLieEnv(t)
	now := time.Now()
	const rate = 10
	e.srv = server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: rate, Now: func() time.Time { return now }})
	if err := e.srv.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	ask := func(name string, tcp bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeAAAA)
		m.SetEdns0(1232, true)
		return e.srv.Respond(m, tcp)
	}
	before := e.srv.OnlineSignatures()
	answered, truncated := 0, 0
	const flood = 200
	for i := range flood {
		r := ask(fmt.Sprintf("r%d.%s", i, dynZone), false)
		switch {
		case r.Truncated && len(r.Ns) == 0:
			truncated++
		case r.Rcode == dns.RcodeNameError:
			answered++
		default:
			t.Fatalf("flood answer %d: %v", i, r)
		}
	}
	spent := e.srv.OnlineSignatures() - before
	if spent > 2*rate || answered+truncated != flood || truncated < flood-2*rate {
		t.Fatalf("flood of %d: %d signatures (budget %d), %d answered, %d truncated", flood, spent, 2*rate, answered, truncated)
	}
	t.Logf("flood of %d: %d signatures, %d answered, %d truncated", flood, spent, answered, truncated)
	if answered == 0 {
		t.Fatal("no name was answered before the budget ran out")
	}
	if r := ask("r0."+dynZone, false); r.Rcode != dns.RcodeNameError || r.Truncated {
		t.Fatalf("a name proven before the budget ran out: %v", r)
	}
	if r := ask(fmt.Sprintf("r%d.%s", flood+1, dynZone), true); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("over budget over TCP: %v", r)
	}
	if got := e.srv.OnlineSignatures() - before; got != spent {
		t.Fatalf("signatures after the budget ran out: %d -> %d", spent, got)
	}
}

// BenchmarkDenialOnline measures a NXDOMAIN for a new random name in a
// synthesising zone, signed per query, with the budget lifted: compact
// denial (one NSEC signed) beside NSEC3 white lies (the next closer
// name's NSEC3 signed; the encloser's and the wildcard's are cached).
// With the default budget both are capped alike (TestWhiteLiesFloodBudget).
func BenchmarkDenialOnline(b *testing.B) {
	for _, c := range []struct {
		name string
		env  func(testing.TB) *env
	}{
		{"compact", func(t testing.TB) *env { return newEnv(t, true) }},
		{"nsec3-white-lies", func(t testing.TB) *env { e, _ := newWhiteLieEnv(t); return e }},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := c.env(b)
			s := server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: 1e9})
			if err := s.Reload(e.ctx); err != nil {
				b.Fatal(err)
			}
			benchQueries(b, s, func(i int) string { return fmt.Sprintf("w%x.%s", i, dynZone) }, dns.TypeAAAA)
		})
	}
	// The worst case: a name below a new synthesised PTR each time (bad
	// label depth), whose closest encloser is that PTR's name, so its
	// matching NSEC3 and the wildcard's cover are new too: three
	// signatures, against one NSEC for compact denial.
	for _, c := range []struct {
		name string
		env  func(testing.TB) *env
	}{
		{"compact-below-synthesised-PTR", func(t testing.TB) *env { return newEnv(t, true) }},
		{"nsec3-white-lies-below-synthesised-PTR", func(t testing.TB) *env { e, _ := newWhiteLieEnv(t); return e }},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := c.env(b)
			s := server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: 1e9})
			if err := s.Reload(e.ctx); err != nil {
				b.Fatal(err)
			}
			benchQueries(b, s, func(i int) string {
				return fmt.Sprintf("x.%x.%x.%x.%x.%x.0.0.0.0.0.0.0.0.0.0.0.%s", i&15, i>>4&15, i>>8&15, i>>12&15, i>>16&15, v6Zone)
			}, dns.TypePTR)
		})
	}
}

// TestWhiteLieZonesTransferTheirChain: what a secondary gets of an NSEC3
// zone with synthesised names is the stored names with their precomputed
// chain (no white lie, no synthesised name), which ldns-verify-zone and
// dnssec-verify accept; and the zones of a signed /49 transfer alike.
func TestWhiteLieZonesTransferTheirChain(t *testing.T) {
	ldns := tool(t, "ldns-verify-zone")
	verify := tool(t, "dnssec-verify")
	e, _ := newWhiteLieEnv(t)
	e.start(server.Options{})
	dir := t.TempDir()
	for _, zoneName := range []string{dynZone, v6Zone} {
		text := e.axfr(zoneName)
		if strings.Contains(text, "ip-fd12") || !strings.Contains(text, "NSEC3PARAM") || strings.Count(text, "\tNSEC3\t") < 1 {
			t.Fatalf("transfer of %s:\n%s", zoneName, text)
		}
		file := filepath.Join(dir, zoneName+"zone")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ldns, "-V", "2", file).CombinedOutput(); err != nil {
			t.Errorf("ldns-verify-zone %s: %v\n%s\n%s", zoneName, err, out, text)
		}
		if out, err := exec.Command(verify, "-z", "-o", zoneName, file).CombinedOutput(); err != nil {
			t.Errorf("dnssec-verify %s: %v\n%s", zoneName, err, out)
		}
	}
}
