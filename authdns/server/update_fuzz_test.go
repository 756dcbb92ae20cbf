package server_test

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// updateSeeds are UPDATE messages of every form RFC 2136 allows, signed
// with the granted key, for FuzzUpdate (testdata/fuzz/FuzzUpdate holds
// them packed, with a few malformed ones).
func updateSeeds(t testing.TB) [][]byte {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	del := func(name string, class, typ uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: typ, Class: class}}
	}
	var out [][]byte
	for _, c := range []struct{ pre, upd []dns.RR }{
		{nil, []dns.RR{rr(acmeName + ` 60 IN TXT "a b" "c"`)}},
		{[]dns.RR{del(acmeName, dns.ClassNONE, dns.TypeANY)}, []dns.RR{rr(acmeName + " 60 IN A 192.0.2.1")}},
		{[]dns.RR{del(acmeName, dns.ClassANY, dns.TypeTXT)}, []dns.RR{del(acmeName, dns.ClassANY, dns.TypeTXT)}},
		{nil, []dns.RR{del(acmeName, dns.ClassANY, dns.TypeANY)}},
		{nil, []dns.RR{rr(acmeName + ` 0 NONE TXT "a b" "c"`)}},
		{[]dns.RR{rr(acmeName + ` 0 IN TXT "x"`)}, []dns.RR{rr(acmeName + " 60 IN CNAME www." + fwdZone)}},
		{nil, []dns.RR{rr(acmeName + " 60 IN MX 10 mail." + fwdZone), rr("sub." + acmeName + " 60 IN NS ns." + fwdZone)}},
		{nil, []dns.RR{rr(fwdZone + " 60 IN NS ns9." + fwdZone)}},
	} {
		m := new(dns.Msg)
		m.SetUpdate(fwdZone)
		m.Answer, m.Ns = c.pre, c.upd
		m.SetEdns0(1232, false)
		m.SetTsig(acmeKey, dns.HmacSHA256, 300, 1700000000)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzUpdate drives RFC 2136 UPDATE through ServeDNS as verified by TSIG
// with the key granted _acme-challenge.example.test.: whatever comes in,
// the reply packs and carries the request's ID and opcode, and every
// static record stored afterwards still parses (an update never stores
// data the server could not serve).
func FuzzUpdate(f *testing.F) {
	e := newEnv(f, true)
	if _, _, err := e.mgr.AddTSIG(e.ctx, acmeKey, "hmac-sha256", nil, acmeName); err != nil {
		f.Fatal(err)
	}
	e.srv = server.NewServer(e.reg, e.store, e.sealer, server.Options{})
	if err := e.srv.Reload(e.ctx); err != nil {
		f.Fatal(err)
	}
	for _, b := range updateSeeds(f) {
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil || r.Response {
			return // FORMERR or dropped by the network server, before any code of ours
		}
		if t := r.IsTsig(); t != nil && (!strings.EqualFold(t.Hdr.Name, acmeKey) || !strings.EqualFold(t.Algorithm, dns.HmacSHA256)) {
			// The network server verifies TSIG before ServeDNS; a record
			// that cannot be our key's fails there (FuzzRequest drives
			// that refusal). What is left is taken as verified.
			return
		}
		r.Opcode = dns.OpcodeUpdate
		w := &fakeWriter{tcp: tcp, t: t} // TSIG verified, as the network server would say
		e.srv.ServeDNS(w, r)
		for _, b := range w.out {
			resp := new(dns.Msg)
			if err := resp.Unpack(b); err != nil {
				t.Fatalf("reply does not unpack: %v", err)
			}
			if resp.Id != r.Id || !resp.Response || resp.Opcode != dns.OpcodeUpdate {
				t.Fatalf("reply ID %d opcode %d, request %d", resp.Id, resp.Opcode, r.Id)
			}
		}
		rs, err := e.mgr.Records(e.ctx, fwdZone)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range rs {
			if _, err := rec.RR(); err != nil {
				t.Fatalf("an update stored a record that does not parse: %v", err)
			}
		}
	})
}
