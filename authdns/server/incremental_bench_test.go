package server_test

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// What serving one new assignment costs when the zones are large: the
// signed forward zone and the signed ip6.arpa zone hold 50,000 named
// addresses each (NSEC3 in the forward zone, compact denial in the
// reverse), and each operation is one allocation followed by the
// rebuild that serves it (the allocation itself is not timed). ns/op is
// wall time; cpu-ms/op is the CPU time of the whole process during the
// rebuild, steadier on a shared machine.
//
//	flock /tmp/cadastre-bench.lock go test -run '^$' -bench NewAssignment50k -benchtime 20x -count 6 ./authdns/server/
func BenchmarkNewAssignment50k(b *testing.B) {
	names := 50_000
	if n, err := strconv.Atoi(os.Getenv("CADASTRE_BENCH_NAMES")); err == nil && n > 0 {
		names = n // for profiling at other sizes
	}
	e := newEnv(b, true)
	e.allocMany(names, func(i int) string { return fmt.Sprintf("h%d.%s", i, fwdZone) })
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{})
	if err := s.Reload(e.ctx); err != nil {
		b.Fatal(err)
	}
	serial := s.Serial(fwdZone)
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		e.alloc(6, fmt.Sprintf("new%d.%s", i, fwdZone))
		c0 := cpuTime(b)
		b.StartTimer()
		if err := s.Reload(e.ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - c0
		b.StartTimer()
	}
	b.StopTimer()
	if got := s.Serial(fwdZone); got != serial+uint32(b.N) {
		b.Fatalf("serial %d after %d assignments from %d", got, b.N, serial)
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
