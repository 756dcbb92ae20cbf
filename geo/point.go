package geo

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"
)

// EntriesAtStore is the part of Store that answers one address without
// reading a whole source: what Point and ListSources need.
type EntriesAtStore interface {
	Sources(ctx context.Context) ([]Source, error)
	// SourceEntriesAt returns the entries of the named source whose
	// prefix contains a, shortest prefix first; none for an unknown
	// source. Stores find them by an indexed look-up of each prefix that
	// can contain a (ContainingFirsts), not by a scan.
	SourceEntriesAt(ctx context.Context, name string, a netip.Addr) ([]Entry, error)
}

// ContainingFirsts is the first address of each prefix that contains a,
// from /0 to a itself (a.BitLen()+1 addresses, some repeated: the length
// is fixed per family so a store can prepare one statement). A stored
// entry (first, bits) contains a exactly when first equals
// ContainingFirsts(a)[bits].
func ContainingFirsts(a netip.Addr) []netip.Addr {
	a = a.WithZone("")
	out := make([]netip.Addr, a.BitLen()+1)
	for bits := range out {
		p, _ := a.Prefix(bits)
		out[bits] = p.Addr()
	}
	return out
}

// Point answers look-ups of a few addresses straight from the store: the
// register's placements and the specials are built into a small Table,
// while each imported source (geofeeds, providers' ranges) is asked, per
// address, for the entries containing it (an indexed query), and each
// MMDB file answers from the file. Nothing proportional to a source's
// size is read or built, so one address costs milliseconds with a
// million-entry feed where building the whole Table costs seconds. The
// answers are the Table's (same ranking: see Build). It is what the
// command line uses for a few addresses; a server keeps a Table. A Point
// is for one goroutine.
type Point struct {
	t      *Table
	st     EntriesAtStore
	feeds  []SourceStatus
	mmdbs  []*MMDB
	status []SourceStatus

	// Of the Lookup running: its context, the first store error, and
	// what MMDB files failed to read (the Result's Errors, as a Table
	// reports them: the other sources still answer).
	ctx     context.Context
	err     error
	fileErr []string
}

// NewPoint reads the register's placements from reg (which may be nil)
// and opens the MMDB sources of st; a file that fails to open is left out
// and reported in the joined error and in Sources, and the Point is still
// returned. It fails outright when the store or the register cannot be
// read.
func NewPoint(ctx context.Context, reg Placer, st EntriesAtStore, now time.Time) (*Point, error) {
	var in Inputs
	var err error
	if reg != nil {
		if in.Register, _, err = reg.Placements(ctx); err != nil {
			return nil, fmt.Errorf("register placements: %w", err)
		}
	}
	t, err := Build(ctx, in, nil, now)
	if t == nil {
		return nil, err
	}
	p := &Point{t: t, st: st, status: t.Sources()}
	srcs, err := st.Sources(ctx)
	if err != nil {
		return nil, fmt.Errorf("geo sources: %w", err)
	}
	slices.SortFunc(srcs, func(a, b Source) int { return cmp.Compare(a.ID, b.ID) })
	var errs []error
	var mm []SourceStatus
	for _, s := range srcs {
		ss := SourceStatus{Name: s.Name, Kind: s.Kind, Origin: s.Origin, Entries: int(s.Entries)}
		switch s.Kind {
		case KindGeofeed:
			p.feeds = append(p.feeds, ss)
			p.status = append(p.status, ss)
		case KindMMDB:
			m, err := OpenMMDB(s.Name, s.Origin)
			if err != nil {
				errs = append(errs, err)
				ss.Err = err.Error()
			} else {
				ss.Schema = m.schema
				p.mmdbs = append(p.mmdbs, m)
			}
			mm = append(mm, ss)
		}
	}
	p.status = append(p.status, mm...)
	t.at = p
	return p, errors.Join(errs...)
}

// Sources lists the sources in rank order, as Table.Sources does; an
// imported source's Entries is the count stored at import, an MMDB's the
// count stored when it was added.
func (p *Point) Sources() []SourceStatus { return slices.Clone(p.status) }

// Lookup answers for a as Table.LookupInto (all: as Table.LookupAll),
// writing into *r. It fails when the store cannot be read.
func (p *Point) Lookup(ctx context.Context, r *Result, a netip.Addr, all bool) error {
	p.ctx, p.err, p.fileErr = ctx, nil, p.fileErr[:0]
	defer func() { p.ctx = nil }()
	*r = Result{}
	p.t.lookup(r, a, all)
	for _, e := range p.fileErr {
		if !containsString(r.Errors, e) {
			r.Errors = append(r.Errors, e)
		}
	}
	if p.err != nil {
		return fmt.Errorf("geo lookup %v: %w", a, p.err)
	}
	return nil
}

// entriesAt is the chain of the feed name's entries containing a,
// shortest first; a store error is kept for Lookup to return.
func (p *Point) entriesAt(name string, a netip.Addr) []Entry {
	if p.err != nil {
		return nil
	}
	es, err := p.st.SourceEntriesAt(p.ctx, name, a)
	if err != nil {
		p.err = fmt.Errorf("source %s: %w", name, err)
		return nil
	}
	return es
}

// best is Table.best over the register's table, each feed's chain at a
// and the MMDB files: an entry is ranked out where a higher-ranked
// source has a prefix containing it (one no longer than it: both
// contain a), the longest left answers, and MMDB files answer, the first
// added first, only where no register or feed entry contains a.
func (p *Point) best(dst *Answer, a netip.Addr) bool {
	minBits, bestBits := a.BitLen()+1, -1
	for q, s := range p.t.sources[0].lpm.Supernets(netip.PrefixFrom(a, a.BitLen())) {
		if q.Bits() > bestBits {
			bestBits, *dst = q.Bits(), p.t.answer(s, a)
		}
		minBits = min(minBits, q.Bits())
	}
	for _, f := range p.feeds {
		fmin := minBits
		for _, e := range p.entriesAt(f.Name, a) {
			b := e.Prefix.Bits()
			if b < minBits && b >= bestBits { // equal: a prefix twice in one source, the later wins
				pf, _ := a.Prefix(b)
				bestBits, *dst = b, Answer{Source: f.Name, Kind: KindGeofeed, Prefix: pf, Location: e.Location}
			}
			fmin = min(fmin, b)
		}
		minBits = fmin
	}
	if bestBits >= 0 {
		return true
	}
	for _, m := range p.mmdbs {
		ans, ok := p.mmdbAt(m, a)
		if ok && !ans.Location.IsZero() {
			*dst = ans
			return true
		}
	}
	return false
}

// mmdbAt is m's answer for a with its prefix in a's family (a network
// above the IPv4 subtree of an IPv6 file holds all of IPv4, as in
// indexMMDBs); a read error goes into the Result's Errors and the file
// says nothing.
func (p *Point) mmdbAt(m *MMDB, a netip.Addr) (Answer, bool) {
	ans, ok, err := m.Lookup(a)
	if err != nil {
		p.fileErr = append(p.fileErr, err.Error())
		return Answer{}, false
	}
	if ok && a.Is4() && ans.Prefix.Addr().Is6() {
		ans.Prefix, _ = a.Prefix(max(0, ans.Prefix.Bits()-96))
	}
	return ans, ok
}

// every is Table.every: each source's own answer for a, in rank order.
func (p *Point) every(a netip.Addr) []Answer {
	var out []Answer
	if s, ok := p.t.sources[0].lpm.Lookup(a); ok {
		out = append(out, p.t.answer(s, a))
	}
	for _, f := range p.feeds {
		if es := p.entriesAt(f.Name, a); len(es) > 0 {
			e := es[len(es)-1]
			pf, _ := a.Prefix(e.Prefix.Bits())
			out = append(out, Answer{Source: f.Name, Kind: KindGeofeed, Prefix: pf, Location: e.Location})
		}
	}
	for _, m := range p.mmdbs {
		if ans, ok := p.mmdbAt(m, a); ok {
			out = append(out, ans)
		}
	}
	return out
}

// ListSources is the sources in rank order with how each loads, without
// building a table: the register's placements are counted, an imported
// source's entries are the count stored at import, and each MMDB file is
// opened (its schema, or why it fails) and its networks counted only when
// the file is no longer the one added (its SHA-256 differs from the
// stored one, or none was stored).
func ListSources(ctx context.Context, reg Placer, st EntriesAtStore) ([]SourceStatus, error) {
	out := []SourceStatus{{Name: RegisterSource, Kind: KindRegister}}
	if reg != nil {
		places, _, err := reg.Placements(ctx)
		if err != nil {
			return nil, fmt.Errorf("register placements: %w", err)
		}
		out[0].Entries = len(places)
	}
	srcs, err := st.Sources(ctx)
	if err != nil {
		return nil, fmt.Errorf("geo sources: %w", err)
	}
	slices.SortFunc(srcs, func(a, b Source) int { return cmp.Compare(a.ID, b.ID) })
	var mm []SourceStatus
	for _, s := range srcs {
		ss := SourceStatus{Name: s.Name, Kind: s.Kind, Origin: s.Origin, Entries: int(s.Entries)}
		if s.Kind != KindMMDB {
			out = append(out, ss)
			continue
		}
		m, err := OpenMMDB(s.Name, s.Origin)
		if err != nil {
			ss.Err = err.Error()
			mm = append(mm, ss)
			continue
		}
		ss.Schema = m.schema
		if sum, err := fileSHA256(s.Origin); err != nil || sum != s.SHA256 || s.Entries == 0 {
			n, err := m.countNetworks()
			if err != nil {
				ss.Err = err.Error()
			}
			ss.Entries = n
		}
		mm = append(mm, ss)
	}
	return append(out, mm...), nil
}

// countNetworks counts the networks of m, as a Table reports an MMDB
// source's entries.
func (m *MMDB) countNetworks() (int, error) {
	n := 0
	for res := range m.r.Networks() {
		if err := res.Err(); err != nil {
			return n, fmt.Errorf("source %s: %s: read networks: %w", m.name, m.path, err)
		}
		n++
	}
	return n, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
