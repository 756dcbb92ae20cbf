package server_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestStalePTRYieldsToTheTenant{SQLite,PostgreSQL}: a static PTR an admin
// wrote while the address was free is served until the address is
// allocated to a tenant with a name; from then on the signed reverse zone
// answers the assignment's name alone (validly signed), and `record list`
// marks the static record as not served. IPv4 and IPv6 alike.
func TestStalePTRYieldsToTheTenantSQLite(t *testing.T) {
	stalePTRYieldsToTheTenant(t, newEnv(t, true))
}

func TestStalePTRYieldsToTheTenantPostgreSQL(t *testing.T) {
	stalePTRYieldsToTheTenant(t, newEnvOn(t, true, openPG(t, pgSchema(t))))
}

func stalePTRYieldsToTheTenant(t *testing.T, e *env) {
	e.start(server.Options{})
	for _, c := range []struct {
		zone string
		addr netip.Addr
	}{
		{v4Zone, netip.MustParseAddr("10.1.2.77")},
		{v6Zone, netip.MustParseAddr("fd12:3456:789a:1::77")},
	} {
		owner := ptrOf(c.addr)
		ptrs := func() []string {
			out, _ := signedPTRs(t, e, c.zone, owner)
			return out
		}
		if _, err := e.mgr.AddRecord(e.ctx, c.zone, owner, "PTR", "old.example.", 0); err != nil {
			t.Fatal(err)
		}
		e.waitFor(owner+" PTR old.example.", func() bool { return slices.Equal(ptrs(), []string{"old.example."}) })
		if _, err := e.reg.Allocate(e.ctx, registry.Request{Region: "us-east", Tenant: "acme", Name: "vm77." + fwdZone, Prefix: netip.PrefixFrom(c.addr, c.addr.BitLen())}); err != nil {
			t.Fatal(err)
		}
		e.waitFor(owner+" PTR vm77 alone", func() bool { return slices.Equal(ptrs(), []string{"vm77." + fwdZone}) })
		checkMarked(t, e, c.zone, owner)
		if c.addr.Is4() {
			// Past 64 static PTRs the listing reads the zone's
			// assignments at once: the same marks.
			a := netip.MustParseAddr("10.1.2.100")
			for range 65 {
				if _, err := e.mgr.AddRecord(e.ctx, c.zone, ptrOf(a), "PTR", "free.example.", 0); err != nil {
					t.Fatal(err)
				}
				a = a.Next()
			}
			checkMarked(t, e, c.zone, owner)
		}
	}
}

// checkMarked requires `record list` of zoneName to mark the PTR at owner
// alone as not served.
func checkMarked(t *testing.T, e *env, zoneName, owner string) {
	t.Helper()
	rs, err := e.mgr.Records(e.ctx, zoneName)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if want := r.Name == owner; (r.NotServed == manage.NotServedPTR) != want || r.NotServed != "" && !want {
			t.Errorf("record list %s (%d records): %s %s marked %q, want marked %v", zoneName, len(rs), r.Name, r.Data, r.NotServed, want)
		}
	}
}

// verify checks sig over set with the zone's DNSKEY as served.
func verify(t *testing.T, e *env, zoneName string, sig *dns.RRSIG, set []dns.RR) {
	t.Helper()
	if sig == nil {
		t.Fatalf("%s: no RRSIG", set[0].Header().Name)
	}
	for _, rr := range e.query("tcp", zoneName, dns.TypeDNSKEY, true).Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.KeyTag() == sig.KeyTag {
			if err := sig.Verify(k, set); err != nil {
				t.Fatalf("%s PTR: signature by key %d: %v", set[0].Header().Name, k.KeyTag(), err)
			}
			return
		}
	}
	t.Fatalf("%s: no DNSKEY with tag %d", zoneName, sig.KeyTag)
}

// signedPTRs asks the server for owner's PTR set and returns its targets,
// sorted, their signature checked against zone's DNSKEY; with none, the
// answer's rcode.
func signedPTRs(t *testing.T, e *env, zone, owner string) ([]string, int) {
	t.Helper()
	r := e.query("udp", owner, dns.TypePTR, true)
	var out []string
	var sig *dns.RRSIG
	var set []dns.RR
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.PTR:
			out = append(out, rr.Ptr)
			set = append(set, rr)
		case *dns.RRSIG:
			sig = rr
		}
	}
	if len(set) > 0 {
		verify(t, e, zone, sig, set)
	}
	slices.Sort(out)
	return out, r.Rcode
}
