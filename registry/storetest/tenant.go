package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// runTenants is the conformance of registry.TenantTx: tenants, their use
// counters under concurrent allocation, and who holds a DNS name.
func runTenants(t *testing.T, open Open) {
	ctx := context.Background()
	i64 := func(v int64) *int64 { return &v }

	t.Run("tenants read back as written, and use counts live and quarantined assignments", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		now := t0.Add(time.Hour)
		reg := registry.New(f.s, registry.WithClock(func() time.Time { return now }))
		names := []string{"Acme.Example", "acme.test."}
		tn, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "acme", Names: &names, MaxIPv4: i64(64), Note: ptr("ACME Corp")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := reg.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tn.ID || len(got.Names) != 2 || got.Names[0] != "acme.example." || got.Names[1] != "acme.test." ||
			got.MaxIPv4 == nil || *got.MaxIPv4 != 64 || got.MaxIPv6 != nil || got.Note != "ACME Corp" || !got.CreatedAt.Equal(now) {
			t.Fatalf("tenant = %+v", got)
		}
		// May it delegate: off unless set, kept by updates that leave it,
		// and back off when withdrawn.
		yes, no := true, false
		for _, c := range []struct {
			set  *bool
			want bool
		}{{nil, false}, {&yes, true}, {nil, true}, {&no, false}} {
			if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "acme", MayDelegate: c.set}); err != nil {
				t.Fatal(err)
			}
			if got, err := reg.Tenant(ctx, "acme"); err != nil || got.MayDelegate != c.want {
				t.Fatalf("after setting may-delegate %v: %v (%v), want %v", c.set, got.MayDelegate, err, c.want)
			}
		}
		as, err := reg.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{
			{Region: "us-east", Family: 4, Bits: 30, Tenant: "acme"}, {Region: "us-east", Family: 6, Bits: 64, Count: 3, Tenant: "acme"}}})
		if err != nil {
			t.Fatal(err)
		}
		wantUse := func(v4, v6 int64) {
			t.Helper()
			got, err := reg.Tenant(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			if got.UsedIPv4 != v4 || got.UsedIPv6 != v6 {
				t.Fatalf("use = %d IPv4, %d IPv6; want %d, %d", got.UsedIPv4, got.UsedIPv6, v4, v6)
			}
		}
		wantUse(4, 3)
		if _, err := reg.Release(ctx, registry.Target{ID: as[0].ID}, time.Hour, nil); err != nil {
			t.Fatal(err)
		}
		wantUse(4, 3) // quarantined still counts
		if _, err := reg.Release(ctx, registry.Target{ID: as[1].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		wantUse(4, 2)
		now = now.Add(2 * time.Hour) // the quarantine ends; the next write reaps it
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 6, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
		wantUse(0, 3)
		if err := reg.RemoveTenant(ctx, "acme"); !errors.Is(err, registry.ErrState) {
			t.Fatalf("removing a tenant that holds assignments: %v, want ErrState", err)
		}
		err = f.s.Update(ctx, func(tx registry.Tx) error {
			_, err := tx.AddTenantUse(ctx, "nobody", 1, 0)
			return err
		})
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("AddTenantUse of an unknown tenant: %v, want ErrNotFound", err)
		}
	})

	t.Run("a quota is reached exactly and never passed", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		reg := registry.New(f.s, registry.WithClock(func() time.Time { return t0.Add(time.Hour) }))
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "q", MaxIPv4: i64(8), MaxIPv6: i64(2)}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Bits: 30, Count: 2, Tenant: "q"}); err != nil {
			t.Fatalf("exactly at the quota: %v", err)
		}
		_, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 4, Tenant: "q"})
		var qe *registry.QuotaError
		if !errors.As(err, &qe) || qe.Quota != "max-ipv4" || qe.Max != 8 || qe.Used != 8 || qe.Asked != 1 {
			t.Fatalf("one past the quota: %v, want a max-ipv4 QuotaError with use 8", err)
		}
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 6, Bits: 48, Count: 3, Tenant: "q"}); !errors.Is(err, registry.ErrQuota) {
			t.Fatalf("three IPv6 prefixes against a quota of two: %v", err)
		}
		if got, _ := reg.Tenant(ctx, "q"); got.UsedIPv4 != 8 || got.UsedIPv6 != 0 {
			t.Fatalf("a refused request changed the use: %+v", got)
		}
	})

	t.Run("a request past its quota and past the region's room is refused for the quota", func(t *testing.T) {
		// The tenant rules come first on every store: a store that checks
		// the quota late (queued, PostgreSQL) answered that the region was
		// full (and how full), where the other answered the quota.
		f := setup(t, open)
		freeUp(t, f)
		reg := registry.New(f.s)
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "small", MaxIPv4: i64(4)}); err != nil {
			t.Fatal(err)
		}
		_, err := reg.AllocateAll(registry.Restricted(ctx), registry.Batch{Requests: []registry.Request{{Region: "us-east", Family: 4, Count: 300, Tenant: "small"}}})
		var qe *registry.QuotaError
		if !errors.As(err, &qe) || qe.Quota != "max-ipv4" || qe.Asked != 300 {
			t.Fatalf("300 addresses (more than the region holds) against a quota of 4: %v, want a max-ipv4 QuotaError", err)
		}
	})

	t.Run("concurrent allocations racing for a tenant's last addresses never pass its quota", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		reg := registry.New(f.s)
		const quota, callers = 10, 24
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "race", MaxIPv4: i64(quota), MaxIPv6: i64(quota)}); err != nil {
			t.Fatal(err)
		}
		ok := Race(t, callers, registry.ErrQuota, func(int) error {
			_, err := reg.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{{Region: "us-east", Tenant: "race", DualStack: true}}})
			return err
		})
		tenant := "race"
		as, err := reg.Assignments(ctx, registry.AssignmentFilter{Tenant: &tenant})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := reg.Tenant(ctx, "race")
		if ok != quota || len(as) != 2*quota || got.UsedIPv4 != quota || got.UsedIPv6 != quota {
			t.Fatalf("%d of %d callers succeeded, %d assignments, use %d/%d: want exactly %d each", ok, callers, len(as), got.UsedIPv4, got.UsedIPv6, quota)
		}
	})

	// A store may keep a batch's counts in memory until its commit (SQLite
	// does): a caller that fails after counting must take back its count
	// alone, also after a read of the tenant made it store the counts, and
	// a read in the same transaction sees every count made before it.
	t.Run("concurrent callers' counts: a failing caller's count is undone alone, reads see the counts so far", func(t *testing.T) {
		f := setup(t, open)
		reg := registry.New(f.s)
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "beta"}); err != nil {
			t.Fatal(err)
		}
		const callers = 48
		errFail := errors.New("caller fails after counting")
		var mu sync.Mutex
		var want4, want6 int64
		var wg sync.WaitGroup
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d4, d6 := int64(i+1), int64(2*i+1)
				err := f.s.Update(ctx, func(tx registry.Tx) error {
					before, err := tx.AddTenantUse(ctx, "acme", d4, 0)
					if err != nil {
						return err
					}
					if i%2 == 1 {
						// A read between two counts: it sees the first.
						got, err := tx.TenantByName(ctx, "acme")
						if err != nil {
							return err
						}
						if got.UsedIPv4 != before.UsedIPv4 {
							return fmt.Errorf("caller %d: read use %d after counting to %d", i, got.UsedIPv4, before.UsedIPv4)
						}
					}
					after, err := tx.AddTenantUse(ctx, "acme", 0, d6)
					if err != nil {
						return err
					}
					if after.UsedIPv4 != before.UsedIPv4 || after.UsedIPv6 != before.UsedIPv6+d6 {
						return fmt.Errorf("caller %d: use %d/%d after %d/%d and +0/+%d", i, after.UsedIPv4, after.UsedIPv6, before.UsedIPv4, before.UsedIPv6, d6)
					}
					if _, err := tx.AddTenantUse(ctx, "beta", 1, 1); err != nil {
						return err
					}
					if i%3 == 0 {
						return errFail
					}
					return nil
				})
				if errors.Is(err, errFail) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want4, want6 = want4+d4, want6+d6
				mu.Unlock()
			}()
		}
		wg.Wait()
		got, err := reg.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if got.UsedIPv4 != want4 || got.UsedIPv6 != want6 {
			t.Fatalf("acme's use = %d IPv4, %d IPv6; want %d, %d (the callers that succeeded)", got.UsedIPv4, got.UsedIPv6, want4, want6)
		}
		beta, err := reg.Tenant(ctx, "beta")
		if err != nil {
			t.Fatal(err)
		}
		if ok := int64(callers - (callers+2)/3); beta.UsedIPv4 != ok || beta.UsedIPv6 != ok {
			t.Fatalf("beta's use = %d/%d; want %d/%d", beta.UsedIPv4, beta.UsedIPv6, ok, ok)
		}
		// A negative count never takes the use below zero.
		if err := f.s.Update(ctx, func(tx registry.Tx) error {
			got, err := tx.AddTenantUse(ctx, "beta", -1000, -1000)
			if err == nil && (got.UsedIPv4 != 0 || got.UsedIPv6 != 0) {
				err = fmt.Errorf("use %d/%d after -1000: want 0/0", got.UsedIPv4, got.UsedIPv6)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if beta, _ = reg.Tenant(ctx, "beta"); beta.UsedIPv4 != 0 || beta.UsedIPv6 != 0 {
			t.Fatalf("beta's use = %d/%d after -1000; want 0/0", beta.UsedIPv4, beta.UsedIPv6)
		}
	})

	t.Run("two tenants racing for one name: exactly one gets it", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		reg := registry.New(f.s)
		const callers = 8
		// Tenant a names under its suffix as a token below admin does;
		// the others have no suffix (two tenants may not share one) and
		// name as admins do: neither may take another tenant's live name.
		for i := range callers {
			spec := registry.TenantSpec{Name: string(rune('a' + i))}
			if i == 0 {
				spec.Names = &[]string{"race.example"}
			}
			if _, err := reg.AddTenant(ctx, spec); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 5 {
			name := "vm" + string(rune('0'+round)) + ".race.example"
			ok := Race(t, callers, registry.ErrNameTaken, func(i int) error {
				c := ctx
				if i == 0 {
					c = registry.Restricted(ctx)
				}
				_, err := reg.Allocate(c, registry.Request{Region: "us-east", Tenant: string(rune('a' + i)), Name: name})
				return err
			})
			if ok != 1 {
				t.Fatalf("name %s: %d tenants got it, want exactly 1", name, ok)
			}
		}
	})

	t.Run("one batch naming one name for two tenants is refused, nothing stored", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		reg := registry.New(f.s)
		for _, n := range []string{"a", "b"} {
			if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		before := snapshot(t, ctx, f.s, t0)
		for _, b := range [][]registry.Request{
			{{Region: "us-east", Tenant: "a", Name: "vm1.twice.example"}, {Region: "us-east", Tenant: "b", Name: "vm1.twice.example"}},
			{{Region: "us-east", Tenant: "a", Name: "vm1.twice.example"}, {Region: "us-east", Family: 6, Tenant: "b", Name: "vm1.twice.example."}},
			{{Region: "us-east", Tenant: "a", Name: "vm1.twice.example"}, {Region: "us-east", Name: "vm1.twice.example"}},
		} {
			if _, err := reg.AllocateAll(ctx, registry.Batch{Requests: b}); !errors.Is(err, registry.ErrNameTaken) {
				t.Errorf("batch %+v: %v, want name taken", b, err)
			}
		}
		if after := snapshot(t, ctx, f.s, t0); after != before {
			t.Fatalf("a refused batch changed the register:\n%s\n---\n%s", before, after)
		}
		// One tenant may give a name to two of its assignments (A, AAAA).
		if _, err := reg.AllocateAll(ctx, registry.Batch{Requests: []registry.Request{
			{Region: "us-east", Tenant: "a", Name: "vm1.twice.example"}, {Region: "us-east", Family: 6, Tenant: "a", Name: "vm1.twice.example"}}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DNSNames: the names zones and static records hold", func(t *testing.T) {
		f := setup(t, open)
		ds, ok := f.s.(zone.Store)
		if !ok {
			t.Fatal("the store does not keep DNS zones")
		}
		want := func(names ...string) {
			t.Helper()
			for _, run := range []func(context.Context, func(registry.Tx) error) error{f.s.View, f.s.Update} {
				if err := run(ctx, func(tx registry.Tx) error {
					got, err := tx.DNSNames(ctx)
					slices.Sort(got)
					if err == nil && !slices.Equal(got, names) {
						t.Errorf("DNSNames = %v, want %v", got, names)
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		want()
		m := manage.NewManager(ds, nil, nil)
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "held.example", Config: zone.Config{NS: []string{"NS.Provider.Example."}}}); err != nil {
			t.Fatal(err)
		}
		want("held.example.", "ns.provider.example.")
		for _, r := range [][3]string{{"www", "A", "192.0.2.1"}, {"lab", "NS", "ns1.lab.held.example."}} {
			if _, err := m.AddRecord(ctx, "held.example", r[0], r[1], r[2], 0); err != nil {
				t.Fatal(err)
			}
		}
		want("held.example.", "lab.held.example.", "ns.provider.example.", "ns1.lab.held.example.", "www.held.example.")
	})

	t.Run("ZoneCuts: the zones and the NS records below their apexes", func(t *testing.T) {
		f := setup(t, open)
		ds, ok := f.s.(zone.Store)
		if !ok {
			t.Fatal("the store does not keep DNS zones")
		}
		want := func(zones []string, cuts ...registry.ZoneCut) {
			t.Helper()
			if err := f.s.View(ctx, func(tx registry.Tx) error {
				gz, gc, err := tx.ZoneCuts(ctx)
				slices.Sort(gz)
				slices.SortFunc(gc, func(a, b registry.ZoneCut) int { return strings.Compare(a.Zone+" "+a.Name, b.Zone+" "+b.Name) })
				if err == nil && (!slices.Equal(gz, zones) || !slices.Equal(gc, cuts)) {
					t.Errorf("ZoneCuts = %v, %v; want %v, %v", gz, gc, zones, cuts)
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		want(nil)
		m := manage.NewManager(ds, nil, nil)
		for _, z := range []string{"Cut.Example", "kid.cut.example"} {
			if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: z, Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
				t.Fatal(err)
			}
		}
		want([]string{"cut.example.", "kid.cut.example."})
		for _, r := range [][4]string{
			{"cut.example", "lab", "NS", "ns1.elsewhere.example."},
			{"cut.example", "lab", "NS", "ns2.elsewhere.example."}, // one cut, two records
			{"cut.example", "kid", "NS", "ns.provider.example."},
			{"cut.example", "www", "A", "192.0.2.1"},
			{"kid.cut.example", "deep", "NS", "ns1.elsewhere.example."},
		} {
			if _, err := m.AddRecord(ctx, r[0], r[1], r[2], r[3], 0); err != nil {
				t.Fatal(err)
			}
		}
		want([]string{"cut.example.", "kid.cut.example."},
			registry.ZoneCut{Zone: "cut.example.", Name: "kid.cut.example."},
			registry.ZoneCut{Zone: "cut.example.", Name: "lab.cut.example."},
			registry.ZoneCut{Zone: "kid.cut.example.", Name: "deep.kid.cut.example."})
	})

	t.Run("a tenant's name suffix may not equal, contain or lie under another tenant's", func(t *testing.T) {
		f := setup(t, open)
		reg := registry.New(f.s)
		add := func(name string, names ...string) error {
			_, err := reg.AddTenant(ctx, registry.TenantSpec{Name: name, Names: &names})
			return err
		}
		if err := add("a", "a.cloud.example", "a.test"); err != nil {
			t.Fatal(err)
		}
		before, err := reg.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			rule  string
			names []string
			other string // the other tenant's suffix the error names
		}{
			{"an equal suffix", []string{"b.example", "A.Cloud.Example."}, "a.cloud.example."},
			{"a suffix that contains another's", []string{"cloud.example"}, "a.cloud.example."},
			{"a suffix under another's", []string{"vm.a.test"}, "a.test."},
			{"every name", []string{"."}, "a.cloud.example."},
		} {
			err := add("b", c.names...)
			var oe *registry.SuffixOverlapError
			if !errors.Is(err, registry.ErrOverlap) || !errors.As(err, &oe) || oe.OtherTenant != "a" || oe.OtherSuffix != c.other {
				t.Errorf("%s %v: %v, want an overlap with a's %s", c.rule, c.names, err, c.other)
			}
		}
		// Siblings and look-alikes are not overlaps.
		if err := add("b", "b.cloud.example", "xa.test", "test.a"); err != nil {
			t.Fatalf("sibling suffixes: %v", err)
		}
		// An update that adds an overlapping suffix is refused and
		// changes nothing; one that keeps b's own suffixes goes through.
		if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "b", Names: &[]string{"b.cloud.example", "x.a.cloud.example"}}); !errors.Is(err, registry.ErrOverlap) {
			t.Errorf("update to an overlapping suffix: %v, want ErrOverlap", err)
		}
		if got, err := reg.Tenant(ctx, "b"); err != nil || len(got.Names) != 3 {
			t.Errorf("after a refused update: %+v, %v", got, err)
		}
		if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "b", Names: &[]string{"b.cloud.example"}, MaxIPv4: i64(4)}); err != nil {
			t.Errorf("an update keeping its own suffix: %v", err)
		}
		after, err := reg.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before)+1 || after[0].Name != "a" || len(after[0].Names) != 2 || len(after[0].Overlaps) != 0 {
			t.Errorf("tenants after refused overlaps: %+v", after)
		}
	})

	t.Run("an overlap made before the rule is flagged, and may be narrowed", func(t *testing.T) {
		f := setup(t, open)
		reg := registry.New(f.s)
		// As the upgrade made them: every name, for two tenants.
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, n := range []string{"old1", "old2"} {
				if err := tx.InsertTenant(ctx, &registry.Tenant{Name: n, Names: []string{"."}, CreatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ts, err := reg.Tenants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 2 || fmt.Sprint(ts[0].Overlaps) != "[old2]" || fmt.Sprint(ts[1].Overlaps) != "[old1]" {
			t.Fatalf("overlaps not flagged: %+v", ts)
		}
		if pairs, err := reg.SuffixOverlaps(ctx, 0); err != nil || fmt.Sprint(pairs) != "[[old1 old2]]" {
			t.Fatalf("SuffixOverlaps = %v, %v", pairs, err)
		}
		// One tenant read alone (the web search, GET /v1/tenants/NAME)
		// carries the same flags.
		for _, x := range ts {
			one, err := reg.Tenant(ctx, x.Name)
			if err != nil || !slices.Equal(one.Overlaps, x.Overlaps) {
				t.Fatalf("Tenant(%s).Overlaps = %v, %v; in the list %v", x.Name, one.Overlaps, err, x.Overlaps)
			}
		}
		// A new tenant's suffix lies under ".": refused until they narrow.
		if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: "new", Names: &[]string{"new.example"}}); !errors.Is(err, registry.ErrOverlap) {
			t.Fatalf("a suffix under a legacy tenant's .: %v, want ErrOverlap", err)
		}
		// Narrowing is never refused, though old2 still holds ".".
		if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "old1", Names: &[]string{"old1.example"}}); err != nil {
			t.Fatalf("narrowing . to a suffix: %v", err)
		}
		if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "old2", Names: &[]string{"old2.example"}}); err != nil {
			t.Fatalf("narrowing the second: %v", err)
		}
		if pairs, err := reg.SuffixOverlaps(ctx, 0); err != nil || len(pairs) != 0 {
			t.Fatalf("overlaps after narrowing: %v, %v", pairs, err)
		}
		if _, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: "old2", Names: &[]string{"."}}); !errors.Is(err, registry.ErrOverlap) {
			t.Fatalf("widening back to .: %v, want ErrOverlap", err)
		}
		// Two more legacy tenants with ".": five pairs; a bound gives the
		// first ones by name (a server warns about a few at start).
		err = f.s.Update(ctx, func(tx registry.Tx) error {
			for _, n := range []string{"old3", "old4"} {
				if err := tx.InsertTenant(ctx, &registry.Tenant{Name: n, Names: []string{"."}, CreatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if pairs, err := reg.SuffixOverlaps(ctx, 0); err != nil || len(pairs) != 5 {
			t.Fatalf("SuffixOverlaps(0) = %v, %v; want 5 pairs", pairs, err)
		}
		if pairs, err := reg.SuffixOverlaps(ctx, 2); err != nil || fmt.Sprint(pairs) != "[[old1 old3] [old1 old4]]" {
			t.Fatalf("SuffixOverlaps(2) = %v, %v", pairs, err)
		}
	})

	t.Run("concurrent tenant adds with overlapping suffixes: exactly one wins", func(t *testing.T) {
		f := setup(t, open)
		reg := registry.New(f.s)
		const callers = 8
		for round, suffixes := range [][]string{
			{"r0.example"}, // all equal
			{"r1.example", "a.r1.example", "b.a.r1.example"}, // nested
		} {
			ok := Race(t, callers, registry.ErrOverlap, func(i int) error {
				_, err := reg.AddTenant(ctx, registry.TenantSpec{
					Name: fmt.Sprintf("t%d-%d", round, i), Names: &[]string{suffixes[i%len(suffixes)]}})
				return err
			})
			if ok != 1 {
				t.Fatalf("round %d: %d tenants added with overlapping suffixes, want exactly 1", round, ok)
			}
		}
		// Updates race too: two tenants each add the same new suffix.
		for _, n := range []string{"u1", "u2"} {
			if _, err := reg.AddTenant(ctx, registry.TenantSpec{Name: n, Names: &[]string{n + ".example"}}); err != nil {
				t.Fatal(err)
			}
		}
		ok := Race(t, 2, registry.ErrOverlap, func(i int) error {
			n := fmt.Sprintf("u%d", i+1)
			_, err := reg.UpdateTenant(ctx, registry.TenantSpec{Name: n, Names: &[]string{n + ".example", "w.example"}})
			return err
		})
		if ok != 1 {
			t.Fatalf("two widening updates: %d went through, want exactly 1", ok)
		}
		pairs, err := reg.SuffixOverlaps(ctx, 0)
		if err != nil || len(pairs) != 0 {
			t.Fatalf("overlaps after the races: %v, %v", pairs, err)
		}
	})

	t.Run("a delegation waits for a name below it being written, and then says it hides it", func(t *testing.T) {
		f := setup(t, open)
		DelegationWaitsForAName(t, f.s, f.s, f.pool4.ID, mp("40.64.0.9/32"))
	})

	t.Run("NameHolder names what holds a name: another tenant's live assignment, apex, synthesised name, name server, glue, delegation, name below a delegation, static record", func(t *testing.T) {
		f := setup(t, open)
		freeUp(t, f)
		ds, ok := f.s.(zone.Store)
		if !ok {
			t.Fatal("the store does not keep DNS zones")
		}
		m := manage.NewManager(ds, nil, nil)
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "cloud.example", Config: zone.Config{NS: []string{"NS1.Cloud.Example.", "ns.provider.example."}},
			Glue: []manage.Glue{{Host: "ns1.cloud.example.", Addr: netip.MustParseAddr("192.0.2.54")}}}); err != nil {
			t.Fatal(err)
		}
		for _, r := range [][3]string{
			{"www", "A", "192.0.2.1"},
			// Written before the delegation above it, which now hides it.
			{"t.lab", "TXT", "hidden"},
			{"lab", "NS", "NS1.LAB.cloud.example."},
			{"ns1.lab", "A", "192.0.2.53"},
			{"x.lab", "AAAA", "2001:db8::53"},
			// A delegation to a zone of the register: its names are the
			// child zone's.
			{"kid", "NS", "ns.provider.example."},
		} {
			if _, err := m.AddRecord(ctx, "cloud.example", r[0], r[1], r[2], 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Name: "kid.cloud.example", Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
			t.Fatal(err)
		}
		// A reverse zone whose template's names lie in cloud.example.
		if _, err := m.AddZone(ctx, manage.ZoneSpec{Kind: zone.Reverse, Prefix: netip.MustParsePrefix("40.64.0.0/24"), Synthesize: "ip-{addr}.syn.cloud.example",
			Config: zone.Config{NS: []string{"ns.provider.example."}}}); err != nil {
			t.Fatal(err)
		}
		reg := registry.New(f.s)
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Tenant: "a", Name: "vm1.a.cloud.example"}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Tenant: "a", Name: "vm2.a.cloud.example."}); err != nil {
			t.Fatal(err)
		}
		gone, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Tenant: "a", Name: "old.a.cloud.example"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Release(ctx, registry.Target{ID: gone[0].ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, fqdn, tenant string
			want               registry.HolderKind
		}{
			{"another tenant's live assignment", "vm1.a.cloud.example.", "b", registry.HolderAssignment},
			{"another tenant's, stored with the trailing dot", "vm2.a.cloud.example.", "b", registry.HolderAssignment},
			{"an assignment without a tenant is another's", "vm1.a.cloud.example.", "", registry.HolderAssignment},
			{"the tenant's own name holds nothing", "vm1.a.cloud.example.", "a", ""},
			{"a released assignment holds nothing", "old.a.cloud.example.", "b", ""},
			{"the zone apex", "cloud.example.", "a", registry.HolderApex},
			{"a configured name server, whatever its case", "ns1.cloud.example.", "a", registry.HolderNameServer},
			{"a name server outside the zone", "ns.provider.example.", "a", registry.HolderNameServer},
			{"an NS record's target", "ns1.lab.cloud.example.", "a", registry.HolderNameServer},
			{"glue below a delegation", "x.lab.cloud.example.", "a", registry.HolderGlue},
			{"a static record", "www.cloud.example.", "a", registry.HolderRecord},
			{"a delegation point", "lab.cloud.example.", "a", registry.HolderDelegation},
			{"a free name below a delegation", "vm.lab.cloud.example.", "a", registry.HolderBelowDelegation},
			{"a name two labels below a delegation", "a.b.lab.cloud.example.", "", registry.HolderBelowDelegation},
			{"a record below a delegation that is not an address", "t.lab.cloud.example.", "a", registry.HolderBelowDelegation},
			{"a name that ends like a delegation is not below it", "xlab.cloud.example.", "a", ""},
			{"a delegation to a zone of the register is that zone's apex", "kid.cloud.example.", "a", registry.HolderApex},
			{"a name below it is the child zone's, and free", "vm.kid.cloud.example.", "a", ""},
			{"a free name", "free.cloud.example.", "a", ""},
			{"a name a template synthesises", "ip-40-64-0-7.syn.cloud.example.", "a", registry.HolderSynthesis},
			{"a name of a template's shape, whatever it spells", "ip-vm1.syn.cloud.example.", "a", registry.HolderSynthesis},
			{"a name of a template's shape, for no tenant too", "ip-2603-1030--7.syn.cloud.example.", "", registry.HolderSynthesis},
			{"another name under the template's suffix is free", "vm1.syn.cloud.example.", "a", ""},
			{"a name two labels under the template's suffix is free", "x.ip-40-64-0-7.syn.cloud.example.", "a", ""},
			{"the template's text alone is free", "ip-.syn.cloud.example.", "a", ""},
			{"the template's suffix is free", "syn.cloud.example.", "a", ""},
		}
		for _, c := range cases {
			for _, write := range []bool{false, true} {
				run := f.s.View
				if write {
					run = f.s.Update
				}
				err := run(ctx, func(tx registry.Tx) error {
					kind, held, err := tx.NameHolder(ctx, c.fqdn, c.tenant)
					if err != nil {
						return err
					}
					if held != (c.want != "") || kind != c.want {
						t.Errorf("%s: NameHolder(%s, %q) = %q, %v; want %q", c.name, c.fqdn, c.tenant, kind, held, c.want)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		// TemplateNames finds the live names of tenants of a template's
		// shape, stored with the trailing dot or without, and no other.
		for _, n := range []string{"ip-x.syn2.cloud.example", "ip-y.syn2.cloud.example.", "vm.syn2.cloud.example", "ip-a.b.syn2.cloud.example", "ip-gone.syn2.cloud.example"} {
			as, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Tenant: "a", Name: n})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(n, "ip-gone") {
				if _, err := reg.Release(ctx, registry.Target{ID: as[0].ID}, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := reg.Allocate(ctx, registry.Request{Region: "us-east", Name: "ip-ops.syn2.cloud.example"}); err != nil {
			t.Fatal(err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			got, err := tx.TemplateNames(ctx, "ip-", ".syn2.cloud.example.", 10)
			if err != nil {
				return err
			}
			for i := range got {
				got[i] = strings.TrimSuffix(got[i], ".")
			}
			slices.Sort(got)
			if want := []string{"ip-x.syn2.cloud.example", "ip-y.syn2.cloud.example"}; !slices.Equal(got, want) {
				t.Errorf("TemplateNames(ip-, .syn2.cloud.example.) = %q, want %q (live, of a tenant, of the shape)", got, want)
			}
			if got, err := tx.TemplateNames(ctx, "ip-", ".syn2.cloud.example.", 1); err != nil || len(got) != 1 {
				t.Errorf("TemplateNames with limit 1 = %q, %v; want one", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// freeUp makes the fixture's pools free space, as AddPool would.
func freeUp(t *testing.T, f fixture) {
	t.Helper()
	ctx := context.Background()
	err := f.s.Update(ctx, func(tx registry.Tx) error {
		for _, p := range []registry.Pool{f.pool4, f.pool6} {
			if err := tx.AddFree(ctx, registry.FreePrefix{RegionID: f.region.ID, PoolID: p.ID, Prefix: p.Prefix}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// DelegationWaitsForAName checks that a delegation (lab.cloud.example NS)
// written through delegator waits while a transaction of writer has
// found vm.lab.cloud.example free (NameHolder) and stored an assignment of
// it (p, of the pool with ID pool) without committing, and then says it
// hides the name (manage.Manager.Hides, read as soon as it is written, as
// the API and the CLI answer it). writer and delegator are one store, or
// two replicas of one database (store/postgres); delegator keeps no zone
// yet.
func DelegationWaitsForAName(t *testing.T, writer, delegator registry.Store, pool int64, p netip.Prefix) {
	t.Helper()
	ctx := context.Background()
	ds, ok := delegator.(zone.Store)
	if !ok {
		t.Fatal("the store does not keep DNS zones")
	}
	m := manage.NewManager(ds, nil, nil)
	z, err := m.AddZone(ctx, manage.ZoneSpec{Name: "cloud.example", Config: zone.Config{NS: []string{"ns.provider.example."}}})
	if err != nil {
		t.Fatal(err)
	}
	checked, release := make(chan struct{}), make(chan struct{})
	writerDone := make(chan error, 1)
	var once bool
	go func() {
		writerDone <- writer.Update(ctx, func(tx registry.Tx) error {
			if _, held, err := tx.NameHolder(ctx, "vm.lab.cloud.example.", "a"); err != nil || held {
				return fmt.Errorf("NameHolder(vm.lab.cloud.example.) = %v, %v; want free", held, err)
			}
			a := registry.Assignment{Prefix: p, PoolID: pool, State: registry.StateAssigned, Tenant: "a", Name: "vm.lab.cloud.example", CreatedAt: t0}
			if err := tx.InsertAssignment(ctx, &a); err != nil {
				return err
			}
			if !once { // a conflict may run fn again
				once = true
				close(checked)
				<-release
			}
			return nil
		})
	}()
	select {
	case <-checked:
	case err := <-writerDone:
		t.Fatalf("the name's writer ended early: %v", err)
	}
	type answer struct {
		hides []string
		err   error
	}
	delegated := make(chan answer, 1)
	go func() {
		r, err := m.AddRecord(ctx, "cloud.example", "lab", "NS", "ns.provider.example.", 0)
		if err != nil {
			delegated <- answer{err: err}
			return
		}
		hides, err := m.Hides(ctx, z, r)
		delegated <- answer{hides, err}
	}()
	select {
	case a := <-delegated:
		close(release)
		t.Fatalf("the delegation above the name was written (hiding %q, %v) while the name's writer held it", a.hides, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if a := <-delegated; a.err != nil || !slices.Equal(a.hides, []string{"vm.lab.cloud.example"}) {
		t.Fatalf("the delegation hides %q, %v; want the name written first", a.hides, a.err)
	}
}

// MigratedTenants checks a store opened on a register made before tenants
// existed, holding (see the stores' TestTenantMigration) a live IPv4 /30 and
// an IPv4 /32 whose quarantine has ended of tenant old, a released
// assignment of tenant gone, and a token of tenant tok, in region r.
func MigratedTenants(t *testing.T, s registry.Store) {
	ctx := context.Background()
	reg := registry.New(s)
	ts, err := reg.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{"gone": {0, 0}, "old": {5, 0}, "tok": {0, 0}}
	if len(ts) != len(want) {
		t.Fatalf("tenants after the upgrade: %+v, want %v", ts, want)
	}
	for _, x := range ts {
		w, ok := want[x.Name]
		if !ok || x.UsedIPv4 != w[0] || x.UsedIPv6 != w[1] || len(x.Names) != 1 || x.Names[0] != "." || x.MaxIPv4 != nil || x.MaxIPv6 != nil {
			t.Errorf("tenant %+v, want use %v, names [.], no quota", x, w)
		}
		// Every name, for each: the register opens with them, flagged.
		if len(x.Overlaps) != len(want)-1 {
			t.Errorf("tenant %s: overlaps %v, want the other %d", x.Name, x.Overlaps, len(want)-1)
		}
		// Read alone, from the index migration 00034 built.
		if one, err := reg.Tenant(ctx, x.Name); err != nil || !slices.Equal(one.Overlaps, x.Overlaps) {
			t.Errorf("Tenant(%s).Overlaps = %v, %v; in the list %v", x.Name, one.Overlaps, err, x.Overlaps)
		}
	}
	SuffixIndex(t, s)
	evs, err := reg.Events(ctx, registry.EventFilter{SubjectKind: "tenant"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Actor != "migration" || evs[0].Action != "tenant.add" {
		t.Errorf("events of the upgrade: %+v", evs)
	}
	// A restricted caller may allocate and name for a migrated tenant.
	if _, err := reg.Allocate(registry.Restricted(ctx), registry.Request{Region: "r", Family: 4, Tenant: "tok", Name: "anything.example"}); err != nil {
		t.Errorf("allocating for a migrated tenant: %v", err)
	}
}

// Race runs fn(0) ... fn(n-1) at once and returns how many succeeded; an
// error that is not the expected loser's (want) fails the test.
func Race(t testing.TB, n int, want error, fn func(i int) error) (ok int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, want):
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok
}
