package registry

import (
	"sync"
	"time"
)

// reapEvery is how long, in registry time, a look that found no ended
// quarantine lets this registry's later allocations skip the look. The
// look is a query before every allocation; skipping it saves a round trip
// under the region's lock on a networked store.
const reapEvery = time.Second

// reaper remembers when this registry last found no ended quarantine.
// Skipping is safe for the rules that last: an allocation that finds no
// room looks again before it borrows or fails (allocator.take), so a
// region never borrows, nor reports no space, while its own quarantine
// has ended; a quarantine another replica set may only rejoin free space
// up to reapEvery late while the region has other room.
type reaper struct {
	mu    sync.Mutex
	empty time.Time // zero: no empty look known
}

// fresh reports whether a look at now may be skipped.
func (p *reaper) fresh(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.empty.IsZero() && !now.Before(p.empty) && now.Sub(p.empty) < reapEvery
}

// nothingAt records a look at now that found nothing ended.
func (p *reaper) nothingAt(now time.Time) {
	p.mu.Lock()
	p.empty = now
	p.mu.Unlock()
}

// ends forgets an empty look that a quarantine ending at until, set by
// this registry, would make stale.
func (p *reaper) ends(until time.Time) {
	p.mu.Lock()
	if !p.empty.IsZero() && until.Before(p.empty.Add(reapEvery)) {
		p.empty = time.Time{}
	}
	p.mu.Unlock()
}
