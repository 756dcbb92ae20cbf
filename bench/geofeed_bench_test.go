package bench_test

// The geofeed checker benchmark of issue 4 ("Proof"): check a generated
// 1,000,000-line feed with every rule, and report lines per second and the
// peak heap. Command and numbers: bench/README.md, section "Geofeed checker".

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/location"
)

const gfLines = 1_000_000

// gfLocations are real places with current ISO 3166-2 codes, as large
// hosting providers publish them.
var gfLocations = []location.Location{
	{Country: "US", Subdivision: "US-VA", City: "Ashburn"},
	{Country: "US", Subdivision: "US-CA", City: "San Jose"},
	{Country: "US", Subdivision: "US-OR", City: "Boardman"},
	{Country: "US", Subdivision: "US-TX", City: "Dallas"},
	{Country: "US", Subdivision: "US-IL", City: "Chicago"},
	{Country: "US", Subdivision: "US-NY", City: "New York"},
	{Country: "DE", Subdivision: "DE-HE", City: "Frankfurt am Main"},
	{Country: "GB", Subdivision: "GB-LND", City: "London"},
	{Country: "NL", Subdivision: "NL-NH", City: "Amsterdam"},
	{Country: "FR", Subdivision: "FR-75C", City: "Paris"},
	{Country: "IE", Subdivision: "IE-D", City: "Dublin"},
	{Country: "SG", Subdivision: "SG-01", City: "Singapore"},
	{Country: "JP", Subdivision: "JP-13", City: "Tokyo"},
	{Country: "AU", Subdivision: "AU-NSW", City: "Sydney"},
	{Country: "BR", Subdivision: "BR-SP", City: "São Paulo"},
	{Country: "IN", Subdivision: "IN-MH", City: "Mumbai"},
	{Country: "IN", Subdivision: "IN-TS", City: "Hyderabad"},
	{Country: "CA", Subdivision: "CA-QC", City: "Montréal"},
	{Country: "ZA", Subdivision: "ZA-GP", City: "Johannesburg"},
	{Country: "SE", Subdivision: "SE-AB", City: "Stockholm"},
	{Country: "KR", Subdivision: "KR-11", City: "Seoul"},
	{Country: "CH", Subdivision: "CH-ZH", City: "Zürich"},
	{Country: "PL", Subdivision: "PL-14", City: "Warszawa"},
	{Country: "HK"},
	{Country: "US"},
	{}, // do not geolocate
}

var gfFeed struct {
	once sync.Once
	data []byte
	err  error
}

// gfGenerate builds the feed once per process and writes it into a fresh
// b.TempDir() for each run of the benchmark function. Its lines are
// blocks of 700 IPv4 /24 (with some /22 and /20) and 300 IPv6 /48 (with
// some /64), families
// interleaved as real feeds list them per data centre, so the checker must
// sort. No line has an error.
func gfGenerate(b *testing.B) string {
	gfFeed.once.Do(func() {
		for _, l := range gfLocations {
			if !l.IsZero() {
				if err := l.Validate(); err != nil {
					gfFeed.err = err
					return
				}
			}
		}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		fmt.Fprintf(w, "# generated benchmark feed, %d lines\n", gfLines)
		v4 := uint32(11 << 24) // 11.0.0.0: no special-purpose space for 16M /24s
		var v6 uint64 = 0x2a00_0000_0000 << 16
		n := 1
		for n < gfLines {
			for i := 0; i < 700 && n < gfLines; i, n = i+1, n+1 {
				bits := 24
				switch {
				case n%97 == 0 && v4%(1<<12) == 0:
					bits = 20
				case n%13 == 0 && v4%(1<<10) == 0:
					bits = 22
				}
				a := netip.AddrFrom4([4]byte{byte(v4 >> 24), byte(v4 >> 16), byte(v4 >> 8), byte(v4)})
				l := gfLocations[(n/50)%len(gfLocations)]
				fmt.Fprintf(w, "%v/%d,%s,%s,%s,\n", a, bits, l.Country, l.Subdivision, l.City)
				v4 += 1 << (32 - bits)
			}
			for i := 0; i < 300 && n < gfLines; i, n = i+1, n+1 {
				var a [16]byte
				for k := range 8 {
					a[k] = byte(v6 >> (56 - 8*k))
				}
				bits := 48
				if n%61 == 0 {
					bits = 64
				}
				l := gfLocations[(n/30)%len(gfLocations)]
				fmt.Fprintf(w, "%v/%d,%s,%s,%s,\n", netip.AddrFrom16(a), bits, l.Country, l.Subdivision, l.City)
				v6 += 1 << 16 // next /48
			}
			if n%100_000 < 1000 && n < gfLines {
				fmt.Fprintf(w, "# data centre block ending at line %d\n", n)
				n++
			}
		}
		gfFeed.err = w.Flush()
		gfFeed.data = buf.Bytes()
	})
	if gfFeed.err != nil {
		b.Fatal(gfFeed.err)
	}
	path := filepath.Join(b.TempDir(), "feed.csv")
	if err := os.WriteFile(path, gfFeed.data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkGeofeedCheck checks the 1,000,000-line feed with every rule and
// reports lines/s (of the check alone: the garbage collection between runs
// is outside the timer) and the peak heap of one check above the heap
// before it, sampled every 10 ms.
func BenchmarkGeofeedCheck(b *testing.B) {
	path := gfGenerate(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	var peak uint64
	var lines int
	var checking time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop := make(chan struct{})
		done := make(chan uint64)
		go gfSampleHeap(base.HeapAlloc, stop, done)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		r := geofeed.NewReader(f, geofeed.Options{})
		for r.Next() {
		}
		checking += time.Since(start)
		b.StopTimer()
		sum := r.Summary()
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		f.Close()
		close(stop)
		if p := <-done; p > peak {
			peak = p
		}
		if sum.Errors != 0 || sum.Lines != gfLines {
			b.Fatalf("summary %+v, first diagnostics %v", sum, r.Diagnostics()[:min(5, len(r.Diagnostics()))])
		}
		lines += sum.Lines
		b.StartTimer()
	}
	b.ReportMetric(float64(lines)/checking.Seconds(), "lines/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// gfSampleHeap sends on done the highest HeapAlloc above base seen until
// stop is closed.
func gfSampleHeap(base uint64, stop <-chan struct{}, done chan<- uint64) {
	var peak uint64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		select {
		case <-stop:
			done <- peak - min(peak, base)
			return
		case <-t.C:
		}
	}
}
