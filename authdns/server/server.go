// Package server is cadastre's DNS on the wire: UDP and TCP listeners, the
// UDP fast path that sends kept answers (fast.go), AXFR/IXFR and NOTIFY
// (xfr.go), TSIG (tsigring.go), fairness under floods (per-client signing
// budgets and response-rate limiting, rrl.go; DNS cookies, cookie.go),
// metrics and the sampled query log (metrics.go), and the rebuilding of
// every zone's data as the register's event log moves (Server.Reload),
// with the key rollovers that one replica at a time carries out. What a
// zone holds and how it answers is the zone package's; what an operator
// may configure is manage's. Nothing imports it but the CLI.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Options configure a Server.
type Options struct {
	// Listen is the UDP and TCP address, e.g. "127.0.0.1:5353";
	// AlsoListen are more (another family, another interface).
	Listen     string
	AlsoListen []string
	// NSID is the server's identifier, sent to askers that request it
	// (RFC 5001); empty sends none.
	NSID []byte
	// Poll is how often the event log's position is read (default
	// DefaultPoll): a change is served within about Poll plus its build.
	// The read is one indexed look-up, so the poll is short: the writer
	// may be another process (the CLI on the same SQLite file) or
	// another replica, whose commits nothing here hears of.
	Poll time.Duration
	// Housekeep is how often key rollover steps and the cookie secret
	// file are checked (default 10 polls: 1 s with DefaultPoll; at least
	// Poll).
	Housekeep time.Duration
	// Validity is how long a signature is valid (default 14 days);
	// signatures are renewed when less than Refresh (default half of
	// Validity) is left.
	Validity, Refresh time.Duration
	// TSIG maps key names to base64 HMAC-SHA256 secrets, for transfers;
	// TSIGKeys are more keys, as read from a key file. Both come before
	// the register's keys (see Manager.AddTSIG) of the same name, which
	// the server loads at start and again whenever the event log moves.
	TSIG     map[string]string
	TSIGKeys []zone.TSIGSecret
	// OnlineRate is how many signatures a second each zone may make per
	// query (synthesised names, compact denial, NSEC3 white lies), all
	// askers together; 0 means DefaultOnlineRate.
	OnlineRate float64
	// ClientSignRate is how many of those signatures a second each
	// client network (IPv4 /24, IPv6 /56) may have made, so that one
	// flooder cannot spend the zone's budget for everyone (rrl.go); 0
	// means DefaultClientSignRate, negative means no per-client budget.
	ClientSignRate float64
	// RRLRate is how many UDP responses a second each client network
	// may get per answer class (response-rate limiting, rrl.go); 0 means
	// none (the CLI's default is DefaultRRLRate). RRLSlip makes every
	// RRLSlip-th limited response an empty one with TC set instead of
	// none (0 means 2, negative means never).
	RRLRate float64
	RRLSlip int
	// CookieSecretFile holds the DNS cookie secrets (cookie.go): lines
	// of 32 hex digits, the current one first, then older ones still
	// accepted; it is read again when it changes. Empty: a random secret,
	// replaced daily (fine for one server; a set of servers behind one
	// address shares a file).
	CookieSecretFile string
	// QueryLogSample logs one query in QueryLogSample (0: none) with
	// slog: client, name, type, rcode, size, flags.
	QueryLogSample int
	// JournalDepth is how many steps of each zone's IXFR journal are
	// kept (default 100); JournalAge drops older steps (default 7 days).
	// A secondary further behind gets an AXFR.
	JournalDepth int
	JournalAge   time.Duration
	// RollLease is how long the replica that makes key rollover steps
	// keeps that job without renewing it (default 10 polls, at least
	// 30 s): another replica takes over only after it runs out.
	RollLease time.Duration
	// SignatureCache is a file that keeps the precomputed signatures
	// between two starts (zone.SigCache): the first build looks each up
	// before signing, then the file is rewritten with that build's. A
	// restart then signs only what changed since the last start instead
	// of every set and NSEC3 link. Empty: none.
	SignatureCache string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// DefaultPoll is Options.Poll's default: a tenth of a second to notice a
// change, for a read of the event log's position that costs tens of
// microseconds of CPU (bench/README.md, "Session 7: DNS end to end at
// scale"); the 1 s it was made the poll most of the time a change took.
const DefaultPoll = 100 * time.Millisecond

// typeNXNAME is the compact-denial marker type (RFC 9824 §2).
const typeNXNAME = 128

// acceptMsg lets every request that is not a response reach ServeDNS,
// which answers an unknown opcode (NOTIMP) or a count it does not take
// (FORMERR) with the question and the OPT record kept and RA/AD clear;
// miekg/dns's default check answers those itself, echoing the flags and
// dropping both.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	return dns.MsgAccept
}

// MaxUDPSize is the largest UDP answer sent, whatever the client offers
// (DNS flag day 2020: 1232 avoids fragmentation).
const MaxUDPSize = 1232

// snapshot is the zones served (immutable once published, see
// zone.Snapshot) with the packed answers made from them.
type snapshot struct {
	*zone.Snapshot
	wire *wireCache // packed UDP answers of this snapshot (fast.go)
}

// Server answers DNS queries for the configured zones.
type Server struct {
	id     string // names this replica in leases
	reg    *registry.Registry
	store  zone.Store
	sealer *zone.Sealer
	mgr    *manage.Manager // for key rollovers
	opt    Options
	log    *slog.Logger

	snap atomic.Pointer[snapshot]
	tsig tsigRing

	mu    sync.Mutex     // serialises builds
	build *zone.Builder  // guarded by mu
	sigs  *zone.SigCache // nil without Options.SignatureCache
	rmu   sync.Mutex     // serialises rollovers
	umu   sync.Mutex     // serialises RFC 2136 updates (update.go)

	lis      []listener     // one per listen address
	fast     sync.WaitGroup // the fast-path loops
	stop     chan struct{}
	done     chan struct{}
	notifies sync.WaitGroup
	shut     atomic.Bool // Shutdown was called

	// corrupt, when set by a test, flips a byte of the signatures of one
	// owner name's sets, to prove validators notice.
	corrupt atomic.Pointer[string]

	xfrs xfrLog // the last transfer to each secondary (Transfers)

	fastAnswers atomic.Uint64
	met         metrics
	budget      *signBudget // per client network; nil: none
	rrl         *rrl        // nil: no response-rate limiting
	cookies     *cookieJar
	qlogSeen    atomic.Uint64 // queries the slow path counted for the sampled log
}

// NewServer returns a server over the register and the DNS store.
// sealer may be nil when no zone is signed.
func NewServer(reg *registry.Registry, st zone.Store, sealer *zone.Sealer, opt Options) *Server {
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Housekeep <= 0 {
		// Rollover steps are due on the scale of TTLs (minutes to
		// days), cookie secrets change daily.
		opt.Housekeep = 10 * opt.Poll
	}
	opt.Housekeep = max(opt.Housekeep, opt.Poll)
	if opt.ClientSignRate == 0 {
		opt.ClientSignRate = DefaultClientSignRate
	}
	if opt.RRLSlip == 0 {
		opt.RRLSlip = 2
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RollLease <= 0 {
		opt.RollLease = max(30*time.Second, 10*opt.Housekeep)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	rand.Read(id[:])
	s := &Server{id: hex.EncodeToString(id[:]), reg: reg, store: st, sealer: sealer, mgr: manage.NewManager(st, sealer, opt.Now), opt: opt, log: opt.Log}
	if opt.SignatureCache != "" {
		s.sigs = zone.NewSigCache(opt.SignatureCache)
	}
	// The builder defaults the signing and journal options left zero.
	s.build = zone.NewBuilder(st, sealer, zone.BuilderOptions{
		Validity: opt.Validity, Refresh: opt.Refresh, OnlineRate: opt.OnlineRate,
		JournalDepth: opt.JournalDepth, JournalAge: opt.JournalAge, Now: opt.Now, Log: opt.Log,
		Signatures: s.sigs,
	})
	s.snap.Store(&snapshot{Snapshot: &zone.Snapshot{}, wire: &wireCache{}})
	s.budget = newSignBudget(opt.ClientSignRate)
	s.rrl = newRRL(opt.RRLRate, opt.RRLSlip)
	// With a secret file, Start reads it (and fails if it cannot); until
	// then, and without one, a random secret.
	s.cookies, _ = newCookieJar("", opt.Now())
	if opt.CookieSecretFile != "" {
		s.cookies.file = opt.CookieSecretFile
	}
	return s
}

// Reload brings every zone up to date with the register and the store
// now: zones whose inputs changed are built again, re-signing only the
// sets that changed (incr.go), and get the next serial with a journal
// step; the others are served as they were.
func (s *Server) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var in zone.BuildInput
	// The position is read before the register: what is built then
	// reflects at least every event up to it, and the next poll that
	// finds the log elsewhere builds again.
	pos, err := s.reg.Position(ctx)
	if err != nil {
		return fmt.Errorf("dns: read the event log's position: %w", err)
	}
	in.Seq = pos.Seq
	if err := s.loadTSIG(ctx); err != nil {
		// The keys loaded before stay in use; zones still follow.
		s.log.Error("dns TSIG keys", "err", err)
	}
	// Zones and records first: which assignments a build reads depends
	// on them (readAssigns).
	if in.Zones, err = s.store.Zones(ctx); err != nil {
		return fmt.Errorf("dns: read zones: %w", err)
	}
	if in.Records, err = s.store.Records(ctx, 0); err != nil {
		return fmt.Errorf("dns: read records: %w", err)
	}
	if in.Keys, err = s.store.Keys(ctx, 0); err != nil {
		return fmt.Errorf("dns: read keys: %w", err)
	}
	// Since the last snapshot, only assignments changed (the usual case:
	// a new name): the builder makes the zones they touch from their
	// last versions, and every assignment is read only if some zone
	// still needs a full build.
	//
	// With the log where it was (a renewal of signatures come due, or
	// a build retried), the change is empty: read as one, so that the
	// renewal is a delta build too, not a read of every assignment and
	// a full build of every zone due.
	if prev := s.snap.Load().Snapshot; prev.Len() > 0 && prev.Seq() > 0 {
		if err := s.readDelta(ctx, &in, prev.Seq()); err != nil {
			return err
		}
	}
	if in.Delta == nil {
		if err := s.readAssigns(ctx, &in); err != nil {
			return err
		}
		// Handed to the builder to load, so that it drops them once
		// the zones are laid out, before signing (zone.Builder.Rebuild):
		// at 10M assignments they are the start-up's largest transient.
		as := in.Assigns
		in.Assigns, in.LoadAssigns = nil, func() ([]registry.Assignment, error) {
			a := as
			as = nil
			return a, nil
		}
	}
	corrupt := ""
	if c := s.corrupt.Load(); c != nil {
		corrupt = *c
	}
	snap, changed, err := s.build.Rebuild(ctx, &in, s.opt.Now(), corrupt)
	s.snap.Store(&snapshot{Snapshot: snap, wire: &wireCache{}})
	var catalogNotify []string
	for _, z := range in.Zones {
		if z.Config.Catalog {
			catalogNotify = z.Config.Notify
		}
	}
	for _, zd := range changed {
		s.log.Info("dns zone loaded", "zone", zd.Name(), "serial", zd.Serial(), "names", zd.Names(), "signed", zd.Signed(), "seq", zd.Seq())
		s.notify(zd, catalogNotify)
	}
	return err
}

// readAssigns reads every pool and assigned address DNS serves, and the
// tenants' assignments at the addresses of the static PTRs of in.Zones
// (in.Records), which decide whether those are served.
func (s *Server) readAssigns(ctx context.Context, in *zone.BuildInput) error {
	err := s.reg.Store().View(ctx, func(tx registry.Tx) error {
		var err error
		if in.Pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
			return err
		}
		// Only named ones: an unnamed address is in no zone (synthesised
		// names come from pools), and most are unnamed.
		if in.Assigns, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}, Named: true}); err != nil {
			return err
		}
		// But a tenant's unnamed or quarantined address hides the static
		// PTRs written before it was handed out (zone.PTRShadowedBy):
		// those few are read too, by address.
		held, err := manage.TenantsAtStaticPTRs(ctx, tx, in.Zones, in.Records)
		if err != nil {
			return err
		}
		for _, a := range held {
			if a.State != registry.StateAssigned || a.Name == "" { // the named ones are read above
				in.Assigns = append(in.Assigns, a)
			}
		}
		// Every space is read: each zone takes the assignments of its
		// own space (zone.Config.Serves; the global and built-in
		// private space unless it names one).
		return nil
	})
	if err != nil {
		return fmt.Errorf("dns: read register: %w", err)
	}
	return nil
}

// maxDeltaEvents bounds the events a delta build reads (memory): past
// it, the register is read whole. Reading an event costs about what
// reading an assignment does, and most events (quarantines ending,
// unnamed addresses) change no zone, so the bound is high: a full build
// of a zone of a million names costs far more than 65,536 events.
const maxDeltaEvents = 1 << 16

// readDelta reads, in one transaction, the pools and the events after
// since; if they are all changes of assignments (what DNS serves of an
// assignment is in its event's before and after), it sets in.Delta from
// them (in.Seq the last one's position) and in.LoadAssigns to read every
// assignment should a zone need a full build. Otherwise in.Delta stays
// nil: the caller reads everything.
func (s *Server) readDelta(ctx context.Context, in *zone.BuildInput, since int64) error {
	var d *zone.Delta
	// What the delta build reflects: since, until an event after it is
	// read. Not in.Seq, the position read before: on PostgreSQL a
	// position can run ahead of what a later read is given (a horizon
	// stepping back; store/postgres tx.go), and a build stamped with it
	// would skip the events in between for good (an assignment's change
	// at a static PTR never built: TestStalePTRAtAnUnnamedAddress).
	seq := since
	err := s.reg.Store().View(ctx, func(tx registry.Tx) error {
		es, err := tx.EventsAfter(ctx, registry.EventFilter{AfterSeq: since, Limit: maxDeltaEvents + 1})
		if err != nil || len(es) > maxDeltaEvents {
			return err
		}
		var changes []zone.AssignChange
		for _, e := range es {
			if e.SubjectKind != "assignment" {
				return nil // pools, blocks, spaces, ...: a full read
			}
			var c zone.AssignChange
			for _, side := range []struct {
				raw []byte
				to  *registry.Assignment
			}{{e.Before, &c.Before}, {e.After, &c.After}} {
				if len(side.raw) == 0 || string(side.raw) == "null" {
					continue
				}
				if err := json.Unmarshal(side.raw, side.to); err != nil {
					return nil // not an assignment as this version knows it: a full read
				}
			}
			if c.Before.ID == 0 && c.After.ID == 0 {
				return nil
			}
			changes = append(changes, c)
		}
		pools, err := tx.Pools(ctx, registry.PoolFilter{})
		if err != nil {
			return err
		}
		// Each side names its space from its pool (read now, in the
		// same transaction), not from the event: each zone takes only
		// its own space's assignments (zone.Config.Serves), and an
		// event written before spaces were recorded names none.
		spaceOf := make(map[int64]string, len(pools))
		for _, p := range pools {
			spaceOf[p.ID] = p.Space
		}
		for i := range changes {
			for _, a := range []*registry.Assignment{&changes[i].Before, &changes[i].After} {
				if a.ID != 0 {
					a.Space = spaceOf[a.PoolID]
				}
			}
		}
		if len(es) > 0 {
			seq = es[len(es)-1].Seq
		}
		d, in.Pools = &zone.Delta{Since: since, Changes: changes}, pools
		return nil
	})
	if err != nil {
		return fmt.Errorf("dns: read the event log after %d: %w", since, err)
	}
	if d == nil {
		return nil
	}
	in.Delta, in.Seq = d, seq
	in.LoadAssigns = func() ([]registry.Assignment, error) {
		all := zone.BuildInput{Zones: in.Zones, Records: in.Records}
		if err := s.readAssigns(ctx, &all); err != nil {
			return nil, err
		}
		return all.Assigns, nil
	}
	return nil
}

// CorruptSignatures makes every later build break the signatures at owner
// (a test hook: validators must answer SERVFAIL for it).
func (s *Server) CorruptSignatures(ctx context.Context, owner string) error {
	owner = dns.CanonicalName(owner)
	s.corrupt.Store(&owner)
	return s.Reload(ctx)
}

// Start listens on UDP and TCP, loads the zones and keeps them current
// until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	// The first build may NOTIFY secondaries, which watch stop.
	s.stop = make(chan struct{})
	if err := s.loadTSIG(ctx); err != nil {
		return err
	}
	if s.cookies.file != "" {
		if _, err := s.cookies.reload(s.opt.Now()); err != nil {
			return err
		}
	}
	if s.sigs != nil {
		// A cache that does not read back is no reason not to serve:
		// the build signs what it would have found there.
		if n, err := s.sigs.Load(); err != nil {
			s.log.Warn("dns signature cache not read: every signature is made again", "file", s.sigs.Path(), "err", err)
		} else {
			s.log.Info("dns signature cache read", "file", s.sigs.Path(), "signatures", n)
		}
	}
	if err := s.Reload(ctx); err != nil {
		s.log.Error("dns load", "err", err)
		if s.snap.Load().Len() == 0 && s.hasZones(ctx) {
			return err
		}
	}
	if s.sigs != nil {
		if n, err := s.sigs.Save(); err != nil {
			s.log.Warn("dns signature cache not written", "file", s.sigs.Path(), "err", err)
		} else {
			s.log.Info("dns signature cache written", "file", s.sigs.Path(), "found", s.sigs.Hits(), "signatures", n)
		}
	}
	for _, addr := range append([]string{s.opt.Listen}, s.opt.AlsoListen...) {
		if err := s.listenOn(addr); err != nil {
			s.closeListeners(ctx)
			return err
		}
	}
	s.done = make(chan struct{})
	go s.loop()
	for _, l := range s.lis {
		s.log.Info("dns serving", "addr", l.conn.LocalAddr().String())
	}
	s.logGaps(ctx)
	return nil
}

// logGaps logs, once at start, each zone whose secondaries cannot answer
// what this server answers (manage.SecondaryGaps): operators who read
// only the log learn it there.
func (s *Server) logGaps(ctx context.Context) {
	zs, err := s.store.Zones(ctx)
	if err != nil {
		return
	}
	var pools []netip.Prefix
	err = s.reg.Store().View(ctx, func(tx registry.Tx) error {
		ps, err := tx.Pools(ctx, registry.PoolFilter{})
		for _, p := range ps {
			pools = append(pools, p.Prefix)
		}
		return err
	})
	if err != nil {
		return
	}
	for _, g := range manage.SecondaryGaps(zs, pools) {
		s.log.Warn("dns secondaries cannot answer what this server answers", "zone", g.Zone, "why", g.Reason)
	}
}

// listener is one listen address: its UDP socket (read by the fast
// loops, which hand the rest to udp) and the TCP server.
type listener struct {
	conn     *net.UDPConn
	udp, tcp *dns.Server
}

// listenOn serves UDP and TCP on addr.
func (s *Server) listenOn(addr string) error {
	udpConn, ln, err := listen(addr)
	if err != nil {
		return err
	}
	udpConn.SetReadBuffer(4 << 20)
	udpConn.SetWriteBuffer(4 << 20)
	// The fast path reads the socket; what it does not answer goes to
	// the miekg/dns server through pipe.
	pipe := newPipeConn(udpConn)
	l := listener{conn: udpConn,
		udp: &dns.Server{PacketConn: pipe, Handler: s, TsigProvider: &s.tsig, UDPSize: 65535, MsgAcceptFunc: acceptMsg},
		tcp: &dns.Server{Listener: ln, Handler: s, TsigProvider: &s.tsig, MsgAcceptFunc: acceptMsg, ReadTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }, MaxTCPQueries: 1000}}
	started := make(chan struct{}, 2)
	l.udp.NotifyStartedFunc = func() { started <- struct{}{} }
	l.tcp.NotifyStartedFunc = func() { started <- struct{}{} }
	go l.udp.ActivateAndServe()
	go l.tcp.ActivateAndServe()
	<-started
	<-started
	s.lis = append(s.lis, l)
	for range fastWorkers() {
		s.fast.Add(1)
		go s.fastLoop(udpConn, pipe, &s.fast)
	}
	return nil
}

// closeListeners stops every listener and waits for the fast loops.
func (s *Server) closeListeners(ctx context.Context) error {
	var errs []error
	for _, l := range s.lis {
		errs = append(errs, l.udp.ShutdownContext(ctx))
		l.conn.Close()
	}
	s.fast.Wait()
	for _, l := range s.lis {
		errs = append(errs, l.tcp.ShutdownContext(ctx))
	}
	return errors.Join(errs...)
}

// loadTSIG reads the register's TSIG keys and serves them with the
// configured ones, which win for a name both hold.
func (s *Server) loadTSIG(ctx context.Context) error {
	reg, err := zone.LoadTSIG(ctx, s.store, s.sealer)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	var static []zone.TSIGSecret
	for n, v := range s.opt.TSIG {
		sec, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return fmt.Errorf("dns: TSIG key %s: secret is not base64: %w", n, registry.ErrInvalid)
		}
		static = append(static, zone.TSIGSecret{Name: dns.CanonicalName(n), Algorithm: "hmac-sha256", Secret: sec})
	}
	static = append(static, s.opt.TSIGKeys...)
	all := static
	for _, k := range reg {
		if slices.ContainsFunc(static, func(o zone.TSIGSecret) bool { return o.Name == k.Name }) {
			continue
		}
		all = append(all, k)
	}
	s.tsig.set(all)
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
func (s *Server) Addr() string { return s.lis[0].conn.LocalAddr().String() }

// Addrs are every address the server listens on (UDP and TCP), in the
// order of Options.Listen and AlsoListen.
func (s *Server) Addrs() []string {
	out := make([]string, len(s.lis))
	for i, l := range s.lis {
		out[i] = l.conn.LocalAddr().String()
	}
	return out
}

// loop rebuilds the zones when the event log moves or signatures age
// (every Poll), and makes rollover steps and reads cookie secrets (every
// Housekeep).
func (s *Server) loop() {
	defer close(s.done)
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	// A build has no deadline: a full build at 10M names is minutes of
	// CPU, more of wall on a loaded machine, and the 5 minutes a poll
	// once had ran out during the split's staged zone (bench/README.md,
	// "Session 15: DNS at 10M names end to end"): its last store call
	// failed and the work was thrown away. Stopping the server cancels
	// it; a store that does not answer is its own timeouts' business.
	build, cancelBuild := context.WithCancel(context.Background())
	defer cancelBuild()
	go func() {
		select {
		case <-s.stop:
			cancelBuild()
		case <-build.Done():
		}
	}()
	var kept time.Time // the last housekeeping, on the wall clock
	// A build that failed (a zone not served, or an old version of it)
	// is tried again after retry, doubling up to maxRetry, although the
	// log did not move: the snapshot it left names the log's position,
	// so no poll found it due until the next change.
	var retryAt time.Time
	var retry time.Duration
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(build, 5*time.Minute)
		rolled := false
		if time.Since(kept) >= s.opt.Housekeep-s.opt.Poll/2 {
			kept = time.Now()
			if changed, err := s.cookies.reload(s.opt.Now()); err != nil {
				s.log.Error("dns cookie secrets (the previous ones stay in use)", "err", err)
			} else if changed {
				s.log.Info("dns cookie secrets changed")
			}
			var err error
			if rolled, err = s.Roll(ctx); err != nil {
				s.log.Error("dns key rollover", "err", err)
			}
		}
		again := !retryAt.IsZero() && !time.Now().Before(retryAt)
		if rolled || again || s.due(ctx) {
			if err := s.Reload(build); err != nil {
				retry = min(max(2*retry, s.opt.Poll), maxRetry)
				retryAt = time.Now().Add(retry)
				s.log.Error("dns reload", "err", err, "again in", retry.String())
			} else {
				retryAt, retry = time.Time{}, 0
			}
		}
		cancel()
	}
}

// maxRetry is the longest wait before a failed build is tried again.
const maxRetry = time.Minute

// rollLease is the lease of the replica that makes key rollover steps.
const rollLease = "dns-roll"

// Roll makes the key rollover steps due now (RFC 7583 timing, see
// roll.go) in every signed zone, and says whether it changed a key; the
// change is in the event log, so the next build (Reload) serves it.
// Start's loop calls it at each poll; tests with a clock call it alone.
//
// Of several replicas on one database only the holder of the rollover
// lease makes steps (the others return at once), and it plans from the
// keys as stored, not as its last build saw them, so that no step is
// made twice: a successor key generated twice would be published twice.
// Key state changes are compare-and-set besides (Store.UpdateKey).
//
// The lease is a write (a durable commit on SQLite, contending with
// every writer of the register for its one write lock), so it is taken
// only when a plan made from a read finds a step due: an idle poll reads
// and writes nothing else. Having it, the replica plans again from the
// keys as stored then, as another replica may have made the steps.
func (s *Server) Roll(ctx context.Context) (bool, error) {
	s.rmu.Lock() // one rollover at a time in this process, too
	defer s.rmu.Unlock()
	snap := s.snap.Load()
	if !snap.AnySigned() {
		return false, nil // nothing to roll: no lease to hold
	}
	if due, err := s.planRoll(ctx, snap); err != nil || len(due) == 0 {
		return false, err
	}
	now := s.opt.Now()
	ok, err := s.store.AcquireLease(ctx, rollLease, s.id, now, now.Add(s.opt.RollLease))
	if err != nil {
		return false, fmt.Errorf("dns rollover lease: %w", err)
	}
	if !ok {
		return false, nil
	}
	plans, err := s.planRoll(ctx, snap)
	if err != nil {
		return false, err
	}
	changed := false
	var errs []error
	for _, p := range plans {
		// Still ours? A holder that stalled past its lease stops here
		// rather than make a step its successor may be making.
		ok, err := s.store.AcquireLease(ctx, rollLease, s.id, s.opt.Now(), s.opt.Now().Add(s.opt.RollLease))
		if err == nil && !ok {
			err = errors.New("another replica holds the rollover lease now")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("dns rollover of zone %s: %w", p.zone.Name, err))
			break
		}
		for _, st := range p.steps {
			s.log.Info("dns key rollover", "zone", p.zone.Name, "role", st.Key.Role, "tag", st.Key.Tag, "state", st.Key.State, "why", st.Why)
		}
		changed = true
		if err := s.mgr.ApplyRoll(ctx, p.zone, p.steps); err != nil {
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

// rollPlan is the rollover steps due in one zone.
type rollPlan struct {
	zone  zone.Zone
	steps []manage.RollStep
}

// planRoll reads the zones and keys as stored and lists the steps due
// now in each zone served signed.
func (s *Server) planRoll(ctx context.Context, snap *snapshot) ([]rollPlan, error) {
	zones, err := s.store.Zones(ctx)
	if err != nil {
		return nil, fmt.Errorf("dns rollover: read zones: %w", err)
	}
	keys, err := s.store.Keys(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("dns rollover: read keys: %w", err)
	}
	byZone := map[int64][]zone.Key{}
	for _, k := range keys {
		byZone[k.ZoneID] = append(byZone[k.ZoneID], k)
	}
	now := s.opt.Now()
	var out []rollPlan
	for _, z := range zones {
		zd := snap.Zone(z.Name)
		if zd == nil || !zd.Signed() || !z.Config.Signed {
			continue // not served signed yet: its first build has no TTLs to time by
		}
		if steps := manage.PlanRoll(z, byZone[z.ID], zd.MaxTTL(), now); len(steps) > 0 {
			out = append(out, rollPlan{zone: z, steps: steps})
		}
	}
	return out, nil
}

// due says whether a rebuild is needed: the log moved, or some zone's
// signatures come within the refresh window.
func (s *Server) due(ctx context.Context) bool {
	snap := s.snap.Load()
	now := s.opt.Now()
	for _, zd := range snap.All() {
		if zd.Signed() && !now.Before(zd.RefreshAt()) {
			return true
		}
	}
	pos, err := s.reg.Position(ctx)
	if err != nil {
		s.log.Error("dns poll", "err", err)
		return false
	}
	return pos.Seq != snap.Seq()
}

// Shutdown stops listening and the background work. Calls after the
// first do nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.shut.CompareAndSwap(false, true) {
		return nil
	}
	if s.stop != nil {
		close(s.stop)
	}
	if s.done != nil {
		<-s.done
	}
	err := s.closeListeners(ctx)
	s.notifies.Wait()
	return err
}

// OnlineSignatures counts the signatures made per query since start.
func (s *Server) OnlineSignatures() uint64 { return s.build.OnlineSignatures() }

// Serial is the serial a zone is served with now (0 if not served).
func (s *Server) Serial(zoneName string) uint32 {
	if zd := s.snap.Load().Zone(dns.CanonicalName(zoneName)); zd != nil {
		return zd.Serial()
	}
	return 0
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if m := tsigRefusal(r, w.TsigStatus(), time.Now()); m != nil {
		// RFC 8945 §5.2: a request whose TSIG fails is never answered
		// as if unsigned, whatever it asks (query, transfer, NOTIFY).
		if t := m.IsTsig(); t != nil && t.Error != dns.RcodeBadTime {
			// BADKEY and BADSIG go unsigned (§5.3.2), packed here:
			// miekg/dns's writer would sign nothing either, but would
			// zero the server's time tsigRefusal set.
			if b, err := m.Pack(); err == nil {
				w.Write(b)
			}
			return
		}
		w.WriteMsg(m)
		return
	}
	var m *dns.Msg
	if len(r.Question) == 1 && (r.Question[0].Qtype == dns.TypeAXFR || r.Question[0].Qtype == dns.TypeIXFR) && r.Opcode == dns.OpcodeQuery {
		m = s.transfer(w, r, tcp)
	} else if r.Opcode == dns.OpcodeUpdate && !r.Response {
		m = s.update(r)
	} else {
		c := asker{addr: remoteAddr(w), tcp: tcp}
		var info answerInfo
		m, info = s.respond(s.snap.Load(), r, c)
		if m == nil {
			return
		}
		if m = s.account(r, m, c, info); m == nil {
			return // response-rate limiting dropped it
		}
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

// Respond answers one query (not a transfer) from an unknown asker: no
// client budget applies, and a server cookie is checked against the
// unspecified address; tcp lifts the size limit. It returns nil for what
// is better dropped.
func (s *Server) Respond(r *dns.Msg, tcp bool) *dns.Msg {
	m, _ := s.respond(s.snap.Load(), r, asker{tcp: tcp})
	return m
}

// asker is who sent a query: its address (invalid when unknown) and
// whether over TCP.
type asker struct {
	addr netip.Addr
	tcp  bool
}

// answerInfo is what respond says of an answer besides the message.
type answerInfo struct {
	// cacheable says that the answer is the same for every query with
	// the same question, DO bit and size (it is not when a signing
	// budget was spent).
	cacheable bool
	zone      string // the configured zone that answered, or ""
	cls       uint64 // the answer class, for response-rate limiting
	cookie    cookieState
	// cookieOpt is the COOKIE option sent back (nil: none), for a
	// reply that replaces the answer (BADCOOKIE on a slip).
	cookieOpt  *dns.EDNS0_COOKIE
	overBudget bool
}

// respond answers r from snap for c.
func (s *Server) respond(snap *snapshot, r *dns.Msg, c asker) (*dns.Msg, answerInfo) {
	m, info := s.respond1(snap, r, c)
	if m != nil {
		info.cls = answerClass(m, info)
	}
	return m, info
}

// respond1 is respond but for the answer class.
func (s *Server) respond1(snap *snapshot, r *dns.Msg, c asker) (_ *dns.Msg, info answerInfo) {
	tcp := c.tcp
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
		if len(s.opt.NSID) > 0 && slices.ContainsFunc(opt.Option, func(o dns.EDNS0) bool { return o.Option() == dns.EDNS0NSID }) {
			// RFC 5001 §2.3: only to an asker that asked.
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString(s.opt.NSID)})
		}
	}
	switch {
	case r.Response:
		return nil, info
	case opts > 1 || (opt != nil && opt.Header().Name != "."):
		// RFC 6891 §6.1.1: more than one OPT, or one not at the root.
		m.Extra = nil
		m.Rcode = dns.RcodeFormatError
		return m, answerInfo{cacheable: true}
	case opt != nil && opt.Version() != 0:
		// RFC 6891 §6.1.3.
		m.Rcode = dns.RcodeBadVers
		m.IsEdns0().SetVersion(0)
		return m, answerInfo{cacheable: true}
	}
	if opt != nil {
		st, co := s.cookies.check(opt, c.addr, s.opt.Now())
		info.cookie, info.cookieOpt = st, co
		switch {
		case st == cookieMalformed:
			m.Rcode = dns.RcodeFormatError // RFC 7873 §5.2.2
			return m, info
		case co != nil:
			o := m.IsEdns0()
			o.Option = append(o.Option, co)
		}
		if st == cookieBad && !tcp {
			// RFC 7873 §5.2.4: the asker retries with the new cookie.
			m.Rcode = dns.RcodeBadCookie
			return m, info
		}
	}
	// Until a budget says otherwise; an answer with a cookie is the
	// asker's alone (the fast path, which keeps answers, takes none).
	info.cacheable = info.cookieOpt == nil
	switch {
	case r.Opcode == dns.OpcodeNotify:
		// cadastre is a primary: it sends NOTIFY and heeds none.
		m.Rcode = dns.RcodeRefused
		return m, info
	case r.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
		return m, info
	case len(r.Question) != 1:
		m.Rcode = dns.RcodeFormatError
		return m, info
	}
	q := r.Question[0]
	qname := strings.ToLower(q.Name)
	if _, ok := dns.IsDomainName(qname); !ok || q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		return m, info
	}
	if q.Qtype == typeNXNAME {
		// RFC 9824 §3.5: NXNAME is a marker in NSEC bitmaps, never asked.
		m.Rcode = dns.RcodeFormatError
		return m, info
	}
	if q.Qtype >= 128 && q.Qtype <= 255 && q.Qtype != dns.TypeANY || q.Qtype == dns.TypeOPT || q.Qtype == 0 {
		// Meta-types other than ANY (RFC 6895 §3.1): nothing to look up.
		m.Rcode = dns.RcodeNotImplemented
		return m, info
	}
	zd := snap.Find(qname)
	if q.Qtype == dns.TypeSOA {
		// A staged zone (zone.Config.Staged) answers for nothing yet but
		// its SOA, which a secondary asks before a transfer.
		if sz := snap.Zone(qname); sz != nil && sz.Zone().Config.Staged {
			zd = sz
		}
	}
	if zd == nil {
		m.Rcode = dns.RcodeRefused
		return m, info
	}
	info.zone = zd.Name()
	if q.Qtype == dns.TypeDS && qname == zd.Name() {
		// RFC 4035 §3.1.4.1: the DS of a zone is in its parent; a
		// server with both answers it from the parent.
		if i, end := dns.NextLabel(qname, 0); !end {
			if p := snap.Find(qname[i:]); p != nil {
				zd = p
			}
		}
	}
	var sp zone.Spender
	var csp *spender
	if s.budget != nil && c.addr.IsValid() {
		csp = &spender{b: s.budget, key: clientKey(c.addr), now: nowNano()}
		sp = csp
	}
	res := zd.LookupSpending(qname, q.Qtype, do, sp)
	if res.OverBudget {
		info.cacheable, info.overBudget = false, true
		if csp != nil && csp.refused {
			s.met.budgetClient.Add(1)
		} else {
			s.met.budgetZone.Add(1)
		}
		if !tcp {
			// Make the asker come back over TCP, which a spoofed flood cannot.
			m.Truncated = true
			return m, info
		}
		m.Rcode = dns.RcodeServerFailure
		return m, info
	}
	m.Authoritative = !res.Referral
	m.Rcode = res.Rcode
	m.Answer = res.Answer
	m.Ns = res.Authority
	extra := append([]dns.RR(nil), res.Additional...)
	if opt != nil {
		// The OPT record goes last in the additional section.
		extra = append(extra, m.Extra[len(m.Extra)-1])
	}
	m.Extra = extra
	if tcp {
		size = dns.MaxMsgSize
	}
	truncate(m, size)
	return m, info
}

// truncate makes m fit in size bytes, compressed, by dropping whole
// RRsets (a set with its signatures) from the end: never part of one
// (RFC 2181 §9: a partial set must not be taken for the whole). TC is set
// when an answer or authority set is dropped; dropped additional data
// (glue, which the asker can look up) does not set it. The OPT record
// stays. miekg/dns's Truncate turns compression off when the message
// fits uncompressed, and cuts inside sets.
func truncate(m *dns.Msg, size int) {
	m.Compress = true
	if m.Len() <= size {
		return
	}
	var opt dns.RR
	if o := m.IsEdns0(); o != nil {
		opt = o
		m.Extra = slices.DeleteFunc(slices.Clone(m.Extra), func(rr dns.RR) bool { return rr == opt })
	}
	secs := []*[]dns.RR{&m.Answer, &m.Ns, &m.Extra}
	all := [3][]dns.RR{m.Answer, m.Ns, m.Extra}
	for _, sec := range secs {
		*sec = nil
	}
	if opt != nil {
		m.Extra = []dns.RR{opt}
	}
	full := false
	for i, rrs := range all {
		sec := secs[i]
		for start := 0; start < len(rrs) && !full; {
			end := start + 1
			for end < len(rrs) && sameSet(rrs[start], rrs[end]) {
				end++
			}
			before := *sec
			if i == 2 && opt != nil {
				// The OPT record stays last.
				*sec = append(append(append([]dns.RR(nil), before[:len(before)-1]...), rrs[start:end]...), opt)
			} else {
				*sec = append(slices.Clip(before), rrs[start:end]...)
			}
			if m.Len() > size {
				*sec = before
				full = true
				if i < 2 {
					m.Truncated = true
				}
			}
			start = end
		}
	}
}

// sameSet says whether b belongs to the same RRset as a, its signatures
// included (an RRSIG goes with the set it covers, which precedes it).
func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	if !strings.EqualFold(ha.Name, hb.Name) {
		return false
	}
	ta, tb := ha.Rrtype, hb.Rrtype
	if s, ok := a.(*dns.RRSIG); ok {
		ta = s.TypeCovered
	}
	if s, ok := b.(*dns.RRSIG); ok {
		tb = s.TypeCovered
	}
	return ta == tb
}

// allowed says whether a transfer request from addr (with a verified TSIG
// key name, or "") may have zone z.
func allowed(z *zone.Zone, addr netip.Addr, key string) bool {
	for _, a := range z.Config.AllowTransfer {
		e, err := manage.ParseACL(a)
		if err != nil {
			continue
		}
		if e.Key != "" && e.Key == key || e.Prefix.IsValid() && e.Prefix.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}
