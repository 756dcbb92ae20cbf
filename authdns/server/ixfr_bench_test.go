package server_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// BenchmarkLargeIXFR: an IXFR of one journal step as large as the
// parent's step of the split at 10M (bench/README.md, session 13:
// 1,486,545 records, 174 MB; CADASTRE_IXFR_RECORDS changes the count),
// written into a SQLite store's journal as the step to the version the
// server serves: AAAA records and RRSIGs over them, alternately (117 B a
// record on average, as there). CADASTRE_IXFR_STEPS=2 puts a second step
// (one record added) after it, so that the answer is condensed from two.
// Reported: the wait for the first message, the longest between two, and
// for the whole transfer, the process's CPU until the first message, and
// the largest live heap (as the collections during the transfer found
// it) above the one before it.
//
//	go test -run '^$' -bench LargeIXFR -benchtime 1x -count 3 ./authdns/server/
func BenchmarkLargeIXFR(b *testing.B) {
	n := 1_486_545
	if v, err := strconv.Atoi(os.Getenv("CADASTRE_IXFR_RECORDS")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b, false)
	e.start(server.Options{})
	serial := e.srv.Serial(fwdZone)
	zs, err := e.store.Zones(e.ctx)
	if err != nil {
		b.Fatal(err)
	}
	var z zone.Zone
	for _, c := range zs {
		if c.Name == fwdZone {
			z = c
		}
	}
	soa := func(s uint32) dns.RR {
		rr, _ := dns.NewRR(fmt.Sprintf("%s 3600 IN SOA ns1.%s hostmaster.%s %d 3600 600 86400 300", fwdZone, fwdZone, fwdZone, s))
		return rr
	}
	sig, _ := dns.NewRR("x." + fwdZone + " 300 IN RRSIG AAAA 13 3 300 20270101000000 20261201000000 12345 " + fwdZone +
		" kPZ3s0JQvxyfR8YzAtf8lg3BV2zLhi0JUYp2yNw7l2kCdO1r5Zn1Q3DgR1JmY6rq3cXgS8F8mYgN7r+8PoxR9w==")
	pack := func(dst []byte, rr dns.RR) []byte {
		buf := make([]byte, dns.Len(rr)+64)
		off, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			b.Fatal(err)
		}
		return append(dst, buf[:off]...)
	}
	steps := 1
	if os.Getenv("CADASTRE_IXFR_STEPS") == "2" {
		steps = 2
	}
	from := serial - uint32(steps)
	d := &zone.Diff{ZoneID: z.ID, From: from, To: from + 1, At: time.Now()}
	d.Removed = pack(nil, soa(from))
	d.Added = pack(nil, soa(from+1))
	for i := range n {
		name := fmt.Sprintf("h%d.us-east.%s", i/2, fwdZone)
		var rr dns.RR
		if i%2 == 0 {
			rr = &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: []byte{0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1, 0, 0, 0, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}}
		} else {
			s := *sig.(*dns.RRSIG)
			s.Hdr.Name = name
			rr = &s
		}
		d.Removed = pack(d.Removed, rr)
	}
	if ok, err := e.store.SetZoneSerial(e.ctx, z.ID, serial, serial, z.SerialHash, d); !ok || err != nil {
		b.Fatalf("journal step: %v %v", ok, err)
	}
	if steps == 2 {
		one, _ := dns.NewRR("one.us-east." + fwdZone + " 300 IN AAAA fd12:3456:789a:2::1")
		d2 := &zone.Diff{ZoneID: z.ID, From: serial - 1, To: serial, At: time.Now(), Removed: pack(nil, soa(serial-1)), Added: pack(pack(nil, soa(serial)), one)}
		if ok, err := e.store.SetZoneSerial(e.ctx, z.ID, serial, serial, z.SerialHash, d2); !ok || err != nil {
			b.Fatalf("second journal step: %v %v", ok, err)
		}
	}
	size := len(d.Removed) + len(d.Added)
	d = nil
	heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for range b.N {
		runtime.GC()
		metrics.Read(heap)
		base := heap[0].Value.Uint64()
		var peak atomic.Uint64
		done := make(chan struct{})
		go func() {
			for {
				metrics.Read(heap)
				if v := heap[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		m := new(dns.Msg)
		m.SetIxfr(fwdZone, from, "ns1."+fwdZone, "hostmaster."+fwdZone)
		m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
		// Longer than miekg's 2 s default: main sent nothing for minutes
		// at this size under load.
		tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}, ReadTimeout: 10 * time.Minute}
		cpu0 := cpuTime(b)
		t0 := time.Now()
		ch, err := tr.In(m, e.addr)
		if err != nil {
			b.Fatal(err)
		}
		var first, firstCPU, gap time.Duration
		msgs, rrs := 0, 0
		last := t0
		for env := range ch {
			if env.Error != nil {
				b.Fatal(env.Error)
			}
			if msgs == 0 {
				first, firstCPU = time.Since(t0), cpuTime(b)-cpu0
			} else {
				gap = max(gap, time.Since(last))
			}
			last = time.Now()
			msgs++
			rrs += len(env.RR)
		}
		all := time.Since(t0)
		close(done)
		// Condensed, or one sequence a step (two SOAs more a step).
		if rrs != n+4+steps-1 && rrs != n+4+3*(steps-1) {
			b.Fatalf("%d records in %d messages, want %d or %d", rrs, msgs, n+4+steps-1, n+4+3*(steps-1))
		}
		b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
		b.ReportMetric(float64(firstCPU.Microseconds())/1000, "first-cpu-ms")
		b.ReportMetric(float64(gap.Microseconds())/1000, "gap-ms")
		b.ReportMetric(all.Seconds(), "all-s")
		b.ReportMetric(float64(peak.Load()-min(base, peak.Load()))/(1<<20), "heap-MB")
		b.ReportMetric(float64(size)/(1<<20), "step-MB")
	}
}
