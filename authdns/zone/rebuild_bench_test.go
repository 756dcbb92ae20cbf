package zone_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// What one new named assignment costs the builder when the zones are
// large: a signed forward zone (NSEC3, ECDSA P-256) and the signed
// ip6.arpa zone of its addresses (NSEC3 too) hold n names each; each
// operation adds one named assignment to the input and makes the
// snapshot that serves it, signed, with new serials and journal steps
// written to SQLite. Reading the register is not timed (the input is in
// memory): this is the builder's own cost. cpu-ms/op is the process's CPU
// time per operation (getrusage, GC included): wall time means little on
// a shared machine.
//
//	go test -run '^$' -bench RebuildOneName -benchtime 20x -count 6 -benchmem ./authdns/zone/
//
// The setup (a full build that signs every set) is made once per size
// and process and reused by every run of that size (testing runs a
// benchmark function several times: b.N = 1 first, and once per -count):
// each run goes on from the state the last one left, a few names larger.
// CADASTRE_BENCH_SIZES (comma-separated) replaces the default sizes.
func BenchmarkRebuildOneName(b *testing.B) {
	sizes := benchSizes(b, []int{10_000, 50_000, 200_000})
	setups := map[int]*rebuildSetup{}
	defer func() {
		for _, s := range setups {
			s.st.Close()
			os.RemoveAll(s.dir)
		}
	}()
	for _, n := range sizes {
		b.Run(fmt.Sprintf("names=%d", n), func(b *testing.B) {
			s := setups[n]
			if s == nil {
				s = newRebuildSetup(b, n)
				setups[n] = s
			}
			s.run(b)
		})
	}
}

// benchSizes is CADASTRE_BENCH_SIZES (comma-separated), or def.
func benchSizes(b *testing.B, def []int) []int {
	s := os.Getenv("CADASTRE_BENCH_SIZES")
	if s == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatal(err)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// rebuildSetup is a builder that has served zones of n names, and the
// input it was built from.
type rebuildSetup struct {
	dir  string
	st   *sqlite.Store
	bl   *zone.Builder
	in   zone.BuildInput
	next func() registry.Assignment
	now  time.Time
}

func newRebuildSetup(b *testing.B, n int) *rebuildSetup {
	ctx := registry.WithActor(context.Background(), "bench")
	dir, err := os.MkdirTemp("", "rebuild-bench-")
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "dns.db"), sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, zone.SealKeySize)
	rand.Read(key)
	sealer, err := zone.NewSealer(key)
	if err != nil {
		b.Fatal(err)
	}
	mgr := manage.NewManager(st, sealer, nil).WithNameServers([]manage.Glue{{Host: "ns1.bench.test.", Addr: netip.MustParseAddr("192.0.2.53")}})
	pool := netip.MustParsePrefix("fd00:0:0:1::/64")
	if _, err := registry.New(st).AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		b.Fatal(err)
	}
	if _, err := mgr.AddZone(ctx, manage.ZoneSpec{Name: "bench.test."}); err != nil {
		b.Fatal(err)
	}
	if _, err := mgr.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: pool}); err != nil {
		b.Fatal(err)
	}
	var in zone.BuildInput
	if in.Zones, err = st.Zones(ctx); err != nil {
		b.Fatal(err)
	}
	for _, z := range in.Zones {
		if _, _, err := mgr.Sign(ctx, z.Name, manage.SignOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if in.Zones, err = st.Zones(ctx); err != nil {
		b.Fatal(err)
	}
	if in.Records, err = st.Records(ctx, 0); err != nil {
		b.Fatal(err)
	}
	if in.Keys, err = st.Keys(ctx, 0); err != nil {
		b.Fatal(err)
	}
	addr := pool.Addr()
	i := 0
	next := func() registry.Assignment {
		addr = addr.Next()
		i++
		return registry.Assignment{ID: int64(i), State: registry.StateAssigned, Name: fmt.Sprintf("vm-%07d.r%d.bench.test", i-1, (i-1)%60), Prefix: netip.PrefixFrom(addr, 128)}
	}
	in.Assigns = make([]registry.Assignment, 0, n+1000)
	for range n {
		in.Assigns = append(in.Assigns, next())
	}
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	bl := zone.NewBuilder(st, sealer, zone.BuilderOptions{Now: func() time.Time { return now }})
	if _, _, err := bl.Rebuild(ctx, &in, now, ""); err != nil {
		b.Fatal(err)
	}
	return &rebuildSetup{dir: dir, st: st, bl: bl, in: in, next: next, now: now}
}

func (s *rebuildSetup) run(b *testing.B) {
	ctx := registry.WithActor(context.Background(), "bench")
	st, bl, now := s.st, s.bl, s.now
	in := &s.in
	var err error
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		c0 := cpuTime(b)
		a := s.next()
		in.Assigns = append(in.Assigns, a)
		// The change since the last snapshot, as the server reads it
		// from the event log.
		in.Delta = &zone.Delta{Since: in.Seq, Changes: []zone.AssignChange{{After: a}}}
		in.Seq++
		// The serials moved: read them as the server does each reload.
		if in.Zones, err = st.Zones(ctx); err != nil {
			b.Fatal(err)
		}
		snap, changed, err := bl.Rebuild(ctx, in, now, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(changed) != 2 || snap.Zone("bench.test.") == nil {
			b.Fatalf("%d zones changed, want 2", len(changed))
		}
		cpu += cpuTime(b) - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user and system CPU time of this process so far: on a
// shared machine a steadier measure than wall time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
