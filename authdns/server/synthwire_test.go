package server_test

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// The fast path packs synthesised answers itself (synthwire.go), byte
// for byte as the general path (miekg/dns, compressed) does; every
// question whose answer is not one synthesised record, or that is asked
// with capitals, is left to the general path, having signed nothing.
func TestSynthReplyMatchesGeneralPath(t *testing.T) {
	type query struct {
		what  string
		name  string
		qtype uint16
		edns  uint16 // 0: no OPT record
		do    bool
		rd    bool
		cd    bool
		packs bool // synthReply answers it (else the general path)
	}
	ptr := "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + v6Zone
	queries := []query{
		{"PTR of an unnamed address, DO", ptr, dns.TypePTR, 1232, true, false, false, true},
		{"PTR, DO, RD and CD kept", ptr, dns.TypePTR, 4096, true, true, true, true},
		{"PTR, EDNS without DO", ptr, dns.TypePTR, 1232, false, false, false, true},
		{"PTR without EDNS", ptr, dns.TypePTR, 0, false, true, false, true},
		{"PTR asked with capitals (0x20)", "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.A.9.8.7.6.5.4.3.2.1.D.F.IP6.ARPA.", dns.TypePTR, 1232, true, false, false, false},
		{"AAAA of a synthesised name", "ip-fd12-3456-789a-1--99." + dynZone, dns.TypeAAAA, 1232, true, false, false, true},
		{"a reverse zone without synthesis", "77." + v4Zone, dns.TypePTR, 1232, true, false, false, false},
		{"another type at a synthesised name: NODATA", ptr, dns.TypeTXT, 1232, true, false, false, false},
		{"AAAA asked at a PTR name: NODATA", ptr, dns.TypeAAAA, 1232, true, false, false, false},
		{"a name outside the pools", "ip-fd12-3456-789a-2--1." + dynZone, dns.TypeAAAA, 1232, true, false, false, false},
		{"a stored name", "vm1." + fwdZone, dns.TypeA, 1232, true, false, false, false},
		{"the apex", v6Zone, dns.TypePTR, 1232, true, false, false, false},
		{"a name with an escape", "a\\.b." + dynZone, dns.TypeA, 1232, true, false, false, false},
		{"no zone of ours", "x.example.org.", dns.TypeA, 1232, true, false, false, false},
	}
	for _, signed := range []string{"unsigned", "ecdsa-nsec3", "ed25519-compact"} {
		e := newEnv(t, signed == "ecdsa-nsec3")
		if signed == "ed25519-compact" {
			for _, z := range []string{v6Zone, dynZone} {
				if _, err := e.sign(z, manage.SignOptions{Algorithm: zone.Ed25519, Denial: zone.Compact}); err != nil {
					t.Fatal(err)
				}
			}
		}
		s := server.NewServer(e.reg, e.store, e.sealer, server.Options{})
		if err := s.Reload(e.ctx); err != nil {
			t.Fatal(err)
		}
		for _, x := range queries {
			t.Run(signed+"/"+x.what, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetQuestion(x.name, x.qtype)
				m.Id = 4242
				m.RecursionDesired, m.CheckingDisabled = x.rd, x.cd
				if x.edns > 0 {
					m.SetEdns0(x.edns, x.do)
				}
				q, err := m.Pack()
				if err != nil {
					t.Fatal(err)
				}
				before := s.OnlineSignatures()
				got, ok := s.SynthReply(q)
				if ok != x.packs {
					t.Fatalf("packed by synthReply: %v, want %v", ok, x.packs)
				}
				if !ok {
					if n := s.OnlineSignatures() - before; n != 0 {
						t.Fatalf("left to the general path after %d signatures", n)
					}
					return
				}
				// The general path signs nothing more: the signatures
				// come from the online cache, so the RRSIGs are the same.
				want, err := s.Respond(m, false).Pack()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("bytes differ:\nsynthReply   %x\ngeneral path %x", got, want)
				}
				var gm dns.Msg
				if err := gm.Unpack(got); err != nil {
					t.Fatalf("synthReply's answer does not unpack: %v", err)
				}
				if len(gm.Answer) == 0 || (signed != "unsigned" && x.do) != (len(gm.Answer) == 2) {
					t.Fatalf("answer %v", &gm)
				}
			})
		}
	}
}
