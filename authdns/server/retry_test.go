package server_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// serialFailer fails the next fail calls of SetZoneSerial, as a store
// call that ran out of time at the end of a long build did.
type serialFailer struct {
	envStore
	fail, failed atomic.Int64
}

func (f *serialFailer) SetZoneSerial(ctx context.Context, zoneID int64, old, next uint32, hash string, d *zone.Diff) (bool, error) {
	if f.fail.Add(-1) >= 0 {
		f.failed.Add(1)
		return false, errors.New("serial: context deadline exceeded")
	}
	return f.envStore.SetZoneSerial(ctx, zoneID, old, next, hash, d)
}

// A zone whose build failed is served once a later build succeeds,
// although nothing changed meanwhile: the failed build's snapshot named
// the event log's position, so no poll found anything due until the next
// change, and `zone split --stage` at 10M (a build that outlasted the
// poll's deadline) left the child unserved for good (bench/README.md,
// "Session 15: DNS at 10M names end to end").
func TestFailedBuildIsTriedAgain(t *testing.T) {
	e := newEnv(t, false)
	st := &serialFailer{envStore: e.store}
	s := startReplica(t, e, st, 5*time.Millisecond)
	const name = "later.example.test."
	st.fail.Store(1)
	if _, err := e.mgr.AddZone(e.ctx, manage.ZoneSpec{Name: name}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); s.Serial(name) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not served 20 s after it was added (%d builds failed, nothing changed since)", name, st.failed.Load())
		}
	}
	if st.failed.Load() != 1 {
		t.Fatalf("%d builds failed, want the one made to fail", st.failed.Load())
	}
}
