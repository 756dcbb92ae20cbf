package registry

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
)

// Region is a named place where the operator runs machines. Its Borrow
// policy decides whether it may take IPv4 from other regions when its own
// runs out, and BorrowBits the size of the unit it takes (a /24 by default,
// the smallest prefix most networks accept in BGP).
type Region struct {
	ID         int64             `json:"id"`
	Name       string            `json:"name"`
	Location   location.Location `json:"location"`
	Borrow     BorrowPolicy      `json:"borrow_from"`
	BorrowBits int               `json:"borrow_unit"`
	Tags       Tags              `json:"tags,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

// DefaultBorrowBits is the IPv4 relocation unit unless a region says otherwise.
const DefaultBorrowBits = 24

// BorrowPolicy says from which regions a region may borrow IPv4 space.
// The zero value forbids borrowing.
type BorrowPolicy struct {
	Any  bool     // from any other region
	From []string // from these regions, in this order of preference
}

// ParseBorrowPolicy reads "none", "any" or a comma-separated list of region names.
func ParseBorrowPolicy(s string) (BorrowPolicy, error) {
	switch s {
	case "", "none":
		return BorrowPolicy{}, nil
	case "any":
		return BorrowPolicy{Any: true}, nil
	}
	var p BorrowPolicy
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if err := ValidateName(name); err != nil {
			return BorrowPolicy{}, fmt.Errorf("borrow policy %q: %w", s, err)
		}
		if slices.Contains(p.From, name) {
			return BorrowPolicy{}, fmt.Errorf("borrow policy %q: region %q listed twice", s, name)
		}
		p.From = append(p.From, name)
	}
	return p, nil
}

// String round-trips through ParseBorrowPolicy.
func (p BorrowPolicy) String() string {
	switch {
	case p.Any:
		return "any"
	case len(p.From) == 0:
		return "none"
	}
	return strings.Join(p.From, ",")
}

// MarshalText implements encoding.TextMarshaler.
func (p BorrowPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *BorrowPolicy) UnmarshalText(b []byte) error {
	v, err := ParseBorrowPolicy(string(b))
	*p = v
	return err
}

// Allows reports whether the policy lets the region borrow from lender.
func (p BorrowPolicy) Allows(lender string) bool {
	return p.Any || slices.Contains(p.From, lender)
}

// ValidateName checks a region name: lower-case letters, digits and '-',
// 1 to 63 characters, starting with a letter, so it is safe in DNS labels,
// URLs and file names alike.
func ValidateName(name string) error { return validateName("region name", name) }

// validateName is ValidateName for what (the kind of name: "region name",
// "space name", "child pool name"), which its messages begin with. A
// control character is a TextError naming what (400 over the API, as in
// every other text field), not a syntax error (422).
func validateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s", what)
	}
	if err := CheckText(what, name); err != nil {
		return err
	}
	if len(name) > 63 {
		return fmt.Errorf("%s %q: longer than 63 characters", what, name)
	}
	for i, c := range name {
		ok := c >= 'a' && c <= 'z' || (i > 0 && (c >= '0' && c <= '9' || c == '-'))
		if !ok {
			return fmt.Errorf("%s %q: only lower-case letters, digits and '-', starting with a letter", what, name)
		}
	}
	if name == "none" || name == "any" {
		return fmt.Errorf("%s %q: reserved word", what, name)
	}
	return nil
}

// Source is how a block came to the operator.
type Source string

// The provenance kinds of a block.
const (
	SourceRIR      Source = "rir"      // allocated by a regional internet registry
	SourceTransfer Source = "transfer" // bought or transferred from another holder
	SourceBYOIP    Source = "byoip"    // the customer's own space, brought to us
	SourcePrivate  Source = "private"  // RFC 1918, shared or ULA space
)

// ParseSource checks a provenance kind.
func ParseSource(s string) (Source, error) {
	switch Source(s) {
	case SourceRIR, SourceTransfer, SourceBYOIP, SourcePrivate:
		return Source(s), nil
	}
	return "", fmt.Errorf("source %q: must be one of rir, transfer, byoip, private", s)
}

// Registries are the five regional internet registries, by their short name.
var registries = map[string]string{
	"afrinic": "AFRINIC", "apnic": "APNIC", "arin": "ARIN", "lacnic": "LACNIC", "ripe": "RIPE NCC",
}

// ParseRegistry checks a registry's short name.
func ParseRegistry(s string) (string, error) {
	if _, ok := registries[s]; ok {
		return s, nil
	}
	return "", fmt.Errorf("registry %q: must be one of afrinic, apnic, arin, lacnic, ripe", s)
}

// RegistryName is the registry's display name ("RIPE NCC" for "ripe").
func RegistryName(s string) string { return registries[s] }

// Block is address space the operator holds, with its provenance.
type Block struct {
	ID                int64        `json:"id"`
	Prefix            netip.Prefix `json:"prefix"`
	Source            Source       `json:"source"`
	Registry          string       `json:"registry,omitempty"`
	RegisteredCountry string       `json:"registered_country,omitempty"`
	From              string       `json:"from,omitempty"`
	Price             *Money       `json:"price,omitempty"`
	Date              string       `json:"date,omitempty"` // YYYY-MM-DD
	Note              string       `json:"note,omitempty"`
	// Space is the routing domain: GlobalSpace for public space, a named
	// space (PrivateSpace unless given) for private blocks.
	Space     string    `json:"space"`
	Tags      Tags      `json:"tags,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Pool is part of a block dedicated to one region, from which assignments
// come. A pool with a Relocation is space another region lent to this one.
type Pool struct {
	ID         int64          `json:"id"`
	Prefix     netip.Prefix   `json:"prefix"`
	BlockID    int64          `json:"block_id"`
	Block      netip.Prefix   `json:"block"`
	RegionID   int64          `json:"region_id"`
	Region     string         `json:"region"`
	Purpose    string         `json:"purpose,omitempty"`
	Relocation *RelocationRef `json:"relocation,omitempty"`
	ParentID   int64          `json:"parent_id,omitempty"`
	// Space is its block's space (read, not chosen): pools overlap only
	// across spaces.
	Space string `json:"space,omitempty"`
	// UseAll: the pool hands out every address (see PoolSpec.UseAll).
	UseAll bool `json:"use_all,omitempty"`
	Tags   Tags `json:"tags,omitempty"`
	// Name is set on a child pool only: a part of its parent (ParentID)
	// carved out for Tenant's own children (`alloc --as-pool NAME`).
	Name   string `json:"name,omitempty"`
	Tenant string `json:"tenant,omitempty"`
	// DissolvedAt is when a child pool was released back into its parent.
	DissolvedAt *time.Time `json:"dissolved_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// IsChild reports whether p is a child pool (an assignment made a pool),
// not a top-level pool or a lent unit.
func (p Pool) IsChild() bool { return p.Name != "" }

// State is where an assignment is in its life.
type State string

// Assignment states. A released assignment stays quarantined until its
// cool-down ends, so a new tenant does not inherit DNS names or reputation
// at once; then it is "released" and its space is free again.
const (
	StateAssigned    State = "assigned"
	StateQuarantined State = "quarantined"
	StateReleased    State = "released"
)

// Assignment is a prefix given to a tenant's resource.
type Assignment struct {
	ID       int64        `json:"id"`
	Prefix   netip.Prefix `json:"prefix"`
	PoolID   int64        `json:"pool_id"`
	Pool     netip.Prefix `json:"pool"`
	RegionID int64        `json:"-"`
	Region   string       `json:"region"`
	// Space is its pool's space (read, not chosen): live assignments
	// overlap only across spaces.
	Space           string         `json:"space,omitempty"`
	Tenant          string         `json:"tenant"`
	Resource        string         `json:"resource"`
	Name            string         `json:"name"`
	State           State          `json:"state"`
	Borrowed        bool           `json:"borrowed"`
	Relocation      *RelocationRef `json:"relocation,omitempty"`
	Tags            Tags           `json:"tags,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	ReleasedAt      *time.Time     `json:"released_at,omitempty"`
	QuarantineUntil *time.Time     `json:"quarantine_until,omitempty"`
}

// RelocationRef is what an assignment or pool says of the relocation that
// brought its space to its region.
type RelocationRef struct {
	ID         int64        `json:"id"`
	Prefix     netip.Prefix `json:"prefix"`
	FromRegion string       `json:"from_region"`
	ToRegion   string       `json:"to_region"`
}

// Relocation is a sub-prefix moved from one region's pool to a region that
// ran dry. It changes the geofeed, and the audit watches it until the
// world's databases agree.
type Relocation struct {
	ID         int64        `json:"id"`
	Prefix     netip.Prefix `json:"prefix"`
	FromPoolID int64        `json:"from_pool_id"`
	FromRegion string       `json:"from_region"`
	ToRegion   string       `json:"to_region"`
	PoolID     int64        `json:"pool_id"` // the borrower's pool made of it
	Reason     string       `json:"reason"`
	CreatedAt  time.Time    `json:"created_at"`
}

// Event is one entry of the append-only change log.
type Event struct {
	Seq         int64           `json:"seq"`
	At          time.Time       `json:"at"`
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	SubjectKind string          `json:"subject_kind"`
	SubjectID   int64           `json:"subject_id"`
	Subject     string          `json:"subject"`
	Before      json.RawMessage `json:"before,omitempty"`
	After       json.RawMessage `json:"after,omitempty"`
}
