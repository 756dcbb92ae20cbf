// Package server is cadastre's DNS on the wire: UDP and TCP listeners, the
// UDP fast path that sends kept answers (fast.go), AXFR/IXFR and NOTIFY
// (xfr.go), TSIG (tsigring.go), and the rebuilding of every zone's data as
// the register's event log moves (Server.Reload), with the key rollovers
// that one replica at a time carries out. What a zone holds and how it
// answers is the zone package's; what an operator may configure is
// manage's. Nothing imports it but the CLI.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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
	// Poll is how often the event log is checked for changes (default 1s).
	Poll time.Duration
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
	// query (synthesised names, compact denial, NSEC3 white lies); 0
	// means 2000.
	OnlineRate float64
	// JournalDepth is how many steps of each zone's IXFR journal are
	// kept (default 100); JournalAge drops older steps (default 7 days).
	// A secondary further behind gets an AXFR.
	JournalDepth int
	JournalAge   time.Duration
	// RollLease is how long the replica that makes key rollover steps
	// keeps that job without renewing it (default 10 polls, at least
	// 30 s): another replica takes over only after it runs out.
	RollLease time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

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

// snapshot is every zone as served at one point of the event log. Once
// published (Server.snap) it is immutable, records included: goroutines
// answer from it without locks, so code that needs a record changed, or
// calls something that writes into one (miekg/dns's PackRR sets
// Rdlength; an answer with a lower TTL sets Hdr.Ttl), works on a dns.Copy.
type snapshot struct {
	zones map[string]*zone.Data
	seq   int64
	wire  *wireCache // packed UDP answers of this snapshot (fast.go)
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

	mu   sync.Mutex // serialises builds
	rmu  sync.Mutex // serialises rollovers
	sigs zone.SigCache

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

	onlineSigs  atomic.Uint64
	fastAnswers atomic.Uint64
	missSem     chan struct{} // bounds the answers made beside the fast loops
}

// NewServer returns a server over the register and the DNS store.
// sealer may be nil when no zone is signed.
func NewServer(reg *registry.Registry, st zone.Store, sealer *zone.Sealer, opt Options) *Server {
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
	if opt.JournalDepth <= 0 {
		opt.JournalDepth = 100
	}
	if opt.RollLease <= 0 {
		opt.RollLease = max(30*time.Second, 10*opt.Poll)
	}
	if opt.JournalAge <= 0 {
		opt.JournalAge = 7 * 24 * time.Hour
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	rand.Read(id[:])
	s := &Server{id: hex.EncodeToString(id[:]), reg: reg, store: st, sealer: sealer, mgr: manage.NewManager(st, sealer, opt.Now), opt: opt, log: opt.Log, sigs: zone.SigCache{}}
	s.snap.Store(&snapshot{zones: map[string]*zone.Data{}, wire: &wireCache{}})
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
	err = s.reg.Store().View(ctx, func(tx registry.Tx) error {
		var err error
		if in.Pools, err = tx.Pools(ctx, registry.PoolFilter{}); err != nil {
			return err
		}
		if in.Assigns, err = tx.Assignments(ctx, registry.AssignmentFilter{States: []registry.State{registry.StateAssigned}}); err != nil {
			return err
		}
		// DNS serves the global space: a private space's names and
		// addresses, which another space may hold too, stay out.
		in.Pools, in.Assigns, err = registry.GlobalOnly(ctx, tx, in.Pools, in.Assigns)
		return err
	})
	if err != nil {
		return fmt.Errorf("dns: read register: %w", err)
	}
	if err := s.loadTSIG(ctx); err != nil {
		// The keys loaded before stay in use; zones still follow.
		s.log.Error("dns TSIG keys", "err", err)
	}
	if in.Zones, err = s.store.Zones(ctx); err != nil {
		return fmt.Errorf("dns: read zones: %w", err)
	}
	if in.Records, err = s.store.Records(ctx, 0); err != nil {
		return fmt.Errorf("dns: read records: %w", err)
	}
	if in.Keys, err = s.store.Keys(ctx, 0); err != nil {
		return fmt.Errorf("dns: read keys: %w", err)
	}
	now := s.opt.Now()
	p := zone.SigPolicy{Now: now, Validity: s.opt.Validity, Refresh: s.opt.Refresh}
	old := s.snap.Load()
	// Only zones whose inputs changed are built (with the zones linked
	// to them); the others are served as they were.
	canon := zone.CanonicalNames(in.Assigns)
	corrupt := ""
	if c := s.corrupt.Load(); c != nil {
		corrupt = *c
	}
	fps := make(map[string][32]byte, len(in.Zones))
	for _, z := range in.Zones {
		fps[z.Name] = zone.Fingerprint(z, &in, canon, p.Start(), corrupt)
	}
	rebuild := zone.RebuildSet(in.Zones, fps, old.zones)
	zs := map[string]*zone.Data{}
	built := map[string]*zone.Data{}
	var errs []error
	for _, z := range in.Zones {
		if !rebuild[z.Name] {
			zs[z.Name] = old.zones[z.Name]
			continue
		}
		zd, err := zone.Build(z, &in)
		if err != nil {
			errs = append(errs, err)
			if o := old.zones[z.Name]; o != nil {
				zs[z.Name] = o // serve the previous version rather than nothing
			}
			continue
		}
		zd.FP = fps[z.Name]
		zs[z.Name], built[z.Name] = zd, zd
	}
	zone.Link(built)
	used := zone.SigCache{}
	var changed []*zone.Data
	seq := in.Seq
	for name, zd := range built {
		if err := s.finish(ctx, zd, old.zones[name], in.Keys, p, used); err != nil {
			if errors.Is(err, errBehind) {
				// Another replica published a version built from a later
				// state of the register: serve ours no longer than until
				// the next poll, which rebuilds from that state.
				seq = -1
				if o := old.zones[name]; o != nil {
					zs[name] = o
					maps.Copy(used, s.sigs)
				}
				continue
			}
			errs = append(errs, err)
			// Serve the previous version rather than nothing.
			if o := old.zones[name]; o != nil {
				zs[name] = o
				maps.Copy(used, s.sigs)
			} else {
				delete(zs, name)
			}
			continue
		}
		if o := old.zones[name]; o == nil || o.Serial != zd.Serial {
			changed = append(changed, zd)
		}
	}
	s.sigs = used
	s.snap.Store(&snapshot{zones: zs, seq: seq, wire: &wireCache{}})
	for _, zd := range changed {
		s.log.Info("dns zone loaded", "zone", zd.Zone.Name, "serial", zd.Serial, "names", len(zd.Nodes), "signed", zd.Signed, "seq", zd.Seq)
		s.notify(zd)
	}
	return errors.Join(errs...)
}

// errBehind says that a build lost the race for the next serial to a
// version of different content: the caller keeps serving what it had and
// builds again.
var errBehind = errors.New("another replica published a newer version")

// finish signs a built zone and gives it its serial: the stored one if the
// content is what the store's hash names (a restart, or another replica
// that got there first), else the next one, set by compare-and-set with
// the journal step from prev (the version served until now) in the same
// transaction.
func (s *Server) finish(ctx context.Context, zd, prev *zone.Data, keys []zone.Key, p zone.SigPolicy, used zone.SigCache) error {
	z := &zd.Zone
	if z.Config.Signed {
		sigPrev := prev
		if s.corrupt.Load() != nil {
			sigPrev = nil // prev's signatures at the owner were broken on purpose
		}
		if err := zd.SignZone(keys, s.sealer, p, s.sigs, used, sigPrev); err != nil {
			return err
		}
		zd.Online.Rate, zd.Online.Burst, zd.Online.Tokens, zd.Online.Now = s.opt.OnlineRate, 2*s.opt.OnlineRate, 2*s.opt.OnlineRate, s.opt.Now
		zd.Online.Count = &s.onlineSigs
	}
	if c := s.corrupt.Load(); c != nil {
		zd.Corrupt(*c)
	}
	// The content hash, and what changed since prev for the journal.
	var removed, added []string
	var err error
	if prev != nil {
		removed, added, zd.Sum, err = zone.BodyDiff(prev, zd)
	} else {
		zd.Sum, err = zd.FullHash()
	}
	if err != nil {
		return fmt.Errorf("zone %s: %w", z.Name, err)
	}
	zd.Hash = zd.Sum.String()
	for try := 0; ; try++ {
		if zd.Hash == z.SerialHash && z.Serial != 0 {
			return zd.SetSerial(z.Serial, p, s.sigs, used)
		}
		next := zone.NextSerial(z.Serial, p.Now)
		if err := zd.SetSerial(next, p, s.sigs, used); err != nil {
			return err
		}
		var d *zone.Diff
		// Versions are a function of the register and the time (see
		// sigPolicy), so prev is what every replica served at its serial.
		switch {
		case prev == nil || z.Serial == 0:
		case prev.Serial == z.Serial && prev.Hash == z.SerialHash:
			if d, err = zone.JournalStep(prev, zd, removed, added); err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, err)
			}
		case serialLess(prev.Serial, z.Serial):
			// Another replica moved the serial since prev: the step from
			// its version is ours from prev less the journal's from prev.
			steps, err := s.store.Journal(ctx, z.ID, prev.Serial)
			if err != nil {
				return fmt.Errorf("zone %s: journal: %w", z.Name, err)
			}
			if c, ok := zone.Condense(steps, prev.Serial, z.Serial); ok {
				if d, err = zone.ComposeStep(&c, z.Serial, zd, removed, added); err != nil {
					return fmt.Errorf("zone %s: %w", z.Name, err)
				}
			}
		}
		if d != nil {
			d.At = p.Now.UTC()
		}
		ok, err := s.store.SetZoneSerial(ctx, z.ID, z.Serial, next, zd.Hash, d)
		if err != nil {
			return fmt.Errorf("zone %s: serial: %w", z.Name, err)
		}
		if ok {
			z.Serial, z.SerialHash = next, zd.Hash
			if d != nil {
				if err := s.store.PruneJournal(ctx, z.ID, s.opt.JournalDepth, p.Now.Add(-s.opt.JournalAge)); err != nil {
					s.log.Warn("dns journal prune", "zone", z.Name, "err", err)
				}
			}
			return nil
		}
		// Another replica moved the serial: read where it is.
		zs, err := s.store.Zones(ctx)
		if err != nil {
			return fmt.Errorf("zone %s: serial: %w", z.Name, err)
		}
		for _, o := range zs {
			if o.ID == z.ID {
				z.Serial, z.SerialHash = o.Serial, o.SerialHash
			}
		}
		if zd.Hash == z.SerialHash {
			continue // the same content: take its serial
		}
		if prev != nil {
			return fmt.Errorf("zone %s: %w", z.Name, errBehind)
		}
		// Nothing served yet: publish ours on top, a few times at most.
		if try == 3 {
			return fmt.Errorf("zone %s: serial: still moving after %d tries", z.Name, try+1)
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

// Start listens on UDP and TCP, loads the zones and keeps them current
// until Shutdown.
func (s *Server) Start(ctx context.Context) error {
	// The first build may NOTIFY secondaries, which watch stop.
	s.stop = make(chan struct{})
	if err := s.loadTSIG(ctx); err != nil {
		return err
	}
	if err := s.Reload(ctx); err != nil {
		s.log.Error("dns load", "err", err)
		if len(s.snap.Load().zones) == 0 && s.hasZones(ctx) {
			return err
		}
	}
	s.missSem = make(chan struct{}, 4*fastWorkers())
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
	return nil
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
func (s *Server) Roll(ctx context.Context) (bool, error) {
	s.rmu.Lock() // one rollover at a time in this process, too
	defer s.rmu.Unlock()
	snap := s.snap.Load()
	if !slices.ContainsFunc(slices.Collect(maps.Values(snap.zones)), func(zd *zone.Data) bool { return zd.Signed }) {
		return false, nil // nothing to roll: no lease to hold
	}
	now := s.opt.Now()
	ok, err := s.store.AcquireLease(ctx, rollLease, s.id, now, now.Add(s.opt.RollLease))
	if err != nil {
		return false, fmt.Errorf("dns rollover lease: %w", err)
	}
	if !ok {
		return false, nil
	}
	zones, err := s.store.Zones(ctx)
	if err != nil {
		return false, fmt.Errorf("dns rollover: read zones: %w", err)
	}
	keys, err := s.store.Keys(ctx, 0)
	if err != nil {
		return false, fmt.Errorf("dns rollover: read keys: %w", err)
	}
	byZone := map[int64][]zone.Key{}
	for _, k := range keys {
		byZone[k.ZoneID] = append(byZone[k.ZoneID], k)
	}
	changed := false
	var errs []error
	for _, z := range zones {
		zd := snap.zones[z.Name]
		if zd == nil || !zd.Signed || !z.Config.Signed {
			continue // not served signed yet: its first build has no TTLs to time by
		}
		steps := manage.PlanRoll(z, byZone[z.ID], zd.MaxTTL, now)
		if len(steps) == 0 {
			continue
		}
		// Still ours? A holder that stalled past its lease stops here
		// rather than make a step its successor may be making.
		ok, err := s.store.AcquireLease(ctx, rollLease, s.id, s.opt.Now(), s.opt.Now().Add(s.opt.RollLease))
		if err == nil && !ok {
			err = errors.New("another replica holds the rollover lease now")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("dns rollover of zone %s: %w", z.Name, err))
			break
		}
		for _, st := range steps {
			s.log.Info("dns key rollover", "zone", z.Name, "role", st.Key.Role, "tag", st.Key.Tag, "state", st.Key.State, "why", st.Why)
		}
		changed = true
		if err := s.mgr.ApplyRoll(ctx, z, steps); err != nil {
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
		if zd.Signed && !now.Before(zd.RefreshAt) {
			return true
		}
	}
	pos, err := s.reg.Position(ctx)
	if err != nil {
		s.log.Error("dns poll", "err", err)
		return false
	}
	return pos.Seq != snap.seq
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
func (s *Server) OnlineSignatures() uint64 { return s.onlineSigs.Load() }

// Serial is the serial a zone is served with now (0 if not served).
func (s *Server) Serial(zoneName string) uint32 {
	if zd := s.snap.Load().zones[dns.CanonicalName(zoneName)]; zd != nil {
		return zd.Serial
	}
	return 0
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if m := tsigRefusal(r, w.TsigStatus(), time.Now()); m != nil {
		// RFC 8945 §5.2: a request whose TSIG fails is never answered
		// as if unsigned, whatever it asks (query, transfer, NOTIFY).
		w.WriteMsg(m)
		return
	}
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
		if len(s.opt.NSID) > 0 && slices.ContainsFunc(opt.Option, func(o dns.EDNS0) bool { return o.Option() == dns.EDNS0NSID }) {
			// RFC 5001 §2.3: only to an asker that asked.
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: hex.EncodeToString(s.opt.NSID)})
		}
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
	if q.Qtype == typeNXNAME {
		// RFC 9824 §3.5: NXNAME is a marker in NSEC bitmaps, never asked.
		m.Rcode = dns.RcodeFormatError
		return m, true
	}
	if q.Qtype >= 128 && q.Qtype <= 255 && q.Qtype != dns.TypeANY || q.Qtype == dns.TypeOPT || q.Qtype == 0 {
		// Meta-types other than ANY (RFC 6895 §3.1): nothing to look up.
		m.Rcode = dns.RcodeNotImplemented
		return m, true
	}
	zd := zone.FindZone(snap.zones, qname)
	if zd == nil {
		m.Rcode = dns.RcodeRefused
		return m, true
	}
	if q.Qtype == dns.TypeDS && qname == zd.Zone.Name {
		// RFC 4035 §3.1.4.1: the DS of a zone is in its parent; a
		// server with both answers it from the parent.
		if i, end := dns.NextLabel(qname, 0); !end {
			if p := zone.FindZone(snap.zones, qname[i:]); p != nil {
				zd = p
			}
		}
	}
	res := zd.Lookup(qname, q.Qtype, do)
	if res.OverBudget {
		if !tcp {
			// Make the asker come back over TCP, which a spoofed flood cannot.
			m.Truncated = true
			return m, false
		}
		m.Rcode = dns.RcodeServerFailure
		return m, false
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
	return m, true
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
