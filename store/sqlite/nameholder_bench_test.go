package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// BenchmarkNameHolder is the name check of a named allocation (a free
// name under a zone), in a write transaction, in registers with no zone,
// the one zone alloc-compare.sh's ZONE=1 adds, and 100 zones of 20
// records each (every tenth an NS delegation) as
// TestNameHolderReadsNoWholeTable (store/postgres) builds.
func BenchmarkNameHolder(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		zones   int
		records int
	}{{"no zone", 0, 0}, {"one zone", 1, 0}, {"100 zones, 2,000 records", 100, 20}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Open(ctx, filepath.Join(b.TempDir(), "r.db"), Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			m := manage.NewManager(s, nil, nil)
			for i := range c.zones {
				apex := fmt.Sprintf("z%d.example", i)
				if c.zones == 1 {
					apex = "bench.example"
				}
				if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: apex, Config: zone.Config{NS: []string{"ns1.dns.invalid.", "ns2.dns.invalid."}}}); err != nil {
					b.Fatal(err)
				}
				for j := range c.records {
					typ, data := "A", "192.0.2.1"
					if j%10 == 0 {
						typ, data = "NS", fmt.Sprintf("ns.r%d.%s.", j, apex)
					}
					if _, err := m.AddRecord(ctx, apex, fmt.Sprintf("r%d", j), typ, data, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			name := "vm-%d.bench.example."
			if c.zones > 1 {
				name = "vm-%d.z5.example."
			}
			// A hundred checks a transaction: the check, not the commit.
			b.ResetTimer()
			cpu0 := cpuTime()
			for lo := 0; lo < b.N; lo += 100 {
				if err := s.Update(ctx, func(tx registry.Tx) error {
					for i := lo; i < min(lo+100, b.N); i++ {
						_, held, err := tx.NameHolder(ctx, fmt.Sprintf(name, i), "bench")
						if err != nil || held {
							return fmt.Errorf("%s: held %v, %v", fmt.Sprintf(name, i), held, err)
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far, in ns: on a
// loaded machine, steadier than the wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
