package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestNameRaceAcrossReplicas: tenants on several replicas (stores) of one
// database, allocating the same name in different regions at the same
// moment (so no region lock orders them): exactly one gets it each time.
func TestNameRaceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
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
		// t0 names under its suffix as a token below admin; the others
		// have none (two tenants may not share one) and name as admins.
		spec := registry.TenantSpec{Name: fmt.Sprintf("t%d", i)}
		if i == 0 {
			spec.Names = &[]string{"race.example"}
		}
		if _, err := r.AddTenant(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		name := fmt.Sprintf("vm%d.race.example", round)
		ok := storetest.Race(t, replicas, registry.ErrNameTaken, func(i int) error {
			c := ctx
			if i == 0 {
				c = registry.Restricted(ctx)
			}
			_, err := regs[i].Allocate(c, registry.Request{Region: fmt.Sprintf("r%d", i), Tenant: fmt.Sprintf("t%d", i), Name: name})
			return err
		})
		if ok != 1 {
			t.Fatalf("name %s: %d tenants got it, want exactly 1", name, ok)
		}
	}
}

// TestSuffixChangeNeverLetsANameThrough: the registry checks a name
// against its tenant's suffixes before the write transaction from what it
// read before (a cache), and again inside it against the tenant's row as
// the allocation locks it. A suffix removed since the cache was filled,
// or by a transaction that commits while the allocation waits for the
// tenant's row, refuses the name.
func TestSuffixChangeNeverLetsANameThrough(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := registry.New(s)
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00:0:0:1::/64"), Region: "east"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "t", Names: &[]string{"a.example", "b.example"}}); err != nil {
		t.Fatal(err)
	}
	rctx := registry.Restricted(ctx)
	alloc := func(name string) error {
		_, err := r.Allocate(rctx, registry.Request{Region: "east", Tenant: "t", Name: name})
		return err
	}
	if err := alloc("vm0.a.example"); err != nil { // fills the cache with both suffixes
		t.Fatal(err)
	}

	// Removed through another registry (another replica): this one's
	// cache still holds the suffix.
	other := registry.New(s)
	if _, err := other.UpdateTenant(ctx, registry.TenantSpec{Name: "t", Names: &[]string{"b.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := alloc("vm1.a.example"); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("a name under a suffix removed since it was cached: %v, want ErrInvalid", err)
	}

	// Removed by a transaction that commits while the allocation waits
	// for the tenant's row (the cache says yes for b.example).
	if err := alloc("vm2.b.example"); err != nil {
		t.Fatal(err)
	}
	// The other replica holds the change open (this one's writer would
	// queue the allocation behind it).
	s2, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	var holder int32
	commit := pgtest.HoldOpen(t, ctx, s2, func(tx registry.Tx) error {
		tn, err := tx.TenantByName(ctx, "t")
		if err != nil {
			return err
		}
		tn.Names = []string{"c.example"}
		if err := tx.UpdateTenant(ctx, tn); err != nil {
			return err
		}
		holder, err = postgres.BackendPID(ctx, tx)
		return err
	})
	done := make(chan error, 1)
	go func() { done <- alloc("vm3.b.example") }()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(20 * time.Second); ; {
		var waiting int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holder).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the allocation ended (%v) without waiting for the tenant's row", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the allocation never waited for the tenant's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("a name under a suffix removed while the allocation waited: %v, want ErrInvalid", err)
	}
	as, err := r.Assignments(ctx, registry.AssignmentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Name == "vm1.a.example" || a.Name == "vm3.b.example" {
			t.Errorf("assignment %s holds the refused name %s", a.Prefix, a.Name)
		}
	}
}

// TestQuotaRaceAcrossReplicas: one tenant's callers on several replicas
// of one database, each replica in its own region (so no region lock
// orders them) and with many callers at once (so its group commits hold
// the tenant's row for later jobs of a batch, which count without a lock
// statement of their own): the tenant gets exactly its quota, and its
// use counter says so.
func TestQuotaRaceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	const replicas, callers, quota = 3, 16, 20
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
	}
	max := int64(quota)
	if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: "q", MaxIPv6: &max}); err != nil {
		t.Fatal(err)
	}
	ok := storetest.Race(t, replicas*callers, registry.ErrQuota, func(i int) error {
		_, err := regs[i%replicas].Allocate(registry.Restricted(ctx), registry.Request{Region: fmt.Sprintf("r%d", i%replicas), Tenant: "q"})
		return err
	})
	tenant := "q"
	as, err := r.Assignments(ctx, registry.AssignmentFilter{Tenant: &tenant})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Tenant(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if ok != quota || len(as) != quota || got.UsedIPv6 != quota {
		t.Fatalf("%d of %d callers succeeded, %d assignments, use %d: want exactly %d each", ok, replicas*callers, len(as), got.UsedIPv6, quota)
	}
}

// TestTenantSuffixRaceAcrossReplicas: admins on several replicas (stores)
// of one database add tenants with overlapping name suffixes at the same
// moment: exactly one is added each time (new tenants' rows do not exist
// yet, so only the suffix lock orders them).
func TestTenantSuffixRaceAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
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
	for round := range 10 {
		ok := storetest.Race(t, replicas, registry.ErrOverlap, func(i int) error {
			// Equal, containing and contained suffixes, a new root
			// each round.
			base := fmt.Sprintf("r%d.example", round)
			suffix := []string{base, "a." + base, "b.a." + base, base}[i]
			_, err := regs[i].AddTenant(ctx, registry.TenantSpec{Name: fmt.Sprintf("t%d-%d", round, i), Names: &[]string{suffix}})
			return err
		})
		if ok != 1 {
			t.Fatalf("round %d: %d tenants added with overlapping suffixes, want exactly 1", round, ok)
		}
	}
}

// TestDelegationWaitsForANameBelowItOnAnotherReplica: a replica's
// allocation has found vm.lab.cloud.example free (under its name's lock)
// and not yet committed; another replica adding the delegation at
// lab.cloud.example waits for it (the names' fence, exclusive), and then
// says it hides the name. Without the fence the delegation committed at
// once and said it hid nothing, and the name was stored below it after.
func TestDelegationWaitsForANameBelowItOnAnotherReplica(t *testing.T) {
	ctx := context.Background()
	dsn := migratedDB(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	r := registry.New(stores[0])
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	pool, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00::/64"), Region: "r", UseAll: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.DelegationWaitsForAName(t, stores[0], stores[1], pool.ID, netip.MustParsePrefix("fd00::9/128"))
}
