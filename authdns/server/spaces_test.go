package server_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestZonesServeTheirSpace: two VPCs each hold 10.9.0.5, named
// differently. A zone takes names and PTRs from the assignments of its
// own space (zone add --space): the reverse zone of 10.9.0.0/24 in vpc-a
// answers vpc-a's PTR alone, a forward zone of vpc-a its names, the
// default zones neither VPC's; zone update --space moves the reverse zone
// to vpc-b; a space the register lacks is refused. Names allocated after
// start (built from the change, not a full read) keep to their space too.
func TestZonesServeTheirSpace(t *testing.T) {
	e := newEnv(t, false)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, sp := range []string{"vpc-a", "vpc-b"} {
		must(e.reg.AddSpace(e.ctx, registry.Space{Name: sp}))
		must(e.reg.AddBlock(e.ctx, registry.Block{Prefix: netip.MustParsePrefix("10.9.0.0/16"), Source: registry.SourcePrivate, Space: sp}))
		must(e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("10.9.0.0/24"), Region: "eu-west", Space: sp, UseAll: true}))
		must(e.reg.Allocate(e.ctx, registry.Request{Prefix: netip.MustParsePrefix("10.9.0.5/32"), Space: sp, Tenant: "acme", Name: "db." + sp + ".test."}))
	}
	// A VPC's name under the default forward zone stays out of it.
	must(e.reg.Allocate(e.ctx, registry.Request{Prefix: netip.MustParsePrefix("10.9.0.6/32"), Space: "vpc-a", Tenant: "acme", Name: "leak." + fwdZone}))
	a := zone.Config{Space: "vpc-a"}
	must(e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: "vpc-a.test.", Config: a}))
	must(e.mgr.AddZone(e.ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.9.0.0/24"), Config: a}))
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: "vpc-z.test.", Config: zone.Config{Space: "vpc-z"}}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("zone add --space vpc-z: %v, want not found", err)
	}
	e.start(server.Options{})

	ptr := "5.0.9.10.in-addr.arpa."
	answer := func(qname string, qtype uint16) (int, string) {
		r := e.query("udp", qname, qtype, false)
		if len(r.Answer) != 1 {
			return r.Rcode, ""
		}
		switch rr := r.Answer[0].(type) {
		case *dns.PTR:
			return r.Rcode, rr.Ptr
		case *dns.A:
			return r.Rcode, rr.A.String()
		}
		return r.Rcode, r.Answer[0].String()
	}
	for _, c := range []struct {
		what, qname string
		qtype       uint16
		rcode       int
		want        string
	}{
		{"vpc-a's PTR in vpc-a's reverse zone", ptr, dns.TypePTR, dns.RcodeSuccess, "db.vpc-a.test."},
		{"vpc-a's name in vpc-a's zone", "db.vpc-a.test.", dns.TypeA, dns.RcodeSuccess, "10.9.0.5"},
		{"vpc-b's name: no zone serves vpc-b", "db.vpc-b.test.", dns.TypeA, dns.RcodeRefused, ""},
		{"a VPC's name under a default zone", "leak." + fwdZone, dns.TypeA, dns.RcodeNameError, ""},
	} {
		if rcode, got := answer(c.qname, c.qtype); rcode != c.rcode || got != c.want {
			t.Errorf("%s: %s %s: %s %q, want %s %q", c.what, c.qname, dns.TypeToString[c.qtype], dns.RcodeToString[rcode], got, dns.RcodeToString[c.rcode], c.want)
		}
	}
	// Changes after start are built from the events (a delta build):
	// the space comes from the pool, so a VPC's new name reaches its own
	// zone and still stays out of the default forward zone.
	must(e.reg.Allocate(e.ctx, registry.Request{Prefix: netip.MustParsePrefix("10.9.0.7/32"), Space: "vpc-a", Tenant: "acme", Name: "leak2." + fwdZone}))
	must(e.reg.Allocate(e.ctx, registry.Request{Prefix: netip.MustParsePrefix("10.9.0.8/32"), Space: "vpc-a", Tenant: "acme", Name: "db2.vpc-a.test."}))
	e.waitFor("vpc-a's new name in vpc-a's zone", func() bool {
		_, got := answer("db2.vpc-a.test.", dns.TypeA)
		return got == "10.9.0.8"
	})
	if rcode, got := answer("leak2."+fwdZone, dns.TypeA); rcode != dns.RcodeNameError {
		t.Errorf("a VPC's new name under a default zone: %s %q, want NXDOMAIN", dns.RcodeToString[rcode], got)
	}
	b := "vpc-b"
	must(e.mgr.Reconfigure(e.ctx, "0.9.10.in-addr.arpa.", manage.ZoneChange{Space: &b}))
	e.waitFor("the reverse zone to serve vpc-b", func() bool {
		_, got := answer(ptr, dns.TypePTR)
		return got == "db.vpc-b.test."
	})
}
