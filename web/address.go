package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

type addressView struct {
	Query   netip.Prefix
	IsAddr  bool
	Holding *registry.Holding     // an operator's view: block, pool, region, relocation, history
	Own     []registry.Assignment // a tenant's view: its own assignments there
	Reverse string                // the reverse DNS name of the address
	Geo     *geo.Result
	// Reserved is the reservations in force overlapping the query (an
	// operator's view only).
	Reserved []registry.Reservation
	// Page is one page of the assignments of a query that is exactly a
	// pool, read from the store a page at a time as `show POOL` reads
	// it: a pool of a million assignments costs a page, not a million rows.
	Page assignmentList
}

// maxAddressLimit bounds ?limit= of the address page.
const maxAddressLimit = 1000

// pageAddress is /ip/{addr or prefix}: the holding block with its
// provenance and price, the pool, region, assignment and relocation, the
// DNS names forward and reverse, what each geolocation source says, and
// the event history. A tenant session sees only its own assignment there,
// and "not found" where it holds none.
func (s *Server) pageAddress(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	raw := r.PathValue("q")
	p, isAddr, err := prefix.ParsePrefixOrAddr(raw)
	if err != nil {
		return fmt.Errorf("%q: %w: %w", raw, err, registry.ErrInvalid)
	}
	v := addressView{Query: p, IsAddr: isAddr}
	if t := sessionOf(ctx).Tenant(); t != nil {
		as, err := s.reg.Assignments(ctx, registry.AssignmentFilter{Tenant: t, Contains: p, Limit: 10,
			States: []registry.State{registry.StateAssigned, registry.StateQuarantined}})
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return fmt.Errorf("%s: %w", p, registry.ErrNotFound)
		}
		v.Own = as
	} else {
		q := r.URL.Query()
		opts := registry.ShowOptions{Space: q.Get("space"), After: q.Get("after"), Limit: registry.DefaultShowLimit}
		if l := q.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > maxAddressLimit {
				return fmt.Errorf("limit %q: a page holds 1 to %d assignments: %w", l, maxAddressLimit, registry.ErrInvalid)
			}
			opts.Limit = n
		}
		h, err := s.reg.ShowWith(ctx, p, opts)
		if err != nil {
			return err
		}
		v.Holding = &h
		v.Page.Items = h.Assignments
		if h.Next != "" {
			next := url.Values{"after": {h.Next}}
			if opts.Space != "" {
				next.Set("space", opts.Space)
			}
			if q.Get("limit") != "" {
				next.Set("limit", strconv.Itoa(opts.Limit))
			}
			v.Page.Next = "/ip/" + raw + "?" + next.Encode()
		}
		if v.Reserved, err = s.reservationsIn(ctx, p); err != nil {
			return err
		}
		// Another space may reserve the same addresses: only the
		// holding block's space is this page's.
		if h.Block != nil {
			v.Reserved = slices.DeleteFunc(v.Reserved, func(x registry.Reservation) bool { return x.Space != h.Block.Space })
		}
	}
	if isAddr {
		if name, err := zone.ReverseZoneName(netip.PrefixFrom(p.Addr(), p.Addr().BitLen())); err == nil {
			v.Reverse = name
		}
		if s.cfg.Geo != nil {
			res := s.cfg.Geo.LookupAll(p.Addr())
			v.Geo = &res
		}
	}
	return s.render(w, r, http.StatusOK, "address", v)
}

// pageSearch is /search?q=: an address or prefix opens its page; a region
// or tenant its page or list; anything else is looked for as an
// assignment's DNS name, then its resource.
func (s *Server) pageSearch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		return fmt.Errorf("search: type an address, prefix, name, tenant or resource: %w", registry.ErrInvalid)
	}
	if len(q) > 256 {
		return fmt.Errorf("search: %d bytes, at most 256: %w", len(q), registry.ErrInvalid)
	}
	if _, _, err := prefix.ParsePrefixOrAddr(q); err == nil {
		http.Redirect(w, r, "/ip/"+q, http.StatusSeeOther)
		return nil
	}
	sess := sessionOf(ctx)
	if sess.Tenant() == nil {
		if _, err := s.reg.Region(ctx, q); err == nil {
			http.Redirect(w, r, "/region/"+url.PathEscape(q), http.StatusSeeOther)
			return nil
		} else if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrInvalid) {
			return err
		}
		if _, err := s.reg.Tenant(ctx, q); err == nil {
			http.Redirect(w, r, "/assignments?tenant="+url.QueryEscape(q), http.StatusSeeOther)
			return nil
		} else if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrInvalid) {
			return err
		}
	}
	// A DNS name as typed, then in lower case: names are kept as they
	// were given, and are almost always given in lower case, while DNS
	// compares them case-insensitively (VM-00001.US-EAST.CLOUD.EXAMPLE
	// found nothing: operator's walk-through).
	filters := []registry.AssignmentFilter{{Name: strings.TrimSuffix(q, ".")}, {Name: strings.TrimSuffix(q, ".") + "."}}
	if low := strings.ToLower(q); low != q {
		filters = append(filters, registry.AssignmentFilter{Name: strings.TrimSuffix(low, ".")}, registry.AssignmentFilter{Name: strings.TrimSuffix(low, ".") + "."})
	}
	for _, f := range append(filters, registry.AssignmentFilter{Resource: q}) {
		f.Tenant, f.Limit = sess.Tenant(), 2
		as, err := s.reg.Assignments(ctx, f)
		if err != nil {
			return err
		}
		switch {
		case len(as) == 1:
			http.Redirect(w, r, fmt.Sprintf("/assignment/%d", as[0].ID), http.StatusSeeOther)
			return nil
		case len(as) > 1 && f.Name != "":
			http.Redirect(w, r, "/assignments?name="+url.QueryEscape(f.Name), http.StatusSeeOther)
			return nil
		case len(as) > 1:
			http.Redirect(w, r, "/assignments?resource="+url.QueryEscape(q), http.StatusSeeOther)
			return nil
		}
	}
	return fmt.Errorf("search %q: no address, prefix, region, tenant, DNS name or resource of that name: %w", q, registry.ErrNotFound)
}
