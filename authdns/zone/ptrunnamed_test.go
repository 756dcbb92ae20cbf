package zone_test

import (
	"fmt"
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

// TestStalePTRAtATenantsUnnamedAddress: at an address a tenant holds
// without a name (assigned unnamed, or quarantined, through a single
// address or a wider prefix), a static PTR written before the tenant's
// assignment is not served: the address answers the PTRs written while
// the tenant held it, else its synthesised name where the zone
// synthesises (with the forward zone answering that name), else none.
// Once the quarantine is over the address is free and every static PTR
// answers as written; the next tenant does not inherit them. The
// operator's own addresses and a tenant's named ones keep their rules.
// Each step is built by delta from the version before and compared with a
// full build, in a register without synthesis and in one with it, each
// with a signed in-addr.arpa zone (compact denial, Ed25519) and a signed
// ip6.arpa zone (NSEC3); ldns-verify-zone accepts them at the end.
func TestStalePTRAtATenantsUnnamedAddress(t *testing.T) {
	for _, c := range []struct {
		env    string
		new    func(*testing.T) *deltaEnv
		v4, v6 netip.Prefix // reverse zones
		synth  [2]string    // the templates of v4's and v6's zones, or ""
	}{
		{"no synthesis", newDeltaEnv, deltaV4, deltaV6, [2]string{}},
		{"synthesising", newSynthEnv, synthV4, synthV6, [2]string{"ip4-{addr}.v4." + synthFwd, "ip-{addr}.d.dyn." + synthFwd}},
	} {
		t.Run(c.env, func(t *testing.T) { staleAtUnnamed(t, c.new(t), c.v4, c.v6, c.synth) })
	}
}

func staleAtUnnamed(t *testing.T, e *deltaEnv, zone4, zone6 netip.Prefix, synth [2]string) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := t0
	mgr := manage.NewManager(e.st, e.sealer, func() time.Time { return clock })
	addrs := [2]netip.Addr{zone4.Addr().Next().Next().Next().Next().Next().Next().Next(), zone6.Addr().Next().Next().Next().Next().Next().Next().Next()}
	var zoneNames [2]string
	for i, p := range []netip.Prefix{zone4, zone6} {
		zs, err := mgr.ZonesOf(e.ctx, p.String())
		if err != nil || len(zs) != 1 {
			t.Fatalf("zones of %s: %v %v", p, zs, err)
		}
		zoneNames[i] = zs[0].Name
		rev, _ := dns.ReverseAddr(addrs[i].String())
		if _, err := mgr.AddRecord(e.ctx, zoneNames[i], rev, "PTR", "stale.example.", 60); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.read(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	opt := zone.BuilderOptions{Now: func() time.Time { return now }}
	b := zone.NewBuilder(e.st, e.sealer, opt)
	snap, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	// served is what the snapshot answers for the address's PTR ("TTL
	// target" each, or the rcode), and, in a synthesising register, for
	// the A or AAAA of its synthesised name.
	served := func(i int) []string {
		a := addrs[i]
		rev, _ := dns.ReverseAddr(a.String())
		var out []string
		ask := func(name string, qt uint16) {
			r := snap.Find(name).Lookup(name, qt, false)
			n := 0
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == qt {
					f := strings.Fields(rr.String())
					out = append(out, dns.TypeToString[qt]+" "+f[1]+" "+f[4])
					n++
				}
			}
			if n == 0 {
				out = append(out, fmt.Sprintf("%s rcode %s", dns.TypeToString[qt], dns.RcodeToString[r.Rcode]))
			}
		}
		ask(rev, dns.TypePTR)
		if synth[i] != "" {
			tm, _ := zone.ParseTemplate(synth[i])
			qt := dns.TypeA
			if a.Is6() {
				qt = dns.TypeAAAA
			}
			ask(tm.Name(a), qt)
		}
		slices.Sort(out)
		return out
	}
	// want is what served should say for address i: the PTRs (TTL and
	// target) or, with none, the synthesised name or nothing.
	want := func(i int, ptrs ...string) []string {
		var out []string
		for _, p := range ptrs {
			out = append(out, "PTR "+p)
		}
		if synth[i] == "" {
			if len(out) == 0 {
				out = []string{"PTR rcode NXDOMAIN"}
			}
			return out
		}
		tm, _ := zone.ParseTemplate(synth[i])
		a := addrs[i]
		addrType := "A"
		if a.Is6() {
			addrType = "AAAA"
		}
		if len(out) == 0 {
			// The synthesised name both ways.
			out = []string{"PTR 3600 " + tm.Name(a), addrType + " 3600 " + a.String()}
		} else {
			// The forward zone does not synthesise a name whose address
			// the reverse zone gives a PTR of its own.
			out = append(out, addrType+" rcode NXDOMAIN")
		}
		slices.Sort(out)
		return out
	}
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	at := func(id int64, i, bits int, tenant, name string, st registry.State, created time.Time) registry.Assignment {
		p, _ := addrs[i].Prefix(bits)
		if bits == addrs[i].BitLen() {
			p = netip.PrefixFrom(addrs[i], bits)
		}
		return registry.Assignment{ID: id, Prefix: p, State: st, Tenant: tenant, Name: name, CreatedAt: created}
	}
	// both is one assignment per address: id and id+1, v4 then v6.
	both := func(id int64, bits [2]int, tenant, name string, st registry.State, created time.Time) []registry.Assignment {
		return []registry.Assignment{at(id, 0, bits[0], tenant, name, st, created), at(id+1, 1, bits[1], tenant, name, st, created)}
	}
	one := [2]int{32, 128}
	var live []registry.Assignment
	for step, s := range []struct {
		rule   string
		now    []registry.Assignment // the assignments at both addresses after the step (same ID: a change of that one)
		record string                // a static PTR written at the step, at each address, with the clock at t2
		want   []string              // the static PTRs served at each address
	}{
		{"the free address: the static PTR", nil, "", []string{"60 stale.example."}},
		{"a tenant's unnamed address: the PTR written before it is not served", both(1, one, "b", "", registry.StateAssigned, t1), "", nil},
		{"the tenant's own PTR, written while it holds the address, is", both(1, one, "b", "", registry.StateAssigned, t1), "own.b.example.", []string{"60 own.b.example."}},
		{"quarantined: still the tenant's", both(1, one, "b", "", registry.StateQuarantined, t1), "", []string{"60 own.b.example."}},
		{"the quarantine over, the address free: every static PTR as written", both(1, one, "b", "", registry.StateReleased, t1), "", []string{"60 own.b.example.", "60 stale.example."}},
		{"the next tenant inherits neither", both(3, one, "c", "", registry.StateAssigned, t3), "", nil},
		{"a tenant's wider prefix over the address, the same", both(5, [2]int{29, 124}, "c", "", registry.StateAssigned, t3), "", nil},
		{"the operator's own unnamed address: served as written", both(7, one, "", "", registry.StateAssigned, t3), "", []string{"60 own.b.example.", "60 stale.example."}},
		{"a tenant's named address: its name alone", both(9, one, "c", "vm9.delta.test.", registry.StateAssigned, t3), "", []string{"3600 vm9.delta.test."}},
		{"the named one quarantined: older PTRs still hidden, no name", both(9, one, "c", "vm9.delta.test.", registry.StateQuarantined, t3), "", nil},
		{"released at once: free again", nil, "", []string{"60 own.b.example.", "60 stale.example."}},
	} {
		if s.record != "" {
			clock = t2
			for i := range addrs {
				rev, _ := dns.ReverseAddr(addrs[i].String())
				if _, err := mgr.AddRecord(e.ctx, zoneNames[i], rev, "PTR", s.record, 60); err != nil {
					t.Fatal(err)
				}
			}
		}
		var changes []zone.AssignChange
		byID := map[int64]registry.Assignment{}
		for _, a := range s.now {
			byID[a.ID] = a
		}
		for _, a := range live {
			if n, ok := byID[a.ID]; ok {
				changes = append(changes, zone.AssignChange{Before: a, After: n})
				delete(byID, a.ID)
				continue
			}
			changes = append(changes, zone.AssignChange{Before: a})
		}
		for _, a := range s.now {
			if _, ok := byID[a.ID]; ok {
				changes = append(changes, zone.AssignChange{After: a})
			}
		}
		live = nil
		for _, a := range s.now {
			if a.State != registry.StateReleased {
				live = append(live, a)
			}
		}
		e.in.Assigns = slices.Clone(live)
		e.in.Delta = &zone.Delta{Since: e.in.Seq, Changes: changes}
		if step == 0 {
			e.in.Delta = nil
		}
		e.in.Seq++
		if err := e.read(); err != nil {
			t.Fatal(err)
		}
		if snap, _, err = b.Rebuild(e.ctx, &e.in, now, ""); err != nil {
			t.Fatalf("%s: %v", s.rule, err)
		}
		if err := snap.CheckHashes(); err != nil {
			t.Fatalf("%s: %v", s.rule, err)
		}
		for i := range addrs {
			if got, w := served(i), want(i, s.want...); !slices.Equal(got, w) {
				t.Errorf("step %d, %s: %s answers %q, want %q", step, s.rule, addrs[i], got, w)
			}
		}
		full := e.in
		full.Delta = nil
		ref, _, err := zone.NewBuilder(e.st, e.sealer, opt).Rebuild(e.ctx, &full, now, "")
		if err != nil {
			t.Fatalf("%s: full build: %v", s.rule, err)
		}
		for name, zd := range ref.All() {
			if g, w := texts(snap.Zone(name)), texts(zd); !slices.Equal(g, w) {
				t.Fatalf("step %d, %s: zone %s differs from a full build:\n%s", step, s.rule, name, lineDiff(g, w))
			}
		}
		now = now.Add(time.Minute)
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
