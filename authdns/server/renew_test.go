package server_test

import (
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/server"
)

// TestRenewalWithoutChangesIsADeltaBuild: when signatures come due and
// the event log has not moved, the server renews them by delta builds
// (the sets due, found by a walk of the version), not by reading every
// assignment and building every zone due in full (at 1M names that was
// ~13 s of CPU every renewal slot, ~79 minutes, while changes waited).
func TestRenewalWithoutChangesIsADeltaBuild(t *testing.T) {
	e := newEnv(t, true)
	clock := newFakeClock(time.Now())
	s := server.NewServer(e.reg, e.store, e.sealer, server.Options{Now: clock.Now})
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
	}
	before := s.BuildStats()
	serial := s.Serial(fwdZone)
	// Renewals are spread over 128 slots of the 7-day period by a hash of
	// each set, anchored to the clock: how many slots pass before the
	// first set of this small zone is due depends on when the test runs.
	// Move a slot at a time (at most half the period, far from any key
	// rollover) until the forward zone's serial moves.
	for range 64 {
		clock.Add(7 * 24 * time.Hour / 128)
		if err := s.Reload(e.ctx); err != nil {
			t.Fatal(err)
		}
		if s.Serial(fwdZone) != serial {
			break
		}
	}
	after := s.BuildStats()
	if after.Full != before.Full || after.Delta == before.Delta {
		t.Errorf("builds %+v then %+v: a renewal with the log unmoved should be delta builds only", before, after)
	}
	if s.Serial(fwdZone) == serial {
		t.Errorf("%s: serial %d unchanged: nothing renewed", fwdZone, serial)
	}
	if err := s.CheckHashes(); err != nil {
		t.Error(err)
	}
}
