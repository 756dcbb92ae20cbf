package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tenant is a customer of the operator: the DNS name suffixes under which
// its assignments may be named, and its quotas. Names belong to tenants:
// no tenant names an assignment with a name another tenant's live
// assignment holds, nor (below admin) a zone's apex, name servers, glue
// or static records.
type Tenant struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Names are the DNS suffixes (fully qualified, lower case, with the
	// trailing dot) under which callers below admin may name the tenant's
	// assignments. "." is every name: tenants made by the upgrade that
	// introduced tenants get it, so nothing that worked before breaks.
	// Empty: only admins may name its assignments.
	Names []string `json:"names"`
	// MaxIPv4 bounds the IPv4 addresses the tenant holds, MaxIPv6 the
	// IPv6 prefixes (of any length); nil is no limit. Both count live
	// and quarantined assignments.
	MaxIPv4  *int64 `json:"max_ipv4,omitempty"`
	MaxIPv6  *int64 `json:"max_ipv6,omitempty"`
	UsedIPv4 int64  `json:"used_ipv4"`
	UsedIPv6 int64  `json:"used_ipv6"`
	Note     string `json:"note,omitempty"`
	// MayDelegate lets callers below admin bound to the tenant write NS,
	// DS and DNAME records under its suffixes: records that hand a name,
	// and everything under it, to other servers or another tree. Off by
	// default: the operator's zone keeps control of its names (README,
	// Security model).
	MayDelegate bool      `json:"may_delegate,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// Overlaps lists, when Registry.Tenants or Tenant read it, the other
	// tenants whose suffixes equal, contain or lie under one of this
	// tenant's (see SuffixOverlapError), by name, at most
	// MaxListedOverlaps of them: a register made before the rule (the
	// upgrade gave every tenant ".") may hold such pairs; they are
	// flagged, not refused, until an operator narrows them. Never stored.
	Overlaps []string `json:"overlaps,omitempty"`
	// OverlapsMore says that more tenants overlap than Overlaps lists.
	OverlapsMore bool `json:"overlaps_more,omitempty"`
}

// HolderKind says what already holds a DNS name. Messages name the kind,
// never another tenant.
type HolderKind string

// The holders of a name, in the order a store reports them.
const (
	HolderAssignment HolderKind = "assignment of another tenant"
	HolderApex       HolderKind = "zone apex"
	HolderNameServer HolderKind = "name server"
	HolderGlue       HolderKind = "glue"
	HolderRecord     HolderKind = "static record"
	// HolderSynthesis is a name a reverse zone's synthesis template
	// answers (ip-10-0-0-7.dyn.example.net. for ip-{addr}.dyn.example.net.):
	// any name of the template's shape, one label under its suffix whose
	// label is the template's text around something without a dot. The
	// forward zone answers such names with the address they spell, so an
	// assignment or a static record there would answer beside it.
	HolderSynthesis HolderKind = "synthesised name"
	// HolderDelegation is a delegation point: a name where an NS record
	// of the deepest zone holding it (other than at that zone's apex)
	// hands the name and all below it to other servers. The zone answers
	// there with a referral: only the delegation's own NS and DS records
	// belong there; anything else (an assignment's A/AAAA, a TXT) would
	// never be served.
	HolderDelegation HolderKind = "delegation"
	// HolderBelowDelegation is a name below a delegation point
	// (HolderDelegation): nothing written there is ever served, but the
	// address records of the delegation's name servers (glue, which are
	// HolderNameServer or HolderGlue).
	HolderBelowDelegation HolderKind = "name below a delegation"
)

// TenantTx is the part of Tx that keeps tenants and answers who holds a
// DNS name. It is part of Tx, not optional: every store implements it,
// and registry/storetest checks it.
type TenantTx interface {
	InsertTenant(ctx context.Context, t *Tenant) error
	// UpdateTenant stores t's Names, MaxIPv4, MaxIPv6 and Note.
	UpdateTenant(ctx context.Context, t Tenant) error
	// DeleteTenant removes the tenant with t's ID.
	DeleteTenant(ctx context.Context, id int64) error
	// TenantByName returns the tenant, or an error wrapping ErrNotFound.
	TenantByName(ctx context.Context, name string) (Tenant, error)
	// Tenants lists the tenants by name.
	Tenants(ctx context.Context) ([]Tenant, error)
	// AddTenantUse adds d4 IPv4 addresses and d6 IPv6 prefixes (either
	// may be negative) to the tenant's use, in one statement that holds
	// the tenant's row for the rest of the transaction (so concurrent
	// transactions of one tenant count one after the other), and returns
	// the tenant as it now is. An unknown tenant is ErrNotFound.
	AddTenantUse(ctx context.Context, name string, d4, d6 int64) (Tenant, error)
	// NameHolder says what, other than the live (assigned or quarantined)
	// assignments of tenant, holds the DNS name fqdn (lower case, with
	// the trailing dot; assignment names are matched with and without
	// it): a live assignment of another tenant first, then a zone's
	// apex, a name of a synthesis template's shape (HolderSynthesis), an
	// NS target (of a zone's configuration or an NS record), an address
	// record at or below a delegation (glue), a name below a delegation
	// (HolderBelowDelegation) or at one (HolderDelegation), any static
	// record.
	// In a write transaction the answer holds until it ends: another
	// transaction asking for the same name waits, so two tenants never
	// both find a name free.
	NameHolder(ctx context.Context, fqdn, tenant string) (HolderKind, bool, error)
	// DNSNames lists every name NameHolder finds held other than by an
	// assignment (lower case, with the trailing dot): zones' apexes,
	// their configured name servers, NS records' targets and static
	// records' names, each at most once. An import into a register
	// without assignments checks its names against them in memory
	// (loadstream.go), one look-up only for a name found there.
	DNSNames(ctx context.Context) ([]string, error)
	// ZoneCuts lists the register's zones (their apexes) and its
	// delegations: each NS record's owner other than its zone's apex,
	// with the zone (names lower case, with the trailing dot, each pair
	// once). An import into a register without assignments finds the
	// names it loads at or below a delegation in memory (loadstream.go,
	// Cuts), as NameHolder would.
	ZoneCuts(ctx context.Context) ([]string, []ZoneCut, error)
	// TemplateNames lists, at most limit, the names of live (assigned or
	// quarantined) assignments of a tenant (not the operator's, tenant
	// "") that a synthesis template would answer: of the form before + X
	// + rest, X one or more characters without a dot, rest the
	// template's text after {addr} (fully qualified, with the trailing
	// dot; a name stored without it matches too). A zone add with a
	// template refuses what it finds (authdns/manage): the template would
	// answer for another tenant's live name. It may read every named
	// assignment.
	TemplateNames(ctx context.Context, before, rest string, limit int) ([]string, error)
	// NamesBelow lists, at most limit, in name order and each once, the
	// names of live (assigned or quarantined) assignments at or below
	// the DNS name fqdn (lower case, with the trailing dot; a name stored
	// without it, or in another case, matches too), as stored. A
	// delegation added at fqdn says which of them it hides (manage). It
	// may read every named assignment.
	NamesBelow(ctx context.Context, fqdn string, limit int) ([]string, error)
	// LockTenantSuffixes holds, until the transaction ends, the right to
	// change tenants' name suffixes: a transaction that reads tenants'
	// suffixes after it, to refuse an overlap, and then writes its own,
	// runs after any other that did the same, so two tenants never both
	// get overlapping suffixes. A store that serialises its writers has
	// nothing to do.
	LockTenantSuffixes(ctx context.Context) error
	// SuffixHolders reads the index of tenants' name suffixes (kept by
	// InsertTenant, UpdateTenant and DeleteTenant): the holders of the
	// keys (SuffixKey) that overlap key's suffix, in (Key, TenantID)
	// order: those of SuffixAncestors(key), then key's own and those that
	// begin with key (up to SuffixKeyEnd(key)); only those after the
	// holder after in that order (the zero holder: from the first), at
	// most limit. Its cost follows the holders it returns, never the
	// number of tenants.
	SuffixHolders(ctx context.Context, key string, after SuffixHolder, limit int) ([]SuffixHolder, error)
}

// Sentinel errors of the tenant rules, mapped like the others.
var (
	// ErrQuota means a tenant's quota would be exceeded.
	ErrQuota = errors.New("quota exceeded")
	// ErrNameTaken means a DNS name is held by something else.
	ErrNameTaken = errors.New("name taken")
)

// QuotaError names the quota a request would exceed and the use so far.
type QuotaError struct {
	Tenant string
	Quota  string // "max-ipv4" or "max-ipv6"
	Max    int64
	Used   int64 // before this request, live and quarantined
	Asked  int64
}

func (e *QuotaError) Error() string {
	unit := "IPv4 addresses"
	if e.Quota == "max-ipv6" {
		unit = "IPv6 prefixes"
	}
	return fmt.Sprintf("tenant %s: quota %s is %d %s; %d in use (live and quarantined), this request asks for %d more", e.Tenant, e.Quota, e.Max, unit, e.Used, e.Asked)
}

// Is makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// NameTakenError says that a name is held, and by what kind of holder
// (never by whom).
type NameTakenError struct {
	Name   string
	Holder HolderKind
}

func (e *NameTakenError) Error() string {
	switch e.Holder {
	case HolderDelegation:
		return fmt.Sprintf("name %s: a delegation (its NS records hand it to other servers): only NS and DS records belong there, nothing else there is ever served", e.Name)
	case HolderBelowDelegation:
		return fmt.Sprintf("name %s: a name below a delegation (NS records above it hand it to other servers): nothing written there is ever served", e.Name)
	}
	article := "a"
	if strings.ContainsRune("aeiou", rune(string(e.Holder + " ")[0])) {
		article = "an" // "an assignment of another tenant"
	}
	return fmt.Sprintf("name %s: already held by %s %s", e.Name, article, e.Holder)
}

// Is makes errors.Is(err, ErrNameTaken) true.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// SuffixOverlapError refuses a tenant's name suffix that equals, contains
// or lies under a suffix of another tenant: names under both would belong
// to two tenants, and which of them may publish vm1.a.cloud.example would
// depend on who asks first. Only admins manage tenants, so the message
// names the other tenant. Narrowing a suffix a tenant already has (from
// "." to "a.cloud.example") is never refused: it can only end overlaps.
type SuffixOverlapError struct {
	Tenant, Suffix           string
	OtherTenant, OtherSuffix string
}

func (e *SuffixOverlapError) Error() string {
	how := "equals"
	switch {
	case e.Suffix == e.OtherSuffix:
	case suffixUnder(e.OtherSuffix, e.Suffix):
		how = "contains"
	default:
		how = "lies under"
	}
	return fmt.Sprintf("tenant %s: name suffix %s %s the suffix %s of tenant %s (names under both would belong to two tenants; narrow or remove one with `cadastre tenant update %s --names ...`)",
		e.Tenant, e.Suffix, how, e.OtherSuffix, e.OtherTenant, e.OtherTenant)
}

// Is makes errors.Is(err, ErrOverlap) true: 409 and exit 4, as for
// overlapping space.
func (e *SuffixOverlapError) Is(target error) bool { return target == ErrOverlap }

// suffixUnder reports whether the canonical suffix s lies at or under the
// canonical suffix p ("." holds every name).
func suffixUnder(s, p string) bool {
	return p == "." || s == p || strings.HasSuffix(s, "."+p)
}

// SuffixesOverlap reports whether two canonical suffixes share names: one
// equals, contains or lies under the other.
func SuffixesOverlap(a, b string) bool { return suffixUnder(a, b) || suffixUnder(b, a) }

// checkSuffixes refuses the suffixes of t (whose suffixes were before)
// that overlap another tenant's, as walk finds them (the store's index,
// read after LockTenantSuffixes, or one in memory). A suffix t already
// had, or one at or under a suffix it had (a narrowing), is not checked:
// an overlap that predates the rule is flagged (Tenant.Overlaps), and an
// update that leaves it alone or narrows it goes through.
func checkSuffixes(ctx context.Context, walk holderWalk, t Tenant, before []string) error {
	for _, s := range t.Names {
		if slices.ContainsFunc(before, func(p string) bool { return suffixUnder(s, p) }) {
			continue
		}
		h, ok, err := firstOverlap(ctx, walk, t.Name, s)
		if err != nil {
			return err
		}
		if ok {
			return &SuffixOverlapError{Tenant: t.Name, Suffix: s, OtherTenant: h.Tenant, OtherSuffix: h.Suffix()}
		}
	}
	return nil
}

// SuffixOverlaps returns the pairs of tenants whose name suffixes overlap
// (each pair once, by name), at most max of them (max <= 0: every pair),
// for a server to warn about at start: a register made before the rule may
// hold them. Each tenant's overlaps come from an index of the suffixes
// (suffixIndex), in name order, and the search stops at max: comparing
// every pair took 12.5 million comparisons when 5,000 tenants share a
// suffix, as the first cloud demo's do.
func (r *Registry) SuffixOverlaps(ctx context.Context, max int) ([][2]string, error) {
	var ts []Tenant
	err := r.store.View(ctx, func(tx Tx) (err error) {
		ts, err = tx.Tenants(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	idx := newSuffixIndex(ts)
	var out [][2]string
	for _, t := range ts {
		others, _, err := overlapsOf(ctx, idx.walk, t, -1)
		if err != nil {
			return nil, err
		}
		for _, o := range others {
			if o <= t.Name {
				continue
			}
			if max > 0 && len(out) == max {
				return out, nil
			}
			out = append(out, [2]string{t.Name, o})
		}
	}
	return out, nil
}

type restrictedKey struct{}

// Restricted marks the changes made with ctx as those of a caller below
// admin (an API token of scope read or allocate): it may allocate only for
// tenants that exist, name assignments only under their tenant's suffixes
// and never with a name a zone or static record holds. Without it the
// caller is trusted as an admin (the local CLI, the demo, an admin token).
func Restricted(ctx context.Context) context.Context {
	return context.WithValue(ctx, restrictedKey{}, true)
}

// IsRestricted reports whether ctx was marked by Restricted.
func IsRestricted(ctx context.Context) bool {
	v, _ := ctx.Value(restrictedKey{}).(bool)
	return v
}

// TenantSpec is what an operator gives to create or change a tenant. In
// an update, nil fields are left alone; ClearIPv4/ClearIPv6 remove a
// quota.
type TenantSpec struct {
	Name      string
	Names     *[]string
	MaxIPv4   *int64
	MaxIPv6   *int64
	ClearIPv4 bool
	ClearIPv6 bool
	Note      *string
	// MayDelegate sets Tenant.MayDelegate; nil keeps it.
	MayDelegate *bool
}

// ValidateTenantName checks a tenant's name: 1 to 128 bytes of printable
// text without spaces, so that it reads the same in logs, URLs and tables.
func ValidateTenantName(name string) error {
	if name == "" || len(name) > 128 {
		return invalid("tenant %q: must be 1 to 128 bytes", name)
	}
	if err := CheckText("tenant", name); err != nil {
		return err
	}
	if strings.ContainsAny(name, " /?#%\\") {
		return invalid("tenant %q: no spaces, '/', '?', '#', '%%' or '\\'", name)
	}
	return nil
}

// CanonicalSuffix checks a name suffix and returns it lower case with the
// trailing dot; "." (every name) is allowed.
func CanonicalSuffix(s string) (string, error) {
	if s == "." {
		return s, nil
	}
	low := strings.ToLower(s)
	if err := validateFQDN("names", low); err != nil {
		return "", fmt.Errorf("name suffix: %w: %w", err, ErrInvalid)
	}
	return strings.TrimSuffix(low, ".") + ".", nil
}

// fqdn is a valid assignment name in the form stores compare: lower case,
// with the trailing dot.
func fqdn(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") + "." }

// Under reports whether the fully qualified name lies at or under one of
// the suffixes.
func Under(name string, suffixes []string) bool {
	n := fqdn(name)
	for _, s := range suffixes {
		if s == "." || n == s || strings.HasSuffix(n, "."+s) {
			return true
		}
	}
	return false
}

func (r *Registry) applyTenantSpec(t *Tenant, s TenantSpec) error {
	if s.Names != nil {
		names := make([]string, 0, len(*s.Names))
		for _, n := range *s.Names {
			c, err := CanonicalSuffix(n)
			if err != nil {
				return fmt.Errorf("tenant %s: %w", t.Name, err)
			}
			if !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
		slices.Sort(names)
		t.Names = names
	}
	for _, q := range []struct {
		name  string
		v     *int64
		clear bool
		dst   **int64
	}{{"max-ipv4", s.MaxIPv4, s.ClearIPv4, &t.MaxIPv4}, {"max-ipv6", s.MaxIPv6, s.ClearIPv6, &t.MaxIPv6}} {
		switch {
		case q.clear:
			*q.dst = nil
		case q.v != nil:
			if *q.v < 0 {
				return invalid("tenant %s: %s %d: must not be negative", t.Name, q.name, *q.v)
			}
			v := *q.v
			*q.dst = &v
		}
	}
	if s.Note != nil {
		if len(*s.Note) > 1000 {
			return invalid("tenant %s: note longer than 1000 bytes", t.Name)
		}
		if err := CheckText("note", *s.Note); err != nil {
			return err
		}
		t.Note = *s.Note
	}
	if s.MayDelegate != nil {
		t.MayDelegate = *s.MayDelegate
	}
	return nil
}

// AddTenant creates a tenant.
func (r *Registry) AddTenant(ctx context.Context, s TenantSpec) (Tenant, error) {
	if err := ValidateTenantName(s.Name); err != nil {
		return Tenant{}, err
	}
	t := Tenant{Name: s.Name, Names: []string{}}
	if err := r.applyTenantSpec(&t, s); err != nil {
		return Tenant{}, err
	}
	err := r.store.Update(ctx, func(tx Tx) error {
		if err := tx.LockTenantSuffixes(ctx); err != nil {
			return err
		}
		if _, err := tx.TenantByName(ctx, s.Name); err == nil {
			return fmt.Errorf("tenant %s: %w", s.Name, ErrExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := checkSuffixes(ctx, storeWalk(tx), t, nil); err != nil {
			return err
		}
		t.CreatedAt = r.clock()
		if err := tx.InsertTenant(ctx, &t); err != nil {
			return err
		}
		return r.event(ctx, tx, t.CreatedAt, "tenant.add", "tenant", t.ID, t.Name, nil, t)
	})
	return t, err
}

// Tenant returns one tenant by name, with its use.
func (r *Registry) Tenant(ctx context.Context, name string) (t Tenant, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		t, err = tx.TenantByName(ctx, name)
		if err != nil || len(t.Names) == 0 {
			return err
		}
		// From the store's suffix index: reading every tenant to
		// compare cost 31 ms at 5,000 tenants.
		t.Overlaps, t.OverlapsMore, err = overlapsOf(ctx, storeWalk(tx), t, MaxListedOverlaps)
		return err
	})
	return t, err
}

// Tenants lists the tenants by name, with their use.
func (r *Registry) Tenants(ctx context.Context) (out []Tenant, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		out, err = tx.Tenants(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Each tenant's overlaps from an index of every suffix (one sort),
	// not by comparing every pair of tenants.
	idx := newSuffixIndex(out)
	for i := range out {
		if out[i].Overlaps, out[i].OverlapsMore, err = overlapsOf(ctx, idx.walk, out[i], MaxListedOverlaps); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateTenant changes a tenant's suffixes, quotas or note. A quota may
// be set below the current use: nothing is taken back, but the tenant
// gets no more until its use is below it.
func (r *Registry) UpdateTenant(ctx context.Context, s TenantSpec) (Tenant, error) {
	var out Tenant
	err := r.store.Update(ctx, func(tx Tx) error {
		if s.Names != nil {
			if err := tx.LockTenantSuffixes(ctx); err != nil {
				return err
			}
		}
		t, err := tx.TenantByName(ctx, s.Name)
		if err != nil {
			return err
		}
		before := t
		before.Names = slices.Clone(t.Names)
		if err := r.applyTenantSpec(&t, s); err != nil {
			return err
		}
		if s.Names != nil {
			if err := checkSuffixes(ctx, storeWalk(tx), t, before.Names); err != nil {
				return err
			}
		}
		if err := tx.UpdateTenant(ctx, t); err != nil {
			return err
		}
		out = t
		return r.event(ctx, tx, r.clock(), "tenant.update", "tenant", t.ID, t.Name, before, t)
	})
	return out, err
}

// RemoveTenant deletes a tenant that holds no live or quarantined
// assignment (ErrState otherwise).
func (r *Registry) RemoveTenant(ctx context.Context, name string) error {
	return r.store.Update(ctx, func(tx Tx) error {
		now := r.clock()
		if _, err := r.reap(ctx, tx, now); err != nil {
			return err
		}
		t, err := tx.TenantByName(ctx, name)
		if err != nil {
			return err
		}
		if t.UsedIPv4 > 0 || t.UsedIPv6 > 0 {
			return fmt.Errorf("tenant %s: still holds %d IPv4 addresses and %d IPv6 prefixes (live or quarantined); release them first: %w", name, t.UsedIPv4, t.UsedIPv6, ErrState)
		}
		if err := tx.DeleteTenant(ctx, t.ID); err != nil {
			return err
		}
		return r.event(ctx, tx, now, "tenant.remove", "tenant", t.ID, t.Name, t, nil)
	})
}

// errRecount asks AllocateAll to run its transaction again without
// queueing tenants' counts (see admit). It is a conflict: a store that
// runs writers concurrently runs the transaction again.
var errRecount = fmt.Errorf("a new tenant: count again without queueing: %w", ErrConflict)

// use is what a set of assignments counts against quotas.
type use struct{ v4, v6 int64 }

func (u *use) add(family, bits int, n int64) {
	if family == 4 {
		u.v4 += n << (32 - bits)
	} else {
		u.v6 += n
	}
}

// tenantUse answers for a tenant AddTenantUse did not find: it is made
// for a trusted caller (logged, with no suffixes and no quota), u added to
// its use, and refused for a restricted one.
func (r *Registry) tenantUse(ctx context.Context, tx Tx, name string, u use, now time.Time) (Tenant, error) {
	if IsRestricted(ctx) {
		return Tenant{}, noTenant(name)
	}
	if err := ValidateTenantName(name); err != nil {
		return Tenant{}, err
	}
	t := Tenant{Name: name, Names: []string{}, CreatedAt: now}
	if err := tx.InsertTenant(ctx, &t); err != nil {
		if errors.Is(err, ErrExists) {
			// Another writer (a replica, or a caller of the same
			// store outside this transaction) made the tenant
			// meanwhile: run again, and find it.
			return Tenant{}, fmt.Errorf("tenant %s: made meanwhile by another writer: %w", name, ErrConflict)
		}
		return Tenant{}, err
	}
	if err := r.event(ctx, tx, now, "tenant.add", "tenant", t.ID, t.Name, nil, t); err != nil {
		return Tenant{}, err
	}
	return tx.AddTenantUse(ctx, name, u.v4, u.v6)
}

// noTenant refuses a restricted caller's allocation for a tenant that
// does not exist.
func noTenant(name string) error {
	return fmt.Errorf("tenant %s: no such tenant (an admin adds it with `cadastre tenant add %s`): %w", name, name, ErrNotFound)
}

// quota checks a tenant's use after adding u to it.
func quota(t Tenant, u use) error {
	if u.v4 > 0 && t.MaxIPv4 != nil && t.UsedIPv4 > *t.MaxIPv4 {
		return &QuotaError{Tenant: t.Name, Quota: "max-ipv4", Max: *t.MaxIPv4, Used: t.UsedIPv4 - u.v4, Asked: u.v4}
	}
	if u.v6 > 0 && t.MaxIPv6 != nil && t.UsedIPv6 > *t.MaxIPv6 {
		return &QuotaError{Tenant: t.Name, Quota: "max-ipv6", Max: *t.MaxIPv6, Used: t.UsedIPv6 - u.v6, Asked: u.v6}
	}
	return nil
}

// admittedNothing is admit's answer for requests with no tenant and no
// name.
func admittedNothing() error { return nil }

// TenantUseQueuer is an optional Tx method: AddTenantUse whose answer
// is needed only later. A store whose statements are network round trips
// (PostgreSQL) sends it with the transaction's next statement instead of
// on its own; the function returned gives AddTenantUse's answer (sending
// the statement first if nothing has sent it yet).
type TenantUseQueuer interface {
	QueueTenantUse(ctx context.Context, name string, d4, d6 int64) func() (Tenant, error)
}

// NameHolderQueuer is an optional Tx method: NameHolder whose answer is
// needed only later, sent (with the name's lock) with the transaction's
// next statement, like TenantUseQueuer's count. The function returned
// gives NameHolder's answer (sending the statements first if nothing has
// sent them yet).
type NameHolderQueuer interface {
	QueueNameHolder(ctx context.Context, fqdn, tenant string) func() (HolderKind, bool, error)
}

// admit applies the tenant rules to a batch inside its transaction, before
// anything is taken: each tenant exists (or, for a trusted caller, is
// made), its use grows by what the batch asks and stays within its quotas,
// and every name is one the tenant may use. The use is counted first, so
// a failing allocation rolls it back with everything else. Where the Tx
// can queue the count (TenantUseQueuer), the quotas are checked by the
// function admit returns, which the caller runs after allocating and
// before the transaction ends; otherwise that function does nothing.
// Where the Tx can also queue the name look-ups (NameHolderQueuer), a
// named tenant's count and its names are queued too, and that function
// checks the names: the suffixes against the tenant's row as the queued
// count locked it (so a suffix removed by a transaction that committed
// first is seen), then the holders. A store whose statements are network
// round trips then spends none of its own on the tenant rules while it
// holds a region's lock (precheckNames refused early what it could).
//
// A tenant the queued count does not find is made (for a trusted caller)
// only in a run of the transaction that counts without queueing, so that
// its creation is logged before the allocations, as on every store: the
// returned function then reports errRecount, and the caller runs the
// transaction again with queue false.
func (r *Registry) admit(ctx context.Context, tx Tx, reqs []Request, now time.Time, queue bool) (func() error, error) {
	if !slices.ContainsFunc(reqs, func(q Request) bool { return q.Tenant != "" || q.Name != "" }) {
		// No tenant and no name: nothing to count or check, and nothing
		// to make (the maps and closures below were ~5 of an allocation's
		// ~134 heap objects on PostgreSQL: issue 16).
		return admittedNothing, nil
	}
	per := map[string]*use{}
	named := map[string]bool{}
	for _, q := range reqs {
		if q.Tenant == "" {
			continue
		}
		u := per[q.Tenant]
		if u == nil {
			u = &use{}
			per[q.Tenant] = u
		}
		if q.DualStack {
			u.add(4, 32, int64(q.Count))
			u.add(6, 128, int64(q.Count))
		} else {
			u.add(q.Family, q.Bits, int64(q.Count))
		}
		named[q.Tenant] = named[q.Tenant] || q.Name != ""
	}
	// Tenants' rows are taken in name order, so that two transactions
	// needing the same tenants do not wait for each other in a cycle.
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	slices.Sort(names)
	tenants := make(map[string]Tenant, len(names))
	type pending struct {
		name   string
		answer func() (Tenant, error)
	}
	var later []pending
	settle := func(n string, t Tenant, err error) error {
		if errors.Is(err, ErrNotFound) {
			t, err = r.tenantUse(ctx, tx, n, *per[n], now)
		}
		if err != nil {
			return err
		}
		if err := quota(t, *per[n]); err != nil {
			return err
		}
		tenants[n] = t
		return nil
	}
	qu, ok := tx.(TenantUseQueuer)
	queue = queue && ok
	nq, ok := tx.(NameHolderQueuer)
	queueNames := queue && ok
	for _, n := range names {
		u := per[n]
		if queue && (!named[n] || queueNames) {
			later = append(later, pending{n, qu.QueueTenantUse(ctx, n, u.v4, u.v6)})
			continue
		}
		t, err := tx.AddTenantUse(ctx, n, u.v4, u.v6)
		if err := settle(n, t, err); err != nil {
			return nil, err
		}
	}
	type nameCheck struct {
		tenant, name string
		answer       func() (HolderKind, bool, error)
	}
	var checks []nameCheck
	for _, q := range reqs {
		if q.Name == "" {
			continue
		}
		if !queueNames {
			if err := r.checkName(ctx, tx, tenants[q.Tenant], q.Tenant, q.Name); err != nil {
				return nil, err
			}
			continue
		}
		if IsRestricted(ctx) && q.Tenant == "" {
			return nil, suffixRule(Tenant{}, "", q.Name)
		}
		checks = append(checks, nameCheck{q.Tenant, q.Name, nq.QueueNameHolder(ctx, fqdn(q.Name), q.Tenant)})
	}
	return func() error {
		for _, p := range later {
			t, err := p.answer()
			if errors.Is(err, ErrNotFound) && !IsRestricted(ctx) {
				return errRecount
			}
			if err := settle(p.name, t, err); err != nil {
				return err
			}
			r.suffixes.put(t)
		}
		for _, c := range checks {
			if err := r.nameRule(ctx, tenants[c.tenant], c.tenant, c.name, c.answer); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// suffixCache holds the name suffixes of tenants as last read, so that
// precheckNames can refuse a name outside them before the write
// transaction without a read of its own. It is only a hint: it refuses
// nothing without reading the tenant afresh, and the transaction checks
// again against the tenant's locked row (admit), so a stale entry never
// lets a name through nor refuses one. Safe for concurrent use.
type suffixCache struct {
	mu sync.Mutex
	m  map[string][]string
}

// maxCachedTenants bounds the cache; past it, it starts again empty.
const maxCachedTenants = 10000

func (c *suffixCache) get(tenant string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[tenant]
	return s, ok
}

// put remembers t's suffixes. The slice is shared read-only: a Tenant's
// Names is never written after it is read (applyTenantSpec makes a new one).
func (c *suffixCache) put(t Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedTenants {
		c.m = map[string][]string{}
	}
	c.m[t.Name] = t.Names
}

// precheckNames refuses, before the write transaction, a restricted
// caller's name that lies outside its tenant's suffixes, and a tenant
// that does not exist. Suffixes come from the cache; a name the cache
// does not clear is checked against the tenant read afresh. Only for a
// store whose reads are round trips (SingleReader): elsewhere admit reads
// the tenant's row inside the transaction at no cost worth saving.
func (r *Registry) precheckNames(ctx context.Context, reqs []Request) error {
	if !IsRestricted(ctx) {
		return nil
	}
	if _, ok := r.store.(SingleReader); !ok {
		return nil
	}
	for _, q := range reqs {
		if q.Name == "" {
			continue
		}
		if q.Tenant == "" {
			return suffixRule(Tenant{}, "", q.Name)
		}
		if names, ok := r.suffixes.get(q.Tenant); ok && Under(q.Name, names) {
			continue
		}
		var t Tenant
		err := viewOne(ctx, r.store, func(tx Tx) (err error) {
			t, err = tx.TenantByName(ctx, q.Tenant)
			return err
		})
		if errors.Is(err, ErrNotFound) {
			return noTenant(q.Tenant)
		}
		if err != nil {
			return err
		}
		r.suffixes.put(t)
		if err := suffixRule(t, q.Tenant, q.Name); err != nil {
			return err
		}
	}
	return nil
}

// checkName decides whether an assignment of tenant (t is its row, zero
// for no tenant) may be named name: never with a name another tenant's
// live assignment holds, nor at or below a delegation; below admin, only under the tenant's suffixes and
// never a name a zone or a static record holds.
func (r *Registry) checkName(ctx context.Context, tx Tx, t Tenant, tenant, name string) error {
	return r.nameRule(ctx, t, tenant, name, func() (HolderKind, bool, error) {
		return tx.NameHolder(ctx, fqdn(name), tenant)
	})
}

// nameRule is checkName with the name's holder given by holder (asked
// already, or to ask only once the suffix is right).
func (r *Registry) nameRule(ctx context.Context, t Tenant, tenant, name string, holder func() (HolderKind, bool, error)) error {
	restricted := IsRestricted(ctx)
	if restricted {
		if err := suffixRule(t, tenant, name); err != nil {
			return err
		}
	}
	kind, held, err := holder()
	if err != nil {
		return err
	}
	// An admin too may not name an assignment at or below a delegation:
	// its A/AAAA would never be served (the zone answers there with a
	// referral).
	if held && (restricted || kind == HolderAssignment || kind == HolderDelegation || kind == HolderBelowDelegation) {
		return &NameTakenError{Name: name, Holder: kind}
	}
	return nil
}

// suffixRule refuses a name that lies under none of its tenant's
// suffixes (t is the tenant's row, zero for no tenant), for a caller
// below admin.
func suffixRule(t Tenant, tenant, name string) error {
	switch {
	case Under(name, t.Names):
		return nil
	case tenant == "":
		return invalid("name %s: an assignment without a tenant may be named only by an admin", name)
	case len(t.Names) == 0:
		return invalid("name %s: tenant %s has no name suffixes (an admin sets them with `cadastre tenant update %s --names SUFFIX`)", name, tenant, tenant)
	}
	return invalid("name %s: not under any of tenant %s's name suffixes (%s)", name, tenant, strings.Join(t.Names, ", "))
}

// releaseUse returns the use of assignments that left quarantine (or were
// released without one) to their tenants, in tenant order.
func releaseUse(ctx context.Context, tx Tx, as []Assignment) error {
	per := map[string]*use{}
	for _, a := range as {
		if a.Tenant == "" {
			continue
		}
		u := per[a.Tenant]
		if u == nil {
			u = &use{}
			per[a.Tenant] = u
		}
		family := 6
		if a.Prefix.Addr().Is4() {
			family = 4
		}
		u.add(family, a.Prefix.Bits(), -1)
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if _, err := tx.AddTenantUse(ctx, n, per[n].v4, per[n].v6); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("tenant %s: %w", n, err)
		}
	}
	return nil
}

// checkRename applies checkName to a new name for an assignment of tenant.
func (r *Registry) checkRename(ctx context.Context, tx Tx, tenant, name string) error {
	var t Tenant
	if tenant != "" {
		var err error
		if t, err = tx.TenantByName(ctx, tenant); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return r.checkName(ctx, tx, t, tenant, name)
}
