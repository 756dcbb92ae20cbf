package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
)

func ptr[T any](v T) *T { return &v }

// dumpTables is every row of every table, as text: two equal dumps prove
// that nothing changed in between.
func (e *env) dumpTables() string {
	e.t.Helper()
	rows, err := e.raw.QueryContext(e.ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tb := range tables {
		r, err := e.raw.QueryContext(e.ctx, fmt.Sprintf(`SELECT * FROM "%s"`, tb))
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := r.Columns()
		for r.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			r.Scan(ptrs...)
			fmt.Fprintf(&b, "%s %v\n", tb, vals)
		}
		r.Close()
	}
	return b.String()
}

// refused runs op, which must fail with want, saying each of says, and
// leave every table as it was.
func (e *env) refused(want error, says []string, op func() error) {
	e.t.Helper()
	before := e.dumpTables()
	err := op()
	if !errors.Is(err, want) {
		e.t.Fatalf("got %v, want %v", err, want)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			e.t.Errorf("%q does not say %q", err, s)
		}
	}
	if e.dumpTables() != before {
		e.t.Fatal("a refused request changed the register")
	}
}

func (e *env) poolWith(p, region string, useAll bool) registry.Pool {
	e.t.Helper()
	pl, err := e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: mustPrefix(p), Region: region, UseAll: useAll})
	if err != nil {
		e.t.Fatalf("add pool %s: %v", p, err)
	}
	return pl
}

func prefixesOf(as []registry.Assignment) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Prefix.String())
	}
	return out
}

func TestAddressPolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pool   string
		useAll bool
		q      registry.Request
		want   []string
		err    error
	}{
		{name: "an IPv4 pool keeps back its network and broadcast addresses", pool: "10.9.0.0/30",
			q: registry.Request{Family: 4, Count: 2}, want: []string{"10.9.0.1/32", "10.9.0.2/32"}},
		{name: "an IPv4 pool has only its usable addresses to give", pool: "10.9.0.0/30",
			q: registry.Request{Family: 4, Count: 3}, err: registry.ErrNoSpace},
		{name: "a /31 is a point-to-point link: both addresses are handed out (RFC 3021)", pool: "10.9.0.4/31",
			q: registry.Request{Family: 4, Count: 2}, want: []string{"10.9.0.4/32", "10.9.0.5/32"}},
		{name: "--use-all hands out the network address (NAT pools)", pool: "10.9.0.0/30", useAll: true,
			q: registry.Request{Family: 4, Count: 4}, want: []string{"10.9.0.0/32", "10.9.0.1/32", "10.9.0.2/32", "10.9.0.3/32"}},
		{name: "a subnet never takes the network address of its pool", pool: "10.9.0.0/28",
			q: registry.Request{Family: 4, Bits: 30}, want: []string{"10.9.0.4/30"}},
		{name: "the first IPv6 /128 is not the subnet-router anycast address", pool: "fd00:9::/64",
			q: registry.Request{Family: 6, Count: 2}, want: []string{"fd00:9::1/128", "fd00:9::2/128"}},
		{name: "a /64 is handed out whole, anycast address and all", pool: "fd00:9::/63",
			q: registry.Request{Family: 6, Bits: 64}, want: []string{"fd00:9::/64"}},
		{name: "an IPv6 pool with --use-all hands out the anycast address", pool: "fd00:9::/64", useAll: true,
			q: registry.Request{Family: 6}, want: []string{"fd00:9::/128"}},
		{name: "a /127 never holds the anycast address either", pool: "fd00:9::/64",
			q: registry.Request{Family: 6, Bits: 127}, want: []string{"fd00:9::2/127"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.region("east", "none", 24)
			e.block("10.9.0.0/16")
			e.block("fd00:9::/32")
			e.poolWith(tc.pool, "east", tc.useAll)
			tc.q.Region = "east"
			before := e.dumpTables()
			got, err := e.reg.Allocate(e.ctx, tc.q)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				if e.dumpTables() != before {
					t.Fatalf("a refused allocation changed the register")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := prefixesOf(got); !slices.Equal(g, tc.want) {
				t.Fatalf("got %v, want %v", g, tc.want)
			}
		})
	}
}

func TestReleasedSlash128sMergeBackIntoTheWhole64(t *testing.T) {
	e := newEnv(t)
	e.region("east", "none", 24)
	e.block("fd00:9::/32")
	pl := e.poolWith("fd00:9::/64", "east", false)
	got, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	if e.freeOf(pl.ID)[0] != mustPrefix("fd00:9::6/127") {
		t.Fatalf("free list after 5 /128s: %v", e.freeOf(pl.ID))
	}
	for _, a := range got {
		if _, err := e.reg.Release(e.ctx, registry.Target{ID: a.ID}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if f := e.freeOf(pl.ID); !slices.Equal(f, []netip.Prefix{mustPrefix("fd00:9::/64")}) {
		t.Fatalf("free list after releasing every /128: %v, want the whole /64", f)
	}
	whole, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Bits: 64})
	if err != nil || whole[0].Prefix != mustPrefix("fd00:9::/64") {
		t.Fatalf("a /64 after the merge: %v %v", whole, err)
	}
}

func TestReservingAnycastInAWhole64(t *testing.T) {
	e := newEnv(t)
	e.region("east", "none", 24)
	e.block("fd00:9::/32")
	pl := e.poolWith("fd00:9::/64", "east", false)
	if _, err := e.reg.Reserve(e.ctx, registry.ReservationSpec{Prefix: mustPrefix("fd00:9::/126"), Reason: "routers"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east"})
	if err != nil || got[0].Prefix != mustPrefix("fd00:9::4/128") {
		t.Fatalf("first /128 beside the reservation: %v %v", got, err)
	}
	storetest.CheckInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
	e.reg.Release(e.ctx, registry.Target{ID: got[0].ID}, 0, nil)
	if _, err := e.reg.Unreserve(e.ctx, mustPrefix("fd00:9::/126")); err != nil {
		t.Fatal(err)
	}
	if f := e.freeOf(pl.ID); !slices.Equal(f, []netip.Prefix{pl.Prefix}) {
		t.Fatalf("free list after unreserve: %v, want the whole /64", f)
	}
	storetest.CheckInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
}

func TestSpecificAllocation(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := newEnv(t)
		e.region("east", "none", 24)
		e.region("west", "none", 24)
		e.block("10.9.0.0/16")
		e.block("fd00:9::/32")
		e.poolWith("10.9.0.0/24", "east", false)
		e.poolWith("10.9.1.0/24", "west", true)
		e.poolWith("fd00:9::/48", "east", false)
		if _, err := e.reg.Allocate(e.ctx, registry.Request{Prefix: mustPrefix("10.9.0.8/30"), Tenant: "acme", Resource: "db-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.Reserve(e.ctx, registry.ReservationSpec{Prefix: mustPrefix("10.9.0.16/28"), Reason: "gateways"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.AddTenant(e.ctx, registry.TenantSpec{Name: "small", MaxIPv4: ptr(int64(2))}); err != nil {
			t.Fatal(err)
		}
		return e
	}
	t.Run("exactly the space asked for, from the pool that holds it, and never again by the buddy", func(t *testing.T) {
		e := setup(t)
		got, err := e.reg.Allocate(e.ctx, registry.Request{Prefix: mustPrefix("10.9.0.1/32"), Tenant: "acme"})
		if err != nil || got[0].Prefix != mustPrefix("10.9.0.1/32") || got[0].Region != "east" {
			t.Fatalf("got %v %v", got, err)
		}
		next, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4, Count: 8})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range next {
			if a.Prefix.Overlaps(mustPrefix("10.9.0.8/30")) || a.Prefix.Overlaps(mustPrefix("10.9.0.16/28")) || a.Prefix == mustPrefix("10.9.0.1/32") || a.Prefix == mustPrefix("10.9.0.0/32") {
				t.Fatalf("region allocation handed out held space: %v", prefixesOf(next))
			}
		}
		storetest.CheckInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
	})
	t.Run("an idempotency key replays a specific allocation and refuses another", func(t *testing.T) {
		e := setup(t)
		q := registry.Request{Prefix: mustPrefix("fd00:9:0:5::/64"), Tenant: "acme", Key: "import-1"}
		a, err := e.reg.Allocate(e.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.reg.Allocate(e.ctx, q)
		if err != nil || b[0].ID != a[0].ID {
			t.Fatalf("replay: %v %v, want assignment %d", b, err, a[0].ID)
		}
		q.Prefix = mustPrefix("fd00:9:0:6::/64")
		if _, err := e.reg.Allocate(e.ctx, q); !errors.Is(err, registry.ErrIdempotency) {
			t.Fatalf("same key, other prefix: %v, want ErrIdempotency", err)
		}
	})
	for _, tc := range []struct {
		name string
		q    registry.Request
		err  error
		says []string
	}{
		{"space an assignment holds is refused, naming it", registry.Request{Prefix: mustPrefix("10.9.0.8/29")}, registry.ErrOverlap,
			[]string{"10.9.0.8/29", "held by assignment 1 (10.9.0.8/30", `tenant "acme" resource "db-1"`}},
		{"reserved space is refused, naming the reservation", registry.Request{Prefix: mustPrefix("10.9.0.20/32")}, registry.ErrOverlap,
			[]string{"reserved as 10.9.0.16/28 (gateways)"}},
		{"the network address is refused by the policy", registry.Request{Prefix: mustPrefix("10.9.0.0/32")}, registry.ErrOverlap,
			[]string{"network address of pool 10.9.0.0/24"}},
		{"a subnet holding the broadcast address is refused by the policy", registry.Request{Prefix: mustPrefix("10.9.0.252/30")}, registry.ErrOverlap,
			[]string{"broadcast address of pool 10.9.0.0/24"}},
		{"the anycast address is refused by the policy", registry.Request{Prefix: mustPrefix("fd00:9:0:1::/128")}, registry.ErrOverlap,
			[]string{"subnet-router anycast"}},
		{"outside every pool is not found", registry.Request{Prefix: mustPrefix("10.9.7.1/32")}, registry.ErrNotFound,
			[]string{"10.9.7.1/32", "outside every pool"}},
		{"across a pool's edge is invalid", registry.Request{Prefix: mustPrefix("10.9.0.0/23")}, registry.ErrInvalid,
			[]string{"not inside one pool"}},
		{"another region than the pool's is invalid", registry.Request{Region: "west", Prefix: mustPrefix("10.9.0.1/32")}, registry.ErrInvalid,
			[]string{"region east, not of region west"}},
		{"a count is invalid", registry.Request{Prefix: mustPrefix("10.9.0.1/32"), Count: 2}, registry.ErrInvalid, []string{"no --count"}},
		{"dual-stack is invalid", registry.Request{Prefix: mustPrefix("10.9.0.1/32"), DualStack: true}, registry.ErrInvalid, []string{"no --count or --dual-stack"}},
		{"a length other than the prefix's is invalid", registry.Request{Prefix: mustPrefix("10.9.0.0/30"), Bits: 29}, registry.ErrInvalid, []string{"/30", "/29"}},
		{"host bits are invalid", registry.Request{Prefix: netip.MustParsePrefix("10.9.0.1/30")}, registry.ErrInvalid, []string{"did you mean 10.9.0.0/30"}},
		{"a quota is checked like any allocation", registry.Request{Prefix: mustPrefix("10.9.0.32/30"), Tenant: "small"}, registry.ErrQuota,
			[]string{"quota max-ipv4 is 2"}},
		{"a restricted caller cannot allocate for an unknown tenant", registry.Request{Prefix: mustPrefix("10.9.0.1/32"), Tenant: "nobody"}, registry.ErrNotFound,
			[]string{"nobody"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			ctx := e.ctx
			if tc.q.Tenant == "nobody" {
				ctx = registry.Restricted(ctx)
			}
			e.refused(tc.err, tc.says, func() error { _, err := e.reg.Allocate(ctx, tc.q); return err })
		})
	}
}

func TestReservations(t *testing.T) {
	setup := func(t *testing.T) (*env, registry.Pool) {
		e := newEnv(t)
		e.region("east", "none", 24)
		e.block("10.9.0.0/16")
		return e, e.poolWith("10.9.0.0/29", "east", true)
	}
	t.Run("reserved space is never handed out, and unreserving merges it back", func(t *testing.T) {
		e, pl := setup(t)
		v, err := e.reg.Reserve(e.ctx, registry.ReservationSpec{Prefix: mustPrefix("10.9.0.0/30"), Reason: "gateways"})
		if err != nil || v.Pool != pl.Prefix || v.Region != "east" {
			t.Fatalf("reserve: %+v %v", v, err)
		}
		got, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4, Count: 4})
		if err != nil || !slices.Equal(prefixesOf(got), []string{"10.9.0.4/32", "10.9.0.5/32", "10.9.0.6/32", "10.9.0.7/32"}) {
			t.Fatalf("allocate around a reservation: %v %v", prefixesOf(got), err)
		}
		if _, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4}); !errors.Is(err, registry.ErrNoSpace) {
			t.Fatalf("a full pool but for its reservation: %v, want ErrNoSpace", err)
		}
		ps, _ := e.reg.Pools(e.ctx, "")
		if ps[0].Reserved != prefix.CountOf(4) || ps[0].Free != prefix.CountOf(0) {
			t.Fatalf("pool use: reserved %s free %s, want 4 and 0", ps[0].Reserved, ps[0].Free)
		}
		for _, a := range got {
			e.reg.Release(e.ctx, registry.Target{ID: a.ID}, 0, nil)
		}
		if _, err := e.reg.Unreserve(e.ctx, mustPrefix("10.9.0.0/30")); err != nil {
			t.Fatal(err)
		}
		if f := e.freeOf(pl.ID); !slices.Equal(f, []netip.Prefix{pl.Prefix}) {
			t.Fatalf("free list after unreserve: %v, want the whole pool", f)
		}
		evs, _ := e.reg.Events(e.ctx, registry.EventFilter{SubjectKind: "reservation"})
		var acts []string
		for _, ev := range evs {
			acts = append(acts, ev.Action)
		}
		if !slices.Equal(acts, []string{"reservation.add", "reservation.remove"}) {
			t.Fatalf("events %v", acts)
		}
		storetest.CheckInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
	})
	t.Run("a reservation ends at its time, by the registry's clock", func(t *testing.T) {
		e, pl := setup(t)
		until := e.clock.Now().Add(time.Hour)
		if _, err := e.reg.Reserve(e.ctx, registry.ReservationSpec{Prefix: mustPrefix("10.9.0.0/30"), Reason: "not yet", Until: &until}); err != nil {
			t.Fatal(err)
		}
		if vs, _ := e.reg.Reservations(e.ctx); len(vs) != 1 {
			t.Fatalf("reservations in force: %v", vs)
		}
		e.clock.Advance(2 * time.Hour)
		if vs, _ := e.reg.Reservations(e.ctx); len(vs) != 0 {
			t.Fatalf("an ended reservation still listed: %v", vs)
		}
		if ps, _ := e.reg.Pools(e.ctx, ""); ps[0].Reserved != prefix.CountOf(0) {
			t.Fatalf("an ended reservation still counts: %s", ps[0].Reserved)
		}
		got, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4})
		if err != nil || got[0].Prefix != mustPrefix("10.9.0.0/32") {
			t.Fatalf("after the end: %v %v, want 10.9.0.0/32", got, err)
		}
		evs, _ := e.reg.Events(e.ctx, registry.EventFilter{SubjectKind: "reservation"})
		if len(evs) != 2 || evs[1].Action != "reservation.expire" || evs[1].Actor != "system" {
			t.Fatalf("events %+v", evs)
		}
		_ = pl
	})
	for _, tc := range []struct {
		name string
		spec registry.ReservationSpec
		err  error
		says []string
	}{
		{"over a live assignment it is refused, naming it", registry.ReservationSpec{Prefix: mustPrefix("10.9.0.4/30"), Reason: "x"}, registry.ErrOverlap,
			[]string{"cannot be reserved", "held by assignment 1 (10.9.0.5/32"}},
		{"over another reservation it is refused, naming it", registry.ReservationSpec{Prefix: mustPrefix("10.9.0.0/31"), Reason: "x"}, registry.ErrOverlap,
			[]string{"reserved as 10.9.0.0/32 (router)"}},
		{"outside every pool it is not found", registry.ReservationSpec{Prefix: mustPrefix("10.9.1.0/24"), Reason: "x"}, registry.ErrNotFound, []string{"outside every pool"}},
		{"without a reason it is invalid", registry.ReservationSpec{Prefix: mustPrefix("10.9.0.2/31"), Reason: " "}, registry.ErrInvalid, []string{"give a reason"}},
		{"a reason with control characters is invalid", registry.ReservationSpec{Prefix: mustPrefix("10.9.0.2/31"), Reason: "a\x1bb"}, registry.ErrInvalid, []string{"reason"}},
		{"an end in the past is invalid", registry.ReservationSpec{Prefix: mustPrefix("10.9.0.2/31"), Reason: "x", Until: ptr(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))},
			registry.ErrInvalid, []string{"not in the future"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := setup(t)
			if _, err := e.reg.Allocate(e.ctx, registry.Request{Prefix: mustPrefix("10.9.0.5/32")}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.reg.Reserve(e.ctx, registry.ReservationSpec{Prefix: mustPrefix("10.9.0.0/32"), Reason: "router"}); err != nil {
				t.Fatal(err)
			}
			e.refused(tc.err, tc.says, func() error { _, err := e.reg.Reserve(e.ctx, tc.spec); return err })
		})
	}
}
