package zone_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

// What a signed zone holds in memory: the Go heap the builder keeps (its
// snapshot of a signed NSEC3 forward zone and the signed ip6.arpa zone of
// the same addresses, n names each, and whatever it caches between
// builds) per signed name, its NSEC3 link and signatures included. It is
// the heap live after a GC with the builder, less the heap live after a
// GC without it (the input, which the server reads again and drops, is
// kept in both).
//
//	CADASTRE_BENCH_SIZES=50000 go test -run '^$' -bench SignedZoneHeap -benchtime 1x ./authdns/zone/
//
// CADASTRE_HEAP_PROFILE=FILE writes a heap profile while the builder is
// alive (go tool pprof -sample_index=inuse_space FILE).
func BenchmarkSignedZoneHeap(b *testing.B) {
	for _, n := range benchSizes(b, []int{20_000}) {
		b.Run(fmt.Sprintf("names=%d", n), func(b *testing.B) {
			var per float64
			for range b.N {
				s := newRebuildSetup(b, n)
				with := liveHeap()
				if f := os.Getenv("CADASTRE_HEAP_PROFILE"); f != "" {
					w, err := os.Create(f)
					if err != nil {
						b.Fatal(err)
					}
					if err := pprof.WriteHeapProfile(w); err != nil {
						b.Fatal(err)
					}
					w.Close()
				}
				s.bl = nil
				without := liveHeap()
				per = float64(with-without) / float64(2*n)
				s.st.Close()
				os.RemoveAll(s.dir)
			}
			b.ReportMetric(per, "heap-B/name")
		})
	}
}

// liveHeap is the heap in use by live objects, after two collections.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
