package authdns_test

import (
	"context"
	"testing"
	"time"

	authdns "github.com/cadastre-ipam/cadastre/dns"
)

// restart stops e's server and starts a new one on the same store, as a
// process restart would.
func (e *env) restart(opt authdns.Options) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.start(opt)
}

// RFC 1982 serials move only when the zone does: a restart with nothing
// changed serves every zone, signed or not, with the serial it had.
func TestSerialSurvivesRestart(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			e := newEnv(t, signed)
			e.start(authdns.Options{})
			zones := []string{fwdZone, dynZone, v4Zone, v4Zone2, v6Zone}
			before := map[string]uint32{}
			for _, z := range zones {
				before[z] = e.srv.Serial(z)
			}
			for i := range 2 {
				e.restart(authdns.Options{})
				for _, z := range zones {
					if got := e.srv.Serial(z); got != before[z] || got == 0 {
						t.Errorf("restart %d: %s serial %d, was %d", i+1, z, got, before[z])
					}
				}
			}
			// And a change still moves it by one.
			e.alloc(4, "after."+fwdZone)
			e.waitFor("the new serial", func() bool { return e.srv.Serial(fwdZone) == before[fwdZone]+1 })
		})
	}
}
