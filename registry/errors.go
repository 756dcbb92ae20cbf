package registry

import "errors"

// Sentinel errors. The CLI and the API map them to exit codes and HTTP
// statuses in one place each, with errors.Is.
var (
	ErrInvalid     = errors.New("invalid input")
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrOverlap     = errors.New("overlaps existing space")
	ErrNoSpace     = errors.New("no free space")
	ErrPolicy      = errors.New("borrowing forbidden by policy")
	ErrIdempotency = errors.New("idempotency key reused with a different request")
	ErrState       = errors.New("wrong state")
	// ErrStorage means the database itself cannot be used: unreadable,
	// read-only, corrupt, locked, full.
	ErrStorage = errors.New("storage unavailable")
	// ErrConflict means a transaction lost a race with a concurrent writer
	// (a free prefix it found was gone when it came to take it). It did
	// nothing; a store that runs writers concurrently runs it again, and
	// one that serialises its writers never sees it.
	ErrConflict = errors.New("conflicting concurrent change")
)

// PolicyError says why a region could not get IPv4 space: its own pools are
// full and its policy forbids borrowing, or every lender it may use is full.
type PolicyError struct {
	Region string
	Family int
	Policy BorrowPolicy
	Bits   int
	// Space is the space the request was limited to (Request.Space), if any.
	Space  string
	Detail string
	// LendersFull is set when the policy allowed borrowing but every
	// lender it names was full: a lack of space, not a refusal.
	LendersFull bool
}

func (e *PolicyError) Error() string {
	in := " in its own pools"
	if e.Space != "" {
		in = " in its own pools of space " + e.Space
	}
	return "region " + e.Region + ": no free IPv" + itoa(e.Family) + " /" + itoa(e.Bits) +
		in + ", and its borrowing policy is \"" + e.Policy.String() + "\"" + e.Detail
}

// Is makes errors.Is(err, ErrNoSpace) true, and errors.Is(err, ErrPolicy)
// true when the policy itself forbade borrowing.
func (e *PolicyError) Is(target error) bool {
	return target == ErrNoSpace || (target == ErrPolicy && !e.LendersFull)
}

func itoa(i int) string {
	if i < 0 {
		return "-" + itoa(-i)
	}
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// NoRoomError is a lack of space as a caller bound to a tenant is told of
// it (ForTenant): its request does not fit, and nothing more. How many
// prefixes did fit, which request of a batch failed, which pools the
// region has and which lenders were full are the operator's to know: a
// tenant that learnt them could map the region's free space a request at
// a time, without taking anything (requests are all or nothing).
type NoRoomError struct {
	// Policy is set when the region's policy forbids borrowing (a
	// PolicyError that is ErrPolicy): the region's policy is no secret
	// (GET /v1/regions), and it keeps its own exit code and problem type.
	Policy bool
}

func (e *NoRoomError) Error() string {
	return "no room for this request: it does not fit in the space it may take, and nothing was allocated (ask the operator, whose log says what was missing)"
}

// Is makes errors.Is(err, ErrNoSpace) true, and errors.Is(err, ErrPolicy)
// as the PolicyError it stands for.
func (e *NoRoomError) Is(target error) bool {
	return target == ErrNoSpace || (target == ErrPolicy && e.Policy)
}

// ForTenant returns err as a caller bound to a tenant may read it, and
// reports whether it changed anything. A lack of space (ErrNoSpace, a
// PolicyError) becomes a NoRoomError; a specific prefix held by anything
// but an assignment (a reservation, a lent unit, a child pool, the pool's
// own addresses, space not free) is only "not free" (HeldError); every
// other error is the tenant's own business (its quota, its names, its
// input) and is returned as it is. The API and the web UI apply it to a
// tenant's token and session; the operator (an admin, a token bound to no
// tenant, the CLI on a local register) reads err whole.
func ForTenant(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	if errors.Is(err, ErrNoSpace) {
		return &NoRoomError{Policy: errors.Is(err, ErrPolicy)}, true
	}
	var he *HeldError
	if errors.As(err, &he) && !he.assignment {
		return &HeldError{Prefix: he.Prefix, Holder: "not free", assignment: false}, true
	}
	return err, false
}
