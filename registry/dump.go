package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// DumpFormat names the register's interchange format, DumpVersion its
// version. A reader refuses another format or a later version.
//
// Version 2 added spaces, reservations, tags, a block's and a pool's
// space and a pool's address policy (use_all). A version 1 file is a
// version 2 file without them, and still loads: its pools, made before
// the address policy, hand out every address.
//
// Version 3 added child pools (child_pools, and an assignment's
// child_pool). A version 2 file is a version 3 file without them.
//
// Version 4 lets pools, child pools, reservations, relocations and
// assignments of two spaces overlap, and names the space of each record
// outside the global space ("space"), so that two VPCs' pools on
// 10.1.0.0/16 are told apart. A record without a space is the global
// space's, or (in a file before version 4, where nothing overlapped) the
// one space's holding it: older files load as before.
const (
	DumpFormat  = "cadastre-register"
	DumpVersion = 4
)

// MinDumpVersion is the oldest version Load (and the interchange
// readers) still read.
const MinDumpVersion = 1

// Dump is the whole register as plain records that refer to each other by
// name and prefix, never by ID, so that it loads into any register, empty
// or not. Its kinds come in the order Load writes them: what a record
// refers to comes before it. The interchange package reads and writes it
// as JSON and CSV (docs in interchange/README.md).
//
// Idempotency records are not dumped: they bind a key to the IDs of the
// answer, which a load into another register does not keep, and they
// guard a retry of a request in flight, not the register's state. A
// retry after a load is a new request.
type Dump struct {
	Format       string              `json:"format"`
	Version      int                 `json:"version"`
	Tenants      []TenantRecord      `json:"tenants"`
	Regions      []RegionRecord      `json:"regions"`
	Spaces       []SpaceRecord       `json:"spaces"`
	Blocks       []BlockRecord       `json:"blocks"`
	Pools        []PoolRecord        `json:"pools"`
	Relocations  []RelocationRecord  `json:"relocations"`
	ChildPools   []ChildPoolRecord   `json:"child_pools"`
	Reservations []ReservationRecord `json:"reservations"`
	Assignments  []AssignmentRecord  `json:"assignments"`
}

// Pos says where a record was read (a line, a JSON path), for errors.
// It is not written.
type Pos struct {
	At string `json:"-"`
}

// TenantRecord is a tenant; its use is counted again from the assignments.
type TenantRecord struct {
	Pos
	Name    string   `json:"name"`
	Names   []string `json:"names"`
	MaxIPv4 *int64   `json:"max_ipv4,omitempty"`
	MaxIPv6 *int64   `json:"max_ipv6,omitempty"`
	Note    string   `json:"note,omitempty"`
	// MayDelegate is Tenant.MayDelegate.
	MayDelegate bool      `json:"may_delegate,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// RegionRecord is a region.
type RegionRecord struct {
	Pos
	Name       string            `json:"name"`
	Location   location.Location `json:"location"`
	Borrow     BorrowPolicy      `json:"borrow_from"`
	BorrowBits int               `json:"borrow_unit"`
	Tags       Tags              `json:"tags,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

// SpaceRecord is a named space (a VRF). The two built-in spaces, global
// and private, are in every register and never in a dump.
type SpaceRecord struct {
	Pos
	Name      string    `json:"name"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// BlockRecord is a block with its provenance.
type BlockRecord struct {
	Pos
	Prefix            netip.Prefix `json:"prefix"`
	Source            Source       `json:"source"`
	Registry          string       `json:"registry,omitempty"`
	RegisteredCountry string       `json:"registered_country,omitempty"`
	From              string       `json:"from,omitempty"`
	Price             *Money       `json:"price,omitempty"`
	Date              string       `json:"date,omitempty"`
	Note              string       `json:"note,omitempty"`
	// Space is the block's space; empty (a version 1 file) is what
	// AddBlock chooses: global for public space, private for private.
	Space     string    `json:"space"`
	Tags      Tags      `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// PoolRecord is a pool a region was given (relocated pools come from
// their RelocationRecord).
type PoolRecord struct {
	Pos
	Prefix  netip.Prefix `json:"prefix"`
	Region  string       `json:"region"`
	Purpose string       `json:"purpose,omitempty"`
	// Space is the space of the pool's block; empty, the one space whose
	// blocks hold the prefix.
	Space string `json:"space"`
	// UseAll is the address policy (Pool.UseAll). A dump always writes
	// it; missing (nil) is a file older than the policy, whose pools
	// handed out every address: true.
	UseAll    *bool     `json:"use_all"`
	Tags      Tags      `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// recordSpace is how a record names its space: empty for the global space.
func recordSpace(space string) string {
	if space == GlobalSpace {
		return ""
	}
	return space
}

// ChildPoolRecord is a live child pool (AllocatePool): Prefix carved out
// of the pool Parent of Region (a region's pool or a relocated unit),
// named Name, for Tenant's children. Its address policy is its parent's.
// A dissolved child pool is not dumped: its space is its parent's again,
// and the assignments it once held are dumped in its parent.
type ChildPoolRecord struct {
	Pos
	Name      string       `json:"name"`
	Prefix    netip.Prefix `json:"prefix"`
	Parent    netip.Prefix `json:"parent"`
	Region    string       `json:"region"`
	Tenant    string       `json:"tenant,omitempty"`
	Purpose   string       `json:"purpose,omitempty"`
	Tags      Tags         `json:"tags,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	// Space is its parent's space, empty for the global space (or, in a
	// file before version 4, the one space with such a parent).
	Space string `json:"space,omitempty"`
}

// ReservationRecord is a reservation in force. It lies in the most
// specific pool of the dump holding it (reservations come with their
// pools, as assignments do).
type ReservationRecord struct {
	Pos
	Prefix    netip.Prefix `json:"prefix"`
	Reason    string       `json:"reason"`
	Until     *time.Time   `json:"until,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	// Space is its pool's space (empty: as ChildPoolRecord.Space).
	Space string `json:"space,omitempty"`
}

// RelocationRecord is a relocation and the borrower's pool made of it.
// FromPool is the lender's pool it was carved from.
type RelocationRecord struct {
	Pos
	Prefix     netip.Prefix `json:"prefix"`
	FromPool   netip.Prefix `json:"from_pool"`
	FromRegion string       `json:"from_region"`
	ToRegion   string       `json:"to_region"`
	Reason     string       `json:"reason"`
	CreatedAt  time.Time    `json:"created_at"`
	// Space is its lender's pool's space (empty: as ChildPoolRecord.Space).
	Space string `json:"space,omitempty"`
}

// AssignmentRecord is an assignment, live or past. Pool and Region name
// the pool it came from (a relocated unit has its lender's prefix in
// another region).
type AssignmentRecord struct {
	Pos
	Prefix netip.Prefix `json:"prefix"`
	Pool   netip.Prefix `json:"pool"`
	Region string       `json:"region"`
	// ChildPool names the live child pool the assignment lies in (Pool
	// is then its prefix); empty, it lies in a region's pool.
	ChildPool       string     `json:"child_pool,omitempty"`
	State           State      `json:"state"`
	Tenant          string     `json:"tenant,omitempty"`
	Resource        string     `json:"resource,omitempty"`
	Name            string     `json:"name,omitempty"`
	Tags            Tags       `json:"tags,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	ReleasedAt      *time.Time `json:"released_at,omitempty"`
	QuarantineUntil *time.Time `json:"quarantine_until,omitempty"`
	// Space is its pool's space (empty: as ChildPoolRecord.Space).
	Space string `json:"space,omitempty"`
}

// Dump reads the whole register in one snapshot. Records are in a fixed
// order (tenants, regions and spaces by name, blocks, pools and
// reservations by address, relocations and assignments as they were
// made), so that dumping a register loaded from a dump gives the same
// dump. Reservations that ended are left out: they no longer count.
// It holds every assignment at once; DumpTo hands them over a page at a
// time.
func (r *Registry) Dump(ctx context.Context) (Dump, error) {
	var d Dump
	err := r.DumpTo(ctx, func(h Dump) error {
		d = h
		d.Assignments = []AssignmentRecord{}
		return nil
	}, func(as []AssignmentRecord) error {
		d.Assignments = append(d.Assignments, as...)
		return nil
	})
	return d, err
}

// DumpPage is how many assignments DumpTo reads and hands over at once:
// enough to keep the statements few, small enough that an export's
// memory is a page's, not the register's.
const DumpPage = 10000

// DumpTo reads the whole register in one snapshot, as Dump does, and
// hands it over as it reads it: head gets every record but the
// assignments (the kinds a register holds thousands of), then page gets
// the assignments, at most DumpPage at a time, in Dump's order. The slice
// page gets is reused after page returns. An error of head or page ends
// the read and is returned.
func (r *Registry) DumpTo(ctx context.Context, head func(Dump) error, page func([]AssignmentRecord) error) error {
	d := Dump{Format: DumpFormat, Version: DumpVersion}
	now := r.clock()
	return r.store.View(ctx, func(tx Tx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		d.Tenants = make([]TenantRecord, 0, len(tenants))
		for _, t := range tenants {
			d.Tenants = append(d.Tenants, TenantRecord{Name: t.Name, Names: nonNilStrings(t.Names), MaxIPv4: t.MaxIPv4, MaxIPv6: t.MaxIPv6, Note: t.Note, MayDelegate: t.MayDelegate, CreatedAt: t.CreatedAt.UTC()})
		}
		regions, err := tx.Regions(ctx)
		if err != nil {
			return err
		}
		if err := dumpTags(ctx, tx, KindRegion, regions, func(g *Region) int64 { return g.ID }, func(g *Region, t Tags) { g.Tags = t }); err != nil {
			return err
		}
		d.Regions = make([]RegionRecord, 0, len(regions))
		for _, g := range regions {
			d.Regions = append(d.Regions, RegionRecord{Name: g.Name, Location: g.Location, Borrow: g.Borrow, BorrowBits: g.BorrowBits, Tags: g.Tags, CreatedAt: g.CreatedAt.UTC()})
		}
		spaces, err := tx.Spaces(ctx)
		if err != nil {
			return err
		}
		d.Spaces = make([]SpaceRecord, 0, len(spaces))
		for _, s := range spaces {
			if s.Name != GlobalSpace && s.Name != PrivateSpace {
				d.Spaces = append(d.Spaces, SpaceRecord{Name: s.Name, Note: s.Note, CreatedAt: s.CreatedAt.UTC()})
			}
		}
		blocks, err := tx.Blocks(ctx)
		if err != nil {
			return err
		}
		if err := dumpTags(ctx, tx, KindBlock, blocks, func(b *Block) int64 { return b.ID }, func(b *Block, t Tags) { b.Tags = t }); err != nil {
			return err
		}
		space := make(map[int64]string, len(blocks))
		d.Blocks = make([]BlockRecord, 0, len(blocks))
		for _, b := range blocks {
			space[b.ID] = b.Space
			d.Blocks = append(d.Blocks, BlockRecord{Prefix: b.Prefix, Source: b.Source, Registry: b.Registry, RegisteredCountry: b.RegisteredCountry,
				From: b.From, Price: b.Price, Date: b.Date, Note: b.Note, Space: b.Space, Tags: b.Tags, CreatedAt: b.CreatedAt.UTC()})
		}
		pools, err := tx.Pools(ctx, PoolFilter{})
		if err != nil {
			return err
		}
		if err := dumpTags(ctx, tx, KindPool, pools, func(p *Pool) int64 { return p.ID }, func(p *Pool, t Tags) { p.Tags = t }); err != nil {
			return err
		}
		byID := make(map[int64]Pool, len(pools))
		for _, p := range pools {
			byID[p.ID] = p
		}
		d.Pools = make([]PoolRecord, 0, len(pools))
		d.ChildPools = []ChildPoolRecord{}
		for _, p := range pools {
			if p.IsChild() {
				if p.DissolvedAt == nil {
					parent := byID[p.ParentID]
					d.ChildPools = append(d.ChildPools, ChildPoolRecord{Name: p.Name, Prefix: p.Prefix, Parent: parent.Prefix, Region: p.Region,
						Tenant: p.Tenant, Purpose: p.Purpose, Tags: p.Tags, CreatedAt: p.CreatedAt.UTC(), Space: recordSpace(p.Space)})
				}
				continue
			}
			if p.Relocation == nil {
				useAll := p.UseAll
				d.Pools = append(d.Pools, PoolRecord{Prefix: p.Prefix, Region: p.Region, Purpose: p.Purpose, Space: space[p.BlockID], UseAll: &useAll,
					Tags: p.Tags, CreatedAt: p.CreatedAt.UTC()})
			}
		}
		rels, err := tx.Relocations(ctx)
		if err != nil {
			return err
		}
		d.Relocations = make([]RelocationRecord, 0, len(rels))
		for _, x := range rels {
			d.Relocations = append(d.Relocations, RelocationRecord{Prefix: x.Prefix, FromPool: byID[x.FromPoolID].Prefix, FromRegion: x.FromRegion,
				ToRegion: x.ToRegion, Reason: x.Reason, CreatedAt: x.CreatedAt.UTC(), Space: recordSpace(byID[x.FromPoolID].Space)})
		}
		rs, err := tx.Reservations(ctx)
		if err != nil {
			return err
		}
		d.Reservations = make([]ReservationRecord, 0, len(rs))
		for _, v := range rs {
			if v.activeAt(now) {
				d.Reservations = append(d.Reservations, ReservationRecord{Prefix: v.Prefix, Reason: v.Reason, Until: utcPtr(v.Until), CreatedAt: v.CreatedAt.UTC(),
					Space: recordSpace(v.Space)})
			}
		}
		if err := head(d); err != nil {
			return err
		}
		recs := make([]AssignmentRecord, 0, DumpPage)
		var after int64
		ad, lean := tx.(AssignmentDumper)
		var buf []Assignment
		for {
			var as []Assignment
			if lean {
				// The pool's prefix and region are the pool's, read above.
				buf, err = ad.DumpAssignments(ctx, after, DumpPage, buf[:0])
				as = buf
				for i := range as {
					p := byID[as[i].PoolID]
					as[i].Pool, as[i].Region = p.Prefix, p.Region
				}
			} else {
				as, err = tx.Assignments(ctx, AssignmentFilter{AfterID: after, Limit: DumpPage})
			}
			if err != nil {
				return err
			}
			if len(as) == 0 {
				return nil
			}
			after = as[len(as)-1].ID
			if err := fillTags(ctx, tx, KindAssignment, as, func(a *Assignment) int64 { return a.ID }, func(a *Assignment, t Tags) { a.Tags = t }); err != nil {
				return err
			}
			recs = recs[:0]
			for _, a := range as {
				pool, child := a.Pool, ""
				if p := byID[a.PoolID]; p.IsChild() {
					if p.DissolvedAt == nil {
						child = p.Name
					} else {
						// A dissolved child pool's space is its parent's.
						pool = byID[p.ParentID].Prefix
					}
				}
				recs = append(recs, AssignmentRecord{Prefix: a.Prefix, Pool: pool, Region: a.Region, ChildPool: child, State: a.State,
					Tenant: a.Tenant, Resource: a.Resource, Name: a.Name, CreatedAt: a.CreatedAt.UTC(), ReleasedAt: utcPtr(a.ReleasedAt),
					QuarantineUntil: utcPtr(a.QuarantineUntil), Tags: a.Tags, Space: recordSpace(a.Space)})
			}
			if err := page(recs); err != nil {
				return err
			}
			if len(as) < DumpPage {
				return nil
			}
		}
	})
}

// dumpTagChunk bounds the IDs of one read of tags, so that a register of
// a million assignments is not one statement of a million parameters.
const dumpTagChunk = 10000

// dumpTags fills the tags of objs, a chunk of IDs at a time.
func dumpTags[T any](ctx context.Context, tx Tx, kind string, objs []T, id func(*T) int64, set func(*T, Tags)) error {
	for lo := 0; lo < len(objs); lo += dumpTagChunk {
		if err := fillTags(ctx, tx, kind, objs[lo:min(lo+dumpTagChunk, len(objs))], id, set); err != nil {
			return err
		}
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// LoadOptions says how Load writes.
type LoadOptions struct {
	// DryRun checks everything against the register, as a load would,
	// and writes nothing.
	DryRun bool
	// KeepSuffixOverlaps loads tenants whose name suffixes overlap
	// another tenant's (in the file or the register), flagged as an
	// upgrade's are (Tenant.Overlaps), instead of refusing them: for
	// moving a register made before the rule (whose tenants the upgrade
	// gave ".") as it is, to narrow them afterwards.
	KeepSuffixOverlaps bool
	// Source names where the records came from (a file's name, "demo"):
	// the import events say it, so the log tells which load wrote what.
	Source string
}

// LoadReport counts what a load wrote (or, dry, would write).
type LoadReport struct {
	DryRun       bool `json:"dry_run"`
	Tenants      int  `json:"tenants"`
	Regions      int  `json:"regions"`
	Spaces       int  `json:"spaces"`
	Blocks       int  `json:"blocks"`
	Pools        int  `json:"pools"`
	Relocations  int  `json:"relocations"`
	ChildPools   int  `json:"child_pools"`
	Reservations int  `json:"reservations"`
	Assignments  int  `json:"assignments"`
}

// LoadError is one bad record of a dump: where it was read and why it is
// refused. errors.Is sees through it to the kind (ErrInvalid, ErrExists,
// ErrOverlap, ErrNotFound).
type LoadError struct {
	At  string
	Err error
}

func (e *LoadError) Error() string {
	if e.At == "" {
		return e.Err.Error()
	}
	return e.At + ": " + e.Err.Error()
}

// Unwrap gives the kind of the refusal to errors.Is.
func (e *LoadError) Unwrap() error { return e.Err }

// maxLoadErrors bounds the errors the checks of records on their own
// report at once: enough to fix a file in a few rounds, not a flood.
const maxLoadErrors = 50

var errDryRun = errors.New("dry run")

// Load writes a dump into the register in one transaction: all of it or
// nothing. Each record is checked as the verb that makes it would check
// it; names and prefixes must not be in the register already (a
// conflict names the holder) and references (a pool's region, an
// assignment's pool and tenant) must resolve in the dump or the register.
// Assignments come only with their pools, and the pools' free space is
// what their live assignments and relocated units leave. Every object
// written gets an event "KIND.import", except assignments: each batch of
// them written together (a chunk, up to loadChunk) gets one event
// "assignments.import" (ImportBatch), so that a load of millions writes
// a few hundred events, not millions (issue 16: the log was the larger
// half of the register). Readers that follow the log treat it as a
// change they cannot apply from the event alone (DNS rebuilds its zones
// from the register).
func (r *Registry) Load(ctx context.Context, d Dump, opt LoadOptions) (LoadReport, error) {
	return r.LoadFrom(ctx, d, nil, opt)
}

// AssignmentSource gives the assignments of a dump a chunk at a time, as
// a file is read (interchange.Reader is one). Next returns io.EOF after
// the last chunk; a chunk is used before Next is called again.
type AssignmentSource interface {
	Next() ([]AssignmentRecord, error)
}

// LoadFrom is Load of the dump head followed by the assignments of more
// (nil: none), which are read, checked and written a chunk at a time in
// the same transaction: a load holds a chunk of assignments, not the
// file. An error of more (a line of the file that cannot be read) ends
// the load, and nothing is written.
func (r *Registry) LoadFrom(ctx context.Context, head Dump, more AssignmentSource, opt LoadOptions) (LoadReport, error) {
	d := head
	rep := LoadReport{DryRun: opt.DryRun}
	if d.Format != DumpFormat {
		return rep, invalid("format %q: not a cadastre register dump (want %q)", d.Format, DumpFormat)
	}
	if d.Version < MinDumpVersion || d.Version > DumpVersion {
		return rep, invalid("version %d: this cadastre reads versions %d to %d", d.Version, MinDumpVersion, DumpVersion)
	}
	if err := r.checkDump(&d); err != nil {
		return rep, err
	}
	named := 0
	for _, a := range d.Assignments {
		if a.Name != "" {
			named++
		}
	}
	err := r.store.Update(ctx, func(tx Tx) error {
		// Every name at once, first, for a load of many: one lock per
		// name checked would exhaust a store's lock table (issue 16). A
		// small load locks its names one by one, so that allocations of
		// other names go on meanwhile. A file read a chunk at a time
		// (more) is not counted first: it holds them all.
		if nl, ok := tx.(NameLocker); ok && (named > maxNameLocks || more != nil) {
			if err := nl.LockAllNames(ctx); err != nil {
				return err
			}
		}
		l := loader{r: r, tx: tx, now: r.clock(), actor: Actor(ctx), keepOverlaps: opt.KeepSuffixOverlaps, source: opt.Source}
		n, err := l.load(ctx, &d, more)
		if err != nil {
			return err
		}
		rep.Tenants, rep.Regions, rep.Blocks, rep.Pools = len(d.Tenants), len(d.Regions), len(d.Blocks), len(d.Pools)
		rep.Relocations, rep.Assignments = len(d.Relocations), n
		rep.Spaces, rep.Reservations, rep.ChildPools = len(d.Spaces), len(d.Reservations), len(d.ChildPools)
		if opt.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	return rep, err
}

// maxNameLocks is the most names a load locks one by one; past it, it
// holds every name at once (NameLocker). PostgreSQL's lock table holds
// 6,400 locks by default, shared by every session.
const maxNameLocks = 1000

// checkDump checks every record on its own, before any is written,
// collecting up to maxLoadErrors errors.
func (r *Registry) checkDump(d *Dump) error {
	var errs []error
	bad := func(p Pos, err error) bool {
		if err != nil {
			errs = append(errs, &LoadError{At: p.At, Err: err})
		}
		return len(errs) >= maxLoadErrors
	}
	seen := map[string]string{}
	dup := func(p Pos, kind, key string) error {
		k := kind + " " + key
		if at, ok := seen[k]; ok {
			return fmt.Errorf("%s %s: listed twice (first at %s): %w", kind, key, at, ErrExists)
		}
		seen[k] = cmp.Or(p.At, "an earlier record")
		return nil
	}
	for i := range d.Tenants {
		t := &d.Tenants[i]
		err := ValidateTenantName(t.Name)
		if err == nil {
			x := Tenant{Name: t.Name}
			err = r.applyTenantSpec(&x, TenantSpec{Names: &t.Names, MaxIPv4: t.MaxIPv4, MaxIPv6: t.MaxIPv6, Note: &t.Note})
			t.Names = nonNilStrings(x.Names)
		}
		if err == nil {
			err = dup(t.Pos, "tenant", t.Name)
		}
		if bad(t.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for i := range d.Regions {
		g := &d.Regions[i]
		err := ValidateName(g.Name)
		if err != nil {
			err = fmt.Errorf("%w: %w", err, ErrInvalid)
		}
		if err == nil {
			err = CheckText("city", g.Location.City)
		}
		if err == nil {
			if lerr := g.Location.Validate(); lerr != nil {
				err = fmt.Errorf("region %s: %w: %w", g.Name, lerr, ErrInvalid)
			}
		}
		if g.BorrowBits == 0 {
			g.BorrowBits = DefaultBorrowBits
		}
		if err == nil && (g.BorrowBits < 8 || g.BorrowBits > 32) {
			err = invalid("region %s: borrow unit /%d: must be an IPv4 length from /8 to /32", g.Name, g.BorrowBits)
		}
		if err == nil && slices.Contains(g.Borrow.From, g.Name) {
			err = invalid("region %s: cannot borrow from itself", g.Name)
		}
		if err == nil {
			err = tagsOK("region "+g.Name, g.Tags)
		}
		if err == nil {
			err = dup(g.Pos, "region", g.Name)
		}
		if bad(g.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for i := range d.Spaces {
		s := &d.Spaces[i]
		err := checkSpaceRecord(*s)
		if err == nil {
			err = dup(s.Pos, "space", s.Name)
		}
		if bad(s.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for i := range d.Blocks {
		b := &d.Blocks[i]
		x := Block{Prefix: b.Prefix, Source: b.Source, Registry: b.Registry, RegisteredCountry: b.RegisteredCountry, From: b.From, Price: b.Price, Date: b.Date, Note: b.Note, Space: b.Space}
		err := r.checkBlock(x)
		if err == nil {
			b.Space, err = blockSpace(x)
		}
		if err == nil {
			err = tagsOK("block "+b.Prefix.String(), b.Tags)
		}
		if err == nil {
			err = dup(b.Pos, "block", b.Prefix.String()+" in space "+b.Space)
		}
		if bad(b.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for _, p := range d.Pools {
		err := checkPrefix("pool", p.Prefix)
		if err == nil {
			err = CheckText("purpose", p.Purpose)
		}
		if err == nil && p.Space != "" {
			err = ValidateSpaceName(p.Space)
		}
		if err == nil {
			err = tagsOK("pool "+p.Prefix.String(), p.Tags)
		}
		if err == nil {
			err = dup(p.Pos, "pool", p.Prefix.String()+spaceSuffix(p.Space))
		}
		if bad(p.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for _, x := range d.Relocations {
		err := checkPrefix("relocation", x.Prefix)
		if err == nil {
			err = checkPrefix("relocation "+x.Prefix.String()+": from pool", x.FromPool)
		}
		if err == nil && !prefix.Covers(x.FromPool, x.Prefix) {
			err = invalid("relocation %s: not inside its lender's pool %s", x.Prefix, x.FromPool)
		}
		if err == nil {
			err = CheckText("reason", x.Reason)
		}
		if bad(x.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for _, c := range d.ChildPools {
		err := checkChildPoolRecord(c)
		if err == nil && d.Version < 3 {
			err = invalid("child pool %s: child pools are in version 3 files and later (this file says version %d)", c.Name, d.Version)
		}
		if err == nil {
			err = dup(c.Pos, "child pool", c.Name)
		}
		if bad(c.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for _, v := range d.Reservations {
		err := checkReservationRecord(v)
		if err == nil {
			err = dup(v.Pos, "reservation", v.Prefix.String()+spaceSuffix(v.Space))
		}
		if bad(v.Pos, err) {
			return errors.Join(errs...)
		}
	}
	for _, a := range d.Assignments {
		err := checkAssignmentRecord(a)
		if err == nil {
			err = tagsOK("assignment "+a.Prefix.String(), a.Tags)
		}
		if bad(a.Pos, err) {
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

// spaceSuffix names a record's space after its prefix, when it has one.
func spaceSuffix(space string) string {
	if space == "" {
		return ""
	}
	return " in space " + space
}

// tagsOK checks the tags of a record as the verbs that set them do.
func tagsOK(what string, t Tags) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkSpaceRecord applies AddSpace's rules; the built-in spaces are in
// every register, never in a file.
func checkSpaceRecord(s SpaceRecord) error {
	if err := ValidateSpaceName(s.Name); err != nil {
		return err
	}
	if s.Name == GlobalSpace || s.Name == PrivateSpace {
		return invalid("space %s: built in, in every register: leave it out of the file", s.Name)
	}
	if err := CheckText("note", s.Note); err != nil {
		return err
	}
	if len(s.Note) > 1000 {
		return invalid("space %s: note longer than 1000 bytes", s.Name)
	}
	return nil
}

// checkChildPoolRecord applies AllocatePool's rules on a record alone.
func checkChildPoolRecord(c ChildPoolRecord) error {
	spec := ChildPoolSpec{Name: c.Name, Region: c.Region, Family: prefix.Family(c.Prefix), Bits: c.Prefix.Bits(), Purpose: c.Purpose, Tenant: c.Tenant, Tags: c.Tags}
	if err := checkPrefix("child pool "+c.Name, c.Prefix); err != nil {
		return err
	}
	if err := spec.normalise(); err != nil {
		return err
	}
	if err := checkPrefix("child pool "+c.Name+": parent", c.Parent); err != nil {
		return err
	}
	if !prefix.Covers(c.Parent, c.Prefix) {
		return invalid("child pool %s: %s is not inside its parent pool %s", c.Name, c.Prefix, c.Parent)
	}
	return nil
}

// checkReservationRecord applies Reserve's rules on a record alone.
func checkReservationRecord(v ReservationRecord) error {
	if err := checkPrefix("reservation", v.Prefix); err != nil {
		return err
	}
	if strings.TrimSpace(v.Reason) == "" {
		return invalid("reservation %s: give a reason", v.Prefix)
	}
	if len(v.Reason) > 256 {
		return invalid("reservation %s: reason longer than 256 bytes", v.Prefix)
	}
	return CheckText("reason", v.Reason)
}

// checkPrefix checks a prefix read from a file.
func checkPrefix(what string, p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return invalid("%s: missing prefix", what)
	case p.Addr().Is4In6():
		return invalid("%s %s: IPv4-mapped IPv6; write the IPv4 form", what, p)
	case p != p.Masked():
		return invalid("%s %s: host bits set (did you mean %s?)", what, p, p.Masked())
	}
	return nil
}

func checkAssignmentRecord(a AssignmentRecord) error {
	if err := checkPrefix("assignment", a.Prefix); err != nil {
		return err
	}
	if !prefix.Covers(a.Pool, a.Prefix) {
		return invalid("assignment %s: not inside its pool %s", a.Prefix, a.Pool)
	}
	switch a.State {
	case StateAssigned:
		if a.ReleasedAt != nil || a.QuarantineUntil != nil {
			return invalid("assignment %s: assigned, yet with a release or quarantine time", a.Prefix)
		}
	case StateQuarantined:
		if a.ReleasedAt == nil || a.QuarantineUntil == nil {
			return invalid("assignment %s: quarantined needs released_at and quarantine_until", a.Prefix)
		}
	case StateReleased:
		if a.ReleasedAt == nil {
			return invalid("assignment %s: released needs released_at", a.Prefix)
		}
	default:
		return invalid("assignment %s: state %q: must be assigned, quarantined or released", a.Prefix, a.State)
	}
	if a.Name != "" {
		if err := ValidateFQDN(a.Name); err != nil {
			return fmt.Errorf("assignment %s: %w: %w", a.Prefix, err, ErrInvalid)
		}
	}
	if a.ChildPool != "" {
		if err := validateName("child pool", a.ChildPool); err != nil {
			return fmt.Errorf("assignment %s: %w: %w", a.Prefix, err, ErrInvalid)
		}
	}
	if len(a.Tenant) > 128 || len(a.Resource) > 256 {
		return invalid("assignment %s: tenant (128) or resource (256 bytes) too long", a.Prefix)
	}
	return checkTexts("tenant", a.Tenant, "resource", a.Resource)
}

// loader writes a checked dump inside one transaction.
type loader struct {
	r     *Registry
	tx    Tx
	now   time.Time
	actor string
	// keepOverlaps is LoadOptions.KeepSuffixOverlaps.
	keepOverlaps bool
	// source is LoadOptions.Source.
	source string
	// events are appended at the end, in few statements where the store
	// can (BatchWriter).
	events []Event
}

type poolKey struct {
	space  string
	region string
	prefix netip.Prefix
}

// poolOf finds the pool of the file a record names by region and prefix
// in space; a record naming no space means the global space's pool, or
// (files before version 4) the one pool of any space so named.
func poolOf(pools map[poolKey]*Pool, space, region string, p netip.Prefix) (*Pool, error) {
	if space != "" {
		return pools[poolKey{space, region, p}], nil
	}
	if x, ok := pools[poolKey{GlobalSpace, region, p}]; ok {
		return x, nil
	}
	var found *Pool
	var in []string
	for k, x := range pools {
		if k.region == region && k.prefix == p {
			found = x
			in = append(in, k.space)
		}
	}
	if len(in) > 1 {
		slices.Sort(in)
		return nil, invalid("pool %s of region %s: one in each of spaces %s: name the space (\"space\")", p, region, strings.Join(in, ", "))
	}
	return found, nil
}

// eventChunk bounds the events a load holds before writing them, so that
// a load of a million assignments does not hold a million events too.
const eventChunk = 8192

func (l *loader) event(ctx context.Context, action, kind string, id int64, subject string, after any) error {
	b, err := marshalEvent(nil, after)
	if err != nil {
		return err
	}
	l.events = append(l.events, Event{At: l.now, Actor: l.actor, Action: action, SubjectKind: kind, SubjectID: id, Subject: subject, After: b})
	if len(l.events) >= eventChunk {
		return l.flush(ctx)
	}
	return nil
}

// flush writes the events held, in few statements where the store can.
func (l *loader) flush(ctx context.Context) error {
	es := l.events
	l.events = l.events[:0]
	if el, ok := l.tx.(EventLoader); ok {
		return el.LoadEvents(ctx, es)
	}
	if bw, ok := l.tx.(BatchWriter); ok {
		return bw.AppendEvents(ctx, es)
	}
	for i := range es {
		if err := l.tx.AppendEvent(ctx, &es[i]); err != nil {
			return err
		}
	}
	return nil
}

func or(t time.Time, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t.UTC().Truncate(time.Microsecond)
}

// tenantSuffixes refuses, as `tenant add` does, a tenant of the file
// whose name suffixes equal, contain or lie under those of another tenant,
// of the register or of the file (the earlier line): names under both
// would belong to two tenants. The register's tenants are read after
// LockTenantSuffixes, so a tenant added meanwhile is seen. With
// keepOverlaps, nothing is refused (the overlaps are flagged on reading).
func (l *loader) tenantSuffixes(ctx context.Context, ts []TenantRecord) error {
	if len(ts) == 0 || l.keepOverlaps {
		return nil
	}
	if err := l.tx.LockTenantSuffixes(ctx); err != nil {
		return err
	}
	all, err := l.tx.Tenants(ctx)
	if err != nil {
		return err
	}
	// One index of the register's tenants and the file's; a file tenant
	// is checked against the register's and those before it in the file
	// (pos), the later ones see it in their turn.
	pos := map[string]int{}
	for i, t := range ts {
		if _, ok := pos[t.Name]; !ok {
			pos[t.Name] = i
		}
		all = append(all, Tenant{Name: t.Name, Names: t.Names})
	}
	idx := newSuffixIndex(all)
	for i, t := range ts {
		earlier := func(ctx context.Context, key string, fn func(SuffixHolder) bool) error {
			return idx.walk(ctx, key, func(h SuffixHolder) bool {
				if p, inFile := pos[h.Tenant]; inFile && h.TenantID == 0 && p >= i {
					return true
				}
				return fn(h)
			})
		}
		err := checkSuffixes(ctx, earlier, Tenant{Name: t.Name, Names: t.Names}, nil)
		var o *SuffixOverlapError
		if errors.As(err, &o) {
			where := "in the register"
			if p, ok := pos[o.OtherTenant]; ok && p < i {
				where = "in the file, " + cmp.Or(ts[p].At, "an earlier record")
			}
			return &LoadError{t.At, fmt.Errorf("%w (tenant %s is %s; `cadastre import --keep-suffix-overlaps` loads them flagged, to narrow later)", err, o.OtherTenant, where)}
		}
		if err != nil {
			return &LoadError{t.At, err}
		}
	}
	return nil
}

func (l *loader) load(ctx context.Context, d *Dump, more AssignmentSource) (int, error) {
	n, err := l.loadAll(ctx, d, more)
	if err != nil {
		return 0, err
	}
	return n, l.flush(ctx)
}

func (l *loader) loadAll(ctx context.Context, d *Dump, more AssignmentSource) (int, error) {
	tx := l.tx
	if err := l.tenantSuffixes(ctx, d.Tenants); err != nil {
		return 0, err
	}
	for _, t := range d.Tenants {
		if _, err := tx.TenantByName(ctx, t.Name); err == nil {
			return 0, &LoadError{t.At, fmt.Errorf("tenant %s: already in the register: %w", t.Name, ErrExists)}
		} else if !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		x := Tenant{Name: t.Name, Names: t.Names, MaxIPv4: t.MaxIPv4, MaxIPv6: t.MaxIPv6, Note: t.Note, MayDelegate: t.MayDelegate, CreatedAt: or(t.CreatedAt, l.now)}
		if err := tx.InsertTenant(ctx, &x); err != nil {
			return 0, &LoadError{t.At, fmt.Errorf("tenant %s: %w", t.Name, err)}
		}
		if err := l.event(ctx, "tenant.import", "tenant", x.ID, x.Name, x); err != nil {
			return 0, err
		}
	}
	regions := map[string]Region{}
	for _, g := range d.Regions {
		if _, err := tx.RegionByName(ctx, g.Name); err == nil {
			return 0, &LoadError{g.At, fmt.Errorf("region %s: already in the register: %w", g.Name, ErrExists)}
		}
		x := Region{Name: g.Name, Location: g.Location, Borrow: g.Borrow, BorrowBits: g.BorrowBits, CreatedAt: or(g.CreatedAt, l.now)}
		if err := tx.InsertRegion(ctx, &x); err != nil {
			return 0, &LoadError{g.At, fmt.Errorf("region %s: %w", g.Name, err)}
		}
		if err := l.tags(ctx, KindRegion, x.ID, g.Tags); err != nil {
			return 0, &LoadError{g.At, fmt.Errorf("region %s: %w", g.Name, err)}
		}
		x.Tags = nonEmpty(g.Tags)
		regions[x.Name] = x
		if err := l.event(ctx, "region.import", "region", x.ID, x.Name, x); err != nil {
			return 0, err
		}
	}
	region := func(at, name string) (Region, error) {
		if g, ok := regions[name]; ok {
			return g, nil
		}
		g, err := tx.RegionByName(ctx, name)
		if err != nil {
			return Region{}, &LoadError{at, fmt.Errorf("region %s: not in the file nor in the register: %w", name, err)}
		}
		regions[name] = g
		return g, nil
	}
	for _, g := range d.Regions {
		for _, lender := range g.Borrow.From {
			if _, err := region(g.At, lender); err != nil {
				return 0, &LoadError{g.At, fmt.Errorf("region %s: borrow from %s: %w", g.Name, lender, errors.Unwrap(err))}
			}
		}
	}
	spaces := map[string]bool{}
	for _, s := range d.Spaces {
		if _, err := tx.SpaceByName(ctx, s.Name); err == nil {
			return 0, &LoadError{s.At, fmt.Errorf("space %s: already in the register: %w", s.Name, ErrExists)}
		} else if !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		x := Space{Name: s.Name, Note: s.Note, CreatedAt: or(s.CreatedAt, l.now)}
		if err := tx.InsertSpace(ctx, &x); err != nil {
			return 0, &LoadError{s.At, fmt.Errorf("space %s: %w", s.Name, err)}
		}
		spaces[x.Name] = true
		if err := l.event(ctx, "space.import", "space", x.ID, x.Name, x); err != nil {
			return 0, err
		}
	}
	blockAt := map[string]string{} // space and prefix -> where read
	for _, b := range d.Blocks {
		if !spaces[b.Space] {
			if _, err := tx.SpaceByName(ctx, b.Space); err != nil {
				return 0, &LoadError{b.At, fmt.Errorf("block %s: space %s: not in the file nor in the register: %w", b.Prefix, b.Space, ErrNotFound)}
			}
			spaces[b.Space] = true
		}
		over, err := tx.BlocksOverlapping(ctx, b.Prefix)
		if err != nil {
			return 0, err
		}
		// Overlap is refused within a space only, as AddBlock does.
		for _, o := range over {
			if o.Space == b.Space {
				return 0, &LoadError{b.At, fmt.Errorf("block %s: overlaps block %s in space %s%s: %w", b.Prefix, o.Prefix, o.Space, fromFile(blockAt, o.Space+" "+o.Prefix.String()), ErrOverlap)}
			}
		}
		x := Block{Prefix: b.Prefix, Source: b.Source, Registry: b.Registry, RegisteredCountry: b.RegisteredCountry, From: b.From, Price: b.Price,
			Date: b.Date, Note: b.Note, Space: b.Space, Tags: nonEmpty(b.Tags), CreatedAt: or(b.CreatedAt, l.now)}
		if err := tx.InsertBlock(ctx, &x); err != nil {
			return 0, &LoadError{b.At, fmt.Errorf("block %s: %w", b.Prefix, err)}
		}
		if err := l.tags(ctx, KindBlock, x.ID, x.Tags); err != nil {
			return 0, &LoadError{b.At, fmt.Errorf("block %s: %w", b.Prefix, err)}
		}
		blockAt[b.Space+" "+b.Prefix.String()] = b.At
		if err := l.event(ctx, "block.import", "block", x.ID, x.Prefix.String(), x); err != nil {
			return 0, err
		}
	}
	pools := map[poolKey]*Pool{}
	poolAt := map[string]string{}
	// used is, per new pool, what is not free: live assignments and the
	// units relocated out of it, with where each was read.
	used := map[int64][]usedPrefix{}
	for _, p := range d.Pools {
		g, err := region(p.At, p.Region)
		if err != nil {
			return 0, err
		}
		blocks, err := tx.BlocksOverlapping(ctx, p.Prefix)
		if err != nil {
			return 0, err
		}
		if blocks, err = oneSpace(p.Prefix, p.Space, blocks); err != nil {
			return 0, &LoadError{p.At, fmt.Errorf("pool %w", err)}
		}
		if len(blocks) == 0 && p.Space != "" {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: outside every block of space %s (the file and the register have none holding it): %w", p.Prefix, p.Space, ErrInvalid)}
		}
		if len(blocks) == 0 {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: outside every block (the file and the register have none holding it): %w", p.Prefix, ErrInvalid)}
		}
		if len(blocks) > 1 || !prefix.Covers(blocks[0].Prefix, p.Prefix) {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: not inside one block (it overlaps block %s): %w", p.Prefix, blocks[0].Prefix, ErrInvalid)}
		}
		space := blocks[0].Space
		over, err := tx.PoolsOverlapping(ctx, space, p.Prefix)
		if err != nil {
			return 0, err
		}
		if len(over) > 0 {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: overlaps pool %s of region %s in space %s%s: %w", p.Prefix, over[0].Prefix, over[0].Region, space,
				fromFile(poolAt, space+" "+over[0].Prefix.String()), ErrOverlap)}
		}
		// A pool without use_all comes from a file older than the
		// address policy, when every pool handed out every address.
		useAll := p.UseAll == nil || *p.UseAll
		x := Pool{Prefix: p.Prefix, BlockID: blocks[0].ID, Block: blocks[0].Prefix, RegionID: g.ID, Region: g.Name, Purpose: p.Purpose,
			UseAll: useAll, Tags: nonEmpty(p.Tags), CreatedAt: or(p.CreatedAt, l.now)}
		if err := tx.InsertPool(ctx, &x); err != nil {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: %w", p.Prefix, err)}
		}
		if err := l.tags(ctx, KindPool, x.ID, x.Tags); err != nil {
			return 0, &LoadError{p.At, fmt.Errorf("pool %s: %w", p.Prefix, err)}
		}
		poolAt[x.Space+" "+p.Prefix.String()] = p.At
		pools[poolKey{x.Space, g.Name, x.Prefix}] = &x
		used[x.ID] = nil
		if err := l.event(ctx, "pool.import", "pool", x.ID, x.Prefix.String(), x); err != nil {
			return 0, err
		}
	}
	for _, rel := range d.Relocations {
		from, err := poolOf(pools, rel.Space, rel.FromRegion, rel.FromPool)
		if err != nil {
			return 0, &LoadError{rel.At, fmt.Errorf("relocation %s: %w", rel.Prefix, err)}
		}
		if from == nil {
			return 0, &LoadError{rel.At, fmt.Errorf("relocation %s: lender pool %s of region %s is not in the file: %w", rel.Prefix, rel.FromPool, rel.FromRegion, ErrNotFound)}
		}
		to, err := region(rel.At, rel.ToRegion)
		if err != nil {
			return 0, err
		}
		if rel.Prefix.Addr().Is6() {
			return 0, &LoadError{rel.At, invalid("relocation %s: only IPv4 is relocated", rel.Prefix)}
		}
		x := Relocation{Prefix: rel.Prefix, FromPoolID: from.ID, FromRegion: rel.FromRegion, ToRegion: to.Name, Reason: rel.Reason, CreatedAt: or(rel.CreatedAt, l.now)}
		if err := tx.InsertRelocation(ctx, &x); err != nil {
			return 0, &LoadError{rel.At, fmt.Errorf("relocation %s: %w", rel.Prefix, err)}
		}
		ref := &RelocationRef{ID: x.ID, Prefix: x.Prefix, FromRegion: x.FromRegion, ToRegion: x.ToRegion}
		// A lent unit is plain space of its lender's pool (as Allocate makes it).
		p := Pool{Prefix: x.Prefix, BlockID: from.BlockID, Block: from.Block, RegionID: to.ID, Region: to.Name, Purpose: from.Purpose, Relocation: ref, ParentID: from.ID,
			UseAll: true, CreatedAt: x.CreatedAt}
		if err := tx.InsertPool(ctx, &p); err != nil {
			return 0, &LoadError{rel.At, fmt.Errorf("relocation %s: borrower's pool: %w", rel.Prefix, err)}
		}
		x.PoolID = p.ID
		used[from.ID] = append(used[from.ID], usedPrefix{x.Prefix, rel.At, "relocated unit"})
		used[p.ID] = nil
		k := poolKey{p.Space, to.Name, p.Prefix}
		if _, dup := pools[k]; dup {
			return 0, &LoadError{rel.At, fmt.Errorf("relocation %s: region %s has a pool %s already: %w", rel.Prefix, to.Name, p.Prefix, ErrOverlap)}
		}
		pools[k] = &p
		if err := l.event(ctx, "relocation.import", "relocation", x.ID, x.Prefix.String(), x); err != nil {
			return 0, err
		}
	}
	children, err := l.childPools(ctx, d.ChildPools, pools, used)
	if err != nil {
		return 0, err
	}
	if err := l.reservations(ctx, d.Reservations, pools, children, used); err != nil {
		return 0, err
	}
	n, err := l.assignments(ctx, d, more, pools, children, used)
	if err != nil {
		return 0, err
	}
	for _, p := range pools {
		if err := l.free(ctx, p, used[p.ID]); err != nil {
			return 0, err
		}
	}
	for _, p := range children {
		if err := l.free(ctx, p, used[p.ID]); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// childPools stores the child pools of the dump, each inside its parent
// pool of the file, whose used space it becomes (as AllocatePool takes it
// from its parent's free space); each counts against its tenant's use as
// AllocatePool counts it. They are returned by name.
func (l *loader) childPools(ctx context.Context, recs []ChildPoolRecord, pools map[poolKey]*Pool, used map[int64][]usedPrefix) (map[string]*Pool, error) {
	tx := l.tx
	children := make(map[string]*Pool, len(recs))
	uses := map[string]*use{}
	for _, c := range recs {
		parent, err := poolOf(pools, c.Space, c.Region, c.Parent)
		if err != nil {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s: %w", c.Name, err)}
		}
		if parent == nil {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s: parent pool %s of region %s is not in the file (child pools come with their parents): %w", c.Name, c.Parent, c.Region, ErrNotFound)}
		}
		if p, err := tx.ChildPool(ctx, c.Name); err == nil {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s: already in the register (%s in region %s): %w", c.Name, p.Prefix, p.Region, ErrExists)}
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if held := policyHeld(*parent, c.Prefix); len(held) > 0 {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s: %s: %w", c.Name, policyName(*parent, held[0])+", not handed out by the parent's address policy (use_all false)", ErrInvalid)}
		}
		if c.Tenant != "" {
			if _, err := tx.TenantByName(ctx, c.Tenant); err != nil {
				return nil, &LoadError{c.At, fmt.Errorf("child pool %s: tenant %s: not in the file nor in the register: %w", c.Name, c.Tenant, err)}
			}
			u := uses[c.Tenant]
			if u == nil {
				u = &use{}
				uses[c.Tenant] = u
			}
			cu := childUse(c.Prefix, 1)
			u.v4, u.v6 = u.v4+cu.v4, u.v6+cu.v6
		}
		x := Pool{Prefix: c.Prefix, BlockID: parent.BlockID, Block: parent.Block, RegionID: parent.RegionID, Region: parent.Region, Purpose: c.Purpose,
			ParentID: parent.ID, Name: c.Name, Tenant: c.Tenant, UseAll: parent.UseAll, Tags: nonEmpty(c.Tags), CreatedAt: or(c.CreatedAt, l.now)}
		if err := tx.InsertPool(ctx, &x); err != nil {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s (%s): %w", c.Name, c.Prefix, err)}
		}
		if err := l.tags(ctx, KindPool, x.ID, x.Tags); err != nil {
			return nil, &LoadError{c.At, fmt.Errorf("child pool %s: %w", c.Name, err)}
		}
		used[parent.ID] = append(used[parent.ID], usedPrefix{c.Prefix, c.At, "child pool " + c.Name})
		used[x.ID] = nil
		children[c.Name] = &x
		if err := l.event(ctx, "pool.child.import", "pool", x.ID, x.Prefix.String(), x); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(uses)) {
		u := uses[name]
		if _, err := tx.AddTenantUse(ctx, name, u.v4, u.v6); err != nil {
			return nil, fmt.Errorf("tenant %s: count use: %w", name, err)
		}
	}
	return children, nil
}

// tags stores the tags of a new object, checked before.
func (l *loader) tags(ctx context.Context, kind string, id int64, t Tags) error {
	if len(t) == 0 {
		return nil
	}
	return l.tx.SetTags(ctx, kind, id, t)
}

// fromFile says where the object keyed k, which a new record overlaps,
// was read: the file (at[k]) or the register.
func fromFile(at map[string]string, k string) string {
	if s, ok := at[k]; ok {
		return " (" + cmp.Or(s, "earlier in the file") + ")"
	}
	return " (in the register)"
}

// reservations stores the reservations of the dump, each in the most
// specific pool of the file holding it, and counts them as used space of
// that pool: a reservation over an assignment, a lent unit or another
// reservation is then refused with both lines, as Reserve refuses it.
func (l *loader) reservations(ctx context.Context, recs []ReservationRecord, pools map[poolKey]*Pool, children map[string]*Pool, used map[int64][]usedPrefix) error {
	for _, v := range recs {
		// A reservation naming no space is the global space's, or (files
		// before version 4) of the one space whose pools hold it.
		space := v.Space
		if space == "" {
			var in []string
			for _, p := range pools {
				if prefix.Covers(p.Prefix, v.Prefix) && !slices.Contains(in, p.Space) {
					in = append(in, p.Space)
				}
			}
			switch {
			case slices.Contains(in, GlobalSpace):
				space = GlobalSpace
			case len(in) == 1:
				space = in[0]
			case len(in) > 1:
				slices.Sort(in)
				return &LoadError{v.At, invalid("reservation %s: lies in pools of spaces %s: name the space (\"space\")", v.Prefix, strings.Join(in, ", "))}
			}
		}
		var pool *Pool
		for _, p := range pools {
			if p.Space == space && prefix.Covers(p.Prefix, v.Prefix) && (pool == nil || p.Prefix.Bits() > pool.Prefix.Bits()) {
				pool = p
			}
		}
		// A child pool is more specific than the pool it lies in, even
		// one of the same prefix.
		for _, p := range children {
			if p.Space == space && prefix.Covers(p.Prefix, v.Prefix) && (pool == nil || p.Prefix.Bits() >= pool.Prefix.Bits()) {
				pool = p
			}
		}
		if pool == nil {
			return &LoadError{v.At, fmt.Errorf("reservation %s: outside every pool of the file (reservations come with their pools): %w", v.Prefix, ErrNotFound)}
		}
		if v.Until != nil && !v.Until.After(l.now) {
			return &LoadError{v.At, invalid("reservation %s: until %s is not in the future", v.Prefix, v.Until.UTC().Format(time.RFC3339))}
		}
		x := Reservation{Prefix: v.Prefix, PoolID: pool.ID, Pool: pool.Prefix, Region: pool.Region, Reason: v.Reason, Until: utcMicros(v.Until), CreatedAt: or(v.CreatedAt, l.now)}
		if err := l.tx.InsertReservation(ctx, &x); err != nil {
			return &LoadError{v.At, fmt.Errorf("reservation %s: %w", v.Prefix, err)}
		}
		if x.Until != nil {
			l.r.reaps.ends(*x.Until)
		}
		used[pool.ID] = append(used[pool.ID], usedPrefix{v.Prefix, v.At, "reservation"})
		if err := l.event(ctx, "reservation.import", "reservation", x.ID, x.Prefix.String(), x); err != nil {
			return err
		}
	}
	return nil
}

type usedPrefix struct {
	p    netip.Prefix
	at   string
	what string
}

func utcMicros(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// SetAt records where the record was read.
func (p *Pos) SetAt(at string) { p.At = at }
