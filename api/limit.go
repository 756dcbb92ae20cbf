package api

import (
	"sync"
	"time"
)

// limiter counts failed authentications per client and refuses a client
// that failed max times within window, so a stranger cannot guess tokens
// at speed. Its memory is bounded: past maxClients it forgets everyone,
// which at worst lets an attacker start over, never locks anyone out.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	since time.Time
	n     int
}

const maxClients = 100_000

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, now: time.Now, clients: map[string]*failures{}}
}

func (l *limiter) allow(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.clients[client]
	if !ok {
		return true
	}
	if l.now().Sub(f.since) > l.window {
		delete(l.clients, client)
		return true
	}
	return f.n < l.max
}

func (l *limiter) fail(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.clients[client]
	if !ok || now.Sub(f.since) > l.window {
		if len(l.clients) >= maxClients {
			l.clients = map[string]*failures{}
		}
		f = &failures{since: now}
		l.clients[client] = f
	}
	f.n++
}
