package server

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Transfer is one zone transfer this server sent in full: to which
// secondary, under which TSIG key (empty: none), AXFR or IXFR, up to
// which serial, and when. Operators read it to see that secondaries
// follow (the web UI's DNS page).
type Transfer struct {
	Zone      string
	Secondary netip.Addr
	Key       string
	Kind      string // AXFR or IXFR
	Serial    uint32
	At        time.Time
}

// maxSecondaries bounds what is kept per zone: a stranger allowed to
// transfer from many addresses cannot grow the record without end.
const maxSecondaries = 64

type xfrKey struct {
	zone string
	from netip.Addr
}

// xfrLog keeps the last transfer of each (zone, secondary) since the
// server started; it lives in memory only, so a restart starts it anew.
type xfrLog struct {
	mu   sync.Mutex
	last map[xfrKey]Transfer
}

func (l *xfrLog) record(t Transfer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[xfrKey]Transfer{}
	}
	k := xfrKey{strings.ToLower(t.Zone), t.Secondary}
	if _, ok := l.last[k]; !ok {
		// Make room by forgetting the zone's stalest secondary.
		var oldest *xfrKey
		n := 0
		for kk, v := range l.last {
			if kk.zone != k.zone {
				continue
			}
			n++
			if oldest == nil || v.At.Before(l.last[*oldest].At) {
				c := kk
				oldest = &c
			}
		}
		if n >= maxSecondaries && oldest != nil {
			delete(l.last, *oldest)
		}
	}
	l.last[k] = t
}

// Transfers lists the last full transfer of zone to each secondary since
// this server started, newest first.
func (s *Server) Transfers(zone string) []Transfer {
	s.xfrs.mu.Lock()
	defer s.xfrs.mu.Unlock()
	zone = strings.ToLower(zone)
	var out []Transfer
	for k, t := range s.xfrs.last {
		if k.zone == zone {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b Transfer) int { return b.At.Compare(a.At) })
	return out
}
