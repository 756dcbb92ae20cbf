package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// assignmentList is one page of assignments with the link to the next.
type assignmentList struct {
	Items []registry.Assignment
	Next  string // URL of the next page, "" on the last
}

// listAssignments reads one page of f (after ?after=) and links the next
// page at base with the request's other query parameters kept. A tenant
// session only ever lists its own.
func (s *Server) listAssignments(r *http.Request, f registry.AssignmentFilter, base string) (assignmentList, error) {
	q := r.URL.Query()
	if t := sessionOf(r.Context()).Tenant(); t != nil {
		f.Tenant = t
	}
	// The cursor's kind follows the page's order (ByAddress), which the
	// tenant above is part of.
	if a := q.Get("after"); a != "" {
		if err := f.SetCursor(a); err != nil {
			return assignmentList{}, fmt.Errorf("after: %w", err)
		}
	}
	f.Limit = assignmentsPage + 1
	as, err := s.reg.Assignments(r.Context(), f)
	if err != nil {
		return assignmentList{}, err
	}
	out := assignmentList{Items: as}
	if len(as) > assignmentsPage {
		out.Items = as[:assignmentsPage]
		q.Set("after", f.NextCursor(out.Items[len(out.Items)-1]))
		out.Next = base + "?" + q.Encode()
	}
	return out, nil
}

type assignmentsView struct {
	Query url.Values
	List  assignmentList
	Title string
}

// pageAssignments is /assignments: a page of assignments filtered by
// region, family, state, tenant, within (a prefix), name or resource.
func (s *Server) pageAssignments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := registry.AssignmentFilter{Region: q.Get("region"), Name: q.Get("name"), Resource: q.Get("resource")}
	switch fam := q.Get("family"); fam {
	case "":
	case "4", "6":
		f.Family, _ = strconv.Atoi(fam)
	default:
		return fmt.Errorf("family %q: must be 4 or 6: %w", fam, registry.ErrInvalid)
	}
	switch st := registry.State(q.Get("state")); st {
	case "":
	case registry.StateAssigned, registry.StateQuarantined, registry.StateReleased:
		f.States = []registry.State{st}
	default:
		return fmt.Errorf("state %q: must be assigned, quarantined or released: %w", st, registry.ErrInvalid)
	}
	if t := q.Get("tenant"); t != "" {
		if own := sessionOf(r.Context()).Tenant(); own != nil && *own != t {
			return fmt.Errorf("tenant %s: %w", t, registry.ErrNotFound) // another tenant's: as if it did not exist
		}
		f.Tenant = &t
	}
	if wi := q.Get("within"); wi != "" {
		p, err := prefix.Parse(wi)
		if err != nil {
			return fmt.Errorf("within %q: %w: %w", wi, err, registry.ErrInvalid)
		}
		f.Within = p
	}
	list, err := s.listAssignments(r, f, "/assignments")
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "assignments", assignmentsView{Query: q, List: list})
}

type assignmentView struct {
	A      registry.Assignment
	Events []registry.Event
}

// pageAssignment is /assignment/{id}: one assignment, with the release
// form for those who may. Another tenant's assignment is not found.
func (s *Server) pageAssignment(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return fmt.Errorf("assignment %q: %w", r.PathValue("id"), registry.ErrNotFound)
	}
	a, err := s.reg.Assignment(r.Context(), id, sessionOf(r.Context()).Tenant())
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "assignment", assignmentView{A: a})
}

// assignmentRows is the rows of the "assignments" table (common.html),
// written directly as /tree's are (treeWriter: every value from the
// register through html.EscapeString): through html/template, eight
// actions a row were two thirds of the pool page's CPU (bench/README.md,
// session 9).
func assignmentRows(as []registry.Assignment) template.HTML {
	var w treeWriter
	w.Grow(len(as) * 320)
	var day [10]byte
	for _, a := range as {
		w.raw(`<tr><td class="prefix"><a href="/assignment/`)
		w.raw(strconv.FormatInt(a.ID, 10))
		w.raw(`">`)
		w.text(a.Prefix.String())
		w.raw(`</a></td><td class="state-`)
		w.text(string(a.State))
		w.raw(`">`)
		w.text(string(a.State))
		if a.Borrowed {
			w.raw(" (borrowed)")
		}
		for _, v := range []string{a.Region, a.Tenant, a.Resource, a.Name} {
			w.raw("</td><td>")
			w.text(v)
		}
		w.raw("</td><td>")
		w.Write(a.CreatedAt.UTC().AppendFormat(day[:0], time.DateOnly))
		w.raw("</td></tr>")
	}
	return template.HTML(w.String())
}
