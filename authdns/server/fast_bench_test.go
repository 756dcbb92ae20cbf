package server_test

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// benchFastOptions are the options the fast-path benchmarks run with:
// every limit on, none reached, so that their cost is in the figure.
var benchFastOptions = server.Options{RRLRate: 1e9}

// The UDP fast path's cost for a question it has answered before: parse,
// cache look-up, copy (and, since issue 14, the response-rate check and
// the query count). Compare before and after a change with benchstat:
//
//	go test -run XXX -bench Fast -count 6 ./authdns/server/
func BenchmarkFastHit(b *testing.B) {
	s := benchServer(b, benchFastOptions)
	qs := [][]byte{}
	for _, x := range []struct {
		name  string
		qtype uint16
		do    bool
	}{{"www." + fwdZone, dns.TypeA, true}, {"vm1." + fwdZone, dns.TypeAAAA, false}, {"nope." + fwdZone, dns.TypeA, true}} {
		m := new(dns.Msg)
		m.SetQuestion(x.name, x.qtype)
		m.SetEdns0(1232, x.do)
		q, err := m.Pack()
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := s.FastReply(q); !ok { // the miss that fills the cache
			b.Fatal("not answered by the fast path")
		}
		qs = append(qs, q)
	}
	b.ReportAllocs()
	b.ResetTimer()
	c0 := benchCPU(b)
	defer func() { b.ReportMetric(float64(benchCPU(b)-c0)/float64(b.N), "cpu-ns/op") }()
	for i := range b.N {
		if _, ok := s.FastReply(qs[i%len(qs)]); !ok {
			b.Fatal("not answered by the fast path")
		}
	}
}

// The same from every CPU at once: contention on shared counters shows here.
func BenchmarkFastHitParallel(b *testing.B) {
	s := benchServer(b, benchFastOptions)
	m := new(dns.Msg)
	m.SetQuestion("www."+fwdZone, dns.TypeA)
	m.SetEdns0(1232, true)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := s.FastReply(q); !ok {
		b.Fatal("not answered by the fast path")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := s.FastReply(q); !ok {
				b.Error("not answered by the fast path")
				return
			}
		}
	})
}
