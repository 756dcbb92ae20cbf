package server_test

import (
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// The whole UDP answer path of a synthesised signed PTR, as dnsperf asks
// it in TestDnsperfVsKnot: a packed query with DO for a new unnamed
// address of the pool each time (so every answer is synthesised and
// signed: no cache helps), through the fast path (parse, zone, synthesis,
// signature, packing), without the socket. Beside ns/op it reports the
// process's CPU time per answer (cpu-ns/op), which moves less than wall
// time on a shared machine. Compare with benchstat:
//
//	go test -run XXX -bench SynthWire -count 6 ./authdns/server/
func BenchmarkSynthWireECDSA(b *testing.B) {
	benchSynthWire(b, benchServer(b, server.Options{OnlineRate: 1e9, ClientSignRate: -1}))
}

// The same with the reverse zone signed with Ed25519 (compact denial).
func BenchmarkSynthWireEd25519(b *testing.B) {
	e := newEnv(b, false)
	for _, z := range []string{v6Zone, dynZone} {
		if _, err := e.sign(z, manage.SignOptions{Algorithm: zone.Ed25519, Denial: zone.Compact}); err != nil {
			b.Fatal(err)
		}
	}
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: 1e9, ClientSignRate: -1})
	if err := s.Reload(e.ctx); err != nil {
		b.Fatal(err)
	}
	benchSynthWire(b, s)
}

func benchSynthWire(b *testing.B, s *server.Server) {
	r := rand.New(rand.NewPCG(5, 6))
	query := func() []byte {
		a := netip.MustParseAddr("fd12:3456:789a:1::").As16()
		for i := 8; i < 16; i++ {
			a[i] = byte(r.Uint32())
		}
		a[8] |= 0x80 // away from the low addresses the register hands out
		m := new(dns.Msg)
		m.SetQuestion(ptrOf(netip.AddrFrom16(a)), dns.TypePTR)
		m.Id = uint16(r.Uint32())
		m.SetEdns0(1232, true)
		q, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		return q
	}
	// Check the answer once: a signed PTR, not a referral or a TC.
	w, ok := s.FastReply(query())
	if !ok {
		b.Fatal("not answered by the fast path")
	}
	var m dns.Msg
	if err := m.Unpack(w); err != nil || m.Rcode != dns.RcodeSuccess || m.Truncated || len(m.Answer) != 2 {
		b.Fatalf("answer %v (%v)", &m, err)
	}
	qs := make([][]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for i := 0; i < b.N; {
		b.StopTimer()
		for j := range qs {
			qs[j] = query()
		}
		c0 := processCPU(b)
		b.StartTimer()
		for j := 0; j < len(qs) && i < b.N; j, i = j+1, i+1 {
			if w, ok := s.FastReply(qs[j]); !ok || len(w) < 200 {
				b.Fatal("not answered with a signed PTR")
			}
		}
		b.StopTimer()
		cpu += processCPU(b) - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time (user + system) the test process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
