package postgres

import (
	"context"
	"net/netip"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestPagePools: a page's pool columns come from the store's cache of
// them, read once per pool; a pool made after the cache was filled is
// read when a page first shows it, and a cached pool whose prefix does
// not hold the assignment (a register replaced under a running server)
// is read again, not shown.
func TestPagePools(t *testing.T) {
	ctx := context.Background()
	s, reg := pageStore(t, Options{})
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("40.64.0.0/16"), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
		t.Fatal(err)
	}
	addPool := func(p string) {
		t.Helper()
		if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix(p), Region: "r1"}); err != nil {
			t.Fatal(err)
		}
	}
	alloc := func(p string) {
		t.Helper()
		if _, err := reg.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{{Region: "r1", Prefix: netip.MustParsePrefix(p), Tenant: "t"}}}); err != nil {
			t.Fatal(err)
		}
	}
	page := func() []registry.Assignment {
		t.Helper()
		as, err := s.AssignmentPage(ctx, registry.AssignmentFilter{Region: "r1", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	check := func(as []registry.Assignment, want map[string]string) {
		t.Helper()
		if len(as) != len(want) {
			t.Fatalf("%d assignments, want %d: %+v", len(as), len(want), as)
		}
		for _, a := range as {
			if a.Pool.String() != want[a.Prefix.String()] || a.Region != "r1" || a.RegionID == 0 {
				t.Errorf("%s: pool %s in %q (%d), want %s in r1", a.Prefix, a.Pool, a.Region, a.RegionID, want[a.Prefix.String()])
			}
		}
	}
	addPool("40.64.0.0/24")
	alloc("40.64.0.1/32")
	check(page(), map[string]string{"40.64.0.1/32": "40.64.0.0/24"})
	addPool("40.64.1.0/24")
	alloc("40.64.1.1/32")
	check(page(), map[string]string{"40.64.0.1/32": "40.64.0.0/24", "40.64.1.1/32": "40.64.1.0/24"})
	// What another register's pool of the same ID would have left.
	s.pagePools.mu.Lock()
	for id, p := range s.pagePools.pools {
		p.prefix, p.region = netip.MustParsePrefix("192.0.2.0/24"), "elsewhere"
		s.pagePools.pools[id] = p
	}
	s.pagePools.mu.Unlock()
	check(page(), map[string]string{"40.64.0.1/32": "40.64.0.0/24", "40.64.1.1/32": "40.64.1.0/24"})
}

// TestPageSettingsEnd: AssignmentPage's planner settings (pagePlans:
// generic plans, no sequential scans) are local to its batch: the next
// statement on the same connection, whatever it is, plans with the
// defaults, after a page and after a page that failed.
func TestPageSettingsEnd(t *testing.T) {
	ctx := context.Background()
	s, _ := pageStore(t, Options{MaxConns: 2})
	tenant := "t"
	for _, c := range []struct {
		name string
		f    registry.AssignmentFilter
		fail bool
	}{
		{name: "a page", f: registry.AssignmentFilter{Limit: 10}},
		{name: "a region's page by name", f: registry.AssignmentFilter{Region: "r1", Limit: 10}},
		{name: "a tenant's page", f: registry.AssignmentFilter{Tenant: &tenant, Limit: 10}},
		// A page that fails in the backend after the settings (a name
		// that is not UTF-8): the batch's transaction ends with it.
		{name: "a failed page", f: registry.AssignmentFilter{Region: "r\xff", Limit: 10}, fail: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.AssignmentPage(ctx, c.f)
			if (err != nil) != c.fail {
				t.Fatalf("error %v, want one: %v", err, c.fail)
			}
			// Every connection of the pool, the page's among them.
			conns := s.pool.AcquireAllIdle(ctx)
			if len(conns) == 0 {
				t.Fatal("no idle connection")
			}
			for _, conn := range conns {
				var mode, seq string
				err := conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')`).Scan(&mode, &seq)
				conn.Release()
				if err != nil {
					t.Fatal(err)
				}
				if mode != "auto" || seq != "on" {
					t.Errorf("after the page: plan_cache_mode %s, enable_seqscan %s; want auto, on", mode, seq)
				}
			}
		})
	}
}

// pageStore opens a store on a fresh schema with opt, closed when t ends,
// holding one region, r1.
func pageStore(t *testing.T, opt Options) (*Store, *registry.Registry) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.FreshSchema(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg := registry.New(s)
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "r1", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	return s, reg
}
