package server_test

import (
	"crypto"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// benchServer is a signed register loaded without listening: the
// benchmarks measure the answer path, not the loopback.
func benchServer(b *testing.B, opt server.Options) *server.Server {
	e := newEnv(b, true)
	s := server.NewServer(e.reg, e.store, e.sealer, opt)
	if err := s.Reload(e.ctx); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchQueries(b *testing.B, s *server.Server, name func(i int) string, qtype uint16) {
	b.Helper()
	before := s.OnlineSignatures()
	truncated := 0
	b.ReportAllocs()
	b.ResetTimer()
	c0 := benchCPU(b)
	defer func() { b.ReportMetric(float64(benchCPU(b)-c0)/float64(b.N), "cpu-ns/op") }()
	for i := range b.N {
		m := new(dns.Msg)
		m.SetQuestion(name(i), qtype)
		m.SetEdns0(1232, true)
		r := s.Respond(m, false)
		if r == nil {
			b.Fatal("no answer")
		}
		if r.Truncated {
			truncated++
		}
		if _, err := r.Pack(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.OnlineSignatures()-before)/float64(b.N), "sigs/op")
	b.ReportMetric(float64(truncated)/float64(b.N), "tc/op")
}

// A random-subdomain flood against an NSEC3 zone costs hashing and a
// binary search per query: the proofs were signed ahead of time.
func BenchmarkRandomSubdomainNSEC3(b *testing.B) {
	s := benchServer(b, server.Options{})
	r := rand.New(rand.NewPCG(1, 2))
	benchQueries(b, s, func(int) string { return fmt.Sprintf("%x.%s", r.Uint64(), fwdZone) }, dns.TypeA)
}

// Against a zone with online (compact) denial each new name needs a
// signature; the per-zone budget (zone.DefaultOnlineRate a second) caps them, and the
// rest are sent to TCP with TC, so the CPU spent stays bounded.
func BenchmarkRandomSubdomainCompact(b *testing.B) {
	s := benchServer(b, server.Options{})
	r := rand.New(rand.NewPCG(1, 2))
	benchQueries(b, s, func(int) string { return fmt.Sprintf("x%x.%s", r.Uint64(), dynZone) }, dns.TypeAAAA)
}

// Positive answers from precomputed signatures.
func BenchmarkSignedPositive(b *testing.B) {
	s := benchServer(b, server.Options{})
	benchQueries(b, s, func(int) string { return "www." + fwdZone }, dns.TypeA)
}

// Synthesised PTR answers, signed per query on a cache miss (65536
// names, so mostly misses at first), with the budget lifted to measure
// the signing itself.
func BenchmarkSynthesisedPTRSigned(b *testing.B) {
	s := benchServer(b, server.Options{OnlineRate: 1e9})
	benchQueries(b, s, func(i int) string {
		return fmt.Sprintf("%x.%x.%x.%x.0.0.0.0.0.0.0.0.0.0.0.0.%s", i&15, i>>4&15, i>>8&15, i>>12&15, v6Zone)
	}, dns.TypePTR)
}

// The floor under BenchmarkSynthesisedPTRSigned: one ECDSA P-256 RRSIG
// over one PTR with a key already parsed, nothing else. A synthesised
// signed answer costs this plus about 10 % (look-up, cache, packing); run
// both in one go, as the machine's load moves the absolute figures.
func BenchmarkSignFloorECDSAP256(b *testing.B) {
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: v6Zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		b.Fatal(err)
	}
	signer := priv.(crypto.Signer)
	b.ReportAllocs()
	for i := range b.N {
		ptr := &dns.PTR{Hdr: dns.RR_Header{Name: fmt.Sprintf("%x.0.0.0.%s", i&0xfff, v6Zone), Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: 3600}, Ptr: "ip-x.dyn.test."}
		s := &dns.RRSIG{Hdr: dns.RR_Header{Name: ptr.Hdr.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 3600}, Algorithm: k.Algorithm,
			KeyTag: k.KeyTag(), SignerName: v6Zone, OrigTtl: 3600, Inception: 1, Expiration: 2}
		if err := s.Sign(signer, []dns.RR{ptr}); err != nil {
			b.Fatal(err)
		}
	}
}

// The same with the reverse zone signed with Ed25519 (compact denial).
func BenchmarkSynthesisedPTRSignedEd25519(b *testing.B) {
	e := newEnv(b, false)
	for _, z := range []string{v6Zone, dynZone} {
		if _, err := e.sign(z, manage.SignOptions{Algorithm: zone.Ed25519, Denial: zone.Compact}); err != nil {
			b.Fatal(err)
		}
	}
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{OnlineRate: 1e9})
	if err := s.Reload(e.ctx); err != nil {
		b.Fatal(err)
	}
	benchQueries(b, s, func(i int) string {
		return fmt.Sprintf("%x.%x.%x.%x.0.0.0.0.0.0.0.0.0.0.0.0.%s", i&15, i>>4&15, i>>8&15, i>>12&15, v6Zone)
	}, dns.TypePTR)
}

// benchCPU is the process's user and system CPU time so far, in
// nanoseconds: on a shared machine a steadier measure than wall time.
func benchCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
