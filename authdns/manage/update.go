package manage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// UpdateError is an RFC 2136 UPDATE refused: Rcode is the reply's RCODE
// (dns.RcodeRefused, dns.RcodeNotZone, dns.RcodeFormatError, ...), Err
// says why, for the server's log.
type UpdateError struct {
	Rcode int
	Err   error
}

func (e *UpdateError) Error() string { return e.Err.Error() }
func (e *UpdateError) Unwrap() error { return e.Err }

func updateErr(rcode int, format string, args ...any) error {
	return &UpdateError{Rcode: rcode, Err: fmt.Errorf(format, args...)}
}

// canonicalGrants checks and canonicalises the name suffixes a TSIG key
// is granted. The root is refused: a key that may change every name is
// an admin token by another name; grant the zones themselves instead.
func canonicalGrants(gs []string) ([]string, error) {
	var out []string
	for _, g := range gs {
		n, err := zone.CanonicalName(g)
		if err != nil {
			return nil, fmt.Errorf("--grant-update %q: %w", g, err)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Granted reports whether name lies at or under one of grants.
func Granted(grants []string, name string) bool {
	n := dns.CanonicalName(name)
	for _, g := range grants {
		if dns.IsSubDomain(g, n) {
			return true
		}
	}
	return false
}

// TSIGGrants returns the update grants of the register's TSIG key named
// key, none if the register has no such key (a key configured on the
// server alone changes nothing).
func (m *Manager) TSIGGrants(ctx context.Context, key string) ([]string, error) {
	ks, err := m.store.TSIGKeys(ctx)
	if err != nil {
		return nil, err
	}
	n := dns.CanonicalName(key)
	for _, k := range ks {
		if k.Name == n {
			return k.Grants, nil
		}
	}
	return nil, nil
}

// CheckUpdate is the prescan of an RFC 2136 update section (§3.4.1) for
// zone z by a key with grants: every record in the zone (NOTZONE), of a
// form the RFC allows (FORMERR), on a name the key is granted and of a
// type an operator may write (REFUSED: SOA, DNSSEC records and the apex
// NS come from the zone's configuration and keys, never from an update).
func CheckUpdate(z zone.Zone, grants []string, rrs []dns.RR) error {
	for _, rr := range rrs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if !dns.IsSubDomain(z.Name, name) {
			return updateErr(dns.RcodeNotZone, "update %s: not in zone %s", name, z.Name)
		}
		t := h.Rrtype
		meta := t == dns.TypeAXFR || t == dns.TypeIXFR || t == dns.TypeMAILA || t == dns.TypeMAILB || t == dns.TypeOPT || t == dns.TypeTSIG || t == 0
		switch h.Class {
		case dns.ClassINET:
			if meta || t == dns.TypeANY {
				return updateErr(dns.RcodeFormatError, "update %s: type %s cannot be added", name, dns.TypeToString[t])
			}
		case dns.ClassANY:
			if h.Ttl != 0 || h.Rdlength != 0 || meta {
				return updateErr(dns.RcodeFormatError, "update %s %s: a deletion of class ANY has TTL 0 and no data (RFC 2136 §2.5.2)", name, dns.TypeToString[t])
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || meta || t == dns.TypeANY {
				return updateErr(dns.RcodeFormatError, "update %s %s: a deletion of class NONE has TTL 0 and a type (RFC 2136 §2.5.4)", name, dns.TypeToString[t])
			}
		default:
			return updateErr(dns.RcodeFormatError, "update %s: class %s", name, dns.ClassToString[h.Class])
		}
		if !Granted(grants, name) {
			return updateErr(dns.RcodeRefused, "update %s: the key is not granted this name", name)
		}
		if why, bad := reservedTypes[t]; bad && t != dns.TypeANY {
			return updateErr(dns.RcodeRefused, "update %s %s: the type %s", name, dns.TypeToString[t], why)
		}
		if t == dns.TypeNS && name == z.Name {
			return updateErr(dns.RcodeRefused, "update %s NS: the apex NS come from the zone's configuration (cadastre zone update --ns)", name)
		}
	}
	return nil
}

// rdata is the presentation form of rr's data, as a static record keeps it.
func rdata(rr dns.RR) string {
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
}

// Update applies an RFC 2136 update section (already checked by
// CheckUpdate) to zone zoneName's static records, as one change: records
// are added (an exact duplicate is skipped, RFC 2136 §3.4.2.2) and
// deleted by set, by name or one by one (§3.4.2.3-4), the apex NS never.
// It returns the number of records added and deleted; with none, nothing
// is written. A rule of AddRecord broken by an addition (CNAME alone at
// its name, bad data) refuses the whole update (REFUSED, where RFC 2136
// would drop that record silently: an automation should learn why), and
// so does an addition at a name a tenant's live assignment holds.
func (m *Manager) Update(ctx context.Context, zoneName string, rrs []dns.RR) (int, error) {
	z, err := m.Zone(ctx, zoneName)
	if err != nil {
		return 0, err
	}
	stored, err := m.store.Records(ctx, z.ID)
	if err != nil {
		return 0, err
	}
	type cur struct {
		r  zone.Record
		rr dns.RR
	}
	var work []cur // the zone's static records as the update goes
	for _, r := range stored {
		rr, err := r.RR()
		if err != nil {
			return 0, fmt.Errorf("zone %s: stored record %d: %w", z.Name, r.ID, err)
		}
		work = append(work, cur{r, rr})
	}
	var del []zone.Record
	drop := func(keep func(c cur) bool) {
		work = slices.DeleteFunc(work, func(c cur) bool {
			if keep(c) {
				return false
			}
			if c.r.ID != 0 {
				del = append(del, c.r)
			}
			return true
		})
	}
	for _, rr := range rrs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		switch h.Class {
		case dns.ClassINET:
			if slices.ContainsFunc(work, func(c cur) bool { return dns.IsDuplicate(c.rr, rr) }) {
				continue
			}
			rs := make([]zone.Record, len(work))
			for i, c := range work {
				rs[i] = c.r
			}
			r, err := m.prepareRecord(z, rs, name, dns.TypeToString[h.Rrtype], rdata(rr), h.Ttl)
			if err != nil {
				return 0, &UpdateError{Rcode: dns.RcodeRefused, Err: err}
			}
			nrr, err := r.RR()
			if err != nil {
				return 0, &UpdateError{Rcode: dns.RcodeRefused, Err: err}
			}
			work = append(work, cur{r, nrr})
		case dns.ClassANY:
			drop(func(c cur) bool {
				return c.r.Name != name || h.Rrtype != dns.TypeANY && c.rr.Header().Rrtype != h.Rrtype ||
					name == z.Name && c.rr.Header().Rrtype == dns.TypeNS
			})
		case dns.ClassNONE:
			want := dns.Copy(rr)
			want.Header().Class = dns.ClassINET
			drop(func(c cur) bool { return !dns.IsDuplicate(c.rr, want) })
		}
	}
	var add []*zone.Record
	for _, c := range work {
		if c.r.ID == 0 {
			r := c.r
			add = append(add, &r)
		}
	}
	if len(del)+len(add) == 0 {
		return 0, nil
	}
	all := make([]zone.Record, len(work))
	for i, c := range work {
		all[i] = c.r
	}
	if _, err := occludedInWrite(z, all, add); err != nil {
		return 0, &UpdateError{Rcode: dns.RcodeRefused, Err: fmt.Errorf("zone %s: update: %w", z.Name, err)}
	}
	ids := make([]int64, len(del))
	es := make([]registry.Event, 0, len(del)+len(add))
	for i, r := range del {
		ids[i] = r.ID
		e := m.event(ctx, "record.delete", zone.SubjectRecord, r.Name+" "+r.Type, r, nil)
		es = append(es, e)
	}
	for _, r := range add {
		es = append(es, m.event(ctx, "record.add", zone.SubjectRecord, r.Name+" "+r.Type, nil, *r))
	}
	// An update is bound to no tenant: like an admin, it may not add
	// records at a name a tenant's live assignment holds, checked in the
	// write transaction under the name's lock (issue 10).
	if err := m.store.ChangeRecords(ctx, ids, add, es, AdminZoneRecordCheck(z)); err != nil {
		var taken *registry.NameTakenError
		if errors.As(err, &taken) {
			return 0, &UpdateError{Rcode: dns.RcodeRefused, Err: fmt.Errorf("zone %s: update: %w", z.Name, err)}
		}
		if errors.Is(err, registry.ErrNotFound) {
			// Another writer removed a record this update meant to:
			// nothing was written; the client may try again.
			return 0, fmt.Errorf("zone %s: records changed meanwhile: %w", z.Name, err)
		}
		return 0, fmt.Errorf("zone %s: update: %w", z.Name, err)
	}
	return len(del) + len(add), nil
}

// Record finds a static record by ID.
func (m *Manager) Record(ctx context.Context, id int64) (zone.Record, error) {
	rs, err := m.store.Records(ctx, 0)
	if err != nil {
		return zone.Record{}, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return zone.Record{}, fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
}
