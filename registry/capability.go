package registry

import (
	"context"
	"fmt"
	"net/netip"
)

// The optional capabilities of a Store or of its Tx. Each is something a
// store can do faster than the registry's plain path through Store and Tx
// (fewer statements or round trips) with the same result; the registry
// uses one when the store has it. A store declares each capability it has
// with a compile-time assertion (var _ registry.FreeTaker = (*tx)(nil)),
// so that a method whose signature drifts breaks the build instead of
// quietly dropping the store onto the other path, and registry/storetest
// checks each one it finds against the plain path. A capability that
// changes what later calls mean (WriteDeferrer, IdempotencyAssumer) is
// switched on only by an explicit call of the registry, never as a side
// effect of another method.

// SingleReader is a Store that runs a read of one statement without a
// transaction: a single statement sees one snapshot. A store whose BEGIN
// and COMMIT are network round trips (PostgreSQL) runs fn without them;
// fn must make exactly one read, and the answer is View's.
type SingleReader interface {
	ViewOne(ctx context.Context, fn func(Tx) error) error
}

// AssignmentPager is a Store that answers Registry.Assignments in one
// statement without a transaction: the page, its assignments' tags and
// f.Region looked up by name, where the plain path takes BEGIN, the
// region, the page, the tags and COMMIT (five statements, four round
// trips on PostgreSQL: most of a list page's CPU at ten million
// assignments, issue 16). f.Tags are valid (Registry checked them).
type AssignmentPager interface {
	// AssignmentPage returns what Registry.Assignments returns through
	// View: the assignments of f, f.Region (a name, when f.RegionID is 0)
	// resolved or ErrNotFound naming it, each with its Tags.
	AssignmentPage(ctx context.Context, f AssignmentFilter) ([]Assignment, error)
}

// FreeTaker is a Tx that finds and removes the free prefix SmallestFree
// would return in one step.
type FreeTaker interface {
	// TakeSmallestFree removes and returns what SmallestFree would return.
	TakeSmallestFree(ctx context.Context, regionID int64, family, maxBits int) (FreePrefix, bool, error)
}

// FreeAdder is a Tx that returns several prefixes to free space in one
// statement. What is left of a free prefix after an allocation is a run of
// aligned prefixes (one to a hundred and more), each an AddFree, and
// statements are what a durable allocation's CPU goes to (issue 16).
type FreeAdder interface {
	// AddFrees adds each of fs, with the same result as AddFree on each
	// in turn; on an error none of them is added.
	AddFrees(ctx context.Context, fs []FreePrefix) error
}

// FreeTailer is a Tx that keeps a pool's free space from an address to
// its end as a range rather than as free prefixes one by one (SQLite's
// pool frontier, store/sqlite/frontier.go), so that allocations there
// write no free-space row. AddFreeTail has the result of AddFree on each
// of prefix.Range(lo, the pool's last address), which the caller has
// checked its pool's address policy keeps whole; it may write them as
// those prefixes.
type FreeTailer interface {
	AddFreeTail(ctx context.Context, pool Pool, scope int64, lo netip.Addr) error
}

// BatchWriter is a Tx that writes many assignments and their events in a
// few statements instead of two each.
type BatchWriter interface {
	// InsertAssignments inserts each of as and sets its ID, with the same
	// result as InsertAssignment on each in turn.
	InsertAssignments(ctx context.Context, as []Assignment) error
	// AppendEvents appends each of es in order, as AppendEvent would.
	AppendEvents(ctx context.Context, es []Event) error
}

// SpanLister is a Tx that lists every pool's span in one lean query, so
// that publishing the feed of a large register stays fast. Child pools are
// left out: they lie in their parent, in its region, which places them.
type SpanLister interface {
	PoolSpans(ctx context.Context) ([]PoolSpan, error)
}

// IdempotencyAssumer is a Tx told to take (tenant, key) as unrecorded
// without reading it: a key is new far more often than it is replayed
// (AllocateAll). After AssumeAbsent, PutIdempotent of that key meeting a
// record fails with ErrConflict (not ErrExists), so that Update runs fn
// again and it finds the record.
type IdempotencyAssumer interface {
	AssumeAbsent(tenant, key string)
}

// WriteDeferrer is a Tx that can hold back writes whose results the
// caller does not read and send them with its next statement, saving a
// round trip each. After DeferWrites, until the transaction ends:
// AddFree, InsertAssignment, AppendEvent and PutIdempotent may be sent
// later, in order, ahead of the next statement; a failure of one is
// reported by a later call or by Update itself (the transaction fails
// either way); InsertAssignment still sets the assignment's ID, while
// AppendEvent may leave the event's Seq zero. The registry calls it only
// where it reads nothing back but IDs: while allocating.
type WriteDeferrer interface {
	DeferWrites()
}

// EventLoader is a Tx that appends many events whose fields differ from
// row to row (an import's) in few statements, where BatchWriter shares
// one statement only among events alike but for their subject.
type EventLoader interface {
	// LoadEvents appends each of es in order and sets its Seq, as
	// AppendEvent on each in turn would.
	LoadEvents(ctx context.Context, es []Event) error
}

// BulkLoader is a Tx that inserts many assignments whose fields differ
// from row to row (an import: each its own tenant, name and times) in few
// statements, where BatchWriter shares one statement only among rows
// alike but for their prefix.
type BulkLoader interface {
	// LoadAssignments inserts each of as and sets its ID, with the same
	// result as InsertAssignment on each in turn.
	LoadAssignments(ctx context.Context, as []Assignment) error
}

// IndexDeferrer is a Tx that builds the secondary indexes of an empty
// assignments table once, after an import has filled it, instead of
// inserting every row into each (a dozen B-trees a row, in no order). In
// between, the store's own rules that need the indexes (no two live
// assignments overlap) are checked by RestoreIndexes.
type IndexDeferrer interface {
	// DeferIndexes drops the indexes and triggers of the assignments
	// table when it holds no row, and reports whether it did.
	DeferIndexes(ctx context.Context) (bool, error)
	// RestoreIndexes checks that no two live assignments overlap (an
	// error wrapping ErrOverlap names both) and that each lies in a pool
	// of its space that holds it (an error wrapping ErrState names the
	// first that does not), then builds again what DeferIndexes dropped.
	RestoreIndexes(ctx context.Context) error
}

// AssignmentOverlap is what RestoreIndexes finds: live assignment ID
// (Prefix) overlaps live assignment OtherID (Other), which comes before
// it in address order. errors.Is(err, ErrOverlap) holds.
type AssignmentOverlap struct {
	ID, OtherID   int64
	Prefix, Other netip.Prefix
}

func (e *AssignmentOverlap) Error() string {
	return fmt.Sprintf("assignment %s: overlaps assignment %s", e.Prefix, e.Other)
}

// Unwrap makes the overlap an ErrOverlap.
func (e *AssignmentOverlap) Unwrap() error { return ErrOverlap }

// NameLocker is a Tx that can hold every DNS name at once, for a
// transaction that writes many (an import): NameHolder in a write
// transaction holds its name until the transaction ends, and a store
// whose locks are a bounded shared table (PostgreSQL's advisory locks)
// cannot hold a million of them. After LockAllNames, until the
// transaction ends, every other transaction that writes or checks a name
// waits (or conflicts), and NameHolder takes no lock of its own. It is
// switched on only by an explicit call, the transaction's first lock: the
// registry calls it when a load writes named assignments.
type NameLocker interface {
	LockAllNames(ctx context.Context) error
}

// AssignmentDumper is a Tx that reads assignments for a dump in one lean
// statement: the assignments table alone, in ID order, without the
// joins of Assignments (a dump knows every pool, so the pool's prefix
// and region come from it) and scanned without conversions. An export
// of ten million assignments is this read and the writing of the file.
type AssignmentDumper interface {
	// DumpAssignments appends to into at most limit assignments of ID
	// above after, in ID order, and returns it. Only the fields a dump
	// uses are set: ID, Prefix, PoolID, State, Tenant, Resource, Name,
	// CreatedAt, ReleasedAt, QuarantineUntil and Space.
	DumpAssignments(ctx context.Context, after int64, limit int, into []Assignment) ([]Assignment, error)
}
