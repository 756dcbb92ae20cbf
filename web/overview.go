package web

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// barView is a utilization bar's geometry in percent of the width.
type barView struct {
	Label                                      string
	Assigned, Quarantined, Reserved, ReservedX float64
}

// utilBar draws assigned, quarantined and reserved space of size
// (reserved: reservations in force and the addresses a pool's policy
// keeps back, as the registry counts them).
func utilBar(size, assigned, quarantined, reserved prefix.Count) barView {
	pc := func(c prefix.Count) float64 {
		if size.IsZero() {
			return 0
		}
		return 100 * c.Float64() / size.Float64()
	}
	b := barView{Assigned: pc(assigned), Quarantined: pc(quarantined), Reserved: pc(reserved)}
	b.ReservedX = b.Assigned + b.Quarantined
	b.Label = "assigned " + fmtPct(b.Assigned) + ", quarantined " + fmtPct(b.Quarantined) + ", reserved " + fmtPct(b.Reserved) +
		", free " + fmtPct(100-b.Assigned-b.Quarantined-b.Reserved)
	return b
}

// reportRow is a report row as the overview shows it.
type reportRow struct {
	registry.ReportRow
	Bar       barView
	RunsOutOn *time.Time
}

func reportRows(rows []registry.ReportRow, now time.Time) []reportRow {
	out := make([]reportRow, len(rows))
	for i, r := range rows {
		out[i] = reportRow{ReportRow: r, Bar: utilBar(r.Size, r.Assigned, r.Quarantined, r.Reserved)}
		if r.RunwayDays != nil {
			t := now.Add(time.Duration(*r.RunwayDays * float64(24*time.Hour)))
			out[i].RunsOutOn = &t
		}
	}
	return out
}

type overviewView struct {
	Rows        []reportRow
	Relocations []registry.Relocation
	MoreRelocs  int
	Findings    int // -1: geolocation not loaded
	Checked     int
	Tenant      *registry.Tenant // a tenant session's own record
	Regions     []registry.Region
}

// overviewRelocations is how many recent relocations the overview lists.
const overviewRelocations = 10

// pageOverview is /: per region and family, use, runway and IPv6 share,
// recent relocations and open audit findings; for a tenant session, its
// quota and use.
func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	sess := sessionOf(ctx)
	v := overviewView{Findings: -1}
	if t := sess.Tenant(); t != nil {
		ten, err := s.reg.Tenant(ctx, *t)
		if err != nil {
			return err
		}
		v.Tenant = &ten
		if v.Regions, err = s.reg.Regions(ctx); err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, "overview", v)
	}
	rows, err := s.report(ctx, "")
	if err != nil {
		return err
	}
	v.Rows = reportRows(rows, s.cfg.Now())
	rels, err := s.reg.Relocations(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(rels, func(a, b registry.Relocation) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.ID, a.ID))
	})
	if len(rels) > overviewRelocations {
		v.MoreRelocs = len(rels) - overviewRelocations
		rels = rels[:overviewRelocations]
	}
	v.Relocations = rels
	if s.cfg.Geo != nil {
		if v.Findings, v.Checked, err = s.audit(ctx, s.cfg.Geo.Table()); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "overview", v)
}
