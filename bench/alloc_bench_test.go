// Package bench_test holds the allocation benchmarks of issue 2 ("Proof"):
// cost per allocation at several fills, durable single and concurrent
// allocations against an empty durable commit on the same disk, batch
// throughput, and the memory and database bytes each assignment costs.
// Nothing here runs without -bench. Numbers and commands: bench/README.md.
package bench_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // side connection for checkpoints

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

const (
	region = "bench"
	v4Pool = "10.0.0.0/16"
	v6Pool = "fd00::/32"
	// fillChunk is the Count of each batch request used to fill a pool.
	fillChunk = 10000
	// releaseEvery bounds how far a fill benchmark drifts above its fill:
	// after this many timed allocations they are released (untimed).
	releaseEvery = 256
)

var root struct {
	once sync.Once
	dir  string
	err  error
}

// TestMain removes the databases the benchmarks leave in a shared folder.
func TestMain(m *testing.M) {
	code := m.Run()
	if root.dir != "" {
		os.RemoveAll(root.dir)
	}
	os.Exit(code)
}

// dir is a folder for databases that live as long as the test binary, so a
// filled database is built once however many times -count repeats a benchmark.
// It is under os.TempDir(), the same disk as b.TempDir().
func dir(b *testing.B) string {
	root.once.Do(func() { root.dir, root.err = os.MkdirTemp("", "cadastre-bench-") })
	if root.err != nil {
		b.Fatal(root.err)
	}
	return root.dir
}

// cpuTime is the CPU time (user and system) the process has used so far.
// The machine is shared, so besides wall time the benchmarks report CPU
// per operation, which other processes disturb much less.
func cpuTime() time.Duration {
	u, s := userSysTime()
	return u + s
}

// userSysTime is cpuTime apart: user (Go, the SQLite VM, checksums) and
// system (the kernel's side of each pwrite and fsync), which fewer
// statements and fewer system calls change separately.
func userSysTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// newRegistry opens a store at path with one region holding an IPv4 /16 and
// an IPv6 /32 pool.
func newRegistry(b *testing.B, path string, noSync bool) (*sqlite.Store, *registry.Registry) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	r := registry.New(st)
	addRegion(b, r)
	return st, r
}

// addRegion adds the benchmarks' region to r, holding an IPv4 /16 and an
// IPv6 /32 pool.
func addRegion(b *testing.B, r *registry.Registry) {
	b.Helper()
	ctx := context.Background()
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: region, Location: location.Location{Country: "US", Subdivision: "US-VA"}}); err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{v4Pool, v6Pool} {
		pfx := netip.MustParsePrefix(p)
		if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: region, UseAll: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// fill allocates n prefixes of /bits in chunks of fillChunk and returns the
// Go heap allocated (garbage included) and retained per assignment.
func fill(b *testing.B, r *registry.Registry, family, bits, n int) (allocPer, retainedPer float64) {
	b.Helper()
	ctx := context.Background()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for done := 0; done < n; {
		k := min(fillChunk, n-done)
		if _, err := r.Allocate(ctx, registry.Request{Region: region, Family: family, Bits: bits, Count: k}); err != nil {
			b.Fatalf("fill %d of %d: %v", done, n, err)
		}
		done += k
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if n == 0 {
		return 0, 0
	}
	return float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n), (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(n)
}

// filled is a NoSync database filled once and kept for the test binary's life.
type filled struct {
	path string
	st   *sqlite.Store
	r    *registry.Registry
	n    int
	// Go heap per assignment while filling: allocated, and still held after.
	allocPer, retainedPer float64
}

var (
	fillMu sync.Mutex
	fills  = map[string]*filled{}
)

func getFilled(b *testing.B, family, bits, n int) *filled {
	b.Helper()
	fillMu.Lock()
	defer fillMu.Unlock()
	key := fmt.Sprintf("v%d-%d-%d", family, bits, n)
	if f, ok := fills[key]; ok {
		return f
	}
	path := filepath.Join(dir(b), key+".db")
	st, r := newRegistry(b, path, true)
	t0 := time.Now()
	ap, rp := fill(b, r, family, bits, n)
	b.Logf("filled %d IPv%d /%d in %s (%.0f a second)", n, family, bits, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
	f := &filled{path: path, st: st, r: r, n: n, allocPer: ap, retainedPer: rp}
	fills[key] = f
	return f
}

// benchSingles times single allocations of /bits on f. Every releaseEvery
// allocations the timer stops and they are released at once (quarantine 0),
// so the fill stays within releaseEvery of where it started however large
// b.N grows.
func benchSingles(b *testing.B, f *filled, family, bits int) {
	ctx := context.Background()
	q := registry.Request{Region: region, Family: family, Bits: bits}
	ids := make([]int64, 0, releaseEvery)
	b.ReportAllocs()
	var cpu0, untimed time.Duration
	for b.Loop() {
		if cpu0 == 0 {
			cpu0 = cpuTime()
		}
		out, err := f.r.Allocate(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, out[0].ID)
		if len(ids) == releaseEvery {
			b.StopTimer()
			c := cpuTime()
			release(b, f.r, ids)
			ids = ids[:0]
			untimed += cpuTime() - c
			b.StartTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0-untimed)/float64(b.N)/1e3, "cpu-µs/op")
	release(b, f.r, ids)
}

func release(b *testing.B, r *registry.Registry, ids []int64) {
	for _, id := range ids {
		if _, err := r.Release(context.Background(), registry.Target{ID: id}, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllocFill: time per single-address allocation at 1%, 50% and 99%
// fill of an IPv4 /16, and per /64 out of an IPv6 /32 at 1%, 50% and 99% of
// one million assignments. NoSync store: this is the CPU and index cost of
// allocation apart from the disk. Target: each family's three within 1.5x.
func BenchmarkAllocFill(b *testing.B) {
	const v4Size = 1 << 16
	for _, pct := range []int{1, 50, 99} {
		b.Run(fmt.Sprintf("v4-slash16/fill=%02d%%", pct), func(b *testing.B) {
			f := getFilled(b, 4, 32, v4Size*pct/100)
			benchSingles(b, f, 4, 32)
		})
	}
	const v6N = 1_000_000
	for _, pct := range []int{1, 50, 99} {
		b.Run(fmt.Sprintf("v6-slash64s/assigned=%02d%%of1M", pct), func(b *testing.B) {
			f := getFilled(b, 6, 64, v6N*pct/100)
			benchSingles(b, f, 6, 64)
		})
	}
}

// BenchmarkDurable compares durable (synchronous=FULL) allocations with an
// empty durable commit on the same store, same disk: an Update that appends
// one tiny event row, the least a transaction can write. Targets: one
// caller at least 80% of the empty commit's rate; 16 callers at least 5,000
// allocations a second.
func BenchmarkDurable(b *testing.B) {
	path := filepath.Join(b.TempDir(), "durable.db")
	st, r := newRegistry(b, path, false)
	defer st.Close()
	empty, alloc := durableOps(st, r)
	// One caller: each iteration makes one empty commit and one allocation,
	// timed apart, so both see the same disk at the same moments (other
	// processes' fsyncs on a shared disk move the rate a lot).
	b.Run("callers=1", func(b *testing.B) {
		b.ReportAllocs()
		// CPU time of each too (process user+system: the writer's
		// statements, its WAL writes and the kernel's side of the fsync):
		// on a loaded machine wall rates swing with others' fsyncs, while
		// the CPU each costs is what fewer statements and pages change.
		var tEmpty, tAlloc, uEmpty, uAlloc, sEmpty, sAlloc time.Duration
		for b.Loop() {
			u0, s0 := userSysTime()
			t0 := time.Now()
			if err := empty(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			u1, s1 := userSysTime()
			t2 := time.Now() // the wall times leave the getrusage calls out
			if err := alloc(); err != nil {
				b.Fatal(err)
			}
			t3 := time.Now()
			u2, s2 := userSysTime()
			tEmpty, tAlloc = tEmpty+t1.Sub(t0), tAlloc+t3.Sub(t2)
			uEmpty, uAlloc = uEmpty+u1-u0, uAlloc+u2-u1
			sEmpty, sAlloc = sEmpty+s1-s0, sAlloc+s2-s1
		}
		perOp := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
		b.ReportMetric(float64(b.N)/tEmpty.Seconds(), "empty-commits/s")
		b.ReportMetric(float64(b.N)/tAlloc.Seconds(), "allocs/s")
		b.ReportMetric(100*tEmpty.Seconds()/tAlloc.Seconds(), "alloc/empty-%")
		b.ReportMetric(perOp(uEmpty+sEmpty), "cpu-µs/empty")
		b.ReportMetric(perOp(uAlloc+sAlloc), "cpu-µs/alloc")
		// The kernel's share apart (bench/README.md, session 13): an
		// allocation's commit costs it ~50 µs more than an empty one, and
		// neither its 13 extra pwrite calls (gathered into one, the gap
		// stayed) nor its bytes (1 KiB pages, the gap stayed) are that.
		b.ReportMetric(perOp(sEmpty), "sys-µs/empty")
		b.ReportMetric(perOp(sAlloc), "sys-µs/alloc")
	})
	// Pages written: what an allocation costs beyond the empty commit that
	// does not move with the load (bench/README.md, "Session 12").
	// Counted once per run, whatever b.N: 1,000 commits of each.
	b.Run("frames", func(b *testing.B) {
		e, a := walFrames(b, path, empty), walFrames(b, path, alloc)
		b.ReportMetric(e, "wal-frames/empty")
		b.ReportMetric(a, "wal-frames/alloc")
	})
	for _, c := range []struct {
		name string
		fn   func() error
	}{{"empty-commit", empty}, {"alloc", alloc}} {
		b.Run(c.name+"/callers=16", func(b *testing.B) {
			// RunParallel starts parallelism*GOMAXPROCS goroutines.
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.fn(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}

// durableOps are what BenchmarkDurable and BenchmarkDurablePostgres
// compare: an empty commit (an Update that appends one tiny event row,
// the least a transaction can write) and a single allocation in the
// benchmarks' region.
func durableOps(st registry.Store, r *registry.Registry) (empty, alloc func() error) {
	ctx := context.Background()
	empty = func() error {
		return st.Update(ctx, func(tx registry.Tx) error {
			return tx.AppendEvent(ctx, &registry.Event{At: time.Now(), Actor: "bench", Action: "noop", SubjectKind: "bench", Subject: "-"})
		})
	}
	alloc = func() error {
		_, err := r.Allocate(ctx, registry.Request{Region: region})
		return err
	}
	return empty, alloc
}

// walFrames counts the WAL frames (pages) each of 500 commits of fn writes,
// after 500 to warm up: a reader holds its snapshot on a side connection
// meanwhile, so no checkpoint can start the WAL file over, and the file's
// growth is the frames appended (page size + 24 bytes each). The same
// count as session 11's (bench/README.md): 4.23 frames an empty commit.
func walFrames(b *testing.B, path string, fn func() error) float64 {
	b.Helper()
	const warm, n = 500, 500
	for range warm {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	var pageSize int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		b.Fatal(err)
	}
	// The WAL emptied, then one commit in it: a snapshot of a WAL wholly
	// copied to the file would not keep the writer from starting it over.
	var busy, logged, done int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil || busy != 0 {
		b.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	if err := fn(); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		b.Fatal(err)
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	var seq int64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&seq); err != nil {
		b.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for range n {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(size()-before) / float64(pageSize+24) / n
}

// BenchmarkBatch times Request{Count: K} batches of IPv6 /128s on a durable
// store (each batch is one durable transaction). Target: at least 50,000
// addresses a second.
func BenchmarkBatch(b *testing.B) {
	for _, k := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("count=%d", k), func(b *testing.B) {
			st, r := newRegistry(b, filepath.Join(b.TempDir(), "batch.db"), false)
			defer st.Close()
			ctx := context.Background()
			q := registry.Request{Region: region, Count: k}
			b.ReportAllocs()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				if _, err := r.Allocate(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*k)/time.Since(start).Seconds(), "addrs/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*k)/1e3, "cpu-µs/addr")
		})
	}
}

// BenchmarkFootprint reports what each assignment costs at rest: database
// bytes (file size after a TRUNCATE checkpoint, divided by assignments) and
// Go heap (allocated while filling, and still held after a GC). The timed
// loop does nothing; the metrics are the result.
func BenchmarkFootprint(b *testing.B) {
	for _, c := range []struct {
		name            string
		family, bits, n int
	}{{"v4-slash32s/n=65536", 4, 32, 1 << 16}, {"v6-slash64s/n=990000", 6, 64, 990_000}} {
		b.Run(c.name, func(b *testing.B) {
			f := getFilled(b, c.family, c.bits, c.n)
			size, rows := checkpointedSize(b, f.path)
			for b.Loop() {
			}
			b.ReportMetric(float64(size)/float64(rows), "db-B/assignment")
			b.ReportMetric(f.allocPer, "heap-alloc-B/assignment")
			b.ReportMetric(f.retainedPer, "heap-retained-B/assignment")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// checkpointedSize folds the WAL into the database file and returns the size
// of both (the WAL is empty after a TRUNCATE checkpoint) and the number of
// assignment rows, live or released (BenchmarkAllocFill may have shared the
// database and left released ones, each with its events, behind).
func checkpointedSize(b *testing.B, path string) (int64, int64) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var busy, logged, done int
	if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil {
		b.Fatal(err)
	}
	if busy != 0 {
		b.Fatalf("checkpoint of %s: busy", path)
	}
	var rows int64
	if err := db.QueryRow("SELECT COUNT(*) FROM assignments").Scan(&rows); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total, rows
}
