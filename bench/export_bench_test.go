package bench_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// exportPools is the size of the register the geofeed export is measured
// on (issue 4: "export of a register with 100,000 pools in under a second").
const exportPools = 100_000

var exportOnce struct {
	sync.Once
	dir string
	err error
}

// exportRegister builds, once per process, a register of 100,000 /25 pools
// in 11.0.0.0/8 over three regions in turn, so that neighbours rarely share
// a location and the merge has real work to do.
func exportRegister(b *testing.B) string {
	exportOnce.Do(func() {
		dir, err := filepathTemp()
		if err != nil {
			exportOnce.err = err
			return
		}
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "export.db"), sqlite.Options{NoSync: true})
		if err != nil {
			exportOnce.err = err
			return
		}
		defer st.Close()
		r := registry.New(st)
		regions := []registry.RegionSpec{
			{Name: "us-east", Location: location.Location{Country: "US", Subdivision: "US-VA", City: "Ashburn"}},
			{Name: "eu-west", Location: location.Location{Country: "IE", Subdivision: "IE-D", City: "Dublin"}},
			{Name: "ap-south", Location: location.Location{Country: "IN", Subdivision: "IN-TS", City: "Hyderabad"}},
		}
		for _, g := range regions {
			if _, err := r.AddRegion(ctx, g); err != nil {
				exportOnce.err = err
				return
			}
		}
		if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("11.0.0.0/8"), Source: registry.SourceRIR, Registry: "arin", RegisteredCountry: "US"}); err != nil {
			exportOnce.err = err
			return
		}
		a := netip.MustParseAddr("11.0.0.0")
		for i := 0; i < exportPools; i++ {
			p := netip.PrefixFrom(a, 25)
			// Runs of one to three pools per region, so some neighbours merge.
			g := regions[(i/(1+i%3))%len(regions)].Name
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: p, Region: g, UseAll: true}); err != nil {
				exportOnce.err = err
				return
			}
			for range 128 {
				a = a.Next()
			}
		}
		exportOnce.dir = dir
	})
	if exportOnce.err != nil {
		b.Fatal(exportOnce.err)
	}
	return filepath.Join(exportOnce.dir, "export.db")
}

// BenchmarkGeofeedExport measures `cadastre geofeed export` of 100,000
// pools: read the placements, merge by location, write the CSV.
func BenchmarkGeofeedExport(b *testing.B) {
	path := exportRegister(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := registry.New(st)
	b.ReportAllocs()
	b.ResetTimer()
	var lines int
	for b.Loop() {
		f, err := geo.PublishFeed(ctx, r)
		if err != nil {
			b.Fatal(err)
		}
		lines = f.Entries
	}
	b.ReportMetric(float64(exportPools), "pools")
	b.ReportMetric(float64(lines), "feed-lines")
}

// filepathTemp makes a directory that lives as long as the process, so the
// register is built once however many benchmarks use it.
func filepathTemp() (string, error) { return os.MkdirTemp("", "cadastre-export-bench-") }
