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
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// bulkNames is more named assignments than PostgreSQL's shared lock table
// holds with its default settings (max_locks_per_transaction 64 x
// max_connections 100 = 6,400 locks, and what the shared memory's slack
// adds: on the test server one transaction took 12,000 advisory locks but
// not 20,000): one advisory lock per name ran out of shared memory
// (issue 16).
const bulkNames = 30000

// nonEmptyRegister opens a store on a fresh schema whose register holds
// one named assignment of tenant a (so that a load checks every name
// against the register), with tenants a (names under bulk.example) and b
// (under b.example).
func nonEmptyRegister(t *testing.T) (dsn string, s *postgres.Store, r *registry.Registry) {
	t.Helper()
	dsn, s, r = emptyRegister(t)
	if _, err := r.Allocate(registry.Restricted(context.Background()), registry.Request{Region: "r0", Tenant: "a", Name: "first.bulk.example"}); err != nil {
		t.Fatal(err)
	}
	return dsn, s, r
}

// emptyRegister is nonEmptyRegister without its assignment: a register
// of a block, a region, a pool and two tenants.
func emptyRegister(t *testing.T) (dsn string, s *postgres.Store, r *registry.Registry) {
	t.Helper()
	ctx := context.Background()
	dsn = migratedDB(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r = registry.New(s)
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("fd00::/48"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r0", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("fd00::/64"), Region: "r0", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	// Tenants' suffixes never overlap: b's names lie elsewhere, and b
	// reaches for a's names as an admin-scope caller would (no suffix
	// rule, but never another tenant's live name).
	for n, suffix := range map[string]string{"a": "bulk.example", "b": "b.example"} {
		if _, err := r.AddTenant(ctx, registry.TenantSpec{Name: n, Names: &[]string{suffix}}); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, s, r
}

// bulkDump is region with pool fd00:0:0:i::/64 holding n assignments
// of tenant named vmJ.bulk.example (bvmJ for i > 1), then one for each of
// names.
func bulkDump(region string, i, n int, tenant string, names ...string) registry.Dump {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := netip.MustParsePrefix(fmt.Sprintf("fd00:0:0:%d::/64", i))
	d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion,
		Regions: []registry.RegionRecord{{Name: region, Location: location.Location{Country: "US"}, CreatedAt: created}},
		Pools:   []registry.PoolRecord{{Prefix: pool, Region: region, CreatedAt: created}},
	}
	all := make([]string, 0, n+len(names))
	for j := range n {
		if i > 1 {
			all = append(all, fmt.Sprintf("bvm%d.bulk.example", j))
		} else {
			all = append(all, fmt.Sprintf("vm%d.bulk.example", j))
		}
	}
	all = append(all, names...)
	a := pool.Addr()
	for _, name := range all {
		a = a.Next()
		d.Assignments = append(d.Assignments, registry.AssignmentRecord{Prefix: netip.PrefixFrom(a, 128), Pool: pool, Region: region,
			State: registry.StateAssigned, Tenant: tenant, Name: name, CreatedAt: created})
	}
	return d
}

// TestBulkLoadOfManyNamesIntoANonEmptyRegister: a load of more named
// assignments than the server's lock table holds, into a register that
// holds assignments already, succeeds, and the names it loaded are held
// (failed with "out of shared memory" while each name took its own lock).
func TestBulkLoadOfManyNamesIntoANonEmptyRegister(t *testing.T) {
	ctx := context.Background()
	_, _, r := nonEmptyRegister(t)
	if _, err := r.Load(ctx, bulkDump("bulk", 1, bulkNames, "a"), registry.LoadOptions{}); err != nil {
		t.Fatalf("load of %d named assignments: %v", bulkNames, err)
	}
	got, err := r.Assignments(ctx, registry.AssignmentFilter{Region: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != bulkNames {
		t.Fatalf("%d assignments in region bulk, want %d", len(got), bulkNames)
	}
	_, err = r.Allocate(ctx, registry.Request{Region: "r0", Tenant: "b", Name: fmt.Sprintf("vm%d.bulk.example", bulkNames-1)})
	if !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("tenant b naming a loaded name of tenant a: %v, want %v", err, registry.ErrNameTaken)
	}
	// The register's names are still checked: another tenant's live name
	// in a load is refused.
	d := bulkDump("bulk2", 2, 100, "b", "first.bulk.example")
	if _, err := r.Load(ctx, d, registry.LoadOptions{}); !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("load naming tenant a's first.bulk.example for tenant b: %v, want %v", err, registry.ErrNameTaken)
	}
}

// pausing is a store whose write transactions, once their function has
// returned, wait for release before they commit: a test holds a load or
// an allocation open, with its locks, while another replica tries.
type pausing struct {
	registry.Store
	wrote   chan struct{}
	release chan struct{}
}

func (p pausing) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return p.Store.Update(ctx, func(tx registry.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		select {
		case p.wrote <- struct{}{}:
		default: // a second run of fn (a conflict) is not waited for
			return nil
		}
		select {
		case <-p.release:
			return nil
		case <-time.After(time.Minute):
			return errors.New("the paused transaction was never released")
		}
	})
}

// TestBulkLoadAndAllocationOfOneNameAreSerialised: a load that holds
// every name (one lock: more than registry's maxNameLocks, 1,000, names)
// and an allocation of one of its names on another
// replica never both succeed, whichever goes first: the second waits for
// the first to commit and then finds the name taken.
func TestBulkLoadAndAllocationOfOneNameAreSerialised(t *testing.T) {
	const name = "contested.bulk.example"
	for _, loadFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("load first %v", loadFirst), func(t *testing.T) {
			ctx := context.Background()
			dsn, s, _ := nonEmptyRegister(t)
			// The second writer's connections, found by name (at most 63
			// bytes) among every other test's on the server.
			app := fmt.Sprintf("bulkname-%v-%d", loadFirst, time.Now().UnixNano())
			s2, err := postgres.Open(ctx, dsn+"&application_name="+app, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Close() })
			p := pausing{Store: s, wrote: make(chan struct{}, 1), release: make(chan struct{})}
			held, other := registry.New(p), registry.New(s2)
			load := func(reg *registry.Registry) error {
				_, err := reg.Load(ctx, bulkDump("bulk", 1, 1500, "a", name), registry.LoadOptions{})
				return err
			}
			alloc := func(reg *registry.Registry) error {
				_, err := reg.Allocate(ctx, registry.Request{Region: "r0", Tenant: "b", Name: name})
				return err
			}
			first, second := alloc, load
			if loadFirst {
				first, second = load, alloc
			}
			firstDone, secondDone := make(chan error, 1), make(chan error, 1)
			go func() { firstDone <- first(held) }()
			select {
			case <-p.wrote:
			case err := <-firstDone:
				t.Fatalf("first writer ended before it was held: %v", err)
			}
			go func() { secondDone <- second(other) }()
			// The second must come to wait for an advisory lock (a name's
			// or every name's) held by the first, and not return before.
			c, err := pgx.Connect(ctx, pgtest.BaseDSN())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			for deadline := time.Now().Add(time.Minute); ; {
				select {
				case err := <-secondDone:
					close(p.release)
					t.Fatalf("second writer returned (%v) while the first held the name uncommitted", err)
				default:
				}
				var waiting int
				if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
					WHERE NOT l.granted AND l.locktype = 'advisory' AND a.application_name = $1`, app).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
				if waiting > 0 {
					break
				}
				if time.Now().After(deadline) {
					close(p.release)
					t.Fatal("the second writer never came to wait for the first's lock")
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(p.release)
			if err := <-firstDone; err != nil {
				t.Fatalf("first writer: %v", err)
			}
			if err := <-secondDone; !errors.Is(err, registry.ErrNameTaken) {
				t.Fatalf("second writer: %v, want %v", err, registry.ErrNameTaken)
			}
		})
	}
}
