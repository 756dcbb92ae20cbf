package bench_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest/migrated"
)

// durableApp names BenchmarkDurablePostgres's connections, so that its
// backends are found among other clients' (pg_stat_activity).
var durableApp = fmt.Sprintf("cadastre-bench-durable-%d", os.Getpid())

// BenchmarkDurablePostgres is BenchmarkDurable on PostgreSQL (issue 16:
// one caller's durable allocation at >= 80 % of an empty durable commit,
// 16 callers >= 5,000 a second). It runs in a database of its own (a copy
// of the migrated template on $CADASTRE_TEST_POSTGRES, dropped at the
// end: pgtest's conventions; without a server it skips, and fails under
// $CI). The server must flush commits (synchronous_commit and fsync on,
// its defaults): anything else is refused, as it would measure no disk.
//
// On a shared machine wall rates are the disk's and the other clients';
// what compares is the CPU of cadastre and of its backends (read from
// /proc/PID/schedstat, nanoseconds), the statements and round trips per
// commit (counted by a pgx tracer) and the WAL bytes per commit.
func BenchmarkDurablePostgres(b *testing.B) {
	ctx := context.Background()
	dsn := migrated.Database(b)
	var trips tripCounter
	st, err := postgres.Open(ctx, dsn+"&application_name="+durableApp, postgres.Options{Tracer: &trips})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	side, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer side.Close(ctx)
	settings := map[string]string{}
	for _, name := range []string{"synchronous_commit", "fsync", "full_page_writes", "wal_sync_method", "wal_compression", "checkpoint_timeout", "server_version"} {
		var v string
		if err := side.QueryRow(ctx, "SHOW "+name).Scan(&v); err != nil {
			b.Fatal(err)
		}
		settings[name] = v
	}
	if settings["synchronous_commit"] != "on" || settings["fsync"] != "on" {
		b.Fatalf("PostgreSQL at %s: synchronous_commit = %s, fsync = %s: a durable commit needs both on (the defaults)", dsn, settings["synchronous_commit"], settings["fsync"])
	}
	b.Logf("PostgreSQL %s: synchronous_commit %s, fsync %s, full_page_writes %s, wal_sync_method %s, wal_compression %s, checkpoint_timeout %s",
		settings["server_version"], settings["synchronous_commit"], settings["fsync"], settings["full_page_writes"], settings["wal_sync_method"], settings["wal_compression"], settings["checkpoint_timeout"])
	r := registry.New(st)
	addRegion(b, r)
	empty, alloc := durableOps(st, r)
	// Warm up: connections open, statements prepared, the allocator's
	// caches filled, before anything is counted.
	for range 50 {
		if err := empty(); err != nil {
			b.Fatal(err)
		}
		if err := alloc(); err != nil {
			b.Fatal(err)
		}
	}
	bk := backends{conn: side}

	// One caller: each iteration makes one empty commit and one allocation,
	// timed apart, so that both see the same disk at the same moments.
	b.Run("callers=1", func(b *testing.B) {
		b.ReportAllocs()
		pids := bk.pids(b)
		var e, a measured
		for b.Loop() {
			if err := e.add(b, &trips, pids, empty); err != nil {
				b.Fatal(err)
			}
			if err := a.add(b, &trips, pids, alloc); err != nil {
				b.Fatal(err)
			}
		}
		if now := bk.pids(b); !slices.Equal(now, pids) {
			b.Logf("backends changed during the run (%v, then %v): the server CPU misses the new ones", pids, now)
		}
		n := float64(b.N)
		b.ReportMetric(n/e.wall.Seconds(), "empty-commits/s")
		b.ReportMetric(n/a.wall.Seconds(), "allocs/s")
		b.ReportMetric(100*e.wall.Seconds()/a.wall.Seconds(), "alloc/empty-%")
		b.ReportMetric(float64(e.client.Microseconds())/n, "cpu-µs/empty")
		b.ReportMetric(float64(a.client.Microseconds())/n, "cpu-µs/alloc")
		b.ReportMetric(float64(e.server.Microseconds())/n, "server-cpu-µs/empty")
		b.ReportMetric(float64(a.server.Microseconds())/n, "server-cpu-µs/alloc")
		b.ReportMetric(100*(e.client+e.server).Seconds()/(a.client+a.server).Seconds(), "cpu-alloc/empty-%")
		b.ReportMetric(float64(e.trips)/n, "round-trips/empty")
		b.ReportMetric(float64(a.trips)/n, "round-trips/alloc")
		b.ReportMetric(float64(e.stmts)/n, "stmts/empty")
		b.ReportMetric(float64(a.stmts)/n, "stmts/alloc")
	})
	// WAL written: what an allocation costs beyond the empty commit that
	// does not move with the load. Counted once per run, whatever b.N:
	// 500 commits of each.
	b.Run("wal", func(b *testing.B) {
		inspect := true
		if _, err := side.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_walinspect"); err != nil {
			b.Logf("pg_walinspect: %v: the WAL of this benchmark's own transactions is not told apart", err)
			inspect = false
		}
		e, a := walPer(b, side, inspect, empty), walPer(b, side, inspect, alloc)
		for b.Loop() {
		}
		if inspect {
			b.ReportMetric(e.bytes, "wal-B/empty")
			b.ReportMetric(a.bytes, "wal-B/alloc")
			b.ReportMetric(e.fpi, "fpi-B/empty")
			b.ReportMetric(a.fpi, "fpi-B/alloc")
			b.ReportMetric(e.records, "wal-records/empty")
			b.ReportMetric(a.records, "wal-records/alloc")
		}
		b.ReportMetric(e.cluster, "cluster-wal-B/empty")
		b.ReportMetric(a.cluster, "cluster-wal-B/alloc")
		b.ReportMetric(0, "ns/op")
	})
	for _, c := range []struct {
		name string
		fn   func() error
	}{{"empty-commit", empty}, {"alloc", alloc}} {
		b.Run(c.name+"/callers=16", func(b *testing.B) {
			// RunParallel starts parallelism*GOMAXPROCS goroutines.
			b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			srv0 := bk.snapshot(b)
			tx0, st0 := trips.begins.Load(), trips.stmts.Load()
			start, cpu0 := time.Now(), cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.fn(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			wall, cpu := time.Since(start), cpuTime()-cpu0
			n := float64(b.N)
			b.ReportMetric(n/wall.Seconds(), "ops/s")
			b.ReportMetric(float64(cpu)/n/1e3, "cpu-µs/op")
			b.ReportMetric(float64(bk.since(b, srv0))/n/1e3, "server-cpu-µs/op")
			// A group commit is one transaction (one BEGIN) for the jobs
			// it holds: ops per transaction is the batch size.
			if txs := trips.begins.Load() - tx0; txs > 0 {
				b.ReportMetric(n/float64(txs), "ops/tx")
			}
			b.ReportMetric(float64(trips.stmts.Load()-st0)/n, "stmts/op")
		})
	}
	// One caller allocating 16 addresses a request (Request.Count): what
	// an address costs when one job takes 16 (the allocator's takeMany),
	// against alloc/callers=16, 16 jobs of one in a shared transaction
	// (bench/README.md session 16: the lever for 16 callers). Per address.
	b.Run("alloc-count16/callers=1", func(b *testing.B) {
		b.ReportAllocs()
		srv0 := bk.snapshot(b)
		st0 := trips.stmts.Load()
		start, cpu0 := time.Now(), cpuTime()
		for b.Loop() {
			if _, err := r.Allocate(ctx, registry.Request{Region: region, Count: 16}); err != nil {
				b.Fatal(err)
			}
		}
		wall, cpu := time.Since(start), cpuTime()-cpu0
		n := 16 * float64(b.N)
		b.ReportMetric(n/wall.Seconds(), "addrs/s")
		b.ReportMetric(float64(cpu)/n/1e3, "cpu-µs/addr")
		b.ReportMetric(float64(bk.since(b, srv0))/n/1e3, "server-cpu-µs/addr")
		b.ReportMetric(float64(trips.stmts.Load()-st0)/n, "stmts/addr")
	})
}

// measured sums what the commits of one kind cost.
type measured struct {
	wall, client, server time.Duration
	trips, stmts         int64
}

// add runs fn once and adds its wall time, cadastre's CPU, its backends'
// CPU and its round trips and statements. The readings of the backends'
// CPU lie outside the client's window.
func (m *measured) add(b *testing.B, tc *tripCounter, pids []int32, fn func() error) error {
	s0 := backendsCPU(b, pids)
	r0, q0 := tc.trips.Load(), tc.stmts.Load()
	c0 := cpuTime()
	t0 := time.Now()
	err := fn()
	t1 := time.Now()
	c1 := cpuTime()
	r1, q1 := tc.trips.Load(), tc.stmts.Load()
	s1 := backendsCPU(b, pids)
	m.wall += t1.Sub(t0)
	m.client += c1 - c0
	m.server += s1 - s0
	m.trips += r1 - r0
	m.stmts += q1 - q0
	return err
}

// tripCounter counts what the Store sends (postgres.Options.Tracer): a
// statement run alone or a batch of them is one round trip; every
// statement of either is one statement; BEGINs count transactions.
type tripCounter struct {
	trips, stmts, begins atomic.Int64
}

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.trips.Add(1)
	c.stmt(d.SQL)
	return ctx
}

func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}

func (c *tripCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.stmt(d.SQL)
}

func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (c *tripCounter) stmt(q string) {
	c.stmts.Add(1)
	if strings.HasPrefix(q, "BEGIN") {
		c.begins.Add(1)
	}
}

// backends finds the PostgreSQL backends of the benchmark's Store
// (application_name durableApp) through a side connection.
type backends struct {
	conn *pgx.Conn
}

// pids lists the backends connected now, in order.
func (k backends) pids(b *testing.B) []int32 {
	b.Helper()
	rows, err := k.conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() ORDER BY pid`, durableApp)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	if len(pids) == 0 {
		b.Fatalf("no backend with application_name %s", durableApp)
	}
	return pids
}

// snapshot is each backend's CPU now.
func (k backends) snapshot(b *testing.B) map[int32]time.Duration {
	m := map[int32]time.Duration{}
	for _, pid := range k.pids(b) {
		m[pid] = procCPU(b, pid)
	}
	return m
}

// since is the CPU the backends used since the snapshot, those
// connected since counted whole.
func (k backends) since(b *testing.B, m map[int32]time.Duration) time.Duration {
	var d time.Duration
	for _, pid := range k.pids(b) {
		d += procCPU(b, pid) - m[pid]
	}
	return d
}

// backendsCPU is the CPU the backends pids have used so far.
func backendsCPU(b *testing.B, pids []int32) time.Duration {
	var d time.Duration
	for _, pid := range pids {
		d += procCPU(b, pid)
	}
	return d
}

// procCPU is the CPU time process pid has used: /proc/PID/schedstat's
// first field (nanoseconds on a CPU, user and system), or else
// /proc/PID/stat's utime and stime (10 ms ticks, too coarse for one
// commit). 0 for a process that has ended.
func procCPU(b *testing.B, pid int32) time.Duration {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(ns)
			}
		}
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %d fields after the command", pid, len(f))
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / clockTicks
}

// walCost is the WAL one commit of a kind writes, averaged.
type walCost struct {
	// bytes, fpi and records are those of the benchmark's own
	// transactions (pg_walinspect: the records carrying their
	// transaction IDs, read from the events each wrote); fpi is the
	// full-page images among the bytes (first changes of a page after a
	// checkpoint).
	bytes, fpi, records float64
	// cluster is pg_current_wal_insert_lsn()'s advance per commit: the
	// whole server's WAL, other clients' included.
	cluster float64
}

// walPer runs 500 commits of fn, after 100 to warm up, and returns the
// WAL each wrote. Every commit of both kinds writes one event, whose
// column xid names its transaction. The WAL is read after each 50
// commits: on a server that other clients keep busy a checkpoint may
// recycle a segment before a longer run is read (58P01), and then those
// 50 run again.
func walPer(b *testing.B, side *pgx.Conn, inspect bool, fn func() error) walCost {
	b.Helper()
	const warm, chunk, chunks = 100, 50, 10
	for range warm {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	var sum walCost
	for c, tries := 0, 0; c < chunks; {
		w, err := walChunk(side, inspect, chunk, fn)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "58P01" && tries < 5 {
			tries++
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		sum.bytes, sum.fpi, sum.records, sum.cluster = sum.bytes+w.bytes, sum.fpi+w.fpi, sum.records+w.records, sum.cluster+w.cluster
		c++
	}
	const n = chunk * chunks
	return walCost{bytes: sum.bytes / n, fpi: sum.fpi / n, records: sum.records / n, cluster: sum.cluster / n}
}

// walChunk runs n commits of fn and returns the WAL they wrote, summed.
func walChunk(side *pgx.Conn, inspect bool, n int, fn func() error) (walCost, error) {
	ctx := context.Background()
	var seq int64
	var lsn0 string
	if err := side.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0), pg_current_wal_insert_lsn()::text FROM events`).Scan(&seq, &lsn0); err != nil {
		return walCost{}, err
	}
	for range n {
		if err := fn(); err != nil {
			return walCost{}, err
		}
	}
	var w walCost
	var flush string
	if err := side.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::float8, pg_current_wal_flush_lsn()::text`, lsn0).Scan(&w.cluster, &flush); err != nil {
		return w, err
	}
	if !inspect {
		return w, nil
	}
	var txs int64
	err := side.QueryRow(ctx, `WITH x AS (SELECT DISTINCT xid(xid) AS x FROM events WHERE seq > $3)
		SELECT (SELECT count(*) FROM x), COALESCE(sum(w.record_length), 0)::float8, COALESCE(sum(w.fpi_length), 0)::float8, count(w.*)::float8
		FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn) w WHERE w.xid IN (SELECT x FROM x)`, lsn0, flush, seq).Scan(&txs, &w.bytes, &w.fpi, &w.records)
	if err != nil {
		return w, err
	}
	if txs != int64(n) {
		return w, fmt.Errorf("%d transactions wrote the %d commits' events", txs, n)
	}
	return w, nil
}
