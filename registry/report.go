package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
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
	// Reserved counts reservations in force and addresses the pools'
	// policies keep back (PoolUsage.Reserved).
	Reserved prefix.Count `json:"reserved"`
	Free     prefix.Count `json:"free"`
	// Utilization is assigned / size, a fraction from 0 to 1 (as in
	// pool listings).
	Utilization float64 `json:"utilization"`
	// Unit is the prefix length the family is counted in here: IPv4 in
	// addresses (32); IPv6 in the length most live assignments have, but
	// no longer than /64, the subnet every host address lives in (none
	// yet: 64). So IPv6 reads as "65,535 /64s free", never 2^80 addresses.
	Unit int `json:"unit"`
	// FreeUnits is how many prefixes of Unit the free space holds.
	FreeUnits prefix.Count `json:"free_units"`
	// AssignedByLength and QuarantinedByLength count the live
	// assignments of each prefix length, shortest first: IPv6 reads as
	// "1234 /64 + 56 /128", the unit it is handed out in.
	AssignedByLength    []LengthCount `json:"assigned_by_length"`
	QuarantinedByLength []LengthCount `json:"quarantined_by_length"`
	// RatePerDay is the allocation rate over the last RateWindow: IPv4
	// addresses a day (runway divides free addresses by it), IPv6
	// prefixes (assignments, of any length) a day.
	RatePerDay float64 `json:"rate_per_day"`
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
		// Every region's pools, counts and use are read at once (a
		// handful of statements, each answered from the stores' per-pool
		// counters), not once per region.
		f := PoolFilter{}
		if regionName != "" {
			f.RegionID = regions[0].ID
		}
		all, err := tx.Pools(ctx, f)
		if err != nil {
			return err
		}
		byRegion := map[int64][]Pool{}
		var top []Pool
		for _, p := range all {
			// A child pool is counted whole in its parent (as assigned):
			// the region sums top-level pools only.
			if !p.IsChild() {
				byRegion[p.RegionID] = append(byRegion[p.RegionID], p)
				top = append(top, p)
			}
		}
		counts, err := r.usage(ctx, tx, top, now)
		if err != nil {
			return err
		}
		for _, reg := range regions {
			pools := byRegion[reg.ID]
			rows := map[int]*ReportRow{4: {Region: reg.Name, Family: 4}, 6: {Region: reg.Name, Family: 6}}
			for _, row := range rows {
				row.AssignedByLength, row.QuarantinedByLength = []LengthCount{}, []LengthCount{}
			}
			ids := map[int][]int64{}
			for _, p := range pools {
				fam := prefix.Family(p.Prefix)
				row, c := rows[fam], counts[p.ID]
				row.Pools++
				row.Size = row.Size.Add(c.size)
				row.Assigned = row.Assigned.Add(c.assigned)
				row.Quarantined = row.Quarantined.Add(c.quarantined)
				row.Reserved = row.Reserved.Add(c.reserved)
				ids[fam] = append(ids[fam], p.ID)
			}
			live := map[int]int64{}
			for fam, poolIDs := range ids {
				var use []Usage
				for _, id := range poolIDs {
					use = append(use, counts[id].use...)
				}
				byBits := map[int]int64{}
				assigned, quarantined := map[int]int64{}, map[int]int64{}
				for _, u := range use {
					live[fam] += u.Count - u.Expired
					byBits[u.Bits] += u.Count - u.Expired
					if u.State == StateAssigned {
						assigned[u.Bits] += u.Count
					} else {
						quarantined[u.Bits] += u.Count - u.Expired
					}
				}
				rows[fam].AssignedByLength, rows[fam].QuarantinedByLength = byLength(assigned), byLength(quarantined)
				rows[fam].Unit = commonest(byBits, fam)
				created, err := tx.CreatedSince(ctx, poolIDs, now.Add(-RateWindow))
				if err != nil {
					return err
				}
				width := 32
				if fam == 6 {
					width = 128
				}
				var n prefix.Count
				var made int64
				for bits, k := range created {
					n = n.Add(prefix.Pow2(width - bits).Mul(uint64(k)))
					made += k
				}
				if fam == 6 {
					rows[fam].RatePerDay = float64(made) / RateWindow.Hours() * 24
				} else {
					rows[fam].RatePerDay = n.Float64() / RateWindow.Hours() * 24
				}
			}
			share := 0.0
			if t := live[4] + live[6]; t > 0 {
				share = float64(live[6]) / float64(t)
			}
			for _, fam := range []int{4, 6} {
				row := rows[fam]
				row.Free = row.Size.Sub(row.Assigned).Sub(row.Quarantined).Sub(row.Reserved)
				if row.Unit == 0 {
					row.Unit = commonest(nil, fam)
				}
				row.FreeUnits = row.Free.Rsh(famWidth(fam) - row.Unit)
				row.Utilization = ratio(row.Assigned, row.Size)
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

// LengthCount is how many prefixes of one length.
type LengthCount struct {
	Bits  int   `json:"len"`
	Count int64 `json:"count"`
}

// byLength lists the non-zero counts of n, shortest prefix first (never
// nil, so JSON says []).
func byLength(n map[int]int64) []LengthCount {
	out := []LengthCount{}
	for _, bits := range slices.Sorted(maps.Keys(n)) {
		if n[bits] > 0 {
			out = append(out, LengthCount{bits, n[bits]})
		}
	}
	return out
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
	// Summary and Assignments answer a query that is exactly a pool:
	// its use, and every assignment in it (live first, then past, each
	// by address), instead of Assignment and Past; Events are then the
	// pool's own, not each assignment's.
	Summary     *PoolSummary `json:"summary,omitempty"`
	Assignments []Assignment `json:"assignments,omitempty"`
	// Next is the cursor of the next page of Assignments (ShowOptions.
	// After), absent on the last page.
	Next   string  `json:"next,omitempty"`
	Events []Event `json:"events"`
}

// PoolSummary is a pool's use at a glance: its size (less what it lent),
// what is assigned, quarantined and free, the free space by prefix length
// (what can still be handed out, and how large), and the units carved
// out of it for other regions.
type PoolSummary struct {
	Size        prefix.Count `json:"size"`
	Assigned    prefix.Count `json:"assigned"`
	Quarantined prefix.Count `json:"quarantined"`
	Free        prefix.Count `json:"free"`
	Utilization float64      `json:"utilization"`
	// Live counts the pool's live assignments (assigned or
	// quarantined), however many a page lists.
	Live int64 `json:"live_assignments"`
	// AssignedByLength counts the live assignments of each length, as
	// ReportRow does.
	AssignedByLength []LengthCount `json:"assigned_by_length"`
	FreeByLength     []FreeLength  `json:"free_by_length"`
	Children         []Pool        `json:"children"`
}

// FreeLength counts the free prefixes of one length.
type FreeLength struct {
	Bits  int   `json:"len"`
	Count int64 `json:"count"`
}

// Show tells which block, pool, region and assignment hold p, and the
// events of each, looking in the global space (private space, which the
// global space never holds, in the one space that holds p). For a pool,
// every assignment is listed.
func (r *Registry) Show(ctx context.Context, p netip.Prefix) (Holding, error) {
	return r.ShowWith(ctx, p, ShowOptions{Limit: -1})
}

// ShowIn is Show in the named space (as Show when space is empty).
func (r *Registry) ShowIn(ctx context.Context, p netip.Prefix, space string) (h Holding, err error) {
	return r.ShowWith(ctx, p, ShowOptions{Space: space, Limit: -1})
}

// DefaultShowLimit is how many of a pool's assignments Show lists when
// no limit is given.
const DefaultShowLimit = 20

// ShowOptions narrows Show.
type ShowOptions struct {
	// Space is the space to look in ("" the global space, or the one
	// space whose pool holds a private address).
	Space string
	// Limit is how many of a pool's assignments to list: 0 is
	// DefaultShowLimit, below 0 every one.
	Limit int
	// After is the Holding.Next of the page before (empty: the first).
	After string
}

// ShowWith is Show with a space and a page of a pool's assignments: live
// ones (assigned, quarantined) by ID, then released ones by ID, read from
// the store a page at a time, so a pool of a million assignments costs a
// page, not a million rows.
func (r *Registry) ShowWith(ctx context.Context, p netip.Prefix, opts ShowOptions) (h Holding, err error) {
	h.Query = p
	space := opts.Space
	cur, err := parseShowCursor(opts.After)
	if err != nil {
		return Holding{}, err
	}
	if opts.Limit == 0 {
		opts.Limit = DefaultShowLimit
	}
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
		pools, err := tx.PoolsOverlapping(ctx, space, p)
		if err != nil {
			return err
		}
		// A pool belongs to its block's space. When several spaces hold
		// p, the one whose pool holds it names the space; pools of
		// several (pools overlap across spaces) need --space; the global
		// space is the default otherwise.
		holds := func(b Block) bool {
			return slices.ContainsFunc(pools, func(pl Pool) bool { return pl.BlockID == b.ID && prefix.Covers(pl.Prefix, p) })
		}
		var pooled []string
		for i, b := range in {
			if holds(b) {
				h.Block = &in[i]
				pooled = append(pooled, b.Space)
			}
		}
		if len(pooled) > 1 {
			return invalid("%s: held in pools of %d spaces (%s): name one with --space", p, len(pooled), strings.Join(pooled, ", "))
		}
		for i, b := range in {
			if h.Block == nil && (len(in) == 1 || b.Space == GlobalSpace) {
				h.Block = &in[i]
			}
		}
		if h.Block == nil && len(in) > 1 {
			var spaces []string
			for _, b := range in {
				spaces = append(spaces, b.Space)
			}
			return invalid("%s: held in %d spaces (%s), in a pool of none: name one with --space", p, len(in), few(spaces))
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
		// The most specific pool of the block holds it: a relocated unit
		// inside its lender's pool.
		for _, pl := range pools {
			if pl.BlockID == h.Block.ID && prefix.Covers(pl.Prefix, p) && (h.Pool == nil || pl.Prefix.Bits() > h.Pool.Prefix.Bits()) {
				h.Pool = &pl
			}
		}
		// Pools never overlap, so what overlaps p lies in h.Pool (or in
		// units lent out of it): the same block, the same space. A
		// query that is exactly a pool reads one page of it.
		var all []Assignment
		if h.Pool != nil && h.Pool.Prefix == p {
			if err := r.summarise(ctx, tx, &h, cur, opts.Limit); err != nil {
				return err
			}
		} else if h.Pool != nil {
			if all, err = tx.AssignmentsAt(ctx, h.Pool.Space, p); err != nil {
				return err
			}
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
		if err := loadEvents(ctx, tx, all, &h.Events); err != nil {
			return err
		}
		slices.SortFunc(h.Events, func(a, b Event) int { return int(a.Seq - b.Seq) })
		return nil
	})
	return h, err
}

// summarise fills h's Summary and one page of its Assignments for a
// query that is exactly h.Pool: after cur, at most limit (every one when
// limit < 0), live ones first in address order, then the released ones
// by ID; h.Next is the cursor of the page after, empty on the last.
func (r *Registry) summarise(ctx context.Context, tx Tx, h *Holding, cur showCursor, limit int) error {
	pl := *h.Pool
	now := r.clock()
	counts, err := r.usage(ctx, tx, []Pool{pl}, now)
	if err != nil {
		return err
	}
	c := counts[pl.ID]
	sum := PoolSummary{Size: c.size, Assigned: c.assigned, Quarantined: c.quarantined, Free: c.free(), Utilization: ratio(c.assigned, c.size),
		FreeByLength: []FreeLength{}, Children: []Pool{}}
	rows, err := tx.Usage(ctx, []int64{pl.ID}, now)
	if err != nil {
		return err
	}
	assigned := map[int]int64{}
	for _, u := range rows {
		sum.Live += u.Count
		if u.State == StateAssigned {
			assigned[u.Bits] += u.Count
		}
	}
	sum.AssignedByLength = byLength(assigned)
	free, err := tx.FreeOfPool(ctx, pl.ID)
	if err != nil {
		return err
	}
	byLen := map[int]int64{}
	for _, f := range free {
		byLen[f.Bits()]++
	}
	for _, bits := range slices.Sorted(maps.Keys(byLen)) {
		sum.FreeByLength = append(sum.FreeByLength, FreeLength{bits, byLen[bits]})
	}
	inside, err := tx.PoolsOverlapping(ctx, pl.Space, pl.Prefix)
	if err != nil {
		return err
	}
	for _, x := range inside {
		if x.ParentID == pl.ID {
			sum.Children = append(sum.Children, x)
		}
	}
	h.Summary = &sum
	// Assignments of units lent out lie inside the pool but belong to
	// the borrower's pool: the filter is by pool.
	h.Assignments = []Assignment{}
	parts := []struct {
		past   bool
		states []State
	}{{false, []State{StateAssigned, StateQuarantined}}, {true, []State{StateReleased}}}
	for _, part := range parts {
		if cur.past && !part.past {
			continue // the cursor is among the past ones already
		}
		f := AssignmentFilter{PoolID: pl.ID, States: part.states}
		if part.past == cur.past {
			f.AfterID, f.AfterPrefix = cur.after, cur.at
			if cur.at.IsValid() {
				// After every row of the prefix: a pool has one live row
				// of a prefix at most.
				f.AfterID = math.MaxInt64
			}
		}
		if limit >= 0 {
			f.Limit = limit - len(h.Assignments) + 1 // one more says whether a page follows
		}
		as, err := tx.Assignments(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range as {
			if limit >= 0 && len(h.Assignments) == limit {
				last := h.Assignments[len(h.Assignments)-1]
				c := showCursor{past: true, after: last.ID}
				if last.State != StateReleased {
					// Live assignments of a pool do not overlap: the prefix
					// is where the page ends.
					c = showCursor{at: last.Prefix}
				}
				h.Next = c.String()
				return nil
			}
			h.Assignments = append(h.Assignments, a)
		}
	}
	return nil
}

// showCursor is where a page of a pool's assignments ends: among the live
// ones, the prefix of the last one listed ("live.PREFIX"); among the
// released ones, its ID ("past.ID"). A pool's live assignments were
// listed by ID before they were listed by address (issue 16): such a
// cursor ("live.ID") is refused, not read as a place it was not.
type showCursor struct {
	past  bool
	after int64
	at    netip.Prefix
}

func (c showCursor) String() string {
	if c.past {
		return fmt.Sprintf("past.%d", c.after)
	}
	return "live." + c.at.String()
}

func parseShowCursor(s string) (showCursor, error) {
	if s == "" {
		return showCursor{}, nil
	}
	part, rest, ok := strings.Cut(s, ".")
	switch {
	case ok && part == "past":
		if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n >= 0 {
			return showCursor{past: true, after: n}, nil
		}
	case ok && part == "live":
		if p, err := netip.ParsePrefix(rest); err == nil && p == p.Masked() {
			return showCursor{at: p}, nil
		}
		if _, err := strconv.ParseInt(rest, 10, 64); err == nil {
			return showCursor{}, invalid("cursor %q: a pool's live assignments are listed by address now, not by ID: start again from the first page", s)
		}
	}
	return showCursor{}, invalid("cursor %q: not one a page of show gave (live.PREFIX or past.ID)", s)
}

// Relocations lists every relocation, oldest first.
func (r *Registry) Relocations(ctx context.Context) (out []Relocation, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		out, err = tx.Relocations(ctx)
		return err
	})
	return out, err
}

// DayActivity is one UTC day of a region's allocations and releases of one
// family, counted in assignments.
type DayActivity struct {
	Day       time.Time `json:"day"` // midnight UTC
	Family    int       `json:"family"`
	Allocated int64     `json:"allocated"`
	Released  int64     `json:"released"`
}

// Activity counts a region's assignments made and released per UTC day
// from the day of from up to (not including) the day of to. Past days
// never change, so callers may keep them.
func (r *Registry) Activity(ctx context.Context, regionName string, from, to time.Time) (out []DayActivity, err error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if !from.Before(to) {
		return nil, nil
	}
	// Three reads (the region, its pools, their counts): a View, not
	// viewOne, which allows one statement (on PostgreSQL every region
	// page answered 500).
	err = r.store.View(ctx, func(tx Tx) error {
		reg, err := tx.RegionByName(ctx, regionName)
		if err != nil {
			return err
		}
		pools, err := tx.Pools(ctx, PoolFilter{RegionID: reg.ID})
		if err != nil {
			return err
		}
		ids := make([]int64, len(pools))
		for i, p := range pools {
			ids[i] = p.ID
		}
		out, err = tx.Activity(ctx, ids, from, to)
		return err
	})
	return out, err
}

// commonest is the length most of n's assignments have (ties: the
// shorter), no longer than /64, or /64 when there are none; IPv4 is
// always counted in addresses.
func commonest(n map[int]int64, family int) int {
	if family == 4 {
		return 32
	}
	best, most := 64, int64(0)
	for bits, c := range n {
		if c > most || (c == most && bits < best) {
			best, most = bits, c
		}
	}
	return min(best, 64)
}

func famWidth(family int) int {
	if family == 4 {
		return 32
	}
	return 128
}

// loadEvents adds to events (those of the assignments as, among others)
// the event of the load batch that wrote each assignment of as that has
// no allocation event of its own: a load writes one event per batch
// (ActionImportBatch), not one per assignment, and without it `show`
// would not say where a loaded assignment came from. Each batch's event
// is added once.
func loadEvents(ctx context.Context, tx Tx, as []Assignment, events *[]Event) error {
	allocated := map[int64]bool{}
	have := map[int64]bool{}
	for _, e := range *events {
		have[e.Seq] = true
		if e.SubjectKind == "assignment" && e.Action == "assignment.allocate" {
			allocated[e.SubjectID] = true
		}
	}
	for _, a := range as {
		if allocated[a.ID] {
			continue
		}
		e, ok, err := tx.LoadEventOf(ctx, a.ID)
		if err != nil {
			return fmt.Errorf("assignment %d: its load's event: %w", a.ID, err)
		}
		if !ok || have[e.Seq] || e.Action != ActionImportBatch {
			continue
		}
		var b ImportBatch
		if err := json.Unmarshal(e.After, &b); err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
		if a.ID < b.FirstID || a.ID > b.LastID {
			continue
		}
		have[e.Seq] = true
		*events = append(*events, e)
	}
	return nil
}
