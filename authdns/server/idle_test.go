package server_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// leaseCounter counts the rollover lease writes a server makes.
type leaseCounter struct {
	zone.Store
	n atomic.Int64
}

func (l *leaseCounter) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	l.n.Add(1)
	return l.Store.AcquireLease(ctx, name, holder, now, until)
}

// An idle server with signed zones writes nothing at its polls: the
// rollover lease (a durable commit, taking SQLite's one write lock from
// the register's writers) was renewed at every poll, about 86,400 commits
// a day at the default poll; now it is taken only when a rollover step is
// due, and the step is still made.
func TestIdlePollsWriteNothing(t *testing.T) {
	e := newEnv(t, true)
	const lifetime = 30 * 24 * time.Hour
	if _, err := e.mgr.UpdateZone(e.ctx, v4Zone, func(c *zone.Config) error {
		c.ZSKLifetime, c.Propagation = lifetime, time.Hour
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t0 := keysByRole(t, e, v4Zone)[zone.ZSK][0].ActiveAt
	clock := newFakeClock(t0.Add(time.Minute))
	counted := &leaseCounter{Store: e.store}
	s := server.NewServer(e.reg, counted, e.sealer, server.Options{Listen: "127.0.0.1:0", Poll: 5 * time.Millisecond, Now: clock.Now})
	if err := s.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	serial := s.Serial(v4Zone)
	// At least 20 polls; under load a poll may take longer than 5 ms,
	// so wait for them by time, bounded.
	time.Sleep(300 * time.Millisecond)
	if n := counted.n.Load(); n != 0 {
		t.Fatalf("%d rollover lease writes while no step was due, want 0", n)
	}
	// A step due: the lease is taken and the successor published.
	zsks := len(keysByRole(t, e, v4Zone)[zone.ZSK])
	clock.Set(t0.Add(lifetime))
	for deadline := time.Now().Add(10 * time.Second); len(keysByRole(t, e, v4Zone)[zone.ZSK]) == zsks; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no successor ZSK 10 s after the rollover was due (%d lease writes)", counted.n.Load())
		}
	}
	if counted.n.Load() == 0 {
		t.Fatal("a rollover step was made without the lease")
	}
	for deadline := time.Now().Add(10 * time.Second); s.Serial(v4Zone) == serial; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the successor's DNSKEY was not served within 10 s")
		}
	}
}
