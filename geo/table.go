package geo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
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
	// Origin is where the feed came from (Source.Origin): for a
	// provider's ranges, which provider, read by audit --provider.
	Origin string
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

// slot is what the look-up tables hold for a prefix, packed into one word
// so that the tables hold no pointers and a look-up allocates nothing: the
// prefix length (bits 0-7), the source (bits 8-23) and the location
// (bits 24-55). The source is an index into Table.sources for the register
// and geofeeds, and mmdbFlag|n for the n-th loaded MMDB file (Table.mmdbs),
// so that the MMDB part of the table can be kept from one build to the
// next while feeds come and go. Locations are interned: a million networks
// of a country database share about 250 of them.
type slot uint64

const mmdbFlag = 1 << 15

func mkSlot(bits, src int, loc uint32) slot {
	return slot(uint64(bits)&0xff | uint64(src&0xffff)<<8 | uint64(loc)<<24)
}

func (s slot) bits() int   { return int(s & 0xff) }
func (s slot) src() int    { return int(s >> 8 & 0xffff) }
func (s slot) loc() uint32 { return uint32(s >> 24) }
func (s slot) mmdb() bool  { return s.src()&mmdbFlag != 0 }

type tableSource struct {
	status SourceStatus
	lpm    *bart.Table[slot] // register and geofeeds: this source alone
	mmdb   *MMDB             // MMDB sources; nil when it never opened
	seen   fileStat          // MMDB sources: the file as last tried, read or not
}

// mmdbIndex is the networks of the loaded MMDB files merged, in rank
// order, into one longest-prefix-match table: a network is left out where
// a higher-ranked file places the whole of it, and networks whose record
// places nothing are left out so that the next file answers there. It is
// kept from one Table to the next while the files are the same: a reload
// for a changed register costs the register's entries, not the million
// networks of each file again.
type mmdbIndex struct {
	files []*MMDB
	lpm   *bart.Table[slot]
	locs  []location.Location
	nets  []int // networks of each file, with data
}

// Table is an immutable snapshot of every source, ready for look-ups from
// any number of goroutines. Every source is merged into one
// longest-prefix-match table (gaissmai/bart) ranked by trust, so a look-up
// is one match (in that table flattened into address ranges, see flat4
// and flat6): an entry is dropped where a higher-ranked source already
// covers its whole prefix, so the register wins over a more specific feed
// or MMDB entry inside our own space, while a feed's /16 around our /24
// still answers outside it; the register and feeds win over every MMDB
// network inside their prefixes; and MMDB files answer, the first added
// first, where the register and feeds are silent. Each register and feed
// source also keeps its own table, and each MMDB its file (in memory), for
// LookupAll and Walk.
type Table struct {
	lpm     *bart.Table[slot]   // every source, ranked
	v4      *flat4              // lpm's IPv4 half, flattened for look-ups
	v6      *flat6              // and its IPv6 half (nil: look up in lpm)
	locs    []location.Location // register and geofeed locations
	mm      *mmdbIndex
	sources []tableSource
	mmdbs   []int // indexes into sources of the loaded MMDB files, in rank order
	builtAt time.Time

	// The IANA special-purpose blocks (prefix.Specials) as an LPM table:
	// prefix.Lookup scans its list, which would cost more than the rest
	// of a look-up.
	specials    *bart.Table[int32]
	specialList []Special
	// specialTop has a bit for each first 16 bits (IPv4, IPv6) that some
	// special-purpose block covers.
	specialTop [2][1024]uint64

	// at, when set, answers for the imported sources and MMDB files
	// in place of lpm, v4 and v6 (a Point's table: the register only).
	at *Point
}

// Build makes a Table from in. prev, which may be nil, is the table being
// replaced: an MMDB file whose size and modification time are unchanged is
// not read again, and one that fails to open keeps answering from prev's
// copy (marked Stale). A source that fails is reported in the joined error
// and in Sources; the table is still returned and answers from the other
// sources. Build fails outright only when ctx is done.
//
// Each MMDB file's networks are copied into the table: GeoLite2 country's
// 1.18 million networks load in about 0.55 s and keep 47 MiB (the
// file's 9 MB, the bart table and the flattened IPv4 and IPv6 indexes;
// see bench/README.md).
func Build(ctx context.Context, in Inputs, prev *Table, now time.Time) (*Table, error) {
	t := &Table{builtAt: now, specials: new(bart.Table[int32])}
	for _, s := range prefix.Specials() {
		t.specials.Insert(s.Prefix, int32(len(t.specialList)))
		t.specialList = append(t.specialList, Special{Prefix: s.Prefix, Kind: s.Kind, Name: s.Name, RFC: s.RFC, GloballyReachable: s.GloballyReachable})
		fam := 0
		if s.Prefix.Addr().Is6() {
			fam = 1
		}
		b := s.Prefix.Addr().AsSlice()
		first := int(b[0])<<8 | int(b[1])
		n := 1
		if s.Prefix.Bits() < 16 {
			n = 1 << (16 - s.Prefix.Bits())
		}
		for top := first; top < first+n; top++ {
			t.specialTop[fam][top>>6] |= 1 << (top & 63)
		}
	}
	var errs []error

	// The register and feeds, ranked among themselves in front.
	front := new(bart.Table[slot])
	type kept struct {
		p netip.Prefix
		s slot
	}
	var keep []kept
	locIDs := map[location.Location]uint32{}
	intern := func(l location.Location) uint32 {
		id, ok := locIDs[l]
		if !ok {
			id = uint32(len(t.locs))
			locIDs[l] = id
			t.locs = append(t.locs, l)
		}
		return id
	}
	add := func(name, origin string, kind Kind, entries []Entry) {
		src := len(t.sources)
		own := new(bart.Table[slot])
		// Check the whole rank against the table of higher ranks before
		// inserting any of it: nesting within one source is kept.
		n := len(keep)
		for _, e := range entries {
			p := e.Prefix.Masked()
			if !p.IsValid() {
				continue
			}
			s := mkSlot(p.Bits(), src, intern(e.Location))
			own.Insert(p, s)
			if _, covered := front.LookupPrefix(p); !covered {
				keep = append(keep, kept{p, s})
			}
		}
		for _, k := range keep[n:] {
			front.Insert(k.p, k.s)
		}
		t.sources = append(t.sources, tableSource{
			status: SourceStatus{Name: name, Kind: kind, Entries: len(entries), Origin: origin},
			lpm:    own,
		})
	}
	reg := make([]Entry, len(in.Register))
	for i, p := range in.Register {
		reg[i] = Entry{Prefix: p.Prefix, Location: p.Location}
	}
	add(RegisterSource, "", KindRegister, reg)
	for _, f := range in.Feeds {
		add(f.Name, f.Origin, KindGeofeed, f.Entries)
	}

	// The copies read before, by source index, for a file newly read whose
	// networks then fail: it keeps answering from its old copy.
	olds := map[int]*MMDB{}
	for _, f := range in.MMDBs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ts := tableSource{status: SourceStatus{Name: f.Name, Kind: KindMMDB, Origin: f.Path}}
		old := prev.mmdbSource(f.Name, f.Path)
		if old != nil && old.mmdb != nil {
			olds[len(t.sources)] = old.mmdb
		}
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

	// The MMDB files' networks: kept from prev while the files are the
	// same, else read again; a file whose networks cannot be read (a
	// corrupt tree or record) is left out, and the others still answer.
	for {
		files := make([]*MMDB, len(t.mmdbs))
		for i, si := range t.mmdbs {
			files[i] = t.sources[si].mmdb
		}
		if prev != nil && prev.mm != nil && slices.Equal(prev.mm.files, files) {
			t.mm = prev.mm
			break
		}
		mm, bad, err := indexMMDBs(ctx, files)
		if err == nil {
			t.mm = mm
			break
		}
		if bad < 0 {
			return nil, err // ctx done
		}
		errs = append(errs, err)
		s := &t.sources[t.mmdbs[bad]]
		s.status.Err = err.Error()
		if old := olds[t.mmdbs[bad]]; old != nil && old != s.mmdb {
			s.mmdb, s.status.Stale = old, true
			continue
		}
		s.mmdb = nil
		t.mmdbs = slices.Delete(t.mmdbs, bad, bad+1)
	}
	for i, si := range t.mmdbs {
		t.sources[si].status.Entries = t.mm.nets[i]
	}

	// The register and feeds over the MMDB networks, copying only the
	// paths they change so the MMDB part stays shared with t.mm.
	// Past cloneAfter shadowed networks (a provider's ranges: /12s over
	// thousands of MMDB networks), one copy of the table and changes in
	// place are far cheaper than a path copied per network.
	const cloneAfter = 20000
	t.lpm = t.mm.lpm
	var inside []netip.Prefix
	// So too past cloneAfter entries laid over it at all (a feed of a
	// million: a path copied per entry cost 30 s where a copy and inserts
	// in place cost a few).
	owned, shadowed := false, 0
	if len(keep) > cloneAfter {
		t.lpm, owned = t.lpm.Clone(), true
	}
	for _, k := range keep {
		inside = inside[:0]
		for q, s := range t.lpm.Subnets(k.p) {
			if s.mmdb() {
				inside = append(inside, q)
			}
		}
		if shadowed += len(inside); !owned && shadowed > cloneAfter {
			t.lpm, owned = t.lpm.Clone(), true
		}
		if owned {
			for _, q := range inside {
				t.lpm.Delete(q)
			}
			t.lpm.Insert(k.p, k.s)
			continue
		}
		for _, q := range inside {
			t.lpm = t.lpm.DeletePersist(q)
		}
		t.lpm = t.lpm.InsertPersist(k.p, k.s)
	}
	t.v4 = newFlat4(t.lpm.AllSorted4(), func(s slot) Answer {
		return t.answer(s, netip.IPv4Unspecified())
	})
	t.v6 = newFlat6(t.lpm.AllSorted6(), func(s slot) Answer {
		return t.answer(s, netip.IPv6Unspecified())
	})
	return t, errors.Join(errs...)
}

// indexMMDBs merges the networks of files, in rank order. When a file's
// networks cannot be read it returns the error and the file's index, or
// -1 when ctx is done.
func indexMMDBs(ctx context.Context, files []*MMDB) (*mmdbIndex, int, error) {
	mm := &mmdbIndex{files: files, lpm: new(bart.Table[slot]), nets: make([]int, len(files))}
	locIDs := map[location.Location]uint32{}
	var all4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	for i, m := range files {
		// Records by data offset: each distinct record is decoded once.
		ids := map[uintptr]uint32{}
		const none = ^uint32(0)
		n := 0
		for res := range m.r.Networks() {
			if err := res.Err(); err != nil {
				return nil, i, fmt.Errorf("source %s: %s: read networks: %w", m.name, m.path, err)
			}
			if n++; n&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return nil, -1, err
				}
			}
			id, ok := ids[res.Offset()]
			if !ok {
				l, err := m.location(res)
				if err != nil {
					return nil, i, fmt.Errorf("source %s: %s: network %v: %w", m.name, m.path, res.Prefix(), err)
				}
				id = none
				if !l.IsZero() {
					if id, ok = locIDs[l]; !ok {
						id = uint32(len(mm.locs))
						locIDs[l] = id
						mm.locs = append(mm.locs, l)
					}
				}
				ids[res.Offset()] = id
			}
			if id == none {
				continue // places nothing: the next file may answer
			}
			p := res.Prefix()
			s := mkSlot(p.Bits(), mmdbFlag|i, id)
			if i > 0 {
				// The networks of one file are disjoint, so what covers
				// p is a higher-ranked file's.
				if _, covered := mm.lpm.LookupPrefix(p); covered {
					continue
				}
			}
			mm.lpm.Insert(p, s)
			// A network above the IPv4 subtree of an IPv6 file (::/n,
			// n <= 96) holds every IPv4 address.
			if p.Addr().Is6() && p.Bits() <= 96 && p.Addr().IsUnspecified() {
				if _, covered := mm.lpm.LookupPrefix(all4); !covered || i == 0 {
					mm.lpm.Insert(all4, mkSlot(0, mmdbFlag|i, id))
				}
			}
		}
		mm.nets[i] = n
	}
	// A copy made in one go lays the trie's nodes out in memory in the
	// order a look-up visits them, where the inserts above left them
	// scattered among the decoding's garbage (IPv6 look-ups visit up to
	// eight nodes, each a likely cache miss).
	mm.lpm = mm.lpm.Clone()
	return mm, 0, nil
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
// decoding (see Result). It allocates nothing.
func (t *Table) Lookup(a netip.Addr) Result {
	var r Result
	t.lookup(&r, a, false)
	return r
}

// LookupInto is Lookup writing into *r, which it overwrites: a loop over
// many addresses reuses one Result and copies nothing.
func (t *Table) LookupInto(r *Result, a netip.Addr) {
	*r = Result{}
	t.lookup(r, a, false)
}

// LookupAll is Lookup with Result.All: every source's answer in rank
// order, for the address located (the embedded IPv4 of a transition
// address).
func (t *Table) LookupAll(a netip.Addr) Result {
	var r Result
	t.lookup(&r, a, true)
	return r
}

// lookup fills r, which is zero.
func (t *Table) lookup(r *Result, a netip.Addr, all bool) {
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	r.Addr = a
	if !a.IsValid() {
		return
	}
	if t.maybeSpecial(a) {
		if i, ok := t.specials.Lookup(a); ok {
			r.Special = t.specialList[i]
		}
	}
	at := a
	if a.Is6() && mayEmbed(a) {
		if tr, ok := prefix.Embedded(a); ok {
			r.Transition = tr
			if tr.Kind != prefix.KindISATAP {
				at = tr.IPv4
			}
		}
	}
	r.Found = t.best(&r.Answer, at)
	if !r.Found && r.Transition.Kind == prefix.KindISATAP {
		at = r.Transition.IPv4
		r.Found = t.best(&r.Answer, at)
	}
	if at != a {
		r.LocatedBy = at
	}
	// Space that is not globally reachable (private, shared, loopback,
	// documentation, ...) is answered by its class, never by an MMDB: a
	// database's record there is an artefact of its build (GeoLite2
	// places 192.168.1.1 in Australia). The register, which knows where
	// its own private pools are used, still places it; an imported feed
	// cannot list it (the geofeed check refuses such lines).
	local := t.unreachable(at)
	if local && r.Found && r.Kind == KindMMDB {
		r.Found, r.Answer = false, Answer{}
	}
	if all {
		r.All = t.every(at, r)
		if local {
			r.All = slices.DeleteFunc(r.All, func(x Answer) bool { return x.Kind == KindMMDB })
		}
	}
}

// unreachable reports whether a lies in special-purpose space that is not
// globally reachable (the most specific block containing it says so).
func (t *Table) unreachable(a netip.Addr) bool {
	if !t.maybeSpecial(a) {
		return false
	}
	i, ok := t.specials.Lookup(a)
	return ok && !t.specialList[i].GloballyReachable
}

// maybeSpecial is false when no special-purpose block shares a's first 16
// bits: most addresses are cleared without a look-up in t.specials.
func (t *Table) maybeSpecial(a netip.Addr) bool {
	var top int
	fam := 0
	if a.Is4() {
		b := a.As4()
		top = int(b[0])<<8 | int(b[1])
	} else {
		b := a.As16()
		top, fam = int(b[0])<<8|int(b[1]), 1
	}
	return t.specialTop[fam][top>>6]&(1<<(top&63)) != 0
}

// mayEmbed is false when the IPv6 address a is none of the transition
// forms prefix.Embedded decodes: Teredo (2001::/32), 6to4 (2002::/16),
// NAT64 (64:ff9b::/96, 64:ff9b:1::/48), IPv4-mapped and -compatible
// (::/96, ::ffff:0:0/96) and ISATAP interface identifiers (0000:5efe or
// 0200:5efe in bits 64-95). Most addresses are cleared by it without the
// cost of decoding.
func mayEmbed(a netip.Addr) bool {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	switch {
	case hi>>32 == 0x2001_0000, hi>>48 == 0x2002, hi>>48 == 0x0064, hi == 0:
		return true
	}
	return (lo>>32)&^0x0200_0000 == 0x0000_5efe
}

// best writes the rank-ordered answer for a into dst, which is zero,
// and says whether there is one: one longest-prefix match.
func (t *Table) best(dst *Answer, a netip.Addr) bool {
	if t.at != nil {
		return t.at.best(dst, a)
	}
	if a.Is4() {
		id := t.v4.lookup(a)
		if id == 0 {
			return false
		}
		*dst = t.v4.ans[id]
		dst.Prefix = prefix4(a, dst.Prefix.Bits())
		return true
	}
	if t.v6 == nil { // more distinct locations than flat6 holds
		if s, ok := t.lpm.Lookup(a); ok {
			*dst = t.answer(s, a)
			return true
		}
		return false
	}
	id := t.v6.lookup(a)
	if id == 0 {
		return false
	}
	*dst = t.v6.ans[id>>8]
	dst.Prefix = prefix6(a, int(id&0xff))
	return true
}

// every is each source's own answer for a, in rank order.
func (t *Table) every(a netip.Addr, r *Result) []Answer {
	if t.at != nil {
		return t.at.every(a)
	}
	var out []Answer
	for _, s := range t.sources {
		switch {
		case s.lpm != nil:
			if v, ok := s.lpm.Lookup(a); ok {
				out = append(out, t.answer(v, a))
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

// answer is the answer a slot gives for a.
func (t *Table) answer(s slot, a netip.Addr) Answer {
	var st *SourceStatus
	var l location.Location
	if s.mmdb() {
		st = &t.sources[t.mmdbs[s.src()&^mmdbFlag]].status
		l = t.mm.locs[s.loc()]
	} else {
		st = &t.sources[s.src()].status
		l = t.locs[s.loc()]
	}
	p, _ := a.Prefix(s.bits())
	return Answer{Source: st.Name, Kind: st.Kind, Prefix: p, Location: l}
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
		if q, v, ok := s.lpm.LookupPrefixLPM(p); ok && q.Bits() <= p.Bits() {
			if err := fn(Entry{Prefix: p, Location: t.locs[v.loc()]}); err != nil {
				return err
			}
		}
		for q, v := range s.lpm.Subnets(p) {
			if q == p {
				continue
			}
			if err := fn(Entry{Prefix: q, Location: t.locs[v.loc()]}); err != nil {
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
