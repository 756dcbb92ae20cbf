package server_test

import (
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Two replicas on one PostgreSQL database each run Roll on their own
// timer; here eight goroutines run it at once on both, at each step of a
// ZSK rollover: each step is made once, and one successor key is made.
// When the replica holding the rollover lease stops, the other takes
// over once the lease runs out.
func TestOneRollerAmongReplicas(t *testing.T) {
	dsn := pgSchema(t)
	e := newEnvOn(t, true, openPG(t, dsn))
	const lifetime = 30 * 24 * time.Hour
	if _, err := e.mgr.UpdateZone(e.ctx, v4Zone, func(c *zone.Config) error {
		c.ZSKLifetime, c.Propagation = lifetime, time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t0 := keysByRole(t, e, v4Zone)[zone.ZSK][0].ActiveAt
	clock := newFakeClock(t0)
	other := openPG(t, dsn)
	opt := server.Options{Now: clock.Now, RollLease: time.Minute}
	a := server.NewServer(e.reg, e.store, e.sealer, opt)
	b := server.NewServer(registry.New(other), other, e.sealer, opt)
	reload := func() {
		t.Helper()
		for _, s := range []*server.Server{a, b} {
			if err := s.Reload(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(action string) int {
		evs, err := events(t, e)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Action == action && ev.SubjectKind == zone.SubjectKey {
				n++
			}
		}
		return n
	}
	// rollAll runs Roll on the servers from 8 goroutines at once and
	// says how many calls reported a change.
	rollAll := func(servers ...*server.Server) int {
		t.Helper()
		reload()
		var wg sync.WaitGroup
		var mu sync.Mutex
		changed := 0
		for i := range 8 {
			s := servers[i%len(servers)]
			wg.Go(func() {
				ok, err := s.Roll(e.ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("roll: %v", err)
				}
				if ok {
					changed++
				}
			})
		}
		wg.Wait()
		reload()
		return changed
	}
	adds, rolls := count("key.add"), count("key.roll")

	steps := []struct {
		name        string
		at          time.Duration // after t0
		servers     []*server.Server
		adds, rolls int // events the step makes
		zsks        int
	}{
		{"the successor is published once", lifetime, []*server.Server{a, b}, 1, 0, 2},
		{"it begins to sign, the old key stops, once", lifetime + 3*time.Hour, []*server.Server{a, b}, 0, 2, 2},
		{"nothing is due: nothing happens", lifetime + 3*time.Hour + time.Second, []*server.Server{a, b}, 0, 0, 2},
		// a stops; after its lease b retires the old key alone.
		{"the other replica takes over when the holder is gone", lifetime + 2*24*time.Hour, []*server.Server{b}, 0, 1, 2},
	}
	for _, st := range steps {
		clock.Set(t0.Add(st.at))
		changed := rollAll(st.servers...)
		gotAdds, gotRolls := count("key.add")-adds, count("key.roll")-rolls
		adds, rolls = adds+gotAdds, rolls+gotRolls
		zsks := keysByRole(t, e, v4Zone)[zone.ZSK]
		if gotAdds != st.adds || gotRolls != st.rolls || len(zsks) != st.zsks {
			t.Fatalf("%s: %d key.add and %d key.roll events, %d ZSKs; want %d, %d, %d", st.name, gotAdds, gotRolls, len(zsks), st.adds, st.rolls, st.zsks)
		}
		if want := min(st.adds+st.rolls, 1); changed != want {
			t.Errorf("%s: %d Roll calls reported a change, want %d", st.name, changed, want)
		}
	}
	zsks := keysByRole(t, e, v4Zone)[zone.ZSK]
	if zsks[0].State != zone.KeyRetired || zsks[1].State != zone.KeyActive {
		t.Fatalf("ZSKs at the end: %+v", zsks)
	}
}
