package bench_test

// The geofeed checker benchmark of issue 4 ("Proof"): check a generated
// 1,000,000-line feed with every rule, and report lines per second and the
// peak heap. Command and numbers: bench/README.md, section "Geofeed checker".

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/bench"
	"github.com/cadastre-ipam/cadastre/geofeed"
)

const gfLines = 1_000_000

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
		var buf bytes.Buffer
		gfFeed.err = bench.WriteFeed(&buf, gfLines)
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
