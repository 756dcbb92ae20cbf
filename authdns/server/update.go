package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// updateTimeout bounds the store work of one UPDATE.
const updateTimeout = 30 * time.Second

// update answers an RFC 2136 UPDATE. Only requests signed with a TSIG key
// of the register (verified by ServeDNS before) that is granted the names
// they change may write, and only static records: SOA, DNSSEC records and
// the apex NS come from the zone's configuration and keys. The change
// goes through the store like any other, as one transaction with one
// event per record, so the zone's serial, journal and signatures follow
// at the rebuild made before the reply, on this replica, and at the next
// poll on every other replica of the database.
//
// RCODEs: FORMERR for a malformed request (§3.1.1, §3.4.1.3), NOTAUTH for
// a zone not served here (§3.1.1), REFUSED when unsigned or not granted,
// the prerequisite's RCODE when one fails (§3.2), NOTZONE for a name
// outside the zone (§3.2.2, §3.4.1.3), SERVFAIL when the store fails.
func (s *Server) update(r *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable, m.AuthenticatedData = false, false
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(MaxUDPSize, o.Do())
	}
	if len(r.Question) != 1 || r.Question[0].Qtype != dns.TypeSOA || r.Question[0].Qclass != dns.ClassINET {
		// RFC 2136 §3.1.1: one zone, of type SOA (and cadastre's class).
		m.Rcode = dns.RcodeFormatError
		return m
	}
	zname := strings.ToLower(r.Question[0].Name)
	if s.snap.Load().Zone(zname) == nil {
		m.Rcode = dns.RcodeNotAuth
		return m
	}
	t := r.IsTsig()
	if t == nil {
		s.log.Warn("dns update refused: unsigned", "zone", zname)
		m.Rcode = dns.RcodeRefused
		return m
	}
	key := strings.ToLower(t.Hdr.Name)
	ctx, cancel := context.WithTimeout(registry.WithActor(context.Background(), "tsig:"+key), updateTimeout)
	defer cancel()
	grants, err := s.mgr.TSIGGrants(ctx, key)
	if err != nil {
		s.log.Error("dns update: TSIG grants", "zone", zname, "key", key, "err", err)
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	if !grantsTouch(grants, zname) {
		// Before the prerequisites: a key with no right in the zone
		// learns nothing of its content.
		s.log.Warn("dns update refused: key not granted in zone", "zone", zname, "key", key)
		m.Rcode = dns.RcodeRefused
		return m
	}
	// One update at a time in this process, evaluated on the zone as
	// the store has it now, not as the last poll saw it.
	s.umu.Lock()
	defer s.umu.Unlock()
	if err := s.Reload(ctx); err != nil {
		s.log.Error("dns update: reload", "err", err)
	}
	zd := s.snap.Load().Zone(zname)
	if zd == nil {
		m.Rcode = dns.RcodeNotAuth
		return m
	}
	if rc := prerequisites(zd, r.Answer); rc != dns.RcodeSuccess {
		s.log.Info("dns update: prerequisite failed", "zone", zname, "key", key, "rcode", dns.RcodeToString[rc])
		m.Rcode = rc
		return m
	}
	n, err := 0, manage.CheckUpdate(zd.Zone(), grants, r.Ns)
	if err == nil {
		n, err = s.mgr.Update(ctx, zname, r.Ns)
	}
	if err != nil {
		var ue *manage.UpdateError
		switch {
		case errors.As(err, &ue):
			s.log.Warn("dns update refused", "zone", zname, "key", key, "rcode", dns.RcodeToString[ue.Rcode], "err", err)
			m.Rcode = ue.Rcode
		default:
			s.log.Error("dns update failed", "zone", zname, "key", key, "err", err)
			m.Rcode = dns.RcodeServerFailure
		}
		return m
	}
	if n > 0 {
		// Serve the change (new serial, journal step, NOTIFY) before
		// the reply, so that a client that asks next sees it.
		if err := s.Reload(ctx); err != nil {
			s.log.Error("dns update: reload", "err", err)
		}
	}
	s.log.Info("dns update", "zone", zname, "key", key, "changes", n, "serial", s.Serial(zname))
	return m
}

// grantsTouch reports whether a grant lies in zone z or holds it.
func grantsTouch(grants []string, z string) bool {
	for _, g := range grants {
		if dns.IsSubDomain(z, g) || dns.IsSubDomain(g, z) {
			return true
		}
	}
	return false
}

// prerequisites checks an UPDATE's prerequisite section against the zone
// as served (RFC 2136 §3.2), records made from assignments included:
// class ANY asks that a name or set exist (NXDOMAIN, NXRRSET), NONE that
// it not (YXDOMAIN, YXRRSET), the zone's class that a set be exactly the
// records given (NXRRSET), TTLs aside.
func prerequisites(zd *zone.Data, pre []dns.RR) int {
	if len(pre) == 0 {
		return dns.RcodeSuccess
	}
	type key struct {
		name string
		t    uint16
	}
	sets := map[key][]dns.RR{}
	names := map[string]bool{}
	for _, rr := range zd.Records() {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG {
			continue
		}
		n := strings.ToLower(h.Name)
		sets[key{n, h.Rrtype}] = append(sets[key{n, h.Rrtype}], rr)
		names[n] = true
	}
	want := map[key][]dns.RR{}
	var order []key
	for _, rr := range pre {
		h := rr.Header()
		n := strings.ToLower(dns.Fqdn(h.Name))
		if h.Ttl != 0 {
			return dns.RcodeFormatError // §3.2.1
		}
		if !dns.IsSubDomain(zd.Name(), n) {
			return dns.RcodeNotZone // §3.2.2
		}
		switch h.Class {
		case dns.ClassANY:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if !names[n] {
					return dns.RcodeNameError
				}
			} else if len(sets[key{n, h.Rrtype}]) == 0 {
				return dns.RcodeNXRrset
			}
		case dns.ClassNONE:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if names[n] {
					return dns.RcodeYXDomain
				}
			} else if len(sets[key{n, h.Rrtype}]) != 0 {
				return dns.RcodeYXRrset
			}
		case dns.ClassINET:
			k := key{n, h.Rrtype}
			if _, seen := want[k]; !seen {
				order = append(order, k)
			}
			want[k] = append(want[k], rr)
		default:
			return dns.RcodeFormatError
		}
	}
	// §3.2.3: each set given must match the zone's set exactly.
	for _, k := range order {
		have := sets[k]
		if !sameRRs(have, want[k]) {
			return dns.RcodeNXRrset
		}
	}
	return dns.RcodeSuccess
}

// sameRRs reports whether a and b hold the same records, TTLs and
// repetitions aside.
func sameRRs(a, b []dns.RR) bool {
	in := func(x dns.RR, set []dns.RR) bool {
		for _, y := range set {
			if dns.IsDuplicate(x, y) {
				return true
			}
		}
		return false
	}
	for _, x := range a {
		if !in(x, b) {
			return false
		}
	}
	for _, y := range b {
		if !in(y, a) {
			return false
		}
	}
	return len(a) > 0
}
