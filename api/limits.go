package api

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Limits bound what one client can hold of the server: how long it may
// take to send its headers and its body, how long a response may take to
// be read, how long an idle connection is kept, how large its headers may
// be, and how many connections one address may hold at once. A client that
// overstays any of them loses its connection; the others are still served.
type Limits struct {
	ReadHeader        time.Duration // the request line and headers must arrive within this
	ReadBody          time.Duration // a body must arrive within this of the end of the headers, plus a second per MiB declared
	Write             time.Duration // a response must be written within this of the request's start
	Idle              time.Duration // a keep-alive connection waiting for its next request is closed after this
	MaxHeaderBytes    int           // request line and headers, in bytes
	MaxConnsPerClient int           // open connections per client address (the TCP peer); 0: no limit
}

// DefaultLimits are generous for honest clients, whatever their network,
// and short enough that slow or stalled clients cannot pile up.
func DefaultLimits() Limits {
	return Limits{
		ReadHeader:        10 * time.Second,
		ReadBody:          30 * time.Second,
		Write:             60 * time.Second,
		Idle:              120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		MaxConnsPerClient: 64,
	}
}

// HTTPServer returns an http.Server that serves h within these limits
// (except MaxConnsPerClient, which LimitConns applies to the listener).
func (l Limits) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           bodyDeadline(l.ReadBody, h),
		ReadHeaderTimeout: l.ReadHeader,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// bodyDeadline gives each request's body d to arrive, counted from the end
// of its headers. Go's server has no such deadline of its own: without it,
// a request that declares a body and never sends it holds its connection
// forever, even on a route that never reads the body (the server reads
// what is left after the handler returns).
func bodyDeadline(d time.Duration, h http.Handler) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			// Errors only mean the writer cannot set deadlines (a test
			// recorder); the server's other limits still hold.
			// Once the body is read to its end, the server lifts the
			// deadline itself (its watch for a hang-up reads without one),
			// so a handler may work on past it, up to the write deadline.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTime(d, r.ContentLength)))
		}
		h.ServeHTTP(w, r)
	})
}

// bodyTime is how long a body of n bytes (-1: unknown) may take: d, plus
// a second per MiB declared, so that a large upload (a geofeed of tens of
// MiB) on a slow link is not cut. Only an authenticated caller keeps that
// long: a body refused before it is read gets no time at all (dropBody).
func bodyTime(d time.Duration, n int64) time.Duration {
	if n > 0 {
		d += time.Duration(n>>20) * time.Second
	}
	return d
}

// dropBody makes the connection close once the response is written, without
// reading the request's body: for requests refused before their body is
// read, so that a client never holds a connection with a body it trickles.
func dropBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	// The response is flushed before the server reads what is left of the
	// body; a deadline in the past makes that read fail at once.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// LimitConns returns a listener that accepts at most perClient open
// connections from one client address, closing any more at once. Other
// addresses are unaffected, and so are peers in exempt (trusted reverse
// proxies, which carry many clients' connections). perClient <= 0 returns
// ln unchanged.
func LimitConns(ln net.Listener, perClient int, exempt ...netip.Prefix) net.Listener {
	if perClient <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, max: perClient, exempt: exempt, open: map[netip.Addr]int{}}
}

type connLimiter struct {
	net.Listener
	max    int
	exempt []netip.Prefix
	mu     sync.Mutex
	open   map[netip.Addr]int
}

func (l *connLimiter) exempted(a netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerAddr(c)
		if l.exempted(addr) {
			return c, nil
		}
		l.mu.Lock()
		if l.open[addr] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[addr]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, release: func() { l.release(addr) }}, nil
	}
}

func (l *connLimiter) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

// peerAddr is a connection's remote address, IPv4-mapped IPv6 folded to
// IPv4 so that one client counts once.
func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// serverDeadlines keeps huma from setting read deadlines of its own (5 s
// for every body unless told otherwise, and none at all when told -1):
// the body deadline is the server's, --read-body-timeout, one setting for
// every route.
type serverDeadlines struct{ humaContext }

// humaContext names the embedded context apart from its Context method.
type humaContext = huma.Context

// SetReadDeadline implements huma.Context: the server's deadline stands.
func (serverDeadlines) SetReadDeadline(time.Time) error { return nil }

// Unwrap gives adapters the context underneath.
func (c serverDeadlines) Unwrap() huma.Context { return c.humaContext }
