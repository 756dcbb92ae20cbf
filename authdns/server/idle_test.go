package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/server"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// leaseCounter counts the rollover lease writes a server makes, and its
// reads of the keys (a rollover plan or a build).
type leaseCounter struct {
	zone.Store
	n, keys atomic.Int64
}

func (l *leaseCounter) Keys(ctx context.Context, zoneID int64) ([]zone.Key, error) {
	l.keys.Add(1)
	return l.Store.Keys(ctx, zoneID)
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

// The event log is polled often (DefaultPoll, a tenth of a second: a new
// name is answered within about that plus its build, where the 1 s poll
// was most of the time a change took), and the housekeeping that needs
// more than the log's position (rollover plans, cookie secrets) runs every
// Housekeep only. Polls that find nothing read nothing else; a change is
// still served at the next poll.
func TestPollsOftenHousekeepsSeldom(t *testing.T) {
	if server.DefaultPoll > 200*time.Millisecond {
		t.Fatalf("DefaultPoll %v: a change waits up to that before it is noticed", server.DefaultPoll)
	}
	e := newEnv(t, true)
	counted := &leaseCounter{Store: e.store}
	s := server.NewServer(e.reg, counted, e.sealer, server.Options{Listen: "127.0.0.1:0", Poll: 5 * time.Millisecond, Housekeep: time.Hour})
	if err := s.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	// Start's build and the loop's first housekeeping read the keys; an
	// idle poll after them does not.
	time.Sleep(100 * time.Millisecond)
	before := counted.keys.Load()
	time.Sleep(300 * time.Millisecond)
	if n := counted.keys.Load() - before; n != 0 {
		t.Fatalf("%d key reads in 300 ms of idle 5 ms polls with hourly housekeeping, want 0", n)
	}
	serial := s.Serial(fwdZone)
	e.alloc(6, "polled."+fwdZone)
	for deadline := time.Now().Add(10 * time.Second); s.Serial(fwdZone) == serial; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a new name was not served within 10 s of 5 ms polls")
		}
	}
}

// An AXFR streams the zone as it walks it, without sorting or collecting
// it first (at 237,000 signed names the sort outlasted a secondary's 5 s
// wait for the first message): the SOA opens and closes it, and it
// carries exactly the records the zone serves, each once.
func TestAXFRStreamsEveryRecordOnce(t *testing.T) {
	e := newEnv(t, true)
	for i := range 300 {
		e.alloc(6, fmt.Sprintf("h%03d.a%d.%s", i, i%7, fwdZone))
	}
	e.start(server.Options{})
	for _, z := range []string{fwdZone, v4Zone, v6Zone} {
		e.waitFor("the new names", func() bool { return len(e.srv.ZoneRecords(z)) > 0 })
		m := new(dns.Msg)
		m.SetAxfr(z)
		m.SetTsig(tsigName, dns.HmacSHA256, 300, time.Now().Unix())
		tr := &dns.Transfer{TsigSecret: map[string]string{tsigName: tsigValue}}
		ch, err := tr.In(m, e.addr)
		if err != nil {
			t.Fatal(err)
		}
		var got []dns.RR
		msgs := 0
		for env := range ch {
			if env.Error != nil {
				t.Fatalf("AXFR %s: %v", z, env.Error)
			}
			msgs++
			got = append(got, env.RR...)
		}
		want := e.srv.ZoneRecords(z) // canonical order, SOA first and last
		if len(got) < 2 || got[0].Header().Rrtype != dns.TypeSOA || got[len(got)-1].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("AXFR %s: %d records, not opened and closed by the SOA", z, len(got))
		}
		text := func(rrs []dns.RR) []string {
			out := make([]string, len(rrs))
			for i, rr := range rrs {
				out[i] = rr.String()
			}
			slices.Sort(out)
			return out
		}
		if g, w := text(got), text(want); !slices.Equal(g, w) {
			t.Fatalf("AXFR %s: %d records in %d messages, the zone has %d (or they differ)", z, len(g), msgs, len(w))
		}
		if z == fwdZone && msgs < 2 {
			t.Errorf("AXFR %s: %d records in %d message, want several messages", z, len(got), msgs)
		}
	}
}
