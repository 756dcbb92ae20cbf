package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// TestNameRaceAcrossReplicas: tenants on several replicas (stores) of one
// database, allocating the same name in different regions at the same
// moment (so no region lock orders them): exactly one gets it each time.
func TestNameRaceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	const replicas = 4
	regs := make([]*registry.Registry, replicas)
	for i := range replicas {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		regs[i] = registry.New(s)
	}
	r := regs[0]
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	for i := range replicas {
		name := fmt.Sprintf("r%d", i)
		if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: name, Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(fmt.Sprintf("fd00:0:0:%d::/64", i)), Region: name, UseAll: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: fmt.Sprintf("t%d", i), Names: &[]string{"race.example"}}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		name := fmt.Sprintf("vm%d.race.example", round)
		ok := storetest.Race(t, replicas, registry.ErrNameTaken, func(i int) error {
			_, err := regs[i].Allocate(registry.Restricted(ctx), registry.Request{Region: fmt.Sprintf("r%d", i), Tenant: fmt.Sprintf("t%d", i), Name: name})
			return err
		})
		if ok != 1 {
			t.Fatalf("name %s: %d tenants got it, want exactly 1", name, ok)
		}
	}
}
