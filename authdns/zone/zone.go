// Package zone holds a zone's data and the answers made from it: zones,
// records and keys as stored (the Store port), key timing (RFC 7583),
// building a zone's signed data from the register's named assignments and
// the store, incremental builds and the IXFR journal's steps, DNSSEC
// signing (precomputed and online), and answering a query from built data:
// positive and negative answers, NSEC3 white lies, referrals and the
// synthesis of reverse names for unnamed addresses.
//
// Its API to the server is small: a Builder makes a Snapshot of every
// zone from the register and the store (Builder.Rebuild: incremental
// builds, signing, serials and journal steps), and a Snapshot is read
// only: Find the zone for a name, then Lookup an answer, Transfer (AXFR)
// or IncrementalTransfer (IXFR) from it. Published snapshots are
// immutable, records included: code that needs a record changed, or calls
// something that writes into one (miekg/dns's PackRR sets Rdlength),
// works on a dns.Copy. The package holds no rule of what an operator may
// configure (authdns/manage) and no listener (authdns/server).
package zone

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Kind says what a zone holds.
type Kind string

// The kinds of zone.
const (
	Forward Kind = "forward" // names to addresses
	Reverse Kind = "reverse" // addresses to names (in-addr.arpa, ip6.arpa)
)

// ParseKind checks a zone kind.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Forward, Reverse:
		return k, nil
	}
	return "", fmt.Errorf("zone kind %q: want forward or reverse: %w", s, registry.ErrInvalid)
}

// Denial is how a signed zone proves that a name or type does not exist.
type Denial string

// The denial-of-existence methods.
const (
	// NSEC3 is a precomputed chain with zero extra iterations and no
	// salt (RFC 9276 §3.1); nothing is signed per query, except in zones
	// with synthesised names, which answer with minimally covering NSEC3
	// records signed per query ("white lies", see zoneData.whiteLie).
	NSEC3 Denial = "nsec3"
	// Compact is RFC 9824 compact denial: one NSEC signed per negative
	// answer, NXDOMAIN shown as NODATA.
	Compact Denial = "compact"
)

// ParseDenial checks a denial method.
func ParseDenial(s string) (Denial, error) {
	switch d := Denial(s); d {
	case NSEC3, Compact:
		return d, nil
	}
	return "", fmt.Errorf("denial %q: want nsec3 or compact: %w", s, registry.ErrInvalid)
}

// Algorithm is a DNSSEC signing algorithm cadastre generates keys for.
type Algorithm uint8

// The algorithms (RFC 8624 recommends both for signing).
const (
	ECDSAP256 Algorithm = Algorithm(dns.ECDSAP256SHA256) // 13, the default
	Ed25519   Algorithm = Algorithm(dns.ED25519)         // 15
)

// ParseAlgorithm reads "ecdsap256" or "ed25519".
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "ecdsap256", "ecdsap256sha256", "13":
		return ECDSAP256, nil
	case "ed25519", "15":
		return Ed25519, nil
	}
	return 0, fmt.Errorf("algorithm %q: want ecdsap256 or ed25519: %w", s, registry.ErrInvalid)
}

// String round-trips through ParseAlgorithm.
func (a Algorithm) String() string {
	switch a {
	case ECDSAP256:
		return "ecdsap256"
	case Ed25519:
		return "ed25519"
	}
	return fmt.Sprintf("algorithm-%d", uint8(a))
}

// Config is a zone's SOA, NS, transfer and signing settings.
type Config struct {
	TTL     uint32   `json:"ttl"`     // of every RRset, and the SOA
	NS      []string `json:"ns"`      // name servers, fully qualified
	Mbox    string   `json:"mbox"`    // SOA RNAME
	Refresh uint32   `json:"refresh"` // SOA timers (RFC 1035 §3.3.13)
	Retry   uint32   `json:"retry"`
	Expire  uint32   `json:"expire"`
	Minimum uint32   `json:"minimum"` // negative caching TTL (RFC 2308 §4)

	Signed    bool      `json:"signed"`
	Algorithm Algorithm `json:"algorithm,omitempty"`
	Denial    Denial    `json:"denial,omitempty"`
	SplitKeys bool      `json:"split_keys,omitempty"` // KSK and ZSK instead of one CSK

	// AllowTransfer lists who may AXFR/IXFR: prefixes ("192.0.2.1/32")
	// and TSIG key names ("key:NAME"). Empty: nobody.
	AllowTransfer []string `json:"allow_transfer,omitempty"`
	// Notify lists secondaries (host:port) told of each new serial.
	Notify []string `json:"notify,omitempty"`
	// Catalog makes the zone cadastre's catalog zone (RFC 9432, see
	// catalog.go): its records list the other zones, built from them, and
	// it holds no static record, assignment name or key of its own.
	Catalog bool `json:"catalog,omitempty"`

	// Key rollover policy (RFC 7583). ZSKLifetime > 0 rolls a split
	// zone's ZSK automatically by pre-publication; KSKLifetime > 0 starts
	// a KSK (or CSK) rollover, which finishes only after the parent's DS
	// is confirmed (Manager.ConfirmDS, `cadastre zone ds NAME --confirm`).
	ZSKLifetime time.Duration `json:"zsk_lifetime,omitempty"`
	KSKLifetime time.Duration `json:"ksk_lifetime,omitempty"`
	// Propagation is the time a change takes to reach every secondary
	// (RFC 7583 Dprp); 0 means the SOA retry, as a secondary that missed
	// a NOTIFY asks again after it.
	Propagation time.Duration `json:"propagation,omitempty"`
	// ParentDSTTL is the TTL of the DS records in the parent zone; 0
	// means one day, the common value for TLDs.
	ParentDSTTL time.Duration `json:"parent_ds_ttl,omitempty"`

	// Space is the space (VRF) whose assignments give the zone its
	// names and PTRs (`zone add --space`). Empty is the default: the
	// global space and the built-in private space. A named space is
	// served only by zones that name it: two VPCs may both hold
	// 10.0.0.1, and the reverse zone of one VPC's 10.in-addr.arpa holds
	// that VPC's PTRs alone (split horizon, one answer per resolver, is
	// not built: a zone serves one space).
	Space string `json:"space,omitempty"`

	// Parent is set on a zone made by a split (`cadastre zone split`):
	// the cadastre zone that delegates to this one, whose NS and DS
	// records at this zone's apex cadastre keeps (the DS follow this
	// zone's keys as they roll). Empty for a zone added on its own.
	Parent string `json:"parent,omitempty"`
	// Staged marks a split child that is served (built, signed, listed
	// in the catalog, its secondaries told) but not delegated yet: its
	// parent still holds its names and has no NS or DS at its apex, and
	// queries are answered from the parent. A split publishes the
	// delegation, and clears the flag, only once the secondaries serve
	// the child, so that none of them refers a name to a zone it does
	// not have yet; a join stages the child again before removing it.
	// A zone left staged (a split or join stopped half-way) is listed
	// as such, and running the split or the join again finishes it.
	Staged bool `json:"staged,omitempty"`
}

// Serves reports whether the zone takes names from an assignment or
// pool of space (see Config.Space).
func (c Config) Serves(space string) bool {
	if c.Space == "" {
		return space == "" || space == registry.GlobalSpace || space == registry.PrivateSpace
	}
	return space == c.Space
}

// Zone is a DNS zone cadastre is authoritative for.
type Zone struct {
	ID   int64  `json:"id"`
	Name string `json:"name"` // fully qualified, lower case
	Kind Kind   `json:"kind"`
	// Prefix is the address space of a reverse zone.
	Prefix netip.Prefix `json:"prefix,omitzero"`
	// Set is the prefix an operator added when it does not end on an
	// octet (IPv4 /9-/15, /17-/23) or a nibble (IPv6): registries
	// delegate such space as several aligned zones (RFC 2317 §1), so it is
	// served as the zones that cover it, each with its own Prefix, and Set
	// names them together for listing, signing and removal. Zero for a
	// zone added on its own.
	Set netip.Prefix `json:"set,omitzero"`
	// Synthesize is a template such as "ip-{addr}.dyn.example.net." for
	// the names of unnamed addresses in pools of a reverse zone.
	Synthesize string    `json:"synthesize,omitempty"`
	Config     Config    `json:"config"`
	Serial     uint32    `json:"serial"`
	SerialHash string    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// Record is a static record an operator added to a zone.
type Record struct {
	ID        int64     `json:"id"`
	ZoneID    int64     `json:"zone_id"`
	Name      string    `json:"name"` // fully qualified, lower case
	Type      string    `json:"type"`
	TTL       uint32    `json:"ttl"`
	Data      string    `json:"data"` // presentation format
	CreatedAt time.Time `json:"created_at"`
	// NotServed, when not "", says why the zone does not answer with the
	// record (a static PTR at a tenant's named address, whose
	// assignment's name answers there: issue 10). Set by listings
	// (manage.Manager.Records), never stored.
	NotServed string `json:"not_served,omitempty"`
}

// RR parses the record into a miekg/dns resource record.
func (r Record) RR() (dns.RR, error) {
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Data))
	if err != nil {
		return nil, fmt.Errorf("record %s %s %q: %v: %w", r.Name, r.Type, r.Data, err, registry.ErrInvalid)
	}
	if rr == nil {
		return nil, fmt.Errorf("record %s %s: empty data: %w", r.Name, r.Type, registry.ErrInvalid)
	}
	return rr, nil
}

// Role is what a key signs.
type Role string

// Key roles.
const (
	CSK Role = "csk" // signs everything
	KSK Role = "ksk" // signs the DNSKEY RRset
	ZSK Role = "zsk" // signs the rest
)

// KeyState is where a key is in its life (RFC 7583 simplified; the
// timestamps of a Key tell the rest).
type KeyState string

// Key states.
const (
	KeyActive    KeyState = "active"    // published and signing
	KeyPublished KeyState = "published" // in the DNSKEY RRset, not signing: before (ActiveAt zero) or after (InactiveAt set) its turn
	KeyRetired   KeyState = "retired"   // neither; its tag stays taken
)

// Key is a DNSSEC key of a zone. Its private half is kept sealed
// (AES-256-GCM under a key from configuration, never in the database).
type Key struct {
	ID        int64     `json:"id"`
	ZoneID    int64     `json:"zone_id"`
	Role      Role      `json:"role"`
	Algorithm Algorithm `json:"algorithm"`
	Tag       uint16    `json:"tag"`
	Public    string    `json:"public"` // DNSKEY public key field, base64
	Sealed    []byte    `json:"-"`
	State     KeyState  `json:"state"`
	CreatedAt time.Time `json:"created_at"`

	// RFC 7583 §3.1 events, zero until they happen.
	PublishedAt time.Time `json:"published_at,omitzero"` // entered the DNSKEY RRset
	ActiveAt    time.Time `json:"active_at,omitzero"`    // began to sign
	InactiveAt  time.Time `json:"inactive_at,omitzero"`  // stopped signing
	RemovedAt   time.Time `json:"removed_at,omitzero"`   // left the DNSKEY RRset (retired)
	// DSAt is when the operator confirmed that the parent publishes this
	// key's DS (SEP keys only).
	DSAt time.Time `json:"ds_at,omitzero"`
}

// RecordCheck decides, inside a record write's transaction tx and
// before the write, whether the record r may be written; an error refuses
// it and the transaction writes nothing.
type RecordCheck func(ctx context.Context, tx registry.Tx, r Record) error

// ZoneCheck decides, inside a zone add's (or update's) transaction tx
// and before the zone is written, whether z may be written; an error refuses it and the
// transaction writes nothing.
type ZoneCheck func(ctx context.Context, tx registry.Tx, z Zone) error

// Store keeps zones, records and keys. Every method that changes something
// appends e to the event log in the same transaction (e.SubjectID is set
// to the new row's ID on inserts).
type Store interface {
	InsertZone(ctx context.Context, z *Zone, e registry.Event) error
	// InsertZones inserts zs in one transaction, es[i] the event of
	// zs[i]: all or none (the zones of one reverse prefix). A check that
	// is not nil runs first on each zone, in the same transaction.
	InsertZones(ctx context.Context, zs []*Zone, es []registry.Event, check ZoneCheck) error
	// DeleteZones removes the zones with ids, with their records and
	// keys, in one transaction, es[i] the event of ids[i]; if one is
	// missing it returns an error wrapping registry.ErrNotFound and
	// removes nothing.
	DeleteZones(ctx context.Context, ids []int64, es []registry.Event) error
	// UpdateZone stores z's Synthesize and Config. A check that is not
	// nil runs first on z, in the same write transaction: a refusal
	// writes nothing, and what it read (the holders of the zone's new
	// name servers, under their names' locks) holds until z is written.
	UpdateZone(ctx context.Context, z Zone, e registry.Event, check ZoneCheck) error
	Zones(ctx context.Context) ([]Zone, error)
	// SetZoneSerial moves a zone's serial from old to serial, recording
	// the hash of the content it names and, when d is not nil, the
	// journal step d in the same transaction; ok is false, and nothing is
	// written, if the stored serial was no longer old (another replica
	// moved it). It writes no event: the serial is derived from the log,
	// not a change of its own.
	SetZoneSerial(ctx context.Context, zoneID int64, old, serial uint32, hash string, d *Diff) (ok bool, err error)
	// Journal lists a zone's journal steps from the newest one that
	// starts at serial from, oldest first; none if no step starts there.
	Journal(ctx context.Context, zoneID int64, from uint32) ([]Diff, error)
	// JournalSteps lists the steps Journal would, without their records.
	JournalSteps(ctx context.Context, zoneID int64, from uint32) ([]Step, error)
	// JournalParts reads parts [from, to) of the records of step id,
	// each its own slice; an error wrapping registry.ErrNotFound if one
	// of them is gone (the step was pruned since JournalSteps listed it).
	JournalParts(ctx context.Context, id int64, from, to int) ([][]byte, error)
	// PruneJournal deletes a zone's journal steps but the newest keep,
	// and those made before before.
	PruneJournal(ctx context.Context, zoneID int64, keep int, before time.Time) error
	// AcquireLease gives the lease name to holder until until, if nobody
	// holds it, its holder's time ran out by now, or holder has it
	// already (a renewal); ok says whether holder has it now. It writes
	// no event: a lease says who works, not what changed.
	AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (ok bool, err error)

	// InsertRecord stores r with its event e. A check that is not nil
	// runs first, in the same write transaction: a refusal writes
	// nothing, and what it read (a DNS name's holder, under the name's
	// lock) holds until the record is written (issue 10: a record and an
	// allocation of one name never both find it free).
	InsertRecord(ctx context.Context, r *Record, e registry.Event, check RecordCheck) error
	// InsertRecords stores rs, with es[i] the event of rs[i], all in
	// one transaction or none (zone import). A check that is not nil
	// runs first, in the same write transaction, on each record of rs
	// (once per name and type), as ChangeRecords's: a refusal writes nothing.
	InsertRecords(ctx context.Context, rs []*Record, es []registry.Event, check RecordCheck) error
	DeleteRecord(ctx context.Context, id int64, e registry.Event) error
	// ChangeRecords deletes the records with ids del and inserts add
	// (setting their IDs), es holding the events of the deletions and
	// then of the insertions, in one transaction or none: a record of del
	// that is gone (another writer removed it) is an error wrapping
	// registry.ErrNotFound. An RFC 2136 UPDATE is one such change. A
	// check that is not nil runs first, in the same write transaction,
	// on each record of add (once per name and type): a refusal writes nothing
	// (as InsertRecord's check).
	ChangeRecords(ctx context.Context, del []int64, add []*Record, es []registry.Event, check RecordCheck) error
	// Records lists a zone's records, or every zone's with zoneID 0.
	Records(ctx context.Context, zoneID int64) ([]Record, error)

	// InsertTSIGKey stores a TSIG key; a key of that name already there
	// is an error wrapping registry.ErrExists.
	InsertTSIGKey(ctx context.Context, k TSIGKey, e registry.Event) error
	// UpdateTSIGKey stores k's algorithm, sealed secret and grants over
	// the key of its name; a missing one is an error wrapping
	// registry.ErrNotFound.
	UpdateTSIGKey(ctx context.Context, k TSIGKey, e registry.Event) error
	// DeleteTSIGKey removes a TSIG key by canonical name; a missing one
	// is an error wrapping registry.ErrNotFound.
	DeleteTSIGKey(ctx context.Context, name string, e registry.Event) error
	// TSIGKeys lists the TSIG keys by name.
	TSIGKeys(ctx context.Context) ([]TSIGKey, error)

	InsertKey(ctx context.Context, k *Key, e registry.Event) error
	// UpdateKey stores k's state and timestamps if its stored state is
	// still prev; otherwise (another replica moved it) it returns an
	// error wrapping registry.ErrState and writes nothing.
	UpdateKey(ctx context.Context, k Key, prev KeyState, e registry.Event) error
	// Keys lists a zone's keys, or every zone's with zoneID 0.
	Keys(ctx context.Context, zoneID int64) ([]Key, error)

	// MoveCut writes c in one transaction, or nothing: a server that
	// follows the log builds either every zone as before or every zone
	// as after, never one part (a name answered by no zone, or by two).
	// A check that is not nil runs first on each added or updated zone,
	// in the same transaction.
	MoveCut(ctx context.Context, c *Cut, check ZoneCheck) error
}

// Cut is a change of where zone cuts lie (a zone split into children,
// or children joined back into their parent): static records deleted,
// zones removed with their records and keys, zones added with their
// keys and records, and records added to zones that stay. Each part
// carries its events; the IDs of what is added are set once written.
type Cut struct {
	DeleteRecords []int64
	DeleteEvents  []registry.Event
	RemoveZones   []int64
	RemoveEvents  []registry.Event
	Add           []CutZone
	// AddRecords go to zones that exist (Record.ZoneID).
	AddRecords []*Record
	AddEvents  []registry.Event
	// Update stores these zones' Config (a staged child delegated, or
	// staged again for a join), Update[i] with UpdateEvents[i].
	Update       []Zone
	UpdateEvents []registry.Event
}

// CutZone is a zone a Cut adds, with its keys and static records
// (their ZoneID is set to the new zone's).
type CutZone struct {
	Zone         *Zone
	Event        registry.Event
	Keys         []*Key
	KeyEvents    []registry.Event
	Records      []*Record
	RecordEvents []registry.Event
}

// Diff is one step of a zone's IXFR journal (RFC 1995): what left and
// what came when the serial moved from From to To, signatures included.
// Removed starts with the old SOA and Added with the new one; each holds
// records in uncompressed wire form, one after another.
type Diff struct {
	ZoneID         int64
	From, To       uint32
	Removed, Added []byte
	At             time.Time
}

// Step is a journal step without its records, which a store keeps cut
// into parts (each a run of the bytes of Diff.Removed, then of
// Diff.Added, a record possibly straddling two) so that a transfer reads
// them a window at a time: RemovedParts parts of the removed records,
// numbered from 0, then AddedParts of the added ones.
type Step struct {
	ID                       int64
	From, To                 uint32
	RemovedParts, AddedParts int
}

// Event subject kinds written by this package.
const (
	SubjectZone   = "dns_zone"
	SubjectRecord = "dns_record"
	SubjectKey    = "dns_key"
)

// CanonicalName lower-cases name and makes it fully qualified, checking
// that it is a domain name.
func CanonicalName(name string) (string, error) {
	// A raw control character, bidi override or non-UTF-8 byte in a name
	// someone typed (or a zone file holds) is refused, as in every text
	// field (registry.CheckText): stored, it would be printed raw by
	// whoever lists it. The same byte written as an escape (\027) is a
	// valid label, kept escaped.
	if err := registry.CheckText("name", name); err != nil {
		return "", err
	}
	n := dns.CanonicalName(strings.TrimSpace(name))
	if n == "." || n == "" {
		return "", fmt.Errorf("name %q: the root is not a zone cadastre serves: %w", name, registry.ErrInvalid)
	}
	if _, ok := dns.IsDomainName(n); !ok {
		return "", fmt.Errorf("name %q: not a domain name: %w", name, registry.ErrInvalid)
	}
	return n, nil
}

// ReverseZoneName is the name of the reverse zone for p: octets of
// in-addr.arpa or nibbles of ip6.arpa, and for IPv4 prefixes longer than
// /24 the RFC 2317 §4 form "FIRST/BITS.c.b.a.in-addr.arpa.". A prefix
// that needs several zones (see ReverseZones) is an error.
func ReverseZoneName(p netip.Prefix) (string, error) {
	p = p.Masked()
	if !p.IsValid() {
		return "", fmt.Errorf("reverse zone: no prefix: %w", registry.ErrInvalid)
	}
	b := p.Addr().AsSlice()
	if p.Addr().Is4() {
		bits := p.Bits()
		switch {
		case bits%8 == 0 && bits > 0:
			var labels []string
			for i := bits/8 - 1; i >= 0; i-- {
				labels = append(labels, fmt.Sprint(b[i]))
			}
			return strings.Join(labels, ".") + ".in-addr.arpa.", nil
		case bits > 24:
			// RFC 2317: the parent /24 delegates to a child named after
			// the block, and CNAMEs each address's name into it.
			return fmt.Sprintf("%d/%d.%d.%d.%d.in-addr.arpa.", b[3], bits, b[2], b[1], b[0]), nil
		}
		return "", fmt.Errorf("reverse zone %v: IPv4 prefixes must end on an octet or be longer than /24 (RFC 2317); it is served as %d /%d zones: %w", p, 1<<((bits/8+1)*8-bits), (bits/8+1)*8, registry.ErrInvalid)
	}
	if p.Bits()%4 != 0 || p.Bits() == 0 {
		return "", fmt.Errorf("reverse zone %v: IPv6 prefixes must end on a nibble (a multiple of 4 bits); it is served as %d /%d zones: %w", p, 1<<((p.Bits()/4+1)*4-p.Bits()), (p.Bits()/4+1)*4, registry.ErrInvalid)
	}
	return nibbles(b, p.Bits()/4) + "ip6.arpa.", nil
}

// ReverseZones lists the prefixes of the reverse zones that serve p,
// in address order: p itself when it ends on an octet (IPv4), is longer
// than /24 (IPv4, RFC 2317) or ends on a nibble (IPv6); otherwise the
// prefixes of the next boundary down that cover it exactly, as a
// registry delegates them: 10.1.16.0/20 is the 16 /24 zones
// 16.1.10.in-addr.arpa. to 31.1.10.in-addr.arpa., a /12 is 16 /16
// zones, 2001:db8:8000::/33 is 8 /36 zones. The whole IPv4 or IPv6 space
// (/0) is not a zone cadastre serves.
func ReverseZones(p netip.Prefix) ([]netip.Prefix, error) {
	if !p.IsValid() {
		return nil, fmt.Errorf("reverse zone: no prefix: %w", registry.ErrInvalid)
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("reverse zone %v: host bits set (did you mean %v?): %w", p, p.Masked(), registry.ErrInvalid)
	}
	bits, step := p.Bits(), 4
	if p.Addr().Is4() {
		step = 8
		if bits > 24 {
			return []netip.Prefix{p}, nil
		}
	}
	if bits == 0 {
		return nil, fmt.Errorf("reverse zone %v: the whole address space is not a zone; give the prefix you hold: %w", p, registry.ErrInvalid)
	}
	if bits%step == 0 {
		return []netip.Prefix{p}, nil
	}
	to := (bits/step + 1) * step
	n := 1 << (to - bits)
	out := make([]netip.Prefix, 0, n)
	a := p.Addr()
	for range n {
		sub := netip.PrefixFrom(a, to)
		out = append(out, sub)
		a = lastAddr(sub).Next()
	}
	return out, nil
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// nibbles writes the first n nibbles of b in reverse order, each followed by a dot.
func nibbles(b []byte, n int) string {
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 2*n)
	for i := n - 1; i >= 0; i-- {
		v := b[i/2]
		if i%2 == 0 {
			v >>= 4
		}
		out = append(out, hex[v&0xf], '.')
	}
	return string(out)
}

// ptrName is the owner name of a's PTR record in zone z.
func ptrName(z *Zone, a netip.Addr) string {
	b := a.AsSlice()
	if a.Is4() {
		if bits := z.Prefix.Bits(); bits > 24 && bits < 32 {
			// RFC 2317 (a /32 is an octet zone at the address itself).
			return fmt.Sprintf("%d.%s", b[3], z.Name)
		}
		return fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0])
	}
	return nibbles(b, 32) + "ip6.arpa."
}

// Template is a synthesis template: one "{addr}" inside the first label.
type Template struct {
	Before, After string // the first label around {addr}
	Suffix        string // the rest of the name, fully qualified
}

// ParseTemplate checks a template such as "ip-{addr}.dyn.example.net".
func ParseTemplate(s string) (Template, error) {
	first, rest, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ".")
	before, after, found := strings.Cut(first, "{addr}")
	if !ok || !found || strings.Contains(after, "{addr}") || strings.Contains(rest, "{") {
		return Template{}, fmt.Errorf("template %q: want one {addr} in the first label, e.g. ip-{addr}.dyn.example.net: %w", s, registry.ErrInvalid)
	}
	suffix, err := CanonicalName(rest)
	if err != nil {
		return Template{}, fmt.Errorf("template %q: %w", s, err)
	}
	probe := before + "2001-db8--1" + after
	if _, ok := dns.IsDomainName(probe + "." + suffix); !ok || len(probe)+len("ffff-ffff-ffff-ffff-ffff-ffff-ffff-ffff")-len("2001-db8--1") > 63 {
		return Template{}, fmt.Errorf("template %q: the first label would not be a DNS label: %w", s, registry.ErrInvalid)
	}
	return Template{Before: before, After: after, Suffix: suffix}, nil
}

// String round-trips through ParseTemplate.
func (t Template) String() string { return t.Before + "{addr}" + t.After + "." + t.Suffix }

// Name is the synthesised name of a: the address with ':' and '.' as '-'.
func (t Template) Name(a netip.Addr) string {
	// Built in one buffer: it runs for every synthesised answer.
	b := make([]byte, 0, len(t.Before)+len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")+len(t.After)+1+len(t.Suffix))
	b = append(b, t.Before...)
	start := len(b)
	b = a.AppendTo(b)
	for i := start; i < len(b); i++ {
		if b[i] == ':' || b[i] == '.' {
			b[i] = '-'
		}
	}
	b = append(b, t.After...)
	b = append(b, '.')
	b = append(b, t.Suffix...)
	return string(b)
}

// Addr reads back the address a synthesised name stands for; only the
// canonical spelling matches, so each address has exactly one name.
func (t Template) Addr(name string) (netip.Addr, bool) {
	first, rest, ok := strings.Cut(name, ".")
	if !ok || rest != t.Suffix {
		return netip.Addr{}, false
	}
	mid, ok := strings.CutPrefix(first, t.Before)
	if !ok {
		return netip.Addr{}, false
	}
	if mid, ok = strings.CutSuffix(mid, t.After); !ok || mid == "" {
		return netip.Addr{}, false
	}
	var a netip.Addr
	var err error
	if strings.Count(mid, "-") == 3 && !strings.Contains(mid, "--") {
		a, err = netip.ParseAddr(strings.ReplaceAll(mid, "-", "."))
	} else {
		a, err = netip.ParseAddr(strings.ReplaceAll(mid, "-", ":"))
	}
	if err != nil || a.Zone() != "" || t.Name(a) != name {
		return netip.Addr{}, false
	}
	return a, true
}
