package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
)

// RateWindow is how far back the allocation rate looks.
const RateWindow = 30 * 24 * time.Hour

// ReportRow is one region and family of the report.
type ReportRow struct {
	Region      string       `json:"region"`
	Family      int          `json:"family"`
	Pools       int          `json:"pools"`
	Size        prefix.Count `json:"size"`
	Assigned    prefix.Count `json:"assigned"`
	Quarantined prefix.Count `json:"quarantined"`
	Free        prefix.Count `json:"free"`
	Utilization float64      `json:"utilization"` // percent
	RatePerDay  float64      `json:"rate_per_day"`
	// RunwayDays is free / rate for IPv4: nil where nothing was allocated
	// in the window (no rate, no forecast) and for IPv6.
	RunwayDays *float64 `json:"runway_days"`
	// IPv6Share is the share of the region's live assignments that are IPv6.
	IPv6Share float64 `json:"ipv6_share"`
}

// Report gives, per region and family, size, use, rate and runway. With
// regionName it covers that region only.
func (r *Registry) Report(ctx context.Context, regionName string) (out []ReportRow, err error) {
	now := r.clock()
	err = r.store.View(ctx, func(tx Tx) error {
		regions, err := tx.Regions(ctx)
		if err != nil {
			return err
		}
		if regionName != "" {
			i := slices.IndexFunc(regions, func(g Region) bool { return g.Name == regionName })
			if i < 0 {
				return fmt.Errorf("region %s: %w", regionName, ErrNotFound)
			}
			regions = regions[i : i+1]
		}
		for _, reg := range regions {
			pools, err := tx.Pools(ctx, PoolFilter{RegionID: reg.ID})
			if err != nil {
				return err
			}
			counts, err := r.usage(ctx, tx, pools, now)
			if err != nil {
				return err
			}
			rows := map[int]*ReportRow{4: {Region: reg.Name, Family: 4}, 6: {Region: reg.Name, Family: 6}}
			ids := map[int][]int64{}
			for _, p := range pools {
				fam := prefix.Family(p.Prefix)
				row, c := rows[fam], counts[p.ID]
				row.Pools++
				row.Size = row.Size.Add(c.size)
				row.Assigned = row.Assigned.Add(c.assigned)
				row.Quarantined = row.Quarantined.Add(c.quarantined)
				ids[fam] = append(ids[fam], p.ID)
			}
			live := map[int]int64{}
			for fam, poolIDs := range ids {
				use, err := tx.Usage(ctx, poolIDs, now)
				if err != nil {
					return err
				}
				for _, u := range use {
					live[fam] += u.Count - u.Expired
				}
				created, err := tx.CreatedSince(ctx, poolIDs, now.Add(-RateWindow))
				if err != nil {
					return err
				}
				width := 32
				if fam == 6 {
					width = 128
				}
				var n prefix.Count
				for bits, k := range created {
					n = n.Add(prefix.Pow2(width - bits).Mul(uint64(k)))
				}
				rows[fam].RatePerDay = n.Float64() / RateWindow.Hours() * 24
			}
			share := 0.0
			if t := live[4] + live[6]; t > 0 {
				share = float64(live[6]) / float64(t)
			}
			for _, fam := range []int{4, 6} {
				row := rows[fam]
				row.Free = row.Size.Sub(row.Assigned).Sub(row.Quarantined)
				row.Utilization = 100 * ratio(row.Assigned, row.Size)
				row.IPv6Share = share
				if fam == 4 && row.RatePerDay > 0 {
					d := row.Free.Float64() / row.RatePerDay
					row.RunwayDays = &d
				}
				out = append(out, *row)
			}
		}
		return nil
	})
	return out, err
}

// Holding answers "who holds this address?": the block, the pool and
// region, the assignment if any, and the history of each.
type Holding struct {
	Query      netip.Prefix `json:"query"`
	Block      *Block       `json:"block,omitempty"`
	Pool       *Pool        `json:"pool,omitempty"`
	Relocation *Relocation  `json:"relocation,omitempty"`
	Assignment *Assignment  `json:"assignment,omitempty"`
	Past       []Assignment `json:"past,omitempty"`
	Events     []Event      `json:"events"`
}

// Show tells which block, pool, region and assignment hold p, and the
// events of each, looking in the global space (private space, which the
// global space never holds, in the one space that holds p).
func (r *Registry) Show(ctx context.Context, p netip.Prefix) (Holding, error) {
	return r.ShowIn(ctx, p, "")
}

// ShowIn is Show in the named space (as Show when space is empty).
func (r *Registry) ShowIn(ctx context.Context, p netip.Prefix, space string) (h Holding, err error) {
	h.Query = p
	err = r.store.View(ctx, func(tx Tx) error {
		if space != "" {
			if _, err := tx.SpaceByName(ctx, space); err != nil {
				return err
			}
		}
		blocks, err := tx.BlocksOverlapping(ctx, p)
		if err != nil {
			return err
		}
		var in []Block
		for _, b := range blocks {
			if prefix.Covers(b.Prefix, p) && (space == "" || b.Space == space) {
				in = append(in, b)
			}
		}
		for _, b := range in {
			if b.Space == GlobalSpace || len(in) == 1 {
				h.Block = &b
			}
		}
		if h.Block == nil && len(in) > 1 {
			var spaces []string
			for _, b := range in {
				spaces = append(spaces, b.Space)
			}
			return invalid("%s: held in %d spaces (%s): name one with --space", p, len(in), few(spaces))
		}
		if h.Block == nil {
			where := "any block of the register"
			if space != "" {
				where = "any block of space " + space
			}
			return fmt.Errorf("%s: not in %s: %w", p, where, ErrNotFound)
		}
		if h.Block.Tags, err = tagsOf(ctx, tx, KindBlock, h.Block.ID); err != nil {
			return err
		}
		pools, err := tx.PoolsOverlapping(ctx, p)
		if err != nil {
			return err
		}
		// The most specific pool holds it: a relocated unit inside its lender's pool.
		for _, pl := range pools {
			if prefix.Covers(pl.Prefix, p) && (h.Pool == nil || pl.Prefix.Bits() > h.Pool.Prefix.Bits()) {
				h.Pool = &pl
			}
		}
		all, err := tx.AssignmentsAt(ctx, p)
		if err != nil {
			return err
		}
		subjects := map[string][]int64{"block": {h.Block.ID}}
		for _, a := range all {
			subjects["assignment"] = append(subjects["assignment"], a.ID)
			if a.State != StateReleased && h.Assignment == nil {
				h.Assignment = &a
			} else {
				h.Past = append(h.Past, a)
			}
		}
		if h.Assignment != nil {
			if h.Assignment.Tags, err = tagsOf(ctx, tx, KindAssignment, h.Assignment.ID); err != nil {
				return err
			}
		}
		if h.Pool != nil {
			if h.Pool.Tags, err = tagsOf(ctx, tx, KindPool, h.Pool.ID); err != nil {
				return err
			}
			subjects["pool"] = []int64{h.Pool.ID}
			if h.Pool.Relocation != nil {
				rels, err := tx.Relocations(ctx)
				if err != nil {
					return err
				}
				for _, rel := range rels {
					if rel.ID == h.Pool.Relocation.ID {
						h.Relocation = &rel
						subjects["relocation"] = []int64{rel.ID}
					}
				}
			}
		}
		for _, kind := range []string{"block", "pool", "relocation", "assignment"} {
			if len(subjects[kind]) == 0 {
				continue
			}
			ev, err := tx.Events(ctx, EventFilter{SubjectKind: kind, SubjectIDs: subjects[kind]})
			if err != nil {
				return err
			}
			h.Events = append(h.Events, ev...)
		}
		slices.SortFunc(h.Events, func(a, b Event) int { return int(a.Seq - b.Seq) })
		return nil
	})
	return h, err
}

// Relocations lists every relocation, oldest first.
func (r *Registry) Relocations(ctx context.Context) (out []Relocation, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		out, err = tx.Relocations(ctx)
		return err
	})
	return out, err
}
