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
	// Two renewal slots (of 128 in the 7-day period) later, some sets of
	// every signed zone are due.
	clock.Add(2 * 7 * 24 * time.Hour / 128)
	if err := s.Reload(e.ctx); err != nil {
		t.Fatal(err)
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
