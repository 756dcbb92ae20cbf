package server_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestReverseZones states how a prefix of any length becomes reverse
// zones: itself on an octet or nibble (and IPv4 past /24, RFC 2317),
// else the aligned zones of the next boundary that cover it exactly.
func TestReverseZones(t *testing.T) {
	cases := []struct {
		name   string
		prefix string
		n      int    // zones
		first  string // name of the first zone
		last   string // name of the last zone
	}{
		{"IPv4 /8 is one octet zone", "10.0.0.0/8", 1, "10.in-addr.arpa.", "10.in-addr.arpa."},
		{"IPv4 /9 is 128 /16 zones", "10.128.0.0/9", 128, "128.10.in-addr.arpa.", "255.10.in-addr.arpa."},
		{"IPv4 /12 is 16 /16 zones", "172.16.0.0/12", 16, "16.172.in-addr.arpa.", "31.172.in-addr.arpa."},
		{"IPv4 /15 is 2 /16 zones", "10.2.0.0/15", 2, "2.10.in-addr.arpa.", "3.10.in-addr.arpa."},
		{"IPv4 /16 is one octet zone", "10.1.0.0/16", 1, "1.10.in-addr.arpa.", "1.10.in-addr.arpa."},
		{"IPv4 /17 is 128 /24 zones", "10.1.128.0/17", 128, "128.1.10.in-addr.arpa.", "255.1.10.in-addr.arpa."},
		{"IPv4 /20 is 16 /24 zones", "10.1.16.0/20", 16, "16.1.10.in-addr.arpa.", "31.1.10.in-addr.arpa."},
		{"IPv4 /23 is 2 /24 zones", "10.1.2.0/23", 2, "2.1.10.in-addr.arpa.", "3.1.10.in-addr.arpa."},
		{"IPv4 /24 is one octet zone", "10.1.2.0/24", 1, "2.1.10.in-addr.arpa.", "2.1.10.in-addr.arpa."},
		{"IPv4 /25 is one RFC 2317 zone", "10.1.2.128/25", 1, "128/25.2.1.10.in-addr.arpa.", "128/25.2.1.10.in-addr.arpa."},
		{"IPv4 /31 is one RFC 2317 zone", "10.1.2.6/31", 1, "6/31.2.1.10.in-addr.arpa.", "6/31.2.1.10.in-addr.arpa."},
		{"IPv4 /32 is one octet zone at the address", "10.1.2.7/32", 1, "7.2.1.10.in-addr.arpa.", "7.2.1.10.in-addr.arpa."},
		{"IPv4 /1 is 128 /8 zones", "128.0.0.0/1", 128, "128.in-addr.arpa.", "255.in-addr.arpa."},
		{"IPv6 /32 is one nibble zone", "2001:db8::/32", 1, "8.b.d.0.1.0.0.2.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."},
		{"IPv6 /33 is 8 /36 zones", "2001:db8:8000::/33", 8, "8.8.b.d.0.1.0.0.2.ip6.arpa.", "f.8.b.d.0.1.0.0.2.ip6.arpa."},
		{"IPv6 /48 is one nibble zone", "2001:db8:1::/48", 1, "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
		{"IPv6 /49 is 8 /52 zones", "2001:db8:1:8000::/49", 8, "8.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "f.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
		{"IPv6 /64 is one nibble zone", "2001:db8:1:2::/64", 1, "2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."},
		{"IPv6 /127 is 2 /128 zones", "2001:db8::2/127", 2, nib("2001:db8::2"), nib("2001:db8::3")},
		{"IPv6 /128 is one zone at the address", "2001:db8::5/128", 1, nib("2001:db8::5"), nib("2001:db8::5")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := netip.MustParsePrefix(c.prefix)
			ps, err := zone.ReverseZones(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != c.n {
				t.Fatalf("%v: %d zones, want %d", p, len(ps), c.n)
			}
			var names []string
			covered := 0.0
			for i, sub := range ps {
				name, err := zone.ReverseZoneName(sub)
				if err != nil {
					t.Fatalf("zone %v of %v: %v", sub, p, err)
				}
				names = append(names, name)
				if !p.Contains(sub.Addr()) || sub.Bits() < p.Bits() {
					t.Fatalf("zone %v is not inside %v", sub, p)
				}
				if i > 0 && !ps[i-1].Addr().Less(sub.Addr()) || i > 0 && ps[i-1].Overlaps(sub) {
					t.Fatalf("zones %v and %v out of order or overlapping", ps[i-1], sub)
				}
				covered += 1 / float64(uint64(1)<<min(63, sub.Bits()-p.Bits()))
			}
			if covered != 1 {
				t.Fatalf("zones of %v cover %v of it", p, covered)
			}
			if names[0] != c.first || names[len(names)-1] != c.last {
				t.Fatalf("%v: zones %s … %s, want %s … %s", p, names[0], names[len(names)-1], c.first, c.last)
			}
			// Every address's PTR name lies in the zone of the part that holds it.
			for _, sub := range ps {
				a := sub.Addr()
				ptr, _ := dns.ReverseAddr(a.String())
				name, _ := zone.ReverseZoneName(sub)
				if sub.Bits() <= 24 || sub.Bits() == 32 || a.Is6() {
					if !dns.IsSubDomain(name, ptr) {
						t.Fatalf("PTR name %s of %v is not in zone %s", ptr, a, name)
					}
				}
			}
		})
	}

	bad := []struct {
		name, prefix, want string
	}{
		{"host bits set", "10.1.16.1/20", "host bits set (did you mean 10.1.16.0/20?)"},
		{"the whole IPv4 space", "0.0.0.0/0", "the whole address space"},
		{"the whole IPv6 space", "::/0", "the whole address space"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := zone.ReverseZones(netip.MustParsePrefix(c.prefix))
			if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%s: %v, want an invalid-input error saying %q", c.prefix, err, c.want)
			}
		})
	}
}

// nib is the ip6.arpa name of an address.
func nib(a string) string {
	n, _ := dns.ReverseAddr(a)
	return n
}

// The reverse prefixes of the set tests: a /20 and a /49, served as 16
// and 8 zones, with pools in their first, a middle and their last zone.
const (
	set4  = "10.1.16.0/20"
	set6  = "fd12:3456:789a:8000::/49"
	first = "16.1.10.in-addr.arpa."
	last6 = "f.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa."
)

// addSets adds pools in three regions across set4 and set6 and the zones
// of both prefixes (set6 with synthesis into dynZone), and names one
// address in each pool; it returns the named addresses.
func (e *env) addSets() []netip.Addr {
	e.t.Helper()
	pools := []struct{ region, v4, v6 string }{
		{"ap-1", "10.1.16.0/28", "fd12:3456:789a:8000::/64"},
		{"ap-2", "10.1.23.0/24", "fd12:3456:789a:b000::/64"},
		{"ap-3", "10.1.31.248/29", "fd12:3456:789a:f000::/64"},
	}
	var named []netip.Addr
	for _, p := range pools {
		if _, err := e.reg.AddRegion(e.ctx, registry.RegionSpec{Name: p.region, Location: location.Location{Country: "SG"}}); err != nil {
			e.t.Fatal(err)
		}
		for _, pfx := range []string{p.v4, p.v6} {
			if _, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(pfx), Region: p.region, UseAll: true}); err != nil {
				e.t.Fatal(err)
			}
		}
		named = append(named, e.allocIn(p.region, 4, "host."+p.region+"."+fwdZone), e.allocIn(p.region, 6, "host6."+p.region+"."+fwdZone))
		e.allocIn(p.region, 6, "") // synthesised
	}
	if zs, err := e.mgr.AddZones(e.ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(set4)}); err != nil || len(zs) != 16 {
		e.t.Fatalf("zones of %s: %d, %v", set4, len(zs), err)
	}
	if zs, err := e.mgr.AddZones(e.ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix(set6), Synthesize: "ip-{addr}." + dynZone}); err != nil || len(zs) != 8 {
		e.t.Fatalf("zones of %s: %d, %v", set6, len(zs), err)
	}
	return named
}

// zoneOf is the name of the zone of the set that holds a.
func zoneOf(t testing.TB, a netip.Addr) string {
	t.Helper()
	bits := 24
	if a.Is6() {
		bits = 52
	}
	name, err := zone.ReverseZoneName(netip.PrefixFrom(a, bits).Masked())
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func TestReverseSetAnswers(t *testing.T) {
	e := newEnv(t, false)
	named := e.addSets()
	e.start(server.Options{})
	for _, a := range named {
		t.Run("PTR of "+a.String()+" in its own zone", func(t *testing.T) {
			r := e.query("udp", ptrOf(a), dns.TypePTR, false)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
				t.Fatalf("PTR %s: %v", ptrOf(a), r)
			}
			if !strings.HasPrefix(r.Answer[0].(*dns.PTR).Ptr, "host") {
				t.Fatalf("PTR %s: %v", ptrOf(a), r.Answer[0])
			}
			// The zone that answers is the one holding the address: its
			// SOA comes with a NODATA at the same name.
			r = e.query("udp", ptrOf(a), dns.TypeTXT, false)
			if len(r.Ns) != 1 || r.Ns[0].Header().Name != zoneOf(t, a) {
				t.Fatalf("NODATA at %s from zone %v, want %s", ptrOf(a), r.Ns, zoneOf(t, a))
			}
		})
	}
	cases := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		zone  string // the SOA in the authority section, if any
	}{
		{"SOA of the first zone", first, dns.TypeSOA, dns.RcodeSuccess, ""},
		{"SOA of the last /52 zone", last6, dns.TypeSOA, dns.RcodeSuccess, ""},
		{"an unnamed address of the /20 does not exist", "9.23.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "23.1.10.in-addr.arpa."},
		{"a label that is no octet", "x.23.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "23.1.10.in-addr.arpa."},
		{"too many labels", "1.2.3.23.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, "23.1.10.in-addr.arpa."},
		{"the /24 after the /20 is not ours", "1.32.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeRefused, ""},
		{"the /24 before the /20 is not ours", "1.15.1.10.in-addr.arpa.", dns.TypePTR, dns.RcodeRefused, ""},
		{"the /16 above is the registry's", "1.10.in-addr.arpa.", dns.TypeSOA, dns.RcodeRefused, ""},
		{"the /48 above the /49 is not ours", "a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa.", dns.TypeSOA, dns.RcodeRefused, ""},
		{"the lower half of the /48 is not ours", nib("fd12:3456:789a:7000::1"), dns.TypePTR, dns.RcodeRefused, ""},
		{"a synthesised PTR in the last /52 zone", nib("fd12:3456:789a:f000::99"), dns.TypePTR, dns.RcodeSuccess, ""},
		{"an address of the /49 outside every pool", nib("fd12:3456:789a:c000::1"), dns.TypePTR, dns.RcodeNameError, "c.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.query("udp", c.qname, c.qtype, false)
			if r.Rcode != c.rcode {
				t.Fatalf("%s %s: %s, want %s\n%v", c.qname, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[c.rcode], r)
			}
			if c.rcode == dns.RcodeSuccess && len(r.Answer) != 1 {
				t.Fatalf("%s: %v", c.qname, r)
			}
			if c.zone != "" && (len(r.Ns) != 1 || r.Ns[0].Header().Name != c.zone) {
				t.Fatalf("%s: authority %v, want the SOA of %s", c.qname, r.Ns, c.zone)
			}
		})
	}
	t.Run("a /127 is two /128 zones, each answering at its apex", func(t *testing.T) {
		if _, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd12:3456:789a:2::/64"), Region: "ap-1", UseAll: true}); err != nil {
			t.Fatal(err)
		}
		zs, err := e.mgr.AddZones(e.ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("fd12:3456:789a:2::/127"), Synthesize: "ip-{addr}." + dynZone})
		if err != nil || len(zs) != 2 || zs[1].Name != nib("fd12:3456:789a:2::1") {
			t.Fatalf("zones of a /127: %v, %v", zs, err)
		}
		e.waitFor("the /128 zones", func() bool {
			r := e.query("udp", nib("fd12:3456:789a:2::1"), dns.TypePTR, false)
			return r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 && r.Answer[0].(*dns.PTR).Ptr == "ip-fd12-3456-789a-2--1."+dynZone
		})
		if r := e.query("udp", "0."+nib("fd12:3456:789a:2::1"), dns.TypePTR, false); r.Rcode != dns.RcodeNameError {
			t.Fatalf("below a /128 zone's apex: %v", r)
		}
		if r := e.query("udp", nib("fd12:3456:789a:2::2"), dns.TypePTR, false); r.Rcode != dns.RcodeRefused {
			t.Fatalf("the address after the /127: %v", r)
		}
	})
	t.Run("removing the /20 stops its answers and leaves the /49", func(t *testing.T) {
		if _, err := e.mgr.RemoveZones(e.ctx, set4); err != nil {
			t.Fatal(err)
		}
		e.waitFor("the /20 to go", func() bool { return e.query("udp", first, dns.TypeSOA, false).Rcode == dns.RcodeRefused })
		if r := e.query("udp", last6, dns.TypeSOA, false); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("the /49 after removing the /20: %v", r)
		}
	})
}

// TestUnboundValidatesReverseSet: unbound, trusting the DS of each zone
// of a signed /20 (as a registry would publish them), validates a PTR and
// a NXDOMAIN in one of its /24 zones.
func TestUnboundValidatesReverseSet(t *testing.T) {
	tool(t, "unbound")
	e := newEnv(t, true)
	named := e.addSets()
	zs, _, err := e.mgr.SignZones(e.ctx, set4, manage.SignOptions{})
	if err != nil || len(zs) != 16 {
		t.Fatalf("sign %s: %d zones, %v", set4, len(zs), err)
	}
	var names []string
	for _, z := range zs {
		names = append(names, z.Name)
	}
	e.start(server.Options{})
	resolver := e.startUnbound(names...)
	var mid netip.Addr
	for _, a := range named {
		if a.Is4() && a.As4()[2] == 23 {
			mid = a
		}
	}
	for _, c := range []struct {
		name  string
		qname string
		rcode int
		n     int
	}{
		{"PTR of a named address in 23.1.10.in-addr.arpa.", ptrOf(mid), dns.RcodeSuccess, 1},
		{"NXDOMAIN proven by NSEC3 in the same zone", "200.23.1.10.in-addr.arpa.", dns.RcodeNameError, 0},
		{"NXDOMAIN in the first zone", "1.16.1.10.in-addr.arpa.", dns.RcodeNameError, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := resolve(t, resolver, c.qname, dns.TypePTR)
			got := 0
			for _, rr := range r.Answer {
				if rr.Header().Rrtype == dns.TypePTR {
					got++
				}
			}
			if r.Rcode != c.rcode || got != c.n || !r.AuthenticatedData {
				t.Fatalf("%s PTR: rcode %s, %d answers, AD %v; want %s, %d, AD\n%v", c.qname, dns.RcodeToString[r.Rcode], got, r.AuthenticatedData, dns.RcodeToString[c.rcode], c.n, r)
			}
		})
	}
}

// TestSignSetAllOrNone: signing the zones of a prefix checks them all
// first, so a refusal for one (here another algorithm already in use)
// leaves every other zone unsigned and without keys.
func TestSignSetAllOrNone(t *testing.T) {
	e := newEnv(t, false)
	e.addSets()
	if _, _, err := e.mgr.Sign(e.ctx, "23.1.10.in-addr.arpa", manage.SignOptions{Algorithm: zone.Ed25519}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mgr.SignZones(e.ctx, set4, manage.SignOptions{}); !errors.Is(err, registry.ErrState) {
		t.Fatalf("signing a set with a zone on another algorithm: %v", err)
	}
	zs, err := e.mgr.ZonesOf(e.ctx, set4)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zs {
		keys, err := e.mgr.Keys(e.ctx, z.Name)
		if err != nil {
			t.Fatal(err)
		}
		if signed := z.Name == "23.1.10.in-addr.arpa."; z.Config.Signed != signed || (len(keys) > 0) != signed {
			t.Fatalf("zone %s after a refused set signing: signed %v, %d keys", z.Name, z.Config.Signed, len(keys))
		}
	}
	if _, _, err := e.mgr.SignZones(e.ctx, set4, manage.SignOptions{Algorithm: zone.Ed25519}); err != nil {
		t.Fatalf("signing the set with the zone's algorithm: %v", err)
	}
	for _, bad := range []string{"10.1.16.1/20", "10.1.64.0/20", "nope.in-addr.arpa"} {
		if _, _, err := e.mgr.SignZones(e.ctx, bad, manage.SignOptions{}); err == nil {
			t.Fatalf("SignZones %s: no error", bad)
		}
	}
}
