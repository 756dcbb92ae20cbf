package bench_test

// The geolocation benchmarks of issue 5 ("Proof"), in one run on the same
// GeoLite2 country data (scripts/fetch-geodata; they skip without it):
// single look-ups through cadastre's table against maxminddb-golang v2's
// Lookup-and-decode of the country code, for uniformly random IPv4
// addresses and random IPv6 hosts inside the database's networks; loading
// GeoLite2 country into the table, with its memory. Command and numbers:
// bench/README.md, section "Geolocation look-ups (geo)".

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/internal/testenv"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

const (
	geolite2File = "geolite2-country.mmdb"      // @ip-location-db/geolite2-country-mmdb
	whoisFile    = "geo-whois-asn-country.mmdb" // @ip-location-db/geo-whois-asn-country-mmdb
)

// geoIPv4 is n uniformly random IPv4 addresses (fixed seed).
func geoIPv4(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(4, 4))
	out := make([]netip.Addr, n)
	for i := range out {
		x := r.Uint32()
		out[i] = netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	return out
}

// geoIPv6 is n random IPv6 hosts inside the networks of the database at
// path: a network drawn uniformly, then a host drawn uniformly in it.
func geoIPv6(tb testing.TB, path string, n int) []netip.Addr {
	db, err := maxminddb.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var nets []netip.Prefix
	for res := range db.Networks() {
		if p := res.Prefix(); p.Addr().Is6() {
			nets = append(nets, p)
		}
	}
	r := rand.New(rand.NewPCG(6, 6))
	out := make([]netip.Addr, n)
	for i := range out {
		p := nets[r.IntN(len(nets))]
		b := p.Addr().As16()
		for j := p.Bits(); j < 128; j++ {
			if r.IntN(2) == 1 {
				b[j/8] |= 0x80 >> (j % 8)
			}
		}
		out[i] = netip.AddrFrom16(b)
	}
	return out
}

// threadCPU is the CPU time of the calling OS thread: on a machine shared
// with other test runs, wall time per operation varies with their load,
// while the CPU time the operation itself takes varies much less.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuLoop runs f under b.Loop on one locked OS thread and reports, besides
// ns/op, the thread's CPU time per operation and the share found.
func cpuLoop(b *testing.B, f func(i int) bool) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	n, found := 0, 0
	for i := 0; b.Loop(); i++ {
		if f(i) {
			found++
		}
		n++
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(n), "cpu-ns/op")
	b.ReportMetric(float64(found)/float64(n), "found/op")
}

func geoTable(tb testing.TB) *geo.Table {
	tab, err := geo.Build(context.Background(), geo.Inputs{MMDBs: []geo.MMDBFile{{Name: "geolite2", Path: testenv.GeoData(tb, geolite2File)}}}, nil, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}

// BenchmarkGeoLookup compares, on the same addresses, cadastre's whole
// Table.Lookup (special-purpose class, transition decoding, the ranked
// table) with maxminddb-golang's Lookup and decode of the country code.
func BenchmarkGeoLookup(b *testing.B) {
	path := testenv.GeoData(b, geolite2File)
	tab := geoTable(b)
	db, err := maxminddb.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sets := []struct {
		name  string
		addrs []netip.Addr
	}{
		{"IPv4-random", geoIPv4(1 << 16)},
		{"IPv6-hosts-in-networks", geoIPv6(b, path, 1<<16)},
	}
	for _, set := range sets {
		addrs := set.addrs
		mask := len(addrs) - 1
		b.Run(set.name+"/cadastre-LookupInto", func(b *testing.B) {
			var r geo.Result
			cpuLoop(b, func(i int) bool { tab.LookupInto(&r, addrs[i&mask]); return r.Found })
		})
		b.Run(set.name+"/cadastre-Lookup", func(b *testing.B) {
			cpuLoop(b, func(i int) bool { return tab.Lookup(addrs[i&mask]).Found })
		})
		b.Run(set.name+"/maxminddb-decode", func(b *testing.B) {
			var cc string
			cpuLoop(b, func(i int) bool {
				cc = ""
				if err := db.Lookup(addrs[i&mask]).DecodePath(&cc, "country_code"); err != nil {
					b.Fatal(err)
				}
				return cc != ""
			})
		})
	}
}

// processCPU is the CPU time of the whole process (every thread, the
// garbage collector's included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGeoLoad reads GeoLite2 country and loads its networks into a
// table, and reports the heap the table keeps (file bytes included) and
// the process CPU time of a load (cpu-ms/op: steadier than wall time on
// a loaded machine).
func BenchmarkGeoLoad(b *testing.B) {
	path := testenv.GeoData(b, geolite2File)
	var ms runtime.MemStats
	var kept uint64
	var cpu time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		b.StartTimer()
		start := processCPU()
		tab, err := geo.Build(context.Background(), geo.Inputs{MMDBs: []geo.MMDBFile{{Name: "geolite2", Path: path}}}, nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - start
		n++
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		kept = ms.HeapAlloc - before
		runtime.KeepAlive(tab)
		b.StartTimer()
	}
	b.ReportMetric(float64(kept)/(1<<20), "MiB-kept")
	b.ReportMetric(float64(cpu)/float64(n)/1e6, "cpu-ms/op")
}

// BenchmarkGeoAudit audits a register of 10,000 pools (9,000 IPv4 /24 and
// 1,000 IPv6 /48 spread over the space the databases cover) against both
// real databases, walking every network of each inside each pool. The
// table is built once, outside the timing: `cadastre audit` adds the load
// (BenchmarkGeoLoad, twice).
func BenchmarkGeoAudit(b *testing.B) {
	in := geo.Inputs{MMDBs: []geo.MMDBFile{{Name: "geolite2", Path: testenv.GeoData(b, geolite2File)}, {Name: "whois", Path: testenv.GeoData(b, whoisFile)}}}
	v6 := geoIPv6(b, in.MMDBs[0].Path, 1000)
	v4 := geoIPv4(9000)
	places := make([]registry.Placement, 0, 10000)
	loc := location.Location{Country: "US", Subdivision: "US-VA"}
	for _, a := range v4 {
		p, _ := a.Prefix(24)
		places = append(places, registry.Placement{Prefix: p, Region: "us-east", Location: loc})
	}
	for _, a := range v6 {
		p, _ := a.Prefix(48)
		places = append(places, registry.Placement{Prefix: p, Region: "us-east", Location: loc})
	}
	in.Register = places
	tab, err := geo.Build(context.Background(), in, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	var findings int
	for b.Loop() {
		rep, err := geo.Audit(context.Background(), tab, places, nil, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		findings = len(rep.Findings)
	}
	b.ReportMetric(float64(findings), "findings")
}
