package registry_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// The rules of the register, one test case each, named for the rule.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"allocation takes the lowest address of the smallest free prefix that fits", func(t *testing.T, e *env) {
			e.standard(24)
			// 10.0.0.0/24 and 10.0.1.0/26: the /26 is the smallest prefix holding a /27.
			got := prefixes(e.alloc(registry.Request{Region: "east", Family: 4, Bits: 27}))
			want(t, got, "10.0.1.0/27")
			got = prefixes(e.alloc(registry.Request{Region: "east", Family: 4, Count: 3}))
			want(t, got, "10.0.1.32/32", "10.0.1.33/32", "10.0.1.34/32")
			got = prefixes(e.alloc(registry.Request{Region: "east", Family: 4, Bits: 26}))
			want(t, got, "10.0.0.0/26")
			got = prefixes(e.alloc(registry.Request{Region: "east"}))
			want(t, got, "fd00::/128")
		}},
		{"relocation re-homes the /24 to the borrower", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "east", Family: 4, Count: 256 + 64})
			got := e.alloc(registry.Request{Region: "east", Family: 4, Tenant: "acme"})
			a := got[0]
			if a.Prefix != mustPrefix("10.0.2.0/32") || !a.Borrowed || a.Region != "east" || a.Pool != mustPrefix("10.0.2.0/24") {
				t.Fatalf("borrowed assignment = %+v", a)
			}
			if r := a.Relocation; r == nil || r.Prefix != mustPrefix("10.0.2.0/24") || r.FromRegion != "south" || r.ToRegion != "east" {
				t.Fatalf("relocation = %+v", a.Relocation)
			}
			rels, err := e.reg.Relocations(e.ctx)
			if err != nil || len(rels) != 1 {
				t.Fatalf("relocations = %v, %v", rels, err)
			}
			rel := rels[0]
			if rel.Prefix != mustPrefix("10.0.2.0/24") || rel.FromRegion != "south" || rel.ToRegion != "east" || !rel.CreatedAt.Equal(e.clock.Now()) ||
				!strings.Contains(rel.Reason, "east") || !strings.Contains(rel.Reason, "south") {
				t.Fatalf("relocation = %+v", rel)
			}
			// The unit belongs to east everywhere: its pools, show, and south's size.
			east, _ := e.reg.Pools(e.ctx, "east")
			if i := slices.IndexFunc(east, func(p registry.PoolUsage) bool { return p.Prefix == rel.Prefix }); i < 0 || east[i].Relocation == nil || east[i].Size.String() != "256" {
				t.Fatalf("east pools = %+v", east)
			}
			south, _ := e.reg.Pools(e.ctx, "south")
			for _, p := range south {
				if p.Prefix == mustPrefix("10.0.2.0/23") && p.Size.String() != "256" {
					t.Fatalf("south's pool still counts the lent /24: size %s", p.Size)
				}
			}
			h, err := e.reg.Show(e.ctx, mustPrefix("10.0.2.0/32"))
			if err != nil || h.Pool == nil || h.Pool.Region != "east" || h.Relocation == nil || h.Assignment == nil || h.Assignment.ID != a.ID {
				t.Fatalf("show = %+v, %v", h, err)
			}
			// South allocates from what it has left, never from the lent unit.
			got = e.alloc(registry.Request{Region: "south", Family: 4})
			want(t, prefixes(got), "10.0.3.0/32")
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"borrowing forbidden by policy names region, family and policy", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "south", Family: 4, Count: 512})
			_, err := e.reg.Allocate(e.ctx, registry.Request{Region: "south", Family: 4})
			var pe *registry.PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, registry.ErrPolicy) || !errors.Is(err, registry.ErrNoSpace) {
				t.Fatalf("err = %v, want a PolicyError", err)
			}
			for _, s := range []string{"region south", "IPv4", `"none"`} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			// east may borrow, but its only lender is full: the message says so.
			e.alloc(registry.Request{Region: "east", Family: 4, Count: 320})
			_, err = e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4})
			if !errors.As(err, &pe) || pe.Region != "east" || pe.Family != 4 || !strings.Contains(err.Error(), `"south"`) || !strings.Contains(err.Error(), "lender") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"a failed request changes nothing", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "south", Family: 4, Count: 500})
			for _, q := range []registry.Request{
				{Region: "south", Family: 4, Count: 13},
				{Region: "south", Family: 4, Bits: 22},
				{Region: "nowhere", Family: 4},
				{Region: "south", Family: 5},
				{Region: "south", DualStack: true, Count: 13},
			} {
				before := e.dump()
				if _, err := e.reg.Allocate(e.ctx, q); err == nil {
					t.Fatalf("%+v: no error", q)
				}
				if after := e.dump(); after != before {
					t.Fatalf("%+v changed the database:\n%s", q, diff(before, after))
				}
			}
		}},
		{"idempotency key with the same request returns the same assignments after reopening the store", func(t *testing.T, e *env) {
			e.standard(24)
			q := registry.Request{Region: "east", DualStack: true, Count: 2, Tenant: "acme", Key: "vm-42"}
			first := e.alloc(q)
			events := e.count("SELECT COUNT(*) FROM events")
			e.store.Close()
			e2 := openEnv(t, e.path, e.clock)
			e2.clock.Advance(48 * time.Hour)
			again := e2.alloc(q)
			if len(again) != len(first) {
				t.Fatalf("retry gave %d assignments, first %d", len(again), len(first))
			}
			for i := range first {
				if again[i].ID != first[i].ID || again[i].Prefix != first[i].Prefix {
					t.Fatalf("retry %d: %d %s, first %d %s", i, again[i].ID, again[i].Prefix, first[i].ID, first[i].Prefix)
				}
			}
			if n := e2.count("SELECT COUNT(*) FROM events"); n != events {
				t.Fatalf("retry wrote %d events", n-events)
			}
			if n := e2.count("SELECT COUNT(*) FROM assignments"); n != 4 {
				t.Fatalf("%d assignments after retry, want 4", n)
			}
			// The key belongs to its tenant: another tenant's same key is another request.
			other := e2.alloc(registry.Request{Region: "east", DualStack: true, Count: 2, Tenant: "other", Key: "vm-42"})
			if other[0].ID == first[0].ID {
				t.Fatal("another tenant's key returned acme's assignment")
			}
		}},
		{"idempotency key with a different request fails", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "east", Family: 4, Tenant: "acme", Key: "k"})
			for _, q := range []registry.Request{
				{Region: "east", Family: 4, Count: 2, Tenant: "acme", Key: "k"},
				{Region: "east", Family: 6, Tenant: "acme", Key: "k"},
				{Region: "south", Family: 4, Tenant: "acme", Key: "k"},
				{Region: "east", Family: 4, Tenant: "acme", Name: "vm.example.com", Key: "k"},
			} {
				before := e.dump()
				_, err := e.reg.Allocate(e.ctx, q)
				if !errors.Is(err, registry.ErrIdempotency) || !strings.Contains(err.Error(), `"k"`) {
					t.Fatalf("%+v: err = %v, want ErrIdempotency naming the key", q, err)
				}
				if after := e.dump(); after != before {
					t.Fatalf("%+v changed the database:\n%s", q, diff(before, after))
				}
			}
		}},
		{"dual-stack is both or neither", func(t *testing.T, e *env) {
			e.standard(24)
			got := e.alloc(registry.Request{Region: "south", DualStack: true})
			want(t, prefixes(got), "fd00::100/128", "10.0.2.0/32")
			// IPv4 gone (south may not borrow): no IPv6 is taken either.
			e.alloc(registry.Request{Region: "south", Family: 4, Count: 511})
			before := e.dump()
			if _, err := e.reg.Allocate(e.ctx, registry.Request{Region: "south", DualStack: true}); !errors.Is(err, registry.ErrNoSpace) {
				t.Fatalf("err = %v", err)
			}
			if after := e.dump(); after != before {
				t.Fatalf("failed dual-stack changed the database:\n%s", diff(before, after))
			}
			// IPv6 gone: no IPv4 is taken either.
			e.alloc(registry.Request{Region: "east", Family: 6, Count: 256})
			before = e.dump()
			if _, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", DualStack: true}); !errors.Is(err, registry.ErrNoSpace) {
				t.Fatalf("err = %v", err)
			}
			if after := e.dump(); after != before {
				t.Fatalf("failed dual-stack changed the database:\n%s", diff(before, after))
			}
		}},
		{"count larger than free space allocates nothing", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "south", Family: 4, Count: 12})
			before := e.dump()
			_, err := e.reg.Allocate(e.ctx, registry.Request{Region: "south", Family: 4, Count: 501})
			if !errors.Is(err, registry.ErrNoSpace) {
				t.Fatalf("err = %v", err)
			}
			if after := e.dump(); after != before {
				t.Fatalf("changed the database:\n%s", diff(before, after))
			}
			if got := e.alloc(registry.Request{Region: "south", Family: 4, Count: 500}); len(got) != 500 || got[499].Prefix != mustPrefix("10.0.3.255/32") {
				t.Fatalf("exact fit: %d assignments, last %v", len(got), got[len(got)-1].Prefix)
			}
		}},
		{"quarantine holds the address until the cool-down ends, then it merges back", func(t *testing.T, e *env) {
			e.standard(24)
			a := e.alloc(registry.Request{Region: "south", Family: 4})[0]
			r, err := e.reg.Release(e.ctx, registry.Target{ID: a.ID}, time.Hour, nil)
			if err != nil || r.State != registry.StateQuarantined || !r.QuarantineUntil.Equal(e.clock.Now().Add(time.Hour)) {
				t.Fatalf("release = %+v, %v", r, err)
			}
			if _, err := e.reg.Release(e.ctx, registry.Target{ID: a.ID}, 0, nil); !errors.Is(err, registry.ErrState) {
				t.Fatalf("second release: %v", err)
			}
			b := e.alloc(registry.Request{Region: "south", Family: 4})[0]
			if b.Prefix == a.Prefix {
				t.Fatalf("quarantined %s handed out again", a.Prefix)
			}
			e.clock.Advance(59 * time.Minute)
			if c := e.alloc(registry.Request{Region: "south", Family: 4})[0]; c.Prefix == a.Prefix {
				t.Fatalf("%s handed out a minute before its quarantine ends", a.Prefix)
			}
			e.clock.Advance(time.Minute)
			// Ended: counted as free at once, merged back at the next write.
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
			if free := e.freeOf(a.PoolID); slices.Contains(free, a.Prefix) {
				t.Fatalf("ended quarantine %s in the free list before any write", a.Prefix)
			}
			e.alloc(registry.Request{Region: "south", Family: 6}) // any write reaps
			got, _ := e.reg.Assignment(e.ctx, a.ID, nil)
			if got.State != registry.StateReleased {
				t.Fatalf("after the cool-down and a write: state %s", got.State)
			}
			if free := e.freeOf(a.PoolID); !slices.Contains(free, a.Prefix) {
				t.Fatalf("ended quarantine %s not back in the free list %v", a.Prefix, free)
			}
			// Its buddy still assigned, it is a free /32, the smallest that fits.
			c := e.alloc(registry.Request{Region: "south", Family: 4})[0]
			if c.Prefix != a.Prefix {
				t.Fatalf("after the cool-down got %s, want %s", c.Prefix, a.Prefix)
			}
			// Released at once, it and its buddy merge back into a /31.
			e.reg.Release(e.ctx, registry.Target{ID: c.ID}, 0, nil)
			e.reg.Release(e.ctx, registry.Target{ID: b.ID}, 0, nil)
			if free := e.freeOf(a.PoolID); !slices.Contains(free, mustPrefix("10.0.2.0/31")) {
				t.Fatalf("free list %v does not hold the merged 10.0.2.0/31", free)
			}
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"ended quarantines are reused before borrowing, however many ended at once", func(t *testing.T, e *env) {
			e.standard(24)
			v6 := e.alloc(registry.Request{Region: "east", Family: 6, Count: 256})
			v4 := e.alloc(registry.Request{Region: "east", Family: 4, Count: 320})
			for _, a := range append(v6, v4...) {
				if _, err := e.reg.Release(e.ctx, registry.Target{ID: a.ID}, time.Minute, nil); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(time.Hour)
			pools, _ := e.reg.Pools(e.ctx, "east")
			for _, p := range pools {
				if p.Free != p.Size {
					t.Fatalf("pool %s: free %s of %s after every quarantine ended", p.Prefix, p.Free, p.Size)
				}
			}
			got := e.alloc(registry.Request{Region: "east", Family: 4})[0]
			if got.Borrowed || got.Prefix != mustPrefix("10.0.1.0/32") {
				t.Fatalf("with 320 ended quarantines in its own pools east got %s (borrowed %v), want 10.0.1.0/32", got.Prefix, got.Borrowed)
			}
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"a write returns a batch of ended quarantines, not all of them; a pinned address held by one of the rest is handed out", func(t *testing.T, e *env) {
			// Every ended quarantine returned before a write made the first
			// write after a pause pay for all of them (49,519 at ten
			// million, 9-15 s of CPU for one allocation: issue 16).
			e.standard(24)
			v6 := e.alloc(registry.Request{Region: "east", Family: 6, Count: 256})
			v4 := e.alloc(registry.Request{Region: "east", Family: 4, Count: 320})
			last := mustPrefix("10.0.1.63/32")
			for _, a := range append(v6, v4...) {
				q := time.Minute
				if a.Prefix == last {
					q = 30 * time.Minute // ends last: returned last
				}
				if _, err := e.reg.Release(e.ctx, registry.Target{ID: a.ID}, q, nil); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(time.Hour)
			quarantined := func() int {
				t.Helper()
				as, err := e.reg.Assignments(e.ctx, registry.AssignmentFilter{States: []registry.State{registry.StateQuarantined}})
				if err != nil {
					t.Fatal(err)
				}
				return len(as)
			}
			e.alloc(registry.Request{Region: "south", Family: 4}) // south has room: no need of east's
			if n := quarantined(); n != 576-256 {
				t.Fatalf("after the first write %d of 576 ended quarantines are left, want %d: the write returned %d to free space, want at most 256", n, 576-256, 576-n)
			}
			// The next write returns 256 more, the oldest (by end, then
			// ID); 10.0.1.63 is among the 64 left, and held: it is
			// returned alone, then handed out.
			got := e.alloc(registry.Request{Region: "east", Prefix: last})
			if got[0].Prefix != last {
				t.Fatalf("pinned allocation got %v", got[0].Prefix)
			}
			if n := quarantined(); n != 63 {
				t.Fatalf("after a pinned allocation in one of them %d ended quarantines are left, want 63", n)
			}
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"release 0 frees at once and merges buddies", func(t *testing.T, e *env) {
			e.standard(24)
			got := e.alloc(registry.Request{Region: "east", Family: 4, Count: 3})
			got = append(got, e.alloc(registry.Request{Region: "east", Family: 4, Bits: 30})...)
			for _, a := range got {
				r, err := e.reg.Release(e.ctx, registry.Target{Prefix: a.Prefix}, 0, nil)
				if err != nil || r.State != registry.StateReleased || r.QuarantineUntil != nil {
					t.Fatalf("release %s = %+v, %v", a.Prefix, r, err)
				}
			}
			free := e.freeOf(got[0].PoolID)
			if len(free) != 1 || free[0] != mustPrefix("10.0.1.0/26") {
				t.Fatalf("free list after releasing everything: %v, want the whole pool", free)
			}
			if _, err := e.reg.Release(e.ctx, registry.Target{Prefix: got[0].Prefix}, 0, nil); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("releasing a free prefix: %v", err)
			}
			if _, err := e.reg.Release(e.ctx, registry.Target{Prefix: mustPrefix("10.0.1.0/30")}, 0, nil); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("releasing a prefix never assigned: %v", err)
			}
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"IPv6 is never borrowed", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "east", Family: 6, Count: 256})
			_, err := e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 6})
			if !errors.Is(err, registry.ErrNoSpace) || errors.Is(err, registry.ErrPolicy) || !strings.Contains(err.Error(), "IPv6") {
				t.Fatalf("err = %v", err)
			}
			if rels, _ := e.reg.Relocations(e.ctx); len(rels) != 0 {
				t.Fatalf("relocations: %v", rels)
			}
		}},
		{"the borrow unit follows the region's setting", func(t *testing.T, e *env) {
			e.standard(28)
			e.alloc(registry.Request{Region: "east", Family: 4, Count: 320})
			got := e.alloc(registry.Request{Region: "east", Family: 4, Count: 17})
			if got[0].Relocation == nil || got[0].Relocation.Prefix != mustPrefix("10.0.2.0/28") || got[16].Relocation.Prefix != mustPrefix("10.0.2.16/28") {
				t.Fatalf("borrowed %v then %v", got[0].Relocation, got[16].Relocation)
			}
			// A request larger than the unit borrows a unit of its own size.
			got = e.alloc(registry.Request{Region: "east", Family: 4, Bits: 25})
			if got[0].Prefix != mustPrefix("10.0.2.128/25") || got[0].Relocation.Prefix != got[0].Prefix {
				t.Fatalf("a /25 borrowed as %v", got[0].Relocation)
			}
			checkInvariants(t, e.ctx, e.store, e.reg, e.clock.Now())
		}},
		{"the event log is append-only", func(t *testing.T, e *env) {
			e.standard(24)
			e.alloc(registry.Request{Region: "east", Family: 4})
			n := e.count("SELECT COUNT(*) FROM events")
			for _, q := range []string{"UPDATE events SET actor = 'mallory'", "DELETE FROM events", "DELETE FROM events WHERE seq = 1", "UPDATE events SET seq = seq + 100"} {
				if _, err := e.raw.ExecContext(e.ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: err = %v, want refusal", q, err)
				}
			}
			if m := e.count("SELECT COUNT(*) FROM events WHERE actor <> 'mallory'"); m != n {
				t.Fatalf("events: %d, want %d", m, n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newEnv(t))
		})
	}
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// Every mutation writes its event, one per changed thing, in the same
// transaction: a failed mutation writes none.
func TestEveryMutationWritesItsEventsInTheSameTransaction(t *testing.T) {
	e := newEnv(t)
	var prev int
	step := func(name string, wantEvents int, actions ...string) {
		t.Helper()
		n := e.count("SELECT COUNT(*) FROM events")
		if n-prev != wantEvents {
			t.Fatalf("%s: wrote %d events, want %d", name, n-prev, wantEvents)
		}
		rows, err := e.raw.QueryContext(e.ctx, "SELECT action FROM events WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM events) - ? ORDER BY seq", wantEvents)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var a string
			rows.Scan(&a)
			got = append(got, a)
		}
		rows.Close()
		if len(actions) > 0 && !slices.Equal(got, actions) {
			t.Fatalf("%s: actions %v, want %v", name, got, actions)
		}
		prev = n
	}
	e.region("south", "none", 0)
	step("add region", 1, "region.add")
	e.region("east", "south", 24)
	step("add region", 1)
	e.block("10.0.0.0/16")
	step("add block", 1, "block.add")
	e.block("fd00::/64")
	step("add block", 1)
	e.pool("10.0.0.0/24", "east")
	step("add pool", 1, "pool.add")
	e.pool("10.0.2.0/23", "south")
	e.pool("fd00::/120", "east")
	step("add pools", 2)
	as := e.alloc(registry.Request{Region: "east", Family: 4, Count: 3})
	step("allocate 3", 3, "assignment.allocate", "assignment.allocate", "assignment.allocate")
	ds := e.alloc(registry.Request{Region: "east", DualStack: true})
	step("allocate dual-stack", 2)
	e.alloc(registry.Request{Region: "east", Family: 4, Count: 252})
	step("allocate the rest", 252)
	e.alloc(registry.Request{Region: "east", Family: 4})
	step("allocate by borrowing", 2, "relocation.create", "assignment.allocate")
	e.reg.Release(e.ctx, registry.Target{ID: as[0].ID}, time.Minute, nil)
	e.reg.Release(e.ctx, registry.Target{ID: as[1].ID}, time.Minute, nil)
	step("release twice", 2, "assignment.release", "assignment.release")
	e.clock.Advance(time.Hour)
	e.reg.Release(e.ctx, registry.Target{ID: as[2].ID}, 0, nil)
	step("release, reaping two ended quarantines", 3, "assignment.free", "assignment.free", "assignment.release")
	e.reg.Allocate(e.ctx, registry.Request{Region: "east", Family: 4, Count: 1000})
	e.reg.AddPool(e.ctx, registry.PoolSpec{Prefix: mustPrefix("10.0.0.0/25"), Region: "south", UseAll: true})
	e.reg.AddRegion(e.ctx, registry.RegionSpec{Name: "east"})
	e.reg.Release(e.ctx, registry.Target{ID: as[0].ID}, 0, nil)
	step("failed mutations", 0)

	// A mutation whose event cannot be written does not happen.
	before := e.dump()
	broken := registry.New(failingEvents{e.store}, registry.WithClock(e.clock.Now))
	if _, err := broken.Allocate(e.ctx, registry.Request{Region: "east", Family: 4}); !errors.Is(err, errNoEvent) {
		t.Fatalf("allocate without its event: %v", err)
	}
	if _, err := broken.Release(e.ctx, registry.Target{ID: ds[0].ID}, 0, nil); !errors.Is(err, errNoEvent) {
		t.Fatalf("release without its event: %v", err)
	}
	if _, err := broken.AddRegion(e.ctx, registry.RegionSpec{Name: "west", Location: location.Location{Country: "US"}}); !errors.Is(err, errNoEvent) {
		t.Fatalf("add region without its event: %v", err)
	}
	if after := e.dump(); after != before {
		t.Fatalf("mutations whose event failed persisted:\n%s", diff(before, after))
	}
}

var errNoEvent = errors.New("test: event log refuses")

// failingEvents is a Store whose transactions cannot append events.
type failingEvents struct{ registry.Store }

func (s failingEvents) Update(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.Update(ctx, func(tx registry.Tx) error { return fn(noEventTx{tx}) })
}

type noEventTx struct{ registry.Tx }

func (noEventTx) AppendEvent(context.Context, *registry.Event) error { return errNoEvent }

// Report: rate over the last 30 days, runway = free / rate for IPv4 only,
// IPv6 share of live assignments.
func TestReportRateAndRunway(t *testing.T) {
	e := newEnv(t)
	e.standard(24)
	e.alloc(registry.Request{Region: "east", Family: 4, Count: 40}) // older than the window
	e.clock.Advance(31 * 24 * time.Hour)
	e.alloc(registry.Request{Region: "east", Family: 4, Count: 30})
	e.alloc(registry.Request{Region: "east", Family: 4, Bits: 30}) // 4 addresses
	e.alloc(registry.Request{Region: "east", Family: 6, Count: 6})
	q := e.alloc(registry.Request{Region: "east", Family: 4, Count: 2})
	for _, a := range q {
		e.reg.Release(e.ctx, registry.Target{ID: a.ID}, time.Hour, nil)
	}
	rows, err := e.reg.Report(e.ctx, "east")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	v4, v6 := rows[0], rows[1]
	if v4.Family != 4 || v6.Family != 6 {
		t.Fatalf("rows = %+v", rows)
	}
	// 36 addresses in 30 days; 320 - 74 assigned - 2 quarantined = 244 free.
	const rate = 36.0 / 30
	if v4.Size.String() != "320" || v4.Assigned.String() != "74" || v4.Quarantined.String() != "2" || v4.Free.String() != "244" {
		t.Fatalf("v4 = %+v", v4)
	}
	if !near(v4.RatePerDay, rate) || v4.RunwayDays == nil || !near(*v4.RunwayDays, 244/rate) {
		t.Fatalf("v4 rate %v runway %v, want %v and %v", v4.RatePerDay, v4.RunwayDays, rate, 244/rate)
	}
	if !near(v4.Utilization, 74.0/320) {
		t.Fatalf("v4 utilization %v, want the fraction 74/320", v4.Utilization)
	}
	// IPv6 counts in the unit it is handed out in, at most a /64: a
	// /120 pool holds no whole /64.
	if v4.Unit != 32 || v6.Unit != 64 || v6.FreeUnits.String() != "0" {
		t.Fatalf("units: v4 /%d, v6 /%d with %v free", v4.Unit, v6.Unit, v6.FreeUnits)
	}
	if v6.RunwayDays != nil || !near(v6.RatePerDay, 6.0/30) {
		t.Fatalf("v6 = %+v", v6)
	}
	// Live assignments: 71 IPv4 (+2 quarantined) and 6 IPv6.
	if want := 6.0 / (6 + 71 + 2); !near(v4.IPv6Share, want) || !near(v6.IPv6Share, want) {
		t.Fatalf("IPv6 share %v / %v, want %v", v4.IPv6Share, v6.IPv6Share, want)
	}
	// A month later with no allocations there is no rate and no runway.
	e.clock.Advance(31 * 24 * time.Hour)
	rows, _ = e.reg.Report(e.ctx, "south")
	if rows[0].RatePerDay != 0 || rows[0].RunwayDays != nil {
		t.Fatalf("south = %+v", rows[0])
	}
	rows, _ = e.reg.Report(e.ctx, "east")
	if rows[0].RunwayDays != nil || rows[0].Quarantined.String() != "0" || rows[0].Free.String() != "246" {
		t.Fatalf("east a month later = %+v", rows[0])
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }

// TestNameTakenErrorReads: the refusal reads as English for every kind of
// holder ("already held by an assignment of another tenant", not "a
// assignment"), the message every client of the API and the CLI shows.
func TestNameTakenErrorReads(t *testing.T) {
	for _, c := range []struct {
		kind registry.HolderKind
		want string
	}{
		{registry.HolderAssignment, "name a.example: already held by an assignment of another tenant"},
		{registry.HolderApex, "name a.example: already held by a zone apex"},
		{registry.HolderNameServer, "name a.example: already held by a name server"},
		{registry.HolderGlue, "name a.example: already held by a glue"},
		{registry.HolderRecord, "name a.example: already held by a static record"},
		{registry.HolderSynthesis, "name a.example: already held by a synthesised name"},
	} {
		if got := (&registry.NameTakenError{Name: "a.example", Holder: c.kind}).Error(); got != c.want {
			t.Errorf("%s: %q, want %q", c.kind, got, c.want)
		}
	}
}
