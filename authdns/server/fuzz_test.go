package server_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// fakeWriter stands in for the network behind ServeDNS.
type fakeWriter struct {
	tcp  bool
	tsig bool
	out  [][]byte
	t    *testing.T
}

func (w *fakeWriter) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) RemoteAddr() net.Addr {
	// 127.0.0.2 may transfer (see newEnv), so transfers run too.
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4242}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 4242}
}
func (w *fakeWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		w.t.Fatalf("response does not pack: %v\n%v", err, m)
	}
	w.out = append(w.out, b)
	return nil
}
func (w *fakeWriter) Write(b []byte) (int, error) { w.out = append(w.out, b); return len(b), nil }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) TsigStatus() error {
	if w.tsig {
		return errors.New("not verified")
	}
	return nil
}
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// FuzzRequest drives the request path end to end as the network server
// does: the header check, unpacking, then ServeDNS. Whatever comes in, the
// answer must pack, carry the request's ID and fit the UDP size offered.
func FuzzRequest(f *testing.F) {
	e := newEnv(f, true)
	e.srv = server.NewServer(e.reg, e.store, e.sealer, server.Options{})
	if err := e.srv.Reload(e.ctx); err != nil {
		f.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www." + fwdZone, dns.TypeA}, {"nope." + fwdZone, dns.TypeA}, {fwdZone, dns.TypeAXFR},
		{fwdZone, dns.TypeIXFR}, {v6Zone, dns.TypeSOA}, {"ip-fd12-3456-789a-1--5." + dynZone, dns.TypeAAAA},
		{"5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + v6Zone, dns.TypePTR}, {"a.b." + fwdZone, dns.TypeANY},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.qtype == dns.TypeIXFR {
			m.SetIxfr(q.name, 1, "a.", "b.")
		}
		m.SetEdns0(1232, true)
		b, _ := m.Pack()
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		// The UDP fast path answers what it takes as the full path does.
		if resp, ok := e.srv.FastReply(data); ok {
			got, want := new(dns.Msg), new(dns.Msg)
			if err := got.Unpack(resp); err != nil {
				t.Fatalf("fast answer does not unpack: %v", err)
			}
			if err := want.Unpack(data); err != nil {
				t.Fatalf("fast path took a query that does not unpack: %v", err)
			}
			if w := e.srv.Respond(want, false); w == nil || w.String() != got.String() {
				t.Fatalf("fast path:\n%v\nfull path:\n%v", got, w)
			}
		}
		if len(data) < 12 {
			return // the server drops these before any code of ours
		}
		h := dns.Header{Id: binary.BigEndian.Uint16(data), Bits: binary.BigEndian.Uint16(data[2:]),
			Qdcount: binary.BigEndian.Uint16(data[4:]), Ancount: binary.BigEndian.Uint16(data[6:]),
			Nscount: binary.BigEndian.Uint16(data[8:]), Arcount: binary.BigEndian.Uint16(data[10:])}
		if dns.DefaultMsgAcceptFunc(h) != dns.MsgAccept {
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil {
			return // FORMERR from the server, before any code of ours
		}
		w := &fakeWriter{tcp: tcp, tsig: r.IsTsig() != nil, t: t}
		e.srv.ServeDNS(w, r)
		limit := dns.MaxMsgSize
		if !tcp {
			limit = dns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				limit = max(dns.MinMsgSize, min(int(o.UDPSize()), server.MaxUDPSize))
			}
		}
		for _, b := range w.out {
			resp := new(dns.Msg)
			if err := resp.Unpack(b); err != nil {
				t.Fatalf("response does not unpack: %v", err)
			}
			if resp.Id != r.Id || !resp.Response {
				t.Fatalf("response ID %d, request %d", resp.Id, r.Id)
			}
			if len(b) > limit {
				t.Fatalf("response of %d bytes, limit %d", len(b), limit)
			}
		}
	})
}
