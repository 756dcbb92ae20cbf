package web

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// chartDays is how far back the region chart goes.
const chartDays = 90

// activityCache keeps a region's activity of past days: they never change
// (an assignment's creation and release days are fixed once past), so only
// today is read again. Keyed by region and first day.
type activityCache struct {
	mu sync.Mutex
	m  map[activityKey][]registry.DayActivity
}

type activityKey struct {
	region   string
	from, to time.Time
}

// maxActivityCache bounds the cache (regions × days of the server's life).
const maxActivityCache = 1024

// activity returns the region's daily activity from the start of from's
// day to now: past days from the cache (or one read), today read fresh.
func (s *Server) activity(r *http.Request, region string, from, now time.Time) ([]registry.DayActivity, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	k := activityKey{region: region, from: from.UTC().Truncate(24 * time.Hour), to: today}
	s.acts.mu.Lock()
	past, ok := s.acts.m[k]
	s.acts.mu.Unlock()
	if !ok {
		var err error
		if past, err = s.reg.Activity(r.Context(), region, k.from, today); err != nil {
			return nil, err
		}
		s.acts.mu.Lock()
		if s.acts.m == nil || len(s.acts.m) >= maxActivityCache {
			s.acts.m = map[activityKey][]registry.DayActivity{}
		}
		s.acts.m[k] = past
		s.acts.mu.Unlock()
	}
	// Today changes with every allocation: read again once the log moved.
	cur, err := cached(s, r.Context(), "activity\x00"+region+"\x00"+today.Format(time.DateOnly), func(ctx context.Context) ([]registry.DayActivity, error) {
		return s.reg.Activity(ctx, region, today, today.Add(24*time.Hour))
	})
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(past), cur...), nil
}

type regionView struct {
	Region    registry.Region
	Rows      []reportRow
	Pools     []poolRow
	Chart     chartView
	RelocsIn  []registry.Relocation
	RelocsOut []registry.Relocation
}

// poolRow is a pool in a list, with its depth in the child-pool tree.
type poolRow struct {
	registry.PoolUsage
	Depth int
	Bar   barView
}

// poolTree orders pools so each child pool follows its parent, with depths.
func poolTree(pools []registry.PoolUsage) []poolRow {
	kids := map[int64][]registry.PoolUsage{}
	known := map[int64]bool{}
	for _, p := range pools {
		known[p.ID] = true
	}
	var roots []registry.PoolUsage
	for _, p := range pools {
		if p.ParentID != 0 && known[p.ParentID] {
			kids[p.ParentID] = append(kids[p.ParentID], p)
		} else {
			roots = append(roots, p)
		}
	}
	var out []poolRow
	var walk func(p registry.PoolUsage, depth int)
	walk = func(p registry.PoolUsage, depth int) {
		out = append(out, poolRow{PoolUsage: p, Depth: depth, Bar: utilBar(p.Size, p.Assigned, p.Quarantined, p.Reserved)})
		for _, k := range kids[p.ID] {
			walk(k, depth+1)
		}
	}
	for _, p := range roots {
		walk(p, 0)
	}
	return out
}

// pageRegion is /region/{name}: pools and child pools with their use, 90
// days of allocations and releases with the IPv4 runway projection, and
// the relocations in and out with their reasons.
func (s *Server) pageRegion(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	reg, err := s.reg.Region(ctx, name)
	if err != nil {
		return err
	}
	rows, err := s.report(ctx, name)
	if err != nil {
		return err
	}
	pools, err := s.pools(ctx, name)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	days, err := s.activity(r, name, now.Add(-(chartDays-1)*24*time.Hour), now)
	if err != nil {
		return err
	}
	rels, err := s.reg.Relocations(ctx)
	if err != nil {
		return err
	}
	v := regionView{Region: reg, Rows: reportRows(rows, now), Pools: poolTree(pools)}
	for _, rl := range rels {
		if rl.ToRegion == name {
			v.RelocsIn = append(v.RelocsIn, rl)
		}
		if rl.FromRegion == name {
			v.RelocsOut = append(v.RelocsOut, rl)
		}
	}
	var v4 *registry.ReportRow
	for i := range rows {
		if rows[i].Family == 4 {
			v4 = &rows[i]
		}
	}
	v.Chart = buildChart(days, v4, now)
	return s.render(w, r, http.StatusOK, "region", v)
}
