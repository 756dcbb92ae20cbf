package server_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/registry"
)

func TestAnswers(t *testing.T) {
	e := newEnv(t, false)
	e.start(server.Options{})
	as, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var v4, v6, unnamed netip.Addr
	for _, a := range as {
		switch {
		case a.Name == "" && a.Prefix.Addr().Is6():
			unnamed = a.Prefix.Addr()
		case a.Prefix.Addr().Is4():
			v4 = a.Prefix.Addr()
		default:
			v6 = a.Prefix.Addr()
		}
	}

	t.Run("the apex has SOA and NS, answers are authoritative without recursion", func(t *testing.T) {
		r := e.query("udp", fwdZone, dns.TypeSOA, false)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.RecursionAvailable || len(r.Answer) != 1 {
			t.Fatalf("SOA: %v", r)
		}
		r = e.query("udp", fwdZone, dns.TypeNS, false)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.NS).Ns != "ns1."+fwdZone {
			t.Fatalf("NS: %v", r)
		}
	})

	t.Run("named assignments resolve forward and back", func(t *testing.T) {
		r := e.query("udp", "vm1."+fwdZone, dns.TypeA, false)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != v4.String() {
			t.Fatalf("A: %v", r)
		}
		r = e.query("udp", "VM1.Example.Test.", dns.TypeAAAA, false)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != v6.String() {
			t.Fatalf("AAAA (mixed case): %v", r)
		}
		for _, a := range []netip.Addr{v4, v6} {
			r = e.query("udp", ptrOf(a), dns.TypePTR, false)
			if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "vm1."+fwdZone {
				t.Fatalf("PTR %v: %v", a, r)
			}
		}
	})

	t.Run("static records are served", func(t *testing.T) {
		r := e.query("udp", "www."+fwdZone, dns.TypeA, false)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.1.2.200" {
			t.Fatalf("www: %v", r)
		}
	})

	t.Run("NODATA and NXDOMAIN carry the SOA with the negative TTL", func(t *testing.T) {
		r := e.query("udp", "www."+fwdZone, dns.TypeTXT, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Ttl != manage.DefaultMinimum {
			t.Fatalf("NODATA: %v", r)
		}
		r = e.query("udp", "a.b."+fwdZone, dns.TypeA, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Fatalf("empty non-terminal must be NODATA (RFC 8020): %v", r)
		}
		r = e.query("udp", "nope."+fwdZone, dns.TypeA, false)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("NXDOMAIN: %v", r)
		}
		r = e.query("udp", "TYPE65000-query."+fwdZone, 65000, false)
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("unknown type: %v", r)
		}
		r = e.query("udp", "www."+fwdZone, 65000, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Fatalf("unknown type at a name: %v", r)
		}
	})

	t.Run("names outside our zones are REFUSED", func(t *testing.T) {
		for _, n := range []string{"example.com.", "test.", "arpa.", "1.1.10.in-addr.arpa."} {
			r := e.query("udp", n, dns.TypeA, false)
			if r.Rcode != dns.RcodeRefused || r.Authoritative {
				t.Fatalf("%s: %v", n, r)
			}
		}
	})

	t.Run("RFC 2317 reverse zones name addresses inside the block", func(t *testing.T) {
		// allocate until an address lands in the /26
		a := e.allocIn("eu-west", 4, "h1."+fwdZone)
		owner := fmt.Sprintf("%d.%s", a.As4()[3], v4Zone2)
		e.waitFor("the RFC 2317 PTR", func() bool {
			r := e.query("udp", owner, dns.TypePTR, false)
			return len(r.Answer) == 1
		})
	})

	t.Run("unnamed IPv6 addresses get synthesised names that resolve back", func(t *testing.T) {
		r := e.query("udp", ptrOf(unnamed), dns.TypePTR, false)
		if len(r.Answer) != 1 {
			t.Fatalf("synthesised PTR: %v", r)
		}
		name := r.Answer[0].(*dns.PTR).Ptr
		if !strings.HasPrefix(name, "ip-fd12-3456-789a-1--") || !strings.HasSuffix(name, "."+dynZone) {
			t.Fatalf("synthesised name %s", name)
		}
		r = e.query("udp", name, dns.TypeAAAA, false)
		if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != unnamed.String() {
			t.Fatalf("forward of %s: %v", name, r)
		}
		// Even an address not handed out: the whole pool has names.
		free := netip.MustParseAddr("fd12:3456:789a:1:ffff::7")
		r = e.query("udp", ptrOf(free), dns.TypePTR, false)
		if len(r.Answer) != 1 {
			t.Fatalf("pool address PTR: %v", r)
		}
		// A named address keeps its name; its synthetic name does not exist.
		synthOfNamed := "ip-" + strings.ReplaceAll(v6.String(), ":", "-") + "." + dynZone
		if r = e.query("udp", synthOfNamed, dns.TypeAAAA, false); r.Rcode != dns.RcodeNameError {
			t.Fatalf("synthetic name of a named address: %v", r)
		}
		// Outside the pools nothing is synthesised.
		r = e.query("udp", ptrOf(netip.MustParseAddr("fd12:3456:789a:1::1").Next()), dns.TypePTR, false)
		_ = r
		r = e.query("udp", "ip-fd12-3456-789a-2--1."+dynZone, dns.TypeAAAA, false)
		if r.Rcode != dns.RcodeNameError {
			t.Fatalf("outside the zone's pools: %v", r)
		}
		// Non-canonical spellings do not exist, so each address has one name.
		if r = e.query("udp", "ip-fd12-3456-789a-0001--1."+dynZone, dns.TypeAAAA, false); r.Rcode != dns.RcodeNameError {
			t.Fatalf("non-canonical spelling: %v", r)
		}
		// Nibble names above the leaves inside the pool are empty non-terminals.
		ent := ptrOf(unnamed)[2*8:]
		if r = e.query("udp", ent, dns.TypePTR, false); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Fatalf("ENT %s: %v", ent, r)
		}
	})

	t.Run("a new assignment appears and the serial moves forward", func(t *testing.T) {
		before := e.srv.Serial(fwdZone)
		a := e.alloc(4, "new."+fwdZone)
		e.waitFor("new.example.test", func() bool {
			r := e.query("udp", "new."+fwdZone, dns.TypeA, false)
			return len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == a.String()
		})
		after := e.srv.Serial(fwdZone)
		if after != before+1 {
			t.Fatalf("serial %d -> %d, want +1", before, after)
		}
	})

	t.Run("answers too large for UDP are truncated, and whole over TCP", func(t *testing.T) {
		for i := range 40 {
			if _, err := e.mgr.AddRecord(e.ctx, fwdZone, "big", "TXT", fmt.Sprintf(`"%s %d"`, strings.Repeat("x", 60), i), 0); err != nil {
				t.Fatal(err)
			}
		}
		e.waitFor("the big TXT set", func() bool {
			r := e.query("tcp", "big."+fwdZone, dns.TypeTXT, false)
			return len(r.Answer) == 40
		})
		r := e.query("udp", "big."+fwdZone, dns.TypeTXT, false)
		if !r.Truncated {
			t.Fatalf("512-byte UDP answer not truncated: %d answers", len(r.Answer))
		}
		r = e.query("udp", "big."+fwdZone, dns.TypeTXT, true)
		if !r.Truncated || r.IsEdns0() == nil {
			t.Fatalf("1232-byte UDP answer not truncated or without OPT")
		}
	})
}

func TestSerialArithmetic(t *testing.T) {
	// The serial wraps per RFC 1982 and never goes back to zero.
	e := newEnv(t, false)
	e.start(server.Options{})
	s := e.srv.Serial(fwdZone)
	if s == 0 {
		t.Fatal("no serial")
	}
	if d := int64(s) - time.Now().Unix(); d > 5 || d < -60 {
		t.Fatalf("first serial %d is not the time", s)
	}
}
