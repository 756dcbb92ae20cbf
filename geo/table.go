package geo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/gaissmai/bart"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Inputs is everything a Table is built from, each group in trust order:
// the register first (authoritative for our own space), then imported
// geofeeds, then MMDB files in the order they were added.
type Inputs struct {
	Register []registry.Placement
	Feeds    []Feed
	MMDBs    []MMDBFile
}

// Feed is an imported geofeed: a named list of entries.
type Feed struct {
	Name    string
	Entries []Entry
}

// MMDBFile names an MMDB source and the file it is read from.
type MMDBFile struct {
	Name string
	Path string
}

// SourceStatus says how one source fared in the build of a Table.
type SourceStatus struct {
	Name    string `json:"name"`
	Kind    Kind   `json:"kind"`
	Origin  string `json:"origin,omitempty"` // the MMDB file
	Entries int    `json:"entries"`          // register and geofeed entries
	// Schema is the MMDB's record layout.
	Schema Schema `json:"schema,omitempty"`
	// Err is why the source could not be (re)loaded, or "". An MMDB that
	// failed to reload keeps answering from the file read before (Stale).
	Err   string `json:"error,omitempty"`
	Stale bool   `json:"stale,omitempty"`
}

// fileStat is what the watcher compares to notice a changed file.
type fileStat struct {
	size  int64
	mtime int64  // nanoseconds since the epoch
	err   string // the stat error last seen (a vanished file), so it is reported once
}

func statFile(path string) fileStat {
	st, err := os.Stat(path)
	if err != nil {
		return fileStat{err: err.Error()}
	}
	return fileStat{size: st.Size(), mtime: st.ModTime().UnixNano()}
}

// tableEntry is one register or geofeed entry in the table.
type tableEntry struct {
	prefix netip.Prefix
	loc    location.Location
	src    int // index into Table.sources
}

type tableSource struct {
	status SourceStatus
	lpm    *bart.Table[int32] // register and geofeeds: this source alone
	mmdb   *MMDB              // MMDB sources; nil when it never opened
	seen   fileStat           // MMDB sources: the file as last tried, read or not
}

// Table is an immutable snapshot of every source, ready for look-ups from
// any number of goroutines. The register and geofeeds are merged into one
// longest-prefix-match table (gaissmai/bart) ranked by trust: an entry is
// dropped where a higher-ranked source already covers its whole prefix,
// so the register wins over a more specific feed entry inside our own
// space, while a feed's /16 around our /24 still answers outside it. MMDB
// files are too large to copy into it and answer, in order, for addresses
// the table does not hold.
type Table struct {
	lpm     *bart.Table[int32] // index into entries
	entries []tableEntry
	sources []tableSource
	mmdbs   []int // indexes into sources, in rank order
	builtAt time.Time

	// The IANA special-purpose blocks (prefix.Specials) as an LPM table:
	// prefix.Lookup scans its list, which would cost more than the rest
	// of a look-up.
	specials    *bart.Table[int32]
	specialList []Special
}

// Build makes a Table from in. prev, which may be nil, is the table being
// replaced: an MMDB file whose size and modification time are unchanged is
// not read again, and one that fails to open keeps answering from prev's
// copy (marked Stale). A source that fails is reported in the joined error
// and in Sources; the table is still returned and answers from the other
// sources. Build fails outright only when ctx is done.
func Build(ctx context.Context, in Inputs, prev *Table, now time.Time) (*Table, error) {
	t := &Table{lpm: new(bart.Table[int32]), builtAt: now, specials: new(bart.Table[int32])}
	for _, s := range prefix.Specials() {
		t.specials.Insert(s.Prefix, int32(len(t.specialList)))
		t.specialList = append(t.specialList, Special{Prefix: s.Prefix, Kind: s.Kind, Name: s.Name, RFC: s.RFC, GloballyReachable: s.GloballyReachable})
	}
	var errs []error

	add := func(name string, kind Kind, entries []Entry) {
		src := len(t.sources)
		own := new(bart.Table[int32])
		// Check the whole rank against the table of higher ranks before
		// inserting any of it: nesting within one source is kept.
		keep := make([]bool, len(entries))
		for i, e := range entries {
			p := e.Prefix.Masked()
			if !p.IsValid() {
				continue
			}
			if _, covered := t.lpm.LookupPrefix(p); !covered {
				keep[i] = true
			}
		}
		for i, e := range entries {
			p := e.Prefix.Masked()
			if !p.IsValid() {
				continue
			}
			idx := int32(len(t.entries))
			t.entries = append(t.entries, tableEntry{prefix: p, loc: e.Location, src: src})
			own.Insert(p, idx)
			if keep[i] {
				t.lpm.Insert(p, idx)
			}
		}
		t.sources = append(t.sources, tableSource{
			status: SourceStatus{Name: name, Kind: kind, Entries: len(entries)},
			lpm:    own,
		})
	}

	reg := make([]Entry, len(in.Register))
	for i, p := range in.Register {
		reg[i] = Entry{Prefix: p.Prefix, Location: p.Location}
	}
	add(RegisterSource, KindRegister, reg)
	for _, f := range in.Feeds {
		add(f.Name, KindGeofeed, f.Entries)
	}

	for _, f := range in.MMDBs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ts := tableSource{status: SourceStatus{Name: f.Name, Kind: KindMMDB, Origin: f.Path}}
		old := prev.mmdbSource(f.Name, f.Path)
		ts.seen = statFile(f.Path)
		switch {
		case old != nil && old.mmdb != nil && ts.seen.err == "" && ts.seen == old.seen && old.status.Err == "":
			ts.mmdb = old.mmdb // unchanged: keep the copy in memory
		default:
			m, err := OpenMMDB(f.Name, f.Path)
			if err != nil {
				errs = append(errs, err)
				ts.status.Err = err.Error()
				if old != nil && old.mmdb != nil {
					ts.mmdb, ts.status.Stale = old.mmdb, true
				}
				break
			}
			ts.mmdb = m
			ts.seen = fileStat{size: m.size, mtime: m.mtime.UnixNano()}
		}
		if ts.mmdb != nil {
			ts.status.Schema = ts.mmdb.schema
			t.mmdbs = append(t.mmdbs, len(t.sources))
		}
		t.sources = append(t.sources, ts)
	}
	return t, errors.Join(errs...)
}

// mmdbSource finds the MMDB source of the same name and file in t, which
// may be nil.
func (t *Table) mmdbSource(name, path string) *tableSource {
	if t == nil {
		return nil
	}
	for i := range t.sources {
		s := &t.sources[i]
		if s.status.Kind == KindMMDB && s.status.Name == name && s.status.Origin == path {
			return s
		}
	}
	return nil
}

// BuiltAt is when the table was built.
func (t *Table) BuiltAt() time.Time { return t.builtAt }

// Sources lists the table's sources in rank order, with how each loaded.
func (t *Table) Sources() []SourceStatus {
	out := make([]SourceStatus, len(t.sources))
	for i, s := range t.sources {
		out[i] = s.status
	}
	return out
}

// MMDB returns the named MMDB source, for walks (MMDB.Walk); ok is false
// when the table has no such MMDB source or it never opened.
func (t *Table) MMDB(name string) (*MMDB, bool) {
	for _, i := range t.mmdbs {
		if t.sources[i].status.Name == name {
			return t.sources[i].mmdb, true
		}
	}
	return nil, false
}

// changed reports whether any MMDB file differs from what the table read
// or last tried to read.
func (t *Table) changed() bool {
	for _, s := range t.sources {
		if s.status.Kind == KindMMDB && statFile(s.status.Origin) != s.seen {
			return true
		}
	}
	return false
}

// Lookup answers for a from the best-ranked source that places it, with
// its special-purpose classification and, for a transition address, its
// decoding (see Result). It allocates nothing unless a source fails.
func (t *Table) Lookup(a netip.Addr) Result {
	return t.lookup(a, false)
}

// LookupAll is Lookup with Result.All: every source's answer in rank
// order, for the address located (the embedded IPv4 of a transition
// address).
func (t *Table) LookupAll(a netip.Addr) Result {
	return t.lookup(a, true)
}

func (t *Table) lookup(a netip.Addr, all bool) Result {
	a = a.WithZone("")
	r := Result{Addr: a}
	if !a.IsValid() {
		return r
	}
	if i, ok := t.specials.Lookup(a); ok {
		r.Special = t.specialList[i]
	}
	at := a
	if tr, ok := prefix.Embedded(a); ok {
		r.Transition = tr
		if tr.Kind != prefix.KindISATAP {
			at = tr.IPv4
		}
	}
	r.Answer, r.Found = t.best(at, &r)
	if !r.Found && r.Transition.Kind == prefix.KindISATAP {
		at = r.Transition.IPv4
		r.Answer, r.Found = t.best(at, &r)
	}
	if at != a {
		r.LocatedBy = at
	}
	if all {
		r.All = t.every(at, &r)
	}
	return r
}

// best is the rank-ordered answer for a: the merged table, then each MMDB.
func (t *Table) best(a netip.Addr, r *Result) (Answer, bool) {
	if i, ok := t.lpm.Lookup(a); ok {
		return t.answer(i), true
	}
	for _, i := range t.mmdbs {
		ans, ok, err := t.sources[i].mmdb.Lookup(a)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		// An MMDB record that places nothing (GeoLite2's {} for anycast
		// space) is no answer: the next file may have one.
		if ok && !ans.Location.IsZero() {
			return ans, true
		}
	}
	return Answer{}, false
}

// every is each source's own answer for a, in rank order.
func (t *Table) every(a netip.Addr, r *Result) []Answer {
	var out []Answer
	for _, s := range t.sources {
		switch {
		case s.lpm != nil:
			if i, ok := s.lpm.Lookup(a); ok {
				out = append(out, t.answer(i))
			}
		case s.mmdb != nil:
			ans, ok, err := s.mmdb.Lookup(a)
			if err != nil {
				if !containsString(r.Errors, err.Error()) {
					r.Errors = append(r.Errors, err.Error())
				}
				continue
			}
			if ok {
				out = append(out, ans)
			}
		}
	}
	return out
}

func (t *Table) answer(i int32) Answer {
	e := &t.entries[i]
	s := &t.sources[e.src].status
	return Answer{Source: s.Name, Kind: s.Kind, Prefix: e.prefix, Location: e.loc}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Walk calls fn for each entry of the named source inside p, clipped to
// p, in address order for an MMDB (see MMDB.Walk) and in table order for
// the register and geofeeds. It is what the audit compares, prefix by
// prefix, with the register.
func (t *Table) Walk(name string, p netip.Prefix, fn func(Entry) error) error {
	p = p.Masked()
	for _, s := range t.sources {
		if s.status.Name != name {
			continue
		}
		if s.mmdb != nil {
			return s.mmdb.Walk(p, fn)
		}
		if s.lpm == nil {
			break
		}
		// A covering entry answers for all of p; then every more specific
		// entry inside p, which wins over it where they overlap.
		if q, i, ok := s.lpm.LookupPrefixLPM(p); ok && q.Bits() <= p.Bits() {
			if err := fn(Entry{Prefix: p, Location: t.entries[i].loc}); err != nil {
				return err
			}
		}
		for q, i := range s.lpm.Subnets(p) {
			if q == p {
				continue
			}
			if err := fn(Entry{Prefix: q, Location: t.entries[i].loc}); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("source %s: %w", name, ErrUnknownSource)
}

// ErrUnknownSource is matched by the error for a source name the table
// does not hold, or whose file never opened.
var ErrUnknownSource = errors.New("unknown source")
