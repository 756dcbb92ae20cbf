package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// maxForm bounds an action's form body.
const maxForm = 64 << 10

// formView is an action form's data: the regions to choose from, the
// values typed (kept when the form comes back with an error), the error.
type formView struct {
	Regions []registry.Region
	Form    url.Values
	Error   string
	Key     string // a fresh idempotency key for the allocate form
	Done    []registry.Assignment
	Message string
	// Reservations are those in force (the admin page lists them, each
	// with its unreserve button).
	Reservations []registry.Reservation
}

// formError renders name's form again with err and the status problem.For
// gives it; errors that are not the visitor's go to the error page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, name string, v formView, err error) error {
	status, ok := statusFor(err)
	if !ok || status >= 500 {
		return err
	}
	v.Error = err.Error()
	return s.render(w, r, status, name, v)
}

// forSession is err as the session may read it: a tenant's session reads
// a lack of space as registry.ForTenant words it (as the API answers a
// tenant's token), and the log keeps the whole error for the operator.
func (s *Server) forSession(r *http.Request, err error) error {
	if sessionOf(r.Context()).Tenant() == nil {
		return err
	}
	short, changed := registry.ForTenant(err)
	if changed {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "refused", slog.String("path", r.URL.Path), slog.String("err", err.Error()))
	}
	return short
}

func (s *Server) regionsForForm(r *http.Request) ([]registry.Region, error) {
	return s.reg.Regions(r.Context())
}

// pageAllocateForm is GET /allocate.
func (s *Server) pageAllocateForm(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.regionsForForm(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "allocate", formView{Regions: rs, Form: url.Values{"family": {"6"}}, Key: randomToken()})
}

// actionAllocate is POST /allocate: one request (dual-stack or one
// family, a length, a count) through Registry.AllocateAll, with the
// form's idempotency key: a resubmitted form returns the same assignments.
func (s *Server) actionAllocate(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.regionsForForm(r)
	if err != nil {
		return err
	}
	f := r.PostForm
	v := formView{Regions: rs, Form: f, Key: f.Get("key")}
	q, err := allocRequest(f)
	if err != nil {
		return s.formError(w, r, "allocate", v, err)
	}
	if t := sessionOf(r.Context()).Tenant(); t != nil {
		if q.Tenant != "" && q.Tenant != *t {
			return s.formError(w, r, "allocate", v, fmt.Errorf("tenant %s: this session is bound to tenant %s: %w", q.Tenant, *t, registry.ErrInvalid))
		}
		q.Tenant = *t
	}
	out, err := s.reg.AllocateAll(r.Context(), registry.Batch{Key: strings.TrimSpace(f.Get("key")), Requests: []registry.Request{q}})
	if err != nil {
		return s.formError(w, r, "allocate", v, s.forSession(r, err))
	}
	v.Done, v.Key, v.Form = out, randomToken(), url.Values{"region": {q.Region}, "family": {f.Get("family")}}
	return s.render(w, r, http.StatusCreated, "allocate", v)
}

// allocRequest reads the allocate form.
func allocRequest(f url.Values) (registry.Request, error) {
	q := registry.Request{Region: f.Get("region"), Tenant: strings.TrimSpace(f.Get("tenant")),
		Resource: strings.TrimSpace(f.Get("resource")), Name: strings.TrimSpace(f.Get("name")), DualStack: f.Get("dual_stack") != ""}
	switch fam := f.Get("family"); fam {
	case "", "6":
		q.Family = 6
	case "4":
		q.Family = 4
	default:
		return q, fmt.Errorf("family %q: must be 4 or 6: %w", fam, registry.ErrInvalid)
	}
	for _, n := range []struct {
		field string
		to    *int
		lo    int
		hi    int
	}{{"len", &q.Bits, 1, 128}, {"count", &q.Count, 1, 1000}} {
		s := strings.TrimSpace(f.Get(n.field))
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(strings.TrimPrefix(s, "/"))
		if err != nil || v < n.lo || v > n.hi {
			return q, fmt.Errorf("%s %q: must be a whole number from %d to %d: %w", n.field, s, n.lo, n.hi, registry.ErrInvalid)
		}
		*n.to = v
	}
	if q.DualStack {
		q.Family = 0 // the registry hands one of each
	}
	return q, nil
}

// actionRelease is POST /assignment/{id}/release.
func (s *Server) actionRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("assignment %q: %w", r.PathValue("id"), registry.ErrNotFound)
	}
	q := registry.DefaultQuarantine
	if d := strings.TrimSpace(r.PostForm.Get("quarantine")); d != "" {
		if q, err = time.ParseDuration(d); err != nil || q < 0 {
			return fmt.Errorf("quarantine %q: use a duration such as 24h or 0s: %w", d, registry.ErrInvalid)
		}
	}
	if _, err := s.reg.Release(r.Context(), registry.Target{ID: id}, q, sessionOf(r.Context()).Tenant()); err != nil {
		return err
	}
	http.Redirect(w, r, fmt.Sprintf("/assignment/%d", id), http.StatusSeeOther)
	return nil
}

// pageAdmin is GET /admin: the forms to add a region, a block and a pool.
func (s *Server) pageAdmin(w http.ResponseWriter, r *http.Request) error {
	v, err := s.adminForm(r, url.Values{})
	if err != nil {
		return err
	}
	v.Message = r.URL.Query().Get("done")
	return s.render(w, r, http.StatusOK, "admin", v)
}

// adminForm is the admin page's data: the regions to choose from and
// the reservations in force.
func (s *Server) adminForm(r *http.Request, f url.Values) (formView, error) {
	rs, err := s.regionsForForm(r)
	if err != nil {
		return formView{}, err
	}
	vs, err := s.reg.Reservations(r.Context())
	return formView{Regions: rs, Form: f, Reservations: vs}, err
}

// adminAction runs one admin form's registry call; on success it goes
// back to /admin saying what was added, on the visitor's error it shows
// the forms again with the message and what was typed.
func (s *Server) adminAction(do func(r *http.Request, f url.Values) (string, error)) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		done, err := do(r, r.PostForm)
		if err != nil {
			v, ferr := s.adminForm(r, r.PostForm)
			if ferr != nil {
				return errors.Join(err, ferr)
			}
			return s.formError(w, r, "admin", v, err)
		}
		http.Redirect(w, r, "/admin?done="+url.QueryEscape(done), http.StatusSeeOther)
		return nil
	}
}

func (s *Server) addRegion(r *http.Request, f url.Values) (string, error) {
	pol, err := registry.ParseBorrowPolicy(strings.TrimSpace(f.Get("borrow_from")))
	if err != nil {
		return "", fmt.Errorf("borrow from: %w: %w", err, registry.ErrInvalid)
	}
	spec := registry.RegionSpec{Name: strings.TrimSpace(f.Get("name")), Borrow: pol,
		Location: location.Location{Country: strings.ToUpper(strings.TrimSpace(f.Get("country"))),
			Subdivision: strings.ToUpper(strings.TrimSpace(f.Get("subdivision"))), City: strings.TrimSpace(f.Get("city"))}}
	g, err := s.reg.AddRegion(r.Context(), spec)
	if err != nil {
		return "", err
	}
	return "region " + g.Name, nil
}

func (s *Server) addBlock(r *http.Request, f url.Values) (string, error) {
	p, err := prefix.Parse(strings.TrimSpace(f.Get("prefix")))
	if err != nil {
		return "", fmt.Errorf("prefix: %w: %w", err, registry.ErrInvalid)
	}
	b := registry.Block{Prefix: p, Source: registry.Source(f.Get("source")), Registry: f.Get("registry"),
		RegisteredCountry: strings.ToUpper(strings.TrimSpace(f.Get("registered_country"))), From: strings.TrimSpace(f.Get("from")),
		Date: strings.TrimSpace(f.Get("date")), Note: f.Get("note")}
	if price := strings.TrimSpace(f.Get("price")); price != "" {
		cur := strings.ToUpper(strings.TrimSpace(f.Get("currency")))
		if cur == "" {
			cur = "USD"
		}
		m, err := registry.ParseMoney(price, cur)
		if err != nil {
			return "", fmt.Errorf("price: %w: %w", err, registry.ErrInvalid)
		}
		b.Price = &m
	}
	out, err := s.reg.AddBlock(r.Context(), b)
	if err != nil {
		return "", err
	}
	return "block " + out.Prefix.String(), nil
}

func (s *Server) addPool(r *http.Request, f url.Values) (string, error) {
	p, err := prefix.Parse(strings.TrimSpace(f.Get("prefix")))
	if err != nil {
		return "", fmt.Errorf("prefix: %w: %w", err, registry.ErrInvalid)
	}
	out, err := s.reg.AddPool(r.Context(), registry.PoolSpec{Prefix: p, Region: f.Get("region"), Purpose: strings.TrimSpace(f.Get("purpose"))})
	if err != nil {
		return "", err
	}
	return "pool " + out.Prefix.String() + " for " + out.Region, nil
}
