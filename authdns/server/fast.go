package server

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The UDP fast path. Most queries an authoritative server gets are plain
// ones (one question, class IN, at most an OPT without options) whose
// answer depends only on the name, the type, the DO bit and the size the
// asker accepts. Their packed answers are kept per zone snapshot, so a
// repeated question costs a read, a map look-up, a copy and a write: no
// message is unpacked, built or packed. Everything else (TSIG, NOTIFY,
// transfers, EDNS options, odd headers) goes to the miekg/dns server
// through pipeConn, unchanged.

// maxWireCache bounds the packed answers kept per snapshot (at most
// MaxUDPSize bytes each); a flood of new names clears it, as the answers
// are made again from the zone data at the cost of the slow path.
const maxWireCache = 1 << 15

// wireCache is one snapshot's packed UDP answers by question key.
type wireCache struct {
	mu sync.RWMutex
	m  map[string]*wireEntry
}

// wireEntry is one packed answer with what the fast path needs to send
// it without looking anything up: its response-rate limiting class and
// its query counter. Immutable once kept.
type wireEntry struct {
	wire  []byte
	cls   uint64
	count *atomic.Uint64
	tc    bool // truncated for size
}

func (c *wireCache) get(key []byte) *wireEntry {
	c.mu.RLock()
	e := c.m[string(key)]
	c.mu.RUnlock()
	return e
}

func (c *wireCache) put(key []byte, e *wireEntry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxWireCache {
		c.m = make(map[string]*wireEntry, 1024)
	}
	c.m[string(key)] = e
	c.mu.Unlock()
}

// fastQuery is what the fast path reads of a query.
type fastQuery struct {
	key    []byte // lower-case name, type, EDNS state, size: the cache key
	qstart int    // the question's name in the query
	qend   int
}

// parseFast reads a plain query, or says it is not one.
func parseFast(q []byte, key []byte) (fastQuery, bool) {
	if len(q) < 12+1+4 {
		return fastQuery{}, false
	}
	if q[2]&0xfa != 0 || q[3]&0x4f != 0 {
		// QR, opcode, AA or TC set, Z or an rcode: not a plain query.
		return fastQuery{}, false
	}
	qd, an, ns, ar := binary.BigEndian.Uint16(q[4:]), binary.BigEndian.Uint16(q[6:]), binary.BigEndian.Uint16(q[8:]), binary.BigEndian.Uint16(q[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return fastQuery{}, false
	}
	off := 12
	key = key[:0]
	for {
		if off >= len(q) {
			return fastQuery{}, false
		}
		l := int(q[off])
		if l == 0 {
			key = append(key, 0)
			off++
			break
		}
		if l > 63 || off+1+l > len(q) || len(key)+l+1 > 255 {
			return fastQuery{}, false
		}
		key = append(key, byte(l))
		for _, c := range q[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			key = append(key, c)
		}
		off += 1 + l
	}
	fq := fastQuery{qstart: 12, qend: off}
	if off+4 > len(q) {
		return fastQuery{}, false
	}
	qtype, qclass := binary.BigEndian.Uint16(q[off:]), binary.BigEndian.Uint16(q[off+2:])
	if qclass != dns.ClassINET || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR || qtype == dns.TypeOPT {
		return fastQuery{}, false
	}
	off += 4
	key = append(key, q[fq.qend:fq.qend+2]...)
	size, edns := uint16(dns.MinMsgSize), byte(0)
	if ar == 1 {
		// The OPT record: root name, no options, version 0.
		if off+11 != len(q) || q[off] != 0 || binary.BigEndian.Uint16(q[off+1:]) != dns.TypeOPT || q[off+6] != 0 || binary.BigEndian.Uint16(q[off+9:]) != 0 {
			return fastQuery{}, false
		}
		size = max(dns.MinMsgSize, min(binary.BigEndian.Uint16(q[off+3:]), MaxUDPSize))
		edns = 1
		if q[off+7]&0x80 != 0 {
			edns = 2 // DO
		}
	} else if off != len(q) {
		return fastQuery{}, false
	}
	key = append(key, edns, byte(size>>8), byte(size))
	fq.key = key
	return fq, true
}

// pipeConn is the net.PacketConn the miekg/dns UDP server reads from:
// the queries the fast path hands on. Its answers go out on the real socket.
type pipeConn struct {
	real   *net.UDPConn
	in     chan pipePacket
	kick   chan struct{} // closed when a read deadline in the past is set
	kicked sync.Once
	closed chan struct{}
	once   sync.Once
}

type pipePacket struct {
	b    []byte
	from netip.AddrPort
}

func newPipeConn(real *net.UDPConn) *pipeConn {
	return &pipeConn{real: real, in: make(chan pipePacket, 256), kick: make(chan struct{}), closed: make(chan struct{})}
}

var errPipeTimeout = &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}

func (p *pipeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case pk := <-p.in:
		return copy(b, pk.b), net.UDPAddrFromAddrPort(pk.from), nil
	case <-p.kick:
		return 0, nil, errPipeTimeout
	case <-p.closed:
		return 0, nil, net.ErrClosed
	}
}

func (p *pipeConn) WriteTo(b []byte, a net.Addr) (int, error) { return p.real.WriteTo(b, a) }
func (p *pipeConn) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}
func (p *pipeConn) LocalAddr() net.Addr                { return p.real.LocalAddr() }
func (p *pipeConn) SetDeadline(t time.Time) error      { return p.SetReadDeadline(t) }
func (p *pipeConn) SetWriteDeadline(t time.Time) error { return nil }
func (p *pipeConn) SetReadDeadline(t time.Time) error {
	// miekg/dns sets a deadline before each read, and one long past to
	// stop; only the latter matters here.
	if !t.IsZero() && time.Until(t) < -time.Hour {
		p.kicked.Do(func() { close(p.kick) })
	}
	return nil
}

// hand passes a query to the miekg/dns server, or drops it when that is
// behind (as a full socket buffer would).
func (p *pipeConn) hand(b []byte, from netip.AddrPort) {
	select {
	case p.in <- pipePacket{b: append([]byte(nil), b...), from: from}:
	default:
	}
}

// batchConn reads and writes several datagrams per system call
// (recvmmsg, sendmmsg on Linux; one at a time elsewhere).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// fastBatch is how many datagrams one system call reads or writes.
const fastBatch = 32

// fastMissBatch is how many datagrams a loop reads at once after a batch
// in which it made answers (a signature each, for synthesised names):
// the loop makes them itself, so that they go out together in one
// system call, and reads fewer at a time then, so that the other loops
// get their share of the queries waiting (a whole batch of signatures
// held by one loop would leave another CPU idle).
const fastMissBatch = 16

// fastQueryMax is the largest query the fast loops read whole; a longer
// one (no plain query is) is dropped.
const fastQueryMax = 4096

// fastLoop reads queries from conn until it is closed, answering plain
// ones itself. Several run at once, one per CPU.
func (s *Server) fastLoop(conn *net.UDPConn, pipe *pipeConn, wg *sync.WaitGroup) {
	defer wg.Done()
	var bc batchConn = ipv4.NewPacketConn(conn)
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		bc = ipv6.NewPacketConn(conn)
	}
	in := make([]ipv4.Message, fastBatch)
	out := make([]ipv4.Message, fastBatch)
	// bufs are the loop's own answer buffers; out may point at answers
	// kept in the cache instead, which are never written.
	bufs := make([][]byte, fastBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, fastQueryMax)}
		bufs[i] = make([]byte, 0, MaxUDPSize)
		out[i].Buffers = [][]byte{nil}
	}
	keyBuf := make([]byte, 0, 300)
	var sampled uint64 // queries seen, for the sampled query log
	batch := fastBatch
	for {
		n, err := bc.ReadBatch(in[:batch], 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		snap := s.snap.Load()
		now := nowNano()
		w, made := 0, 0
		for i := range n {
			m := &in[i]
			q := m.Buffers[0][:m.N]
			if m.Flags&syscall.MSG_TRUNC != 0 {
				continue
			}
			udpFrom, _ := m.Addr.(*net.UDPAddr)
			if udpFrom == nil {
				continue
			}
			from := udpFrom.AddrPort()
			b, fq, st := s.fastHit(snap, q, from.Addr(), now, keyBuf, bufs[w][:0])
			switch st {
			case fastPass:
				pipe.hand(q, from)
				continue
			case fastDrop:
				continue
			case fastMiss:
				// Not kept yet: make it here (it goes out with the
				// batch's other answers) and keep it.
				made++
				wire, done := s.missReply(snap, q, fq.key, from.Addr())
				switch {
				case wire != nil:
					b = wire
				case !done:
					pipe.hand(q, from)
					continue
				default:
					continue
				}
			}
			if s.opt.QueryLogSample > 0 && st == fastSend {
				if sampled++; sampled%uint64(s.opt.QueryLogSample) == 0 {
					s.logWire(from.Addr(), b, fq)
				}
			}
			out[w].Buffers[0], out[w].Addr = b, udpFrom
			w++
		}
		s.fastAnswers.Add(uint64(w))
		for sent := 0; sent < w; {
			k, err := bc.WriteBatch(out[sent:w], 0)
			if err != nil || k == 0 {
				break // as a full socket buffer drops them
			}
			sent += k
		}
		for i := range w {
			out[i].Buffers[0], out[i].Addr = nil, nil // nothing kept alive
		}
		batch = fastBatch
		if made > 0 {
			batch = fastMissBatch
		}
	}
}

// What fastHit did with a query.
type fastStatus uint8

const (
	fastSend fastStatus = iota // the answer (or its slip) is ready
	fastMiss                   // a plain query, its answer not kept yet
	fastPass                   // not a plain query: the full path answers it
	fastDrop                   // response-rate limiting drops the answer
)

// fastHit appends to dst the kept answer to q from client a, counted and
// rate-limited at now, or says what else to do.
func (s *Server) fastHit(snap *snapshot, q []byte, a netip.Addr, now int64, keyBuf, dst []byte) ([]byte, fastQuery, fastStatus) {
	b, fq, e := cachedReply(snap, q, keyBuf, dst)
	switch {
	case fq.key == nil:
		return nil, fq, fastPass
	case e == nil:
		return nil, fq, fastMiss
	}
	e.count.Add(1)
	if s.rrl != nil {
		switch s.rrl.check(a, e.cls, now) {
		case rrlDrop:
			s.met.rrlDropped.Add(1)
			return nil, fq, fastDrop
		case rrlSlip:
			s.met.rrlSlipped.Add(1)
			s.met.truncated[tcSlip].Add(1)
			return slipReply(dst, q, fq.qend), fq, fastSend
		}
	}
	if e.tc {
		s.met.truncated[tcSize].Add(1)
	}
	return b, fq, fastSend
}

// logWire logs a sampled fast-path answer.
func (s *Server) logWire(a netip.Addr, b []byte, fq fastQuery) {
	name, _, err := dns.UnpackDomainName(b, fq.qstart)
	if err != nil || len(b) < fq.qend+4 {
		return
	}
	do := fq.key[len(fq.key)-3] == 2
	s.logQuery(asker{addr: a}, name, binary.BigEndian.Uint16(b[fq.qend:]), int(b[3]&0x0f), len(b),
		flagString(b[2]&0x04 != 0, b[2]&0x02 != 0, b[2]&0x01 != 0, b[3]&0x10 != 0, do, cookieMissing))
}

// fastReply appends to dst the answer to q from a if q is a plain query
// that snap answers (nil with true: response-rate limiting dropped it);
// otherwise it says to hand q to the full path.
func (s *Server) fastReply(snap *snapshot, q []byte, a netip.Addr, keyBuf, dst []byte) ([]byte, bool) {
	b, fq, st := s.fastHit(snap, q, a, nowNano(), keyBuf, dst)
	switch st {
	case fastSend:
		return b, true
	case fastDrop:
		return nil, true
	case fastMiss:
		if wire, done := s.missReply(snap, q, fq.key, a); wire != nil {
			return append(dst, wire...), true
		} else if done {
			return nil, true
		}
	}
	return nil, false
}

// cachedReply appends to dst the kept answer to q and returns its entry,
// or returns a nil entry; fq.key is nil when q is not a plain query.
func cachedReply(snap *snapshot, q, keyBuf, dst []byte) (b []byte, fq fastQuery, e *wireEntry) {
	fq, ok := parseFast(q, keyBuf)
	if !ok {
		return nil, fastQuery{}, nil
	}
	e = snap.wire.get(fq.key)
	if e == nil {
		return nil, fq, nil
	}
	b = append(dst, e.wire...)
	// The asker's ID, RD and CD bits, and its spelling of the name.
	b[0], b[1] = q[0], q[1]
	b[2] = b[2]&^0x01 | q[2]&0x01
	b[3] = b[3]&^0x10 | q[3]&0x10
	copy(b[fq.qstart:fq.qend], q[fq.qstart:fq.qend])
	return b, fq, e
}

// missReply answers a plain query from a that the cache does not have,
// keeping the answer if it holds for every asker. It returns the answer
// to send, or nil with done when response-rate limiting dropped it, or
// nil without done when the full path is to answer it.
func (s *Server) missReply(snap *snapshot, q, key []byte, a netip.Addr) (wire []byte, done bool) {
	if wire, done, ok := s.synthMiss(snap, q, key, a); ok {
		return wire, done
	}
	r := new(dns.Msg)
	if err := r.Unpack(q); err != nil || len(r.Question) != 1 {
		return nil, false
	}
	c := asker{addr: a}
	m, info := s.respond(snap, r, c)
	if m == nil {
		return nil, false
	}
	wire, err := m.Pack()
	if err != nil {
		return nil, false
	}
	if info.cacheable {
		snap.wire.put(key, &wireEntry{wire: wire, cls: info.cls, count: s.met.counter(info.zone, r.Question[0].Qtype, m.Rcode), tc: m.Truncated})
	}
	sent := s.account(r, m, c, info)
	switch {
	case sent == nil:
		return nil, true
	case sent != m:
		if wire, err = sent.Pack(); err != nil {
			return nil, false
		}
	}
	return wire, true
}

// fastWorkers is how many fast-path loops read the UDP socket.
func fastWorkers() int { return max(1, min(runtime.GOMAXPROCS(0), 8)) }

// FastAnswers counts the UDP answers sent from the packed-answer cache.
func (s *Server) FastAnswers() uint64 { return s.fastAnswers.Load() }

var _ net.PacketConn = (*pipeConn)(nil)
