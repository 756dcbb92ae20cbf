package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// BenchmarkAllocSpace measures what an allocation in a named space costs
// beside one in the global space (issue 12): both take a /32 from a
// region's only pool, an IPv4 /12, one by one; the global space's live
// assignments are kept apart by an SP-GiST exclusion constraint on prefix,
// a named space's by a GiST one on (space, prefix) with btree_gist. Beside
// wall time it reports the benchmark process's CPU (client-cpu-µs/op) and
// the CPU of the PostgreSQL backends serving it (server-cpu-µs/op, read
// from /proc: the server must run on this machine), which is what a
// loaded machine leaves meaningful. Compare with benchstat:
//
//	go test -run '^$' -bench AllocSpace -benchtime 2000x -count 6 ./store/postgres/ | tee out.txt
//	benchstat -col /space out.txt
func BenchmarkAllocSpace(b *testing.B) {
	for _, c := range []struct{ space, block, pool string }{
		{registry.GlobalSpace, "40.64.0.0/10", "40.64.0.0/12"},
		{"vpc-a", "10.0.0.0/8", "10.0.0.0/12"},
	} {
		b.Run("space="+c.space, func(b *testing.B) {
			ctx := context.Background()
			app := fmt.Sprintf("spacebench_%d", time.Now().UnixNano())
			dsn := pgtest.FreshSchema(b) + "&application_name=" + app
			s, err := Open(ctx, dsn, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			reg := registry.New(s)
			must := func(_ any, err error) {
				if err != nil {
					b.Fatal(err)
				}
			}
			blk := registry.Block{Prefix: netip.MustParsePrefix(c.block), Source: registry.SourceRIR, Registry: "arin"}
			space := ""
			if c.space != registry.GlobalSpace {
				space = c.space
				blk = registry.Block{Prefix: blk.Prefix, Source: registry.SourcePrivate, Space: space}
				must(reg.AddSpace(ctx, registry.Space{Name: c.space}))
			}
			must(reg.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}))
			must(reg.AddBlock(ctx, blk))
			must(reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(c.pool), Region: "r"}))
			q := registry.Request{Region: "r", Family: 4, Space: space}
			// Warm up: the pool's connections open, the statements are
			// prepared, and the constraint's index is not empty.
			for range 200 {
				must(reg.Allocate(ctx, q))
			}
			db, err := sql.Open("pgx", pgtest.BaseDSN())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			before := backendCPU(b, db, app)
			c0 := processCPU()
			b.ResetTimer()
			for range b.N {
				if _, err := reg.Allocate(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			client := processCPU() - c0
			var server time.Duration
			for pid, t := range backendCPU(b, db, app) {
				server += t - before[pid]
			}
			n := float64(b.N)
			b.ReportMetric(float64(client.Microseconds())/n, "client-cpu-µs/op")
			b.ReportMetric(float64(server.Microseconds())/n, "server-cpu-µs/op")
		})
	}
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU is the CPU time (user + system, from /proc/PID/stat) of each
// PostgreSQL backend whose application_name is app.
func backendCPU(b *testing.B, db *sql.DB, app string) map[int]time.Duration {
	b.Helper()
	rows, err := db.Query(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			b.Fatalf("backend %d: %v (the PostgreSQL server must run on this machine)", pid, err)
		}
		// Fields after the command's closing parenthesis: state is 3,
		// utime 14 and stime 15 (clock ticks, 100 a second here).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(u+s) * 10 * time.Millisecond
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	if len(out) == 0 {
		b.Fatalf("no backend with application_name %s", app)
	}
	return out
}

// BenchmarkExclusionInsert isolates the exclusion constraints' share: one
// INSERT per op of the next /32 into a table with the assignments table's
// two live-overlap constraints (migration 00018: SP-GiST on prefix for the
// global space, GiST on (space, prefix) with btree_gist for named spaces),
// already holding 20,000 rows of the space, on one connection; it reports
// that backend's CPU per insert (server-cpu-µs/op).
func BenchmarkExclusionInsert(b *testing.B) {
	for _, space := range []string{registry.GlobalSpace, "vpc-a"} {
		b.Run("space="+space, func(b *testing.B) {
			ctx := context.Background()
			app := fmt.Sprintf("exclbench_%d", time.Now().UnixNano())
			db, err := sql.Open("pgx", pgtest.FreshSchema(b)+"&application_name="+app)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(1)
			for _, q := range []string{
				`CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public`,
				`CREATE TABLE x (id BIGSERIAL PRIMARY KEY, space TEXT NOT NULL, prefix CIDR NOT NULL, state TEXT NOT NULL,
					CONSTRAINT x_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released' AND space = 'global'),
					CONSTRAINT x_space_no_overlap EXCLUDE USING gist (space WITH =, prefix inet_ops WITH &&) WHERE (state <> 'released' AND space <> 'global'))`,
				`INSERT INTO x (space, prefix, state) SELECT $1, ('10.0.0.0'::inet + i)::cidr, 'assigned' FROM generate_series(0, 19999) i`,
			} {
				var args []any
				if strings.Contains(q, "$1") {
					args = []any{space}
				}
				if _, err := db.ExecContext(ctx, q, args...); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := db.ExecContext(ctx, `ANALYZE x`); err != nil {
				b.Fatal(err)
			}
			ins := `INSERT INTO x (space, prefix, state) VALUES ($1, ('10.1.0.0'::inet + $2::bigint)::cidr, 'assigned')`
			for i := range 100 { // warm up: the statement prepared
				if _, err := db.ExecContext(ctx, ins, space, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			before := backendCPU(b, db, app)
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.ExecContext(ctx, ins, space, int64(100+i)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			var server time.Duration
			for pid, t := range backendCPU(b, db, app) {
				server += t - before[pid]
			}
			b.ReportMetric(float64(server.Microseconds())/float64(b.N), "server-cpu-µs/op")
		})
	}
}
