// Package rowscan holds what both SQL stores share: how times, addresses
// and prefixes are stored, and how a row becomes a register object. The
// stores select the same columns in the same order, so one scanner serves
// database/sql (SQLite) and pgx (PostgreSQL) alike.
package rowscan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Scanner is a row: *sql.Rows and pgx.Rows both are. NULL columns scan
// into pointers.
type Scanner interface {
	Scan(dest ...any) error
}

// Region scans a row of regionCols.
func Region(rows Scanner) (registry.Region, error) {
	var r registry.Region
	var pol string
	var created int64
	if err := rows.Scan(&r.ID, &r.Name, &r.Location.Country, &r.Location.Subdivision, &r.Location.City, &pol, &r.BorrowBits, &created); err != nil {
		return r, err
	}
	p, err := registry.ParseBorrowPolicy(pol)
	if err != nil {
		return r, fmt.Errorf("stored region %s: %w", r.Name, err)
	}
	r.Borrow, r.CreatedAt = p, FromMicros(created)
	return r, nil
}

// Block scans a row of blockCols.
func Block(rows Scanner) (registry.Block, error) {
	var b registry.Block
	var p, src, cur string
	var price *int64
	var created int64
	if err := rows.Scan(&b.ID, &p, &src, &b.Registry, &b.RegisteredCountry, &b.From, &price, &cur, &b.Date, &b.Note, &created, &b.Space); err != nil {
		return b, err
	}
	var err error
	if b.Prefix, err = ParsePrefix(p); err != nil {
		return b, err
	}
	b.Source, b.CreatedAt = registry.Source(src), FromMicros(created)
	if price != nil {
		b.Price = &registry.Money{Cents: *price, Currency: cur}
	}
	return b, nil
}

// Pool scans a row of the pool select (pool, block, region, relocation).
func Pool(rows Scanner) (registry.Pool, error) {
	var p registry.Pool
	var pp, bp string
	var parent, relID *int64
	var relPrefix, relFrom *string
	var created int64
	var dissolved *int64
	if err := rows.Scan(&p.ID, &pp, &p.BlockID, &bp, &p.RegionID, &p.Region, &p.Purpose, &parent, &created, &relID, &relPrefix, &relFrom, &p.UseAll,
		&p.Name, &p.Tenant, &dissolved, &p.Space); err != nil {
		return p, err
	}
	var err error
	if p.Prefix, err = ParsePrefix(pp); err != nil {
		return p, err
	}
	if p.Block, err = ParsePrefix(bp); err != nil {
		return p, err
	}
	if parent != nil {
		p.ParentID = *parent
	}
	p.CreatedAt = FromMicros(created)
	if dissolved != nil {
		t := FromMicros(*dissolved)
		p.DissolvedAt = &t
	}
	if relID != nil {
		rp, err := ParsePrefix(*relPrefix)
		if err != nil {
			return p, err
		}
		p.Relocation = &registry.RelocationRef{ID: *relID, Prefix: rp, FromRegion: *relFrom, ToRegion: p.Region}
	}
	return p, nil
}

// Reservation scans a row of the reservation select: id, prefix, pool
// id, pool prefix, region name, reason, until, created, space.
func Reservation(rows Scanner) (registry.Reservation, error) {
	var v registry.Reservation
	var vp, pp string
	var until *int64
	var created int64
	if err := rows.Scan(&v.ID, &vp, &v.PoolID, &pp, &v.Region, &v.Reason, &until, &created, &v.Space); err != nil {
		return v, err
	}
	var err error
	if v.Prefix, err = ParsePrefix(vp); err != nil {
		return v, err
	}
	if v.Pool, err = ParsePrefix(pp); err != nil {
		return v, err
	}
	v.Until, v.CreatedAt = OptTime(until), FromMicros(created)
	return v, nil
}

// Assignment scans a row of the assignment select.
func Assignment(rows Scanner) (registry.Assignment, error) {
	var a registry.Assignment
	var ap, pp, state string
	var created int64
	var released, until, relID *int64
	var relPrefix, relFrom *string
	if err := rows.Scan(&a.ID, &ap, &a.PoolID, &pp, &a.RegionID, &a.Region, &a.Tenant, &a.Resource, &a.Name, &state,
		&created, &released, &until, &relID, &relPrefix, &relFrom, &a.Space); err != nil {
		return a, err
	}
	var err error
	if a.Prefix, err = ParsePrefix(ap); err != nil {
		return a, err
	}
	if a.Pool, err = ParsePrefix(pp); err != nil {
		return a, err
	}
	a.State, a.CreatedAt = registry.State(state), FromMicros(created)
	a.ReleasedAt, a.QuarantineUntil = OptTime(released), OptTime(until)
	if relID != nil {
		rp, err := ParsePrefix(*relPrefix)
		if err != nil {
			return a, err
		}
		a.Borrowed = true
		a.Relocation = &registry.RelocationRef{ID: *relID, Prefix: rp, FromRegion: *relFrom, ToRegion: a.Region}
	}
	return a, nil
}

// Zone scans a row of zoneCols.
func Zone(rows Scanner) (zone.Zone, error) {
	var z zone.Zone
	var kind, pfx, cfg, set string
	var serial, created int64
	if err := rows.Scan(&z.ID, &z.Name, &kind, &pfx, &z.Synthesize, &cfg, &serial, &z.SerialHash, &created, &set); err != nil {
		return z, err
	}
	if set != "" {
		p, err := netip.ParsePrefix(set)
		if err != nil {
			return z, fmt.Errorf("stored zone %s: prefix set: %w", z.Name, err)
		}
		z.Set = p
	}
	z.Kind, z.Serial, z.CreatedAt = zone.Kind(kind), uint32(serial), FromMicros(created)
	if pfx != "" {
		p, err := netip.ParsePrefix(pfx)
		if err != nil {
			return z, fmt.Errorf("stored zone %s: %w", z.Name, err)
		}
		z.Prefix = p
	}
	if err := json.Unmarshal([]byte(cfg), &z.Config); err != nil {
		return z, fmt.Errorf("stored zone %s: config: %w", z.Name, err)
	}
	return z, nil
}

// Record scans a row of recordCols.
func Record(rows Scanner) (zone.Record, error) {
	var r zone.Record
	var ttl, created int64
	err := rows.Scan(&r.ID, &r.ZoneID, &r.Name, &r.Type, &ttl, &r.Data, &created)
	r.TTL, r.CreatedAt = uint32(ttl), FromMicros(created)
	return r, err
}

// Key scans a row of keyCols.
func Key(rows Scanner) (zone.Key, error) {
	var k zone.Key
	var role, state string
	var alg, tag, created, pub, act, inact, rem, ds int64
	err := rows.Scan(&k.ID, &k.ZoneID, &role, &alg, &tag, &k.Public, &k.Sealed, &state, &created, &pub, &act, &inact, &rem, &ds)
	k.Role, k.Algorithm, k.Tag, k.State, k.CreatedAt = zone.Role(role), zone.Algorithm(alg), uint16(tag), zone.KeyState(state), FromMicros(created)
	k.PublishedAt, k.ActiveAt, k.InactiveAt, k.RemovedAt, k.DSAt = KeyTime(pub), KeyTime(act), KeyTime(inact), KeyTime(rem), KeyTime(ds)
	return k, err
}

// KeyMicros stores a key time; the zero time (not yet) is 0.
func KeyMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return Micros(t)
}

// KeyTime reads a key time stored by KeyMicros.
func KeyTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return FromMicros(us)
}

// PrefixText stores an optional prefix; the zero prefix is the empty string.
func PrefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

// Token scans a row of tokenCols.
func Token(rows Scanner) (auth.Token, error) {
	var t auth.Token
	var scope string
	var created int64
	var expires, revoked, used *int64
	var allow string
	if err := rows.Scan(&t.ID, &t.Name, &scope, &t.Tenant, &t.MAC, &created, &t.CreatedBy, &expires, &revoked, &used, &allow); err != nil {
		return t, err
	}
	for _, f := range strings.Fields(allow) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return t, fmt.Errorf("stored token %s: allow_from: %w", t.ID, err)
		}
		t.AllowFrom = append(t.AllowFrom, p)
	}
	sc, err := auth.ParseScope(scope)
	if err != nil {
		return t, fmt.Errorf("stored token %s: %w", t.ID, err)
	}
	t.Scope, t.CreatedAt = sc, FromMicros(created)
	t.ExpiresAt, t.RevokedAt, t.LastUsed = OptTime(expires), OptTime(revoked), OptTime(used)
	return t, nil
}

// AllowFrom is how a token's AllowFrom list is stored: the prefixes
// separated by spaces, "" for none.
func AllowFrom(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// Micros is how times are stored: Unix microseconds, UTC.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros reads a time stored by Micros.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// OptMicros stores an optional time; nil is NULL.
func OptMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := t.UnixMicro()
	return &v
}

// OptTime reads an optional time; NULL is nil.
func OptTime(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := FromMicros(*v)
	return &t
}

// AddrBytes stores an address: 4 bytes for IPv4, 16 for IPv6, so that
// ranges compare bytewise within a family.
func AddrBytes(a netip.Addr) []byte { return a.AsSlice() }

// Span gives the columns that place a prefix: family, first and last
// address, length.
func Span(p netip.Prefix) (int, []byte, []byte, int) {
	return prefix.Family(p), AddrBytes(p.Addr()), AddrBytes(prefix.Last(p)), p.Bits()
}

// SupernetFirsts gives the first addresses (as AddrBytes) of p and of each
// of its supernets, each once: an aligned prefix that holds p starts at
// one of them, so "first IN (these) AND last >= p's last" finds the
// holders of p with a look-up per length instead of a range of every row
// starting before p.
func SupernetFirsts(p netip.Prefix) [][]byte {
	var out [][]byte
	var last netip.Addr
	for b := p.Bits(); b >= 0; b-- {
		a := netip.PrefixFrom(p.Addr(), b).Masked().Addr()
		if a != last {
			out = append(out, AddrBytes(a))
			last = a
		}
	}
	return out
}

// ParsePrefix reads a stored prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("stored prefix %q: %w", s, err)
	}
	return p, nil
}

// Free scans a row of bits, addr, pool_id, region_id of the free table.
func Free(rows Scanner) (registry.FreePrefix, error) {
	var bits int
	var addr []byte
	var f registry.FreePrefix
	if err := rows.Scan(&bits, &addr, &f.PoolID, &f.RegionID); err != nil {
		return f, err
	}
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return f, fmt.Errorf("stored free address of %d bytes", len(addr))
	}
	f.Prefix = netip.PrefixFrom(a, bits)
	return f, nil
}

// Overlapping keeps the free prefixes of fs that overlap p, in address
// order (FreeWithin's candidates).
func Overlapping(fs []registry.FreePrefix, p netip.Prefix) []registry.FreePrefix {
	out := fs[:0]
	for _, f := range fs {
		if f.Prefix.Overlaps(p) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b registry.FreePrefix) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out
}

// Space scans a row of id, name, note, created_at.
func Space(rows Scanner) (registry.Space, error) {
	var s registry.Space
	var created int64
	err := rows.Scan(&s.ID, &s.Name, &s.Note, &created)
	s.CreatedAt = FromMicros(created)
	return s, err
}

// BlockSpace is the space a block is stored in: its own, else the
// default for its source (registry.AddBlock always names one).
func BlockSpace(b registry.Block) string {
	switch {
	case b.Space != "":
		return b.Space
	case b.Source == registry.SourcePrivate:
		return registry.PrivateSpace
	}
	return registry.GlobalSpace
}

// TagRows is a result set of object_id, key, value rows: *sql.Rows and
// pgx.Rows both are.
type TagRows interface {
	Scanner
	Next() bool
	Err() error
}

// Tags collects rows of object_id, key, value into each object's tags.
func Tags(rows TagRows) (map[int64]registry.Tags, error) {
	out := map[int64]registry.Tags{}
	for rows.Next() {
		var id int64
		var k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return nil, err
		}
		if out[id] == nil {
			out[id] = registry.Tags{}
		}
		out[id][k] = v
	}
	return out, rows.Err()
}
