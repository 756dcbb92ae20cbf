package zone_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// BenchmarkFullBuildReverseTenants: a full build (a fresh builder, the
// fingerprint, the layout; unsigned) of a /16 reverse zone whose 65,000
// addresses are tenants' named assignments, with 100 static PTRs at some
// of them: the cost of reading which addresses are tenants' (issue 10).
func BenchmarkFullBuildReverseTenants(b *testing.B) {
	ctx := registry.WithActor(context.Background(), "bench")
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"), sqlite.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := registry.New(st).AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("10.7.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		b.Fatal(err)
	}
	mgr := manage.NewManager(st, nil, nil)
	z, err := mgr.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("10.7.0.0/16"), Config: zone.Config{NS: []string{"ns.provider.example."}}})
	if err != nil {
		b.Fatal(err)
	}
	in := zone.BuildInput{}
	addr := netip.MustParseAddr("10.7.0.1")
	for i := range 65000 {
		in.Assigns = append(in.Assigns, registry.Assignment{ID: int64(i + 1), Prefix: netip.PrefixFrom(addr, 32), State: registry.StateAssigned,
			Tenant: fmt.Sprintf("t%d", i%50), Name: fmt.Sprintf("vm%d.tenant%d.example.", i, i%50)})
		if i%650 == 0 {
			b4 := addr.As4()
			if _, err := mgr.AddRecord(ctx, z.Name, fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b4[3], b4[2], b4[1], b4[0]), "PTR", "static.example.", 0); err != nil {
				b.Fatal(err)
			}
		}
		addr = addr.Next()
	}
	if in.Zones, err = st.Zones(ctx); err != nil {
		b.Fatal(err)
	}
	if in.Records, err = st.Records(ctx, 0); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := zone.NewBuilder(st, nil, zone.BuilderOptions{}).Rebuild(ctx, &in, now, ""); err != nil {
			b.Fatal(err)
		}
	}
}
