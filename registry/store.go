package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Store keeps the register. It holds no allocation policy: every rule lives
// in Registry, and a Store only stores, reads back and refuses what must
// never happen (overlapping blocks, pools or live assignments). The
// conformance suite in registry/storetest is its definition.
type Store interface {
	// Update runs fn in one write transaction. fn may run more than once
	// (a store may retry on a serialisation conflict) and may share the
	// durable commit with other callers' transactions, so it must have no
	// effect outside tx. If fn returns an error, none of its writes persist.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn against a consistent read-only snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	Close() error
}

// viewOne runs fn through SingleReader when the store has it.
func viewOne(ctx context.Context, s Store, fn func(Tx) error) error {
	if sr, ok := s.(SingleReader); ok {
		return sr.ViewOne(ctx, fn)
	}
	return s.View(ctx, fn)
}

// FreePrefix is one maximal aligned free prefix of a pool.
type FreePrefix struct {
	// RegionID is the scope the prefix is searched in: its pool's region,
	// or for a child pool minus the pool's ID (childpool.go).
	RegionID int64
	PoolID   int64
	Prefix   netip.Prefix
}

// PoolFilter selects pools; zero fields match everything.
type PoolFilter struct {
	ID       int64
	RegionID int64
	BlockID  int64
	Family   int
}

// AssignmentFilter selects assignments; zero fields match everything.
type AssignmentFilter struct {
	Region   string // by name; Registry resolves it to RegionID
	RegionID int64
	PoolID   int64
	Family   int
	Tenant   *string
	Name     string // exact DNS name, live (not released) assignments only ("" any)
	// Named keeps only assignments with a DNS name: what DNS builds its
	// zones from, a third of a cloud's assignments, so a full DNS build
	// does not materialise the rest (at 10M, 7M structs).
	Named    bool
	Resource string // exact resource ("" any)
	States   []State
	Within   netip.Prefix // assignments inside this prefix
	Contains netip.Prefix // assignments holding all of this prefix
	// AfterID is keyset pagination: the ID of the last row of the page
	// before. In a page in address order (ByAddress) it breaks the tie
	// between rows of one prefix (released ones, other spaces').
	AfterID int64
	// AfterPrefix is the cursor of a page in address order (ByAddress):
	// the prefix of the last row of the page before, the page holding the
	// rows after (AfterPrefix, AfterID) in that order. Invalid: from the
	// first row.
	AfterPrefix netip.Prefix
	Limit       int
	// Tags keeps the assignments carrying every one of these pairs.
	Tags Tags
}

// ByAddress reports whether the page of f comes in address order (by
// first address, IPv4 before IPv6, then length, then ID: a prefix before
// the prefixes inside it, PostgreSQL's order of cidr) with the cursor
// (AfterPrefix, AfterID) rather than in ID order after AfterID: a pool's or
// a region's page without a tenant, name, resource or tag, unless it is
// of past states only (quarantined, released), whose pages are read in ID
// order from the stores' indexes of past rows. The stores keep no index of
// a pool's rows by ID (issue 16): a pool's page is a range of the index by
// address, the pool's prefix, filtered by the pool.
func (f AssignmentFilter) ByAddress() bool {
	if f.PoolID == 0 && f.RegionID == 0 && f.Region == "" {
		return false
	}
	if f.Tenant != nil || f.Name != "" || f.Resource != "" || len(f.Tags) > 0 {
		return false
	}
	return len(f.States) == 0 || slices.Contains(f.States, StateAssigned)
}

// EventFilter selects events; zero fields match everything.
type EventFilter struct {
	Since time.Time
	// AfterSeq is a follower's cursor: the Seq of the last event it read
	// (0 from the start of the log). Only Tx.EventsAfter reads it; it must
	// name an event of the log.
	AfterSeq    int64
	SubjectKind string
	SubjectIDs  []int64
	Limit       int
}

// Usage counts a pool's live assignments of one length and state.
type Usage struct {
	PoolID int64
	State  State
	Bits   int
	Count  int64
	// Expired counts quarantined assignments whose cool-down has ended but
	// which were not yet returned to free space.
	Expired int64
}

// Idempotent records the answer given to a request with an idempotency key.
type Idempotent struct {
	Tenant        string
	Key           string
	RequestHash   string
	AssignmentIDs []int64
	CreatedAt     time.Time
}

// Tx is the storage interface a transaction offers to Registry.
type Tx interface {
	TenantTx
	ReservationTx
	ChildPoolTx
	LifeTx

	InsertRegion(ctx context.Context, r *Region) error
	// UpdateRegion stores r's location and borrowing policy.
	UpdateRegion(ctx context.Context, r Region) error
	RegionByName(ctx context.Context, name string) (Region, error)
	RegionByID(ctx context.Context, id int64) (Region, error)
	Regions(ctx context.Context) ([]Region, error)

	InsertBlock(ctx context.Context, b *Block) error
	Blocks(ctx context.Context) ([]Block, error)
	// BlocksOverlapping returns the blocks that share any address with p.
	BlocksOverlapping(ctx context.Context, p netip.Prefix) ([]Block, error)

	InsertPool(ctx context.Context, p *Pool) error
	PoolByID(ctx context.Context, id int64) (Pool, error)
	Pools(ctx context.Context, f PoolFilter) ([]Pool, error)
	// PoolsOverlapping returns the pools of space ("" every space) that
	// share any address with p, relocated ones and live child pools
	// included, dissolved child pools left out.
	PoolsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]Pool, error)

	AddFree(ctx context.Context, f FreePrefix) error
	// RemoveFree deletes exactly f; ok is false if it was not free.
	RemoveFree(ctx context.Context, f FreePrefix) (ok bool, err error)
	// SmallestFree finds, among the region's free prefixes of the family
	// that are at most maxBits long, the longest one, lowest address first.
	SmallestFree(ctx context.Context, regionID int64, family, maxBits int) (FreePrefix, bool, error)
	// SmallestFreeOf is SmallestFree among the free prefixes of poolIDs
	// only: a region may hold pools of several spaces, and an allocation
	// naming a space must never take another space's pool (none found
	// when poolIDs is empty).
	SmallestFreeOf(ctx context.Context, regionID int64, poolIDs []int64, family, maxBits int) (FreePrefix, bool, error)
	// FreeOfPool lists a pool's free prefixes in address order. Each lies
	// inside the pool's prefix, filed under its scope (its region, or a
	// child pool's negated ID); the SQLite store reads them by that range.
	FreeOfPool(ctx context.Context, poolID int64) ([]netip.Prefix, error)

	InsertAssignment(ctx context.Context, a *Assignment) error
	// UpdateAssignment stores a's State, ReleasedAt, QuarantineUntil, Name
	// and Resource.
	UpdateAssignment(ctx context.Context, a Assignment) error
	AssignmentByID(ctx context.Context, id int64) (Assignment, error)
	// LiveAssignment finds the assigned or quarantined assignment of
	// space whose prefix overlaps p.
	LiveAssignment(ctx context.Context, space string, p netip.Prefix) (Assignment, bool, error)
	// AssignmentsAt lists every assignment of space, past or live, that
	// overlaps p.
	AssignmentsAt(ctx context.Context, space string, p netip.Prefix) ([]Assignment, error)
	// LockAddresses takes, in a write transaction, the locks that every
	// write of free space (an allocation, exact or not, a release to
	// free space) in the pools of space ("" for every space) overlapping
	// p takes and holds until it commits: a check that reads p's
	// assignments after it sees every allocation there that commits
	// before the check's own transaction does, and an allocation that
	// comes later waits for that transaction. The check of a static
	// record at an address's reverse name needs it (issue 10); a store
	// whose writers are serialised needs no lock. A read-only view
	// takes none.
	LockAddresses(ctx context.Context, space string, p netip.Prefix) error
	Assignments(ctx context.Context, f AssignmentFilter) ([]Assignment, error)
	// QuarantineEnded lists quarantined assignments whose cool-down ended at or before now.
	QuarantineEnded(ctx context.Context, now time.Time, limit int) ([]Assignment, error)
	// Usage counts live assignments per pool, state and length.
	Usage(ctx context.Context, poolIDs []int64, now time.Time) ([]Usage, error)
	// CreatedSince counts assignments (live or not) made since the start
	// of since's UTC day, per length: whole days, as the stores count
	// them per pool and day (issue 16: an index of every assignment by
	// creation time, 20 bytes each, only served since's partial day).
	CreatedSince(ctx context.Context, poolIDs []int64, since time.Time) (map[int]int64, error)
	// Activity counts, per UTC day and family, the assignments of these
	// pools made and those released that day, for every whole UTC day
	// that [from, to) touches (from's day to the day of to's last
	// instant): the days' counters, not the rows, answer it.
	Activity(ctx context.Context, poolIDs []int64, from, to time.Time) ([]DayActivity, error)

	InsertRelocation(ctx context.Context, r *Relocation) error
	Relocations(ctx context.Context) ([]Relocation, error)

	AppendEvent(ctx context.Context, e *Event) error
	// Position is where the log stands for its followers (see Position):
	// the last event, in commit order, that no later commit can precede.
	// Zero on an empty log. A view that also reads the register reflects
	// at least every event up to it.
	Position(ctx context.Context) (Position, error)
	// EventsAfter reads the log as a follower does: in commit order, the
	// events after the one whose Seq is f.AfterSeq (0: from the start), up
	// to Position and no further, filtered by f's other fields. A cursor
	// that names no event is ErrInvalid. Following it from any cursor it
	// returned, a reader reads every event exactly once, whatever order
	// concurrent transactions commit in.
	EventsAfter(ctx context.Context, f EventFilter) ([]Event, error)
	// Events lists every committed event that f's time and subject
	// filters select, in Seq order, for histories (it reads no cursor and
	// is not capped at Position).
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	// LoadEventOf returns the event a load wrote for the batch holding
	// assignment id (ActionImportBatch, SubjectImport, whose subject ID
	// is the batch's first assignment ID): the one with the greatest
	// subject ID at most id, if there is one; the caller checks that its
	// batch reaches id (ImportBatch.LastID). A loaded assignment has no
	// event of its own, so `show` names its load from this one. Its cost
	// follows the events whose subject ID lies between the batch's first
	// ID and id, not the log's length.
	LoadEventOf(ctx context.Context, id int64) (Event, bool, error)

	Idempotent(ctx context.Context, tenant, key string) (Idempotent, bool, error)
	PutIdempotent(ctx context.Context, r Idempotent) error
}

// NameCounter is a Tx that counts names in the store itself: `zone
// split` asks how many live names each child takes, which read page by
// page cost 160 s wall at 10M assignments on PostgreSQL (bench/README.md,
// session 11).
type NameCounter interface {
	// NamesAt counts the assigned (live, not quarantined) assignments
	// of spaces whose name is zone or lies below it, compared without
	// case and a trailing dot (zone is canonical: lower case, fully
	// qualified).
	NamesAt(ctx context.Context, zone string, spaces []string) (int, error)
}

// NextCursor is the cursor of the page of f after the one ending with
// last, as SetCursor reads it: last's ID ("ID") in a page in ID order;
// its prefix and ID ("PREFIX,ID") in a page in address order (ByAddress).
func (f AssignmentFilter) NextCursor(last Assignment) string {
	id := strconv.FormatInt(last.ID, 10)
	if f.ByAddress() {
		return last.Prefix.String() + "," + id
	}
	return id
}

// SetCursor sets f's cursor (AfterID, and AfterPrefix in a page in
// address order) from c, a cursor NextCursor gave for a page of the same
// filter. A cursor of the other order is refused (ErrInvalid), not read
// as a place it was not: a region's page was in ID order before it was
// in address order (issue 16), and such a link is still around.
func (f *AssignmentFilter) SetCursor(c string) error {
	at, id, hasAt := strings.Cut(c, ",")
	if !hasAt {
		at, id = "", c
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("cursor %q: not a cursor of a page of assignments: %w", c, ErrInvalid)
	}
	switch {
	case f.ByAddress() && !hasAt:
		return fmt.Errorf("cursor %q: a page of a pool or a region is in address order, and this cursor is of a page in ID order (before the change): start again from the first page: %w", c, ErrInvalid)
	case !f.ByAddress() && hasAt:
		return fmt.Errorf("cursor %q: a cursor of a page in address order (a pool's or a region's), not of this page: %w", c, ErrInvalid)
	case hasAt:
		p, err := netip.ParsePrefix(at)
		if err != nil || p != p.Masked() {
			return fmt.Errorf("cursor %q: not a cursor of a page of assignments: %w", c, ErrInvalid)
		}
		f.AfterPrefix = p
	}
	f.AfterID = n
	return nil
}

// CursorError is the error of a page in address order (ByAddress) given
// an ID cursor alone (AfterID without AfterPrefix), a caller still paging
// it by ID: nil for any other filter. The stores answer it rather than
// the first page again, which such a caller would read for ever.
func (f AssignmentFilter) CursorError() error {
	if f.ByAddress() && f.AfterID != 0 && !f.AfterPrefix.IsValid() {
		return fmt.Errorf("a page of a pool or a region is in address order: its cursor is a prefix and an ID (AfterPrefix), not an ID alone: %w", ErrInvalid)
	}
	return nil
}
