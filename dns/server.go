package authdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Options configure a Server.
type Options struct {
	// Listen is the UDP and TCP address, e.g. "127.0.0.1:5353".
	Listen string
	// Poll is how often the event log is checked for changes (default 1s).
	Poll time.Duration
	// Validity is how long a signature is valid (default 14 days);
	// signatures are renewed when less than Refresh (default half of
	// Validity) is left.
	Validity, Refresh time.Duration
	// TSIG maps key names to base64 HMAC-SHA256 secrets, for transfers.
	TSIG map[string]string
	// OnlineRate is how many signatures a second each zone may make per
	// query (synthesised names, compact denial); 0 means 2000.
	OnlineRate float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// MaxUDPSize is the largest UDP answer sent, whatever the client offers
// (DNS flag day 2020: 1232 avoids fragmentation).
const MaxUDPSize = 1232

// snapshot is every zone as served at one point of the event log.
type snapshot struct {
	zones map[string]*zoneData
	seq   int64
	wire  *wireCache // packed UDP answers of this snapshot (fast.go)
}

// version is a past state of a zone, kept for IXFR.
type version struct {
	serial uint32
	rrs    []dns.RR // without the SOA
}

// journalDepth is how many past versions of a zone are kept for IXFR.
const journalDepth = 16

// Server answers DNS queries for the configured zones.
type Server struct {
	reg    *registry.Registry
	store  Store
	sealer *Sealer
	mgr    *Manager // for key rollovers
	opt    Options
	log    *slog.Logger

	snap atomic.Pointer[snapshot]

	mu      sync.Mutex // serialises builds
	sigs    sigCache
	jmu     sync.Mutex // guards journal
	journal map[string][]version

	udp, tcp *dns.Server
	udpConn  *net.UDPConn
	fast     sync.WaitGroup // the fast-path loops
	addr     net.Addr
	stop     chan struct{}
	done     chan struct{}
	notifies sync.WaitGroup

	// corrupt, when set by a test, flips a byte of the signatures of one
	// owner name's sets, to prove validators notice.
	corrupt atomic.Pointer[string]

	onlineSigs  atomic.Uint64
	fastAnswers atomic.Uint64
	missSem     chan struct{} // bounds the answers made beside the fast loops
}

// NewServer returns a server over the register and the DNS store.
// sealer may be nil when no zone is signed.
func NewServer(reg *registry.Registry, st Store, sealer *Sealer, opt Options) *Server {
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.Validity <= 0 {
		opt.Validity = 14 * 24 * time.Hour
	}
	if opt.Refresh <= 0 || opt.Refresh >= opt.Validity {
		opt.Refresh = opt.Validity / 2
	}
	if opt.OnlineRate <= 0 {
		opt.OnlineRate = 2000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{reg: reg, store: st, sealer: sealer, mgr: NewManager(st, sealer, opt.Now), opt: opt, log: opt.Log, sigs: sigCache{}, journal: map[string][]version{}}
	s.snap.Store(&snapshot{zones: map[string]*zoneData{}, wire: &wireCache{}})
	return s
}

// Reload builds every zone from the register and the store now.
func (s *Server) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in buildInput
	err := s.reg.Store().View(ctx, func(tx registry.Tx) error {
		pos, err := tx.LastEvent(ctx)
		if err != nil {
			return err
		}
		in.seq = pos.Seq
		if in.pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
			return err
		}
		in.assigns, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}})
		return err
	})
	if err != nil {
		return fmt.Errorf("dns: read register: %w", err)
	}
	if in.zones, err = s.store.Zones(ctx); err != nil {
		return fmt.Errorf("dns: read zones: %w", err)
	}
	if in.records, err = s.store.Records(ctx, 0); err != nil {
		return fmt.Errorf("dns: read records: %w", err)
	}
	if in.keys, err = s.store.Keys(ctx, 0); err != nil {
		return fmt.Errorf("dns: read keys: %w", err)
	}
	now := s.opt.Now()
	p := sigPolicy{now: now, validity: s.opt.Validity, refresh: s.opt.Refresh}
	old := s.snap.Load()
	zs := map[string]*zoneData{}
	var errs []error
	for _, z := range in.zones {
		zd, err := buildZone(z, &in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		zs[z.Name] = zd
	}
	link(zs)
	used := sigCache{}
	var changed []*zoneData
	for name, zd := range zs {
		if err := s.finish(ctx, zd, in.keys, p, used); err != nil {
			errs = append(errs, err)
			// Serve the previous version rather than nothing.
			if o := old.zones[name]; o != nil {
				zs[name] = o
			} else {
				delete(zs, name)
			}
			continue
		}
		if o := old.zones[name]; o == nil || o.serial != zd.serial {
			changed = append(changed, zd)
		}
	}
	s.sigs = used
	s.snap.Store(&snapshot{zones: zs, seq: in.seq, wire: &wireCache{}})
	for _, zd := range changed {
		s.remember(zd)
		s.log.Info("dns zone loaded", "zone", zd.zone.Name, "serial", zd.serial, "names", len(zd.nodes), "signed", zd.signed, "seq", zd.seq)
		s.notify(zd)
	}
	return errors.Join(errs...)
}

// finish signs a built zone and gives it its serial.
func (s *Server) finish(ctx context.Context, zd *zoneData, keys []Key, p sigPolicy, used sigCache) error {
	z := &zd.zone
	if z.Config.Signed {
		if err := zd.signZone(keys, s.sealer, p, s.sigs, used); err != nil {
			return err
		}
		zd.online.rate, zd.online.burst, zd.online.tokens, zd.online.now = s.opt.OnlineRate, 2*s.opt.OnlineRate, 2*s.opt.OnlineRate, s.opt.Now
		zd.online.count = &s.onlineSigs
	}
	if c := s.corrupt.Load(); c != nil {
		zd.corrupt(*c)
	}
	hash := zd.contentHash()
	serial := z.Serial
	for try := 0; hash != z.SerialHash || serial == 0; try++ {
		next := nextSerial(z.Serial, p.now)
		ok, err := s.store.SetZoneSerial(ctx, z.ID, z.Serial, next, hash)
		if err != nil {
			return fmt.Errorf("zone %s: serial: %w", z.Name, err)
		}
		if ok {
			serial = next
			break
		}
		// Another replica moved the serial: start from its value.
		zs, err := s.store.Zones(ctx)
		if err != nil {
			return err
		}
		for _, o := range zs {
			if o.ID == z.ID {
				z.Serial, z.SerialHash = o.Serial, o.SerialHash
			}
		}
		serial = z.Serial
		if try == 3 {
			break
		}
	}
	z.SerialHash = hash
	return zd.setSerial(serial, p, s.sigs, used)
}

// corrupt flips a byte of every signature at owner, for tests of validators.
func (zd *zoneData) corrupt(owner string) {
	n := zd.nodes[owner]
	if n == nil {
		return
	}
	for _, set := range n.sets {
		for i, rr := range set.sigs {
			c := dns.Copy(rr).(*dns.RRSIG)
			b := []byte(c.Signature)
			if b[0] == 'A' {
				b[0] = 'B'
			} else {
				b[0] = 'A'
			}
			c.Signature = string(b)
			set.sigs[i] = c
		}
	}
}

// CorruptSignatures makes every later build break the signatures at owner
// (a test hook: validators must answer SERVFAIL for it).
func (s *Server) CorruptSignatures(ctx context.Context, owner string) error {
	owner = dns.CanonicalName(owner)
	s.corrupt.Store(&owner)
	return s.Reload(ctx)
}

// remember keeps zd's records for IXFR.
func (s *Server) remember(zd *zoneData) {
	rrs := zd.records()[1:] // the SOA changes by itself; its signatures are diffed
	s.jmu.Lock()
	defer s.jmu.Unlock()
	j := append(s.journal[zd.zone.Name], version{serial: zd.serial, rrs: rrs})
	if len(j) > journalDepth {
		j = j[len(j)-journalDepth:]
	}
	s.journal[zd.zone.Name] = j
}

// Start listens on UDP and TCP, loads the zones and keeps them current
// until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	// The first build may NOTIFY secondaries, which watch stop.
	s.stop = make(chan struct{})
	if err := s.Reload(ctx); err != nil {
		s.log.Error("dns load", "err", err)
		if len(s.snap.Load().zones) == 0 && s.hasZones(ctx) {
			return err
		}
	}
	udpConn, ln, err := listen(s.opt.Listen)
	if err != nil {
		return err
	}
	udpConn.SetReadBuffer(4 << 20)
	udpConn.SetWriteBuffer(4 << 20)
	pc := udpConn
	s.addr = pc.LocalAddr()
	var tsig map[string]string
	if len(s.opt.TSIG) > 0 {
		tsig = map[string]string{}
		for k, v := range s.opt.TSIG {
			tsig[dns.CanonicalName(k)] = v
		}
	}
	// The fast path reads the socket; what it does not answer goes to
	// the miekg/dns server through pipe.
	pipe := newPipeConn(udpConn)
	s.udpConn = udpConn
	s.udp = &dns.Server{PacketConn: pipe, Handler: s, TsigSecret: tsig, UDPSize: 65535}
	s.tcp = &dns.Server{Listener: ln, Handler: s, TsigSecret: tsig, ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }, MaxTCPQueries: 1000}
	started := make(chan struct{}, 2)
	s.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	s.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-started
	<-started
	s.missSem = make(chan struct{}, 4*fastWorkers())
	for range fastWorkers() {
		s.fast.Add(1)
		go s.fastLoop(udpConn, pipe, &s.fast)
	}
	s.done = make(chan struct{})
	go s.loop()
	s.log.Info("dns serving", "addr", s.addr.String())
	return nil
}

// listen opens UDP and TCP on the same address. With port 0 the system
// picks the UDP port, which TCP may have in use: then it tries another,
// a few times.
func listen(addr string) (*net.UDPConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for try := 0; ; try++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen %s: %w", addr, err)
		}
		udpConn, ok := pc.(*net.UDPConn)
		if !ok {
			pc.Close()
			return nil, nil, fmt.Errorf("dns listen %s: not a UDP socket", addr)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return udpConn, ln, nil
		}
		pc.Close()
		if port != "0" || try == 9 {
			return nil, nil, fmt.Errorf("dns listen %s/tcp: %w", pc.LocalAddr(), err)
		}
	}
}

func (s *Server) hasZones(ctx context.Context) bool {
	zs, err := s.store.Zones(ctx)
	return err != nil || len(zs) > 0
}

// Addr is the address the server listens on (UDP and TCP).
func (s *Server) Addr() string { return s.addr.String() }

// loop rebuilds the zones when the event log moves or signatures age.
func (s *Server) loop() {
	defer close(s.done)
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		rolled, err := s.Roll(ctx)
		if err != nil {
			s.log.Error("dns key rollover", "err", err)
		}
		if rolled || s.due(ctx) {
			if err := s.Reload(ctx); err != nil {
				s.log.Error("dns reload", "err", err)
			}
		}
		cancel()
	}
}

// Roll makes the key rollover steps due now (RFC 7583 timing, see
// roll.go) in every signed zone, and says whether it changed a key; the
// change is in the event log, so the next build (Reload) serves it.
// Start's loop calls it at each poll; tests with a clock call it alone.
func (s *Server) Roll(ctx context.Context) (bool, error) {
	now := s.opt.Now()
	changed := false
	var errs []error
	for _, zd := range s.snap.Load().zones {
		if !zd.signed {
			continue
		}
		steps := planRoll(zd.zone, zd.keys, zd.maxTTL, now)
		if len(steps) == 0 {
			continue
		}
		for _, st := range steps {
			s.log.Info("dns key rollover", "zone", zd.zone.Name, "role", st.key.Role, "tag", st.key.Tag, "state", st.key.State, "why", st.why)
		}
		changed = true
		if err := s.mgr.applyRoll(ctx, zd.zone, steps); err != nil {
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

// due says whether a rebuild is needed: the log moved, or some zone's
// signatures come within the refresh window.
func (s *Server) due(ctx context.Context) bool {
	snap := s.snap.Load()
	now := s.opt.Now()
	for _, zd := range snap.zones {
		if zd.signed && !now.Before(zd.refreshAt) {
			return true
		}
	}
	var pos registry.Position
	err := s.reg.Store().View(ctx, func(tx registry.Tx) error {
		var err error
		pos, err = tx.LastEvent(ctx)
		return err
	})
	if err != nil {
		s.log.Error("dns poll", "err", err)
		return false
	}
	return pos.Seq != snap.seq
}

// Shutdown stops listening and the background work.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		close(s.stop)
	}
	if s.done != nil {
		<-s.done
	}
	var errs []error
	if s.udp != nil {
		errs = append(errs, s.udp.ShutdownContext(ctx))
		s.udpConn.Close()
		s.fast.Wait()
	}
	if s.tcp != nil {
		errs = append(errs, s.tcp.ShutdownContext(ctx))
	}
	s.notifies.Wait()
	return errors.Join(errs...)
}

// OnlineSignatures counts the signatures made per query since start.
func (s *Server) OnlineSignatures() uint64 { return s.onlineSigs.Load() }

// Serial is the serial a zone is served with now (0 if not served).
func (s *Server) Serial(zone string) uint32 {
	if zd := s.snap.Load().zones[dns.CanonicalName(zone)]; zd != nil {
		return zd.serial
	}
	return 0
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	var m *dns.Msg
	if len(r.Question) == 1 && (r.Question[0].Qtype == dns.TypeAXFR || r.Question[0].Qtype == dns.TypeIXFR) && r.Opcode == dns.OpcodeQuery {
		m = s.transfer(w, r, tcp)
	} else {
		m = s.Respond(r, tcp)
	}
	if m == nil {
		return
	}
	if t := r.IsTsig(); t != nil && w.TsigStatus() == nil {
		// RFC 8945 §5.3: answer a signed request signed.
		m.SetTsig(t.Hdr.Name, t.Algorithm, t.Fudge, time.Now().Unix())
	}
	w.WriteMsg(m)
}

// Respond answers one query (not a transfer); tcp lifts the size limit.
// It returns nil for what is better dropped.
func (s *Server) Respond(r *dns.Msg, tcp bool) *dns.Msg {
	m, _ := s.respond(s.snap.Load(), r, tcp)
	return m
}

// respond answers r from snap; cacheable says that the answer is the same
// for every query with the same question, DO bit and size (it is not when
// the online signing budget was spent).
func (s *Server) respond(snap *snapshot, r *dns.Msg, tcp bool) (_ *dns.Msg, cacheable bool) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Compress = true
	m.RecursionAvailable = false
	m.AuthenticatedData = false
	size := dns.MinMsgSize
	var opts int
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	opt := r.IsEdns0()
	do := false
	if opt != nil {
		do = opt.Do()
		size = max(dns.MinMsgSize, min(int(opt.UDPSize()), MaxUDPSize))
		m.SetEdns0(MaxUDPSize, do)
	}
	switch {
	case r.Response:
		return nil, false
	case opts > 1 || (opt != nil && opt.Header().Name != "."):
		// RFC 6891 §6.1.1: more than one OPT, or one not at the root.
		m.Extra = nil
		m.Rcode = dns.RcodeFormatError
		return m, true
	case opt != nil && opt.Version() != 0:
		// RFC 6891 §6.1.3.
		m.Rcode = dns.RcodeBadVers
		m.IsEdns0().SetVersion(0)
		return m, true
	case r.Opcode == dns.OpcodeNotify:
		// cadastre is a primary: it sends NOTIFY and heeds none.
		m.Rcode = dns.RcodeRefused
		return m, true
	case r.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m, true
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m, true
	}
	q := r.Question[0]
	qname := strings.ToLower(q.Name)
	if _, ok := dns.IsDomainName(qname); !ok || q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		return m, true
	}
	if q.Qtype >= 128 && q.Qtype <= 255 && q.Qtype != dns.TypeANY || q.Qtype == dns.TypeOPT || q.Qtype == 0 {
		// Meta-types other than ANY (RFC 6895 §3.1): nothing to look up.
		m.Rcode = dns.RcodeNotImplemented
		return m, true
	}
	zd := findZone(snap.zones, qname)
	if zd == nil {
		m.Rcode = dns.RcodeRefused
		return m, true
	}
	if q.Qtype == dns.TypeDS && qname == zd.zone.Name {
		// RFC 4035 §3.1.4.1: the DS of a zone is in its parent; a
		// server with both answers it from the parent.
		if i, end := dns.NextLabel(qname, 0); !end {
			if p := findZone(snap.zones, qname[i:]); p != nil {
				zd = p
			}
		}
	}
	res := zd.lookup(qname, q.Qtype, do)
	if res.overBudget {
		if !tcp {
			// Make the asker come back over TCP, which a spoofed flood cannot.
			m.Truncated = true
			return m, false
		}
		m.Rcode = dns.RcodeServerFailure
		return m, false
	}
	m.Authoritative = !res.referral
	m.Rcode = res.rcode
	m.Answer = res.answer
	m.Ns = res.authority
	extra := append([]dns.RR(nil), res.additional...)
	if opt != nil {
		// The OPT record goes last in the additional section.
		extra = append(extra, m.Extra[len(m.Extra)-1])
	}
	m.Extra = extra
	if !tcp {
		m.Truncate(size)
	} else {
		m.Truncate(dns.MaxMsgSize)
	}
	return m, true
}

// allowed says whether a transfer request from addr (with a verified TSIG
// key name, or "") may have zone z.
func allowed(z *Zone, addr netip.Addr, key string) bool {
	for _, a := range z.Config.AllowTransfer {
		e, err := parseACL(a)
		if err != nil {
			continue
		}
		if e.key != "" && e.key == key || e.prefix.IsValid() && e.prefix.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}
