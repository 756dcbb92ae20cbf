package bench_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// BenchmarkTenantAlloc compares, in one process on one store, 16
// concurrent callers allocating single IPv6 addresses with no tenant (the
// path before tenants existed), for a tenant with quotas as a token below
// admin (the use counted and checked in the transaction), and the same
// with a unique name under the tenant's suffix (name ownership checked).
// On SQLite (fsync off: the CPU cost) and PostgreSQL.
func BenchmarkTenantAlloc(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) registry.Store
	}{
		{"sqlite", func(b *testing.B) registry.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "t.db"), sqlite.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) registry.Store {
			s, err := postgres.Open(context.Background(), pgtest.FreshSchema(b)+"&application_name="+benchApp, postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			defer s.Close()
			ctx := context.Background()
			r := registry.New(s)
			if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: region, Location: location.Location{Country: "US", Subdivision: "US-VA"}}); err != nil {
				b.Fatal(err)
			}
			pfx := netip.MustParsePrefix(v6Pool)
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: pfx, Source: "private"}); err != nil {
				b.Fatal(err)
			}
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: pfx, Region: region, UseAll: true}); err != nil {
				b.Fatal(err)
			}
			max := int64(1 << 40)
			if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "t", Names: &[]string{"t.example"}, MaxIPv4: &max, MaxIPv6: &max}); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			for _, mode := range []string{"no-tenant", "tenant-quota", "tenant-quota-named"} {
				b.Run(mode+"/callers=16", func(b *testing.B) {
					b.SetParallelism((16 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					rctx := ctx
					if mode != "no-tenant" {
						rctx = registry.Restricted(ctx)
					}
					srv0 := serverCPU(b, st.name)
					start, cpu0 := time.Now(), cpuTime()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							q := registry.Request{Region: region}
							if mode != "no-tenant" {
								q.Tenant = "t"
							}
							if mode == "tenant-quota-named" {
								q.Name = fmt.Sprintf("vm%d.t.example", n.Add(1))
							}
							if _, err := r.Allocate(rctx, q); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "allocs/s")
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
					if st.name == "postgres" {
						b.ReportMetric(float64(serverCPU(b, st.name)-srv0)/float64(b.N)/1e3, "server-cpu-µs/op")
					}
				})
			}
		})
	}
}

// benchApp names the benchmark's PostgreSQL connections, so that
// serverCPU finds their backends among other clients', those of another
// benchmark process on the same server included (its process ID: two
// runs at once counted each other's backends).
var benchApp = fmt.Sprintf("cadastre-bench-%d", os.Getpid())

// serverCPU is the CPU time (user and system) the PostgreSQL backends of
// the benchmark's connections have used so far: the server's cost of the
// statements, which the client's cpu-µs/op leaves out. The server runs on
// this machine (loopback), so its processes' /proc/PID files are readable
// (procCPU).
// Zero for another store.
func serverCPU(b *testing.B, store string) time.Duration {
	if store != "postgres" {
		return 0
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgtest.BaseDSN())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, benchApp)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		total += procCPU(b, pid)
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100
