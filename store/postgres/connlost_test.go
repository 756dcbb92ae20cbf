package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// cutProxy forwards loopback connections to the test server and can cut
// every connection it carries at once: the server going away under open
// connections, as in a failover, without touching the shared server.
type cutProxy struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, to string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
	}
}

// cut closes every connection carried so far.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A connection lost under a write or a read is registry.ErrStorage (the
// API's 503: try again), not an unclassified error (a 500 no client
// retries), and the store recovers by itself: the pool drops the broken
// connections and the next call connects afresh. Before the fix the
// write failed with a bare "conn closed" (HTTP 500).
func TestLostConnectionIsStorageErrorAndTheStoreRecovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn := migratedDB(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	st, err := postgres.Open(ctx, u.String(), postgres.Options{MaxConns: 2, Writers: 1, MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(st)
	add := func(i int) error {
		_, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "r" + strconv.Itoa(i), Location: location.Location{Country: "US"}})
		return err
	}
	if err := add(0); err != nil {
		t.Fatal(err)
	}
	// Cut the pool's idle connections; the next call runs into one.
	p.cut()
	err = add(1)
	if err == nil {
		// The pool happened to connect afresh: cut again under a view.
		p.cut()
		_, err = reg.Regions(ctx)
	}
	if !errors.Is(err, registry.ErrStorage) {
		t.Fatalf("a call on a cut connection: got %v, want registry.ErrStorage", err)
	}
	// Bounded: the broken connections are gone after a failure each.
	var last error
	for i := range 5 {
		if last = add(10 + i); last == nil {
			break
		}
		if !errors.Is(last, registry.ErrStorage) {
			t.Fatalf("after the cut: got %v, want success or registry.ErrStorage", last)
		}
	}
	if last != nil {
		t.Fatalf("the store did not recover after the cut: %v", last)
	}
	rs, err := reg.Regions(ctx)
	if err != nil || len(rs) < 2 {
		t.Fatalf("regions after recovery: %v %v", rs, err)
	}
}
