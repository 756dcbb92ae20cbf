package zone

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Snapshot is every zone as served at one point of the event log: what a
// Builder publishes and a server answers from.
//
// A published snapshot is immutable, records included: any number of
// goroutines read it without locks while the next one is built beside it
// (and shares its unchanged zones and records). Code that needs a record
// changed, or calls something that writes into one (miekg/dns's PackRR
// sets Rdlength; an answer with a lower TTL sets Hdr.Ttl), works on a
// dns.Copy. The zero Snapshot serves no zone.
type Snapshot struct {
	zones map[string]*Data
	seq   int64
}

// Seq is the event-log position the snapshot reflects; -1 when a build
// lost a race to another replica and must run again at the next poll.
func (s *Snapshot) Seq() int64 { return s.seq }

// Zone is the zone whose apex is name (canonical), or nil.
func (s *Snapshot) Zone(name string) *Data { return s.zones[name] }

// Find is the zone answering queries for name (canonical): the longest
// matching suffix, or nil. A staged zone (Config.Staged) is skipped: its
// parent answers for its names until the delegation is published, while
// transfers (Zone) already serve it to the secondaries.
func (s *Snapshot) Find(name string) *Data { return findAnswering(s.zones, name) }

// Len is how many zones are served.
func (s *Snapshot) Len() int { return len(s.zones) }

// All yields every zone served by apex name, in no set order.
func (s *Snapshot) All() iter.Seq2[string, *Data] { return maps.All(s.zones) }

// AnySigned says whether some zone is served signed.
func (s *Snapshot) AnySigned() bool {
	for _, zd := range s.zones {
		if zd.signed {
			return true
		}
	}
	return false
}

// BuilderOptions tune a Builder; zero fields take the defaults NewBuilder
// names.
type BuilderOptions struct {
	// Validity is how long signatures are valid (default 14 days);
	// Refresh how far before expiry they are renewed (default half of
	// Validity).
	Validity, Refresh time.Duration
	// OnlineRate bounds the signatures made per query, per zone and
	// second (default DefaultOnlineRate, twice that in a burst).
	OnlineRate float64
	// JournalDepth and JournalAge bound the IXFR journal kept per zone
	// (defaults 100 steps, 7 days).
	JournalDepth int
	JournalAge   time.Duration
	// Now is the clock of the online signers (default time.Now).
	Now func() time.Time
	Log *slog.Logger
	// Signatures, when not nil, is the cache of precomputed signatures
	// the full builds look up before signing while it is open
	// (SigCache: between its Load and Save).
	Signatures *SigCache
}

// Builder makes snapshots from the register and the store, incrementally:
// it keeps the snapshot it made last and the signatures it made, so that
// a rebuild builds only the zones whose inputs changed and signs only the
// sets that changed. It gives each new version its serial in the store
// (compare-and-set, with the IXFR journal step in the same transaction),
// so several replicas on one database agree on serials.
//
// A Builder is not safe for concurrent Rebuilds: its caller serialises
// them. The snapshots it returns are safe to read from any goroutine.
type Builder struct {
	store  Store
	sealer *Sealer
	opt    BuilderOptions
	log    *slog.Logger

	last       *Snapshot
	whole      bool // every zone of last reflects the input at last.seq
	onlineSigs atomic.Uint64
	stats      BuildStats
}

// NewBuilder returns a builder over the store. sealer may be nil when no
// zone is signed.
func NewBuilder(st Store, sealer *Sealer, opt BuilderOptions) *Builder {
	if opt.Validity <= 0 {
		opt.Validity = 14 * 24 * time.Hour
	}
	if opt.Refresh <= 0 || opt.Refresh >= opt.Validity {
		opt.Refresh = opt.Validity / 2
	}
	if opt.OnlineRate <= 0 {
		opt.OnlineRate = DefaultOnlineRate
	}
	if opt.JournalDepth <= 0 {
		opt.JournalDepth = 100
	}
	if opt.JournalAge <= 0 {
		opt.JournalAge = 7 * 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Builder{store: st, sealer: sealer, opt: opt, log: opt.Log, last: &Snapshot{}, whole: true}
}

// OnlineSignatures counts the signatures made per query by the zones of
// every snapshot this builder made.
func (b *Builder) OnlineSignatures() uint64 { return b.onlineSigs.Load() }

// Rebuild makes the snapshot of in at time now: zones whose inputs changed
// since the last snapshot are built again (with the zones linked to them
// by synthesis), signed and given the next serial with a journal step; the
// others are served as they were. changed are the zones whose serial moved
// (to NOTIFY). A zone that fails to build keeps its previous version in
// the snapshot, and the error says why; the snapshot is returned in every
// case.
//
// corrupt, when not "", is a test hook: the signatures of the sets at
// that owner name are broken, to prove validators notice.
func (b *Builder) Rebuild(ctx context.Context, in *BuildInput, now time.Time, corrupt string) (snap *Snapshot, changed []*Data, err error) {
	p := sigPolicy{Now: now, Validity: b.opt.Validity, Refresh: b.opt.Refresh}
	old := b.last
	// Only zones whose inputs changed are built (with the zones linked
	// to them); the others are served as they were. With the change
	// since the last snapshot known (in.Delta), a zone whose static
	// inputs are the same is compared by the change alone, and made
	// from its last version where it can be (delta.go).
	delta := in.Delta != nil && b.whole && old.seq == in.Delta.Since && corrupt == ""
	// Assignments this build reads itself (in.LoadAssigns) are dropped
	// once the zones are laid out, before they are signed: at 10M
	// assignments they are about a gigabyte the signing does not need.
	ownAssigns := in.Assigns == nil && in.LoadAssigns != nil
	var canon []string
	var loadErr error
	byAll := map[string]bool{} // zones whose fps are from every assignment
	full := func(z Zone) [32]byte {
		byAll[z.Name] = true
		if canon == nil {
			if loadErr = in.assigns(); loadErr != nil {
				return [32]byte{}
			}
			canon = canonicalNames(in.Assigns)
		}
		return fingerprint(z, in, canon, p.Start(), corrupt)
	}
	fps := make(map[string][32]byte, len(in.Zones))
	sfps := make(map[string][32]byte, len(in.Zones))
	edits := map[string][2][]dns.RR{}
	var links map[string]synthLinks
	if delta {
		links = linksOf(in.Zones)
	}
	for _, z := range in.Zones {
		// The static part leaves the zone's signing period out: each
		// set has its own (forSet), and renewing those that are due is a
		// delta build's (renew below), so a new period of the zone's
		// alone is no reason to build it all again.
		sfps[z.Name] = fingerprint(z, in, nil, time.Time{}, corrupt)
		o := old.zones[z.Name]
		// A zone linked by synthesis (synth.go) is compared by the
		// change alone only while its links and its pools are those of
		// the version served.
		if !delta || o == nil || o.sfp != sfps[z.Name] || !o.sameLinks(links[z.Name], &z, in.Pools) {
			fps[z.Name] = full(z)
			continue
		}
		// A tenant's assignment coming to or leaving the address of a
		// static PTR, named or not, may hide or show it (heldptr.go).
		if touchesStaticPTR(&z, in, StaticPTRAddrs(&z, in.Records)) {
			fps[z.Name] = full(z)
			continue
		}
		rem, add := zoneEdits(&z, in)
		switch {
		case len(rem)+len(add) == 0 && !(o.signed && !now.Before(o.refreshAt)):
			fps[z.Name] = o.fp // the same inputs, no signature due
		case o.deltaable() && o.deltaFits(&z, in, rem, add):
			// Signatures due for renewal are re-signed by the delta
			// build too (deltaBuild: renew).
			edits[z.Name] = [2][]dns.RR{rem, add}
			m := o.fp
			m[0] ^= 0xff // differs: built
			fps[z.Name] = m
		default:
			fps[z.Name] = full(z)
		}
	}
	if loadErr != nil {
		return old, nil, fmt.Errorf("dns: read assignments: %w", loadErr)
	}
	rebuild, forced := rebuildSet(in.Zones, fps, old.zones, now, edits)
	// A zone linked by synthesis to one built in full is built in full
	// too (link below lays out the links of full builds).
	for _, name := range forced {
		delete(edits, name)
		for _, z := range in.Zones {
			if z.Name == name {
				fps[name] = full(z)
			}
		}
	}
	if loadErr != nil {
		return old, nil, fmt.Errorf("dns: read assignments: %w", loadErr)
	}
	zs := map[string]*Data{}
	built := map[string]*Data{}
	steps := map[string]*deltaStep{}
	var errs []error
	for _, z := range in.Zones {
		if !rebuild[z.Name] {
			zs[z.Name] = old.zones[z.Name]
			continue
		}
		if e, ok := edits[z.Name]; ok {
			zd, gone, came, ok, err := b.deltaBuild(z, old.zones[z.Name], in, e[0], e[1], p)
			if err != nil {
				errs = append(errs, err)
				zs[z.Name] = old.zones[z.Name] // serve the previous version rather than nothing
				continue
			}
			if ok {
				zs[z.Name], steps[z.Name] = zd, &deltaStep{gone: gone, came: came}
				continue
			}
			if fps[z.Name] = full(z); loadErr != nil { // declined: built in full
				errs = append(errs, loadErr)
				zs[z.Name] = old.zones[z.Name]
				continue
			}
		}
		if !byAll[z.Name] {
			// Built in full although its inputs compared equal by the
			// change (its serial moved under it, or a zone linked to it
			// is built in full): from every assignment, which a delta
			// input has not read yet.
			if fps[z.Name] = full(z); loadErr != nil {
				errs = append(errs, loadErr)
				if o := old.zones[z.Name]; o != nil {
					zs[z.Name] = o
				}
				continue
			}
		}
		zd, err := build(z, in)
		if err != nil {
			errs = append(errs, err)
			if o := old.zones[z.Name]; o != nil {
				zs[z.Name] = o // serve the previous version rather than nothing
			}
			continue
		}
		zd.fp, zd.sfp = fps[z.Name], sfps[z.Name]
		zs[z.Name], built[z.Name] = zd, zd
	}
	canon = nil
	if ownAssigns {
		in.Assigns = nil
	}
	link(built)
	seq := in.Seq
	whole := len(errs) == 0
	for _, name := range slices.Sorted(maps.Keys(zs)) {
		zd, step := zs[name], steps[name]
		if built[name] == nil && step == nil {
			continue
		}
		if err := b.finish(ctx, zd, old.zones[name], in.Keys, p, corrupt, step); err != nil {
			whole = false
			if errors.Is(err, errBehind) {
				// Another replica published a version built from a later
				// state of the register: serve ours no longer than until
				// the next poll, which rebuilds from that state.
				seq = -1
				if o := old.zones[name]; o != nil {
					zs[name] = o
				}
				continue
			}
			errs = append(errs, err)
			// Serve the previous version rather than nothing.
			if o := old.zones[name]; o != nil {
				zs[name] = o
			} else {
				delete(zs, name)
			}
			continue
		}
		if step != nil {
			b.stats.Delta++
		} else {
			b.stats.Full++
		}
		if o := old.zones[name]; o == nil || o.serial != zd.serial {
			changed = append(changed, zd)
		}
	}
	// Delta-built and unchanged versions linked by synthesis to a zone
	// with a new version point at it (copies of the unchanged ones), and
	// those linked to a version that failed at the one served instead.
	made := map[*Data]bool{}
	for name, zd := range zs {
		if built[name] == zd || steps[name] != nil && old.zones[name] != zd {
			made[zd] = true
		}
	}
	relink(zs, made)
	b.whole = whole
	b.last = &Snapshot{zones: zs, seq: seq}
	return b.last, changed, errors.Join(errs...)
}

// deltaStep is what a delta build took out of and put into a zone, signatures
// included, for its journal step and content hash.
type deltaStep struct{ gone, came []dns.RR }

// errBehind says that a build lost the race for the next serial to a
// version of different content: the caller keeps serving what it had and
// builds again.
var errBehind = errors.New("another replica published a newer version")

// finish signs a built zone and gives it its serial: the stored one if the
// content is what the store's hash names (a restart, or another replica
// that got there first), else the next one, set by compare-and-set with
// the journal step from prev (the version served until now) in the same
// transaction.
//
// step, when not nil, is what a delta build changed (signed already): the
// journal step and content hash come from it.
func (b *Builder) finish(ctx context.Context, zd, prev *Data, keys []Key, p sigPolicy, corrupt string, step *deltaStep) error {
	z := &zd.zone
	if z.Config.Signed && step == nil {
		sigPrev := prev
		if corrupt != "" {
			sigPrev = nil // prev's signatures at the owner were broken on purpose
		}
		if err := zd.signZone(keys, b.sealer, p, sigPrev, b.opt.Signatures); err != nil {
			return err
		}
	}
	if zd.signed {
		zd.online.Rate, zd.online.Burst, zd.online.Tokens, zd.online.Now = b.opt.OnlineRate, 2*b.opt.OnlineRate, 2*b.opt.OnlineRate, b.opt.Now
		zd.online.Count = &b.onlineSigs
	}
	if corrupt != "" {
		zd.corrupt(corrupt)
	}
	zd.freeze() // a full build's names, laid out and signed
	// The content hash, and what changed since prev for the journal.
	var removed, added []string
	var err error
	switch {
	case step != nil:
		removed, added, zd.sum, err = wireDiff(prev.sum, step.gone, step.came)
	case prev != nil:
		removed, added, zd.sum, err = bodyDiff(prev, zd)
	default:
		zd.sum, err = zd.fullHash()
	}
	if err != nil {
		return fmt.Errorf("zone %s: %w", z.Name, err)
	}
	zd.hash = zd.sum.String()
	for try := 0; ; try++ {
		if zd.hash == z.SerialHash && z.Serial != 0 {
			return zd.setSerial(z.Serial, p)
		}
		next := nextSerial(z.Serial, p.Now)
		if err := zd.setSerial(next, p); err != nil {
			return err
		}
		var d *Diff
		// Versions are a function of the register and the time (see
		// sigPolicy), so prev is what every replica served at its serial.
		switch {
		case prev == nil || z.Serial == 0:
		case prev.serial == z.Serial && prev.hash == z.SerialHash:
			if d, err = journalStep(prev, zd, removed, added); err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, err)
			}
		case serialLess(prev.serial, z.Serial):
			// Another replica moved the serial since prev: the step from
			// its version is ours from prev less the journal's from prev.
			steps, err := b.store.Journal(ctx, z.ID, prev.serial)
			if err != nil {
				return fmt.Errorf("zone %s: journal: %w", z.Name, err)
			}
			if c, ok := condense(steps, prev.serial, z.Serial); ok {
				if d, err = composeStep(&c, z.Serial, zd, removed, added); err != nil {
					return fmt.Errorf("zone %s: %w", z.Name, err)
				}
			}
		}
		if d != nil {
			d.At = p.Now.UTC()
		}
		ok, err := b.store.SetZoneSerial(ctx, z.ID, z.Serial, next, zd.hash, d)
		if err != nil {
			return fmt.Errorf("zone %s: serial: %w", z.Name, err)
		}
		if ok {
			z.Serial, z.SerialHash = next, zd.hash
			if d != nil {
				if err := b.store.PruneJournal(ctx, z.ID, b.opt.JournalDepth, p.Now.Add(-b.opt.JournalAge)); err != nil {
					b.log.Warn("dns journal prune", "zone", z.Name, "err", err)
				}
			}
			return nil
		}
		// Another replica moved the serial: read where it is.
		zs, err := b.store.Zones(ctx)
		if err != nil {
			return fmt.Errorf("zone %s: serial: %w", z.Name, err)
		}
		for _, o := range zs {
			if o.ID == z.ID {
				z.Serial, z.SerialHash = o.Serial, o.SerialHash
			}
		}
		if zd.hash == z.SerialHash {
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

// serialLess is RFC 1982 §3.2 comparison: a < b.
func serialLess(a, b uint32) bool {
	return a != b && (a < b && b-a < 1<<31 || a > b && a-b > 1<<31)
}

// Transfer is what an AXFR of the version carries, its SOA last as well as
// first (RFC 5936 §2.2).
func (zd *Data) Transfer() []dns.RR {
	return append(zd.Records(), zd.soa.RRs[0])
}

// CheckHashes recomputes the content hash of every zone from all its
// records and compares it with the one kept up to date build by build:
// incremental builds must not drift from what a full build would name.
func (s *Snapshot) CheckHashes() error {
	for name, zd := range s.zones {
		full, err := zd.fullHash()
		if err != nil {
			return err
		}
		if full != zd.sum {
			return fmt.Errorf("zone %s serial %d: incremental hash %v, all records %v", name, zd.serial, zd.sum, full)
		}
	}
	return nil
}

// Name is the zone's apex name (canonical).
func (zd *Data) Name() string { return zd.zone.Name }

// Zone is the zone as configured when the version was built, its serial
// the one the version is served with.
func (zd *Data) Zone() Zone { return zd.zone }

// Serial is the version's SOA serial.
func (zd *Data) Serial() uint32 { return zd.serial }

// SOA is the version's SOA record, shared: copy it before writing into it.
func (zd *Data) SOA() dns.RR { return zd.soa.RRs[0] }

// Seq is the event-log position the version reflects.
func (zd *Data) Seq() int64 { return zd.seq }

// Names is how many names the version holds, empty non-terminals included.
func (zd *Data) Names() int { return zd.names.Len() }

// Signed says whether the version is served signed.
func (zd *Data) Signed() bool { return zd.signed }

// MaxTTL is the largest TTL the version serves, for RFC 7583 timing.
func (zd *Data) MaxTTL() uint32 { return zd.maxTTL }

// RefreshAt is when the version's precomputed signatures need renewing.
func (zd *Data) RefreshAt() time.Time { return zd.refreshAt }
