package postgres

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ registry.AssignmentPager = (*Store)(nil)

// pageSelect is the page's own columns, the assignments' (the prefix as
// cidr, not text: read straight into a netip.Prefix, no cidr_out in the
// backend nor a parse in cadastre). Its pool p is there for the
// conditions on p.region_id; a page with none loses the join (a LEFT
// JOIN on a unique key whose columns are not read: join removal).
const pageSelect = "SELECT " + pageColumns + " FROM assignments a LEFT JOIN pools p ON p.id = a.pool_id"

// pageColumns is pageSelect's columns, of assignments a alone.
const pageColumns = "a.id, a.prefix, a.pool_id, a.tenant, a.resource, a.name, a.state, a.created_at, a.released_at, a.quarantine_until"

// The page's statement runs with PostgreSQL's generic plan: planned once
// per connection (pgx prepares it), not at every run. Left to plan_cache_mode
// auto, the page kinds whose custom plans cost less than the generic one
// (a region's assigned, a tag: 8 custom plans in 8 runs of a prepared
// statement) were planned at every request, a quarter of the backends'
// CPU per list request under load (perf). And without sequential scans:
// the generic plan of a region's page otherwise read all the pools (1,280
// at ten million) for the region's 20-40 rather than pools_region, its
// estimates of the region's pools being the average region's (session 15
// measured 0.05-0.1 ms of backend CPU a page). TestAssignmentPagePlans
// checks every page kind's generic plan, with these settings, with its
// custom plan's bounds. The settings are local to the transaction
// (set_config's third argument): the batch's statements are one implicit
// transaction, so they end with it, as they do if it fails, and no
// statement after the page resets them.
const pagePlans = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)"

// pageQuery is the statement of AssignmentPage: f's page (assignmentQuery,
// with pageSelect's columns) and each assignment's tags, one probe of
// tags_assignment (a hash index of object_id, 00084) per assignment (a
// nested loop, no aggregate: an assignment with n tags is n rows, one
// with none is one row of NULL key and value). Through tags_pkey the
// probes were 40-60 % of a page's backend CPU at ten million, three
// levels of text and int8 comparisons each (bench/README.md, session 17,
// pglists3).
// OFFSET 0 keeps the tags a subquery run per assignment: as a plain join
// the planner may hash the page and scan every tag (TestAssignmentPagePlans,
// where the register's tags are few).
// The pools' columns (prefix, region, relocation) are not read: the store
// keeps them (pagePools), as they never change. Read in the statement,
// once per pool of the page (a CTE, hash joins of the regions and
// relocations), they were 15-25 % of the backend's CPU of a list page at
// ten million, and the tags' text aggregated per assignment (a subplan
// with an aggregate run per row) 5-20 % (bench/README.md, session 15,
// pglists2).
func pageQuery(f registry.AssignmentFilter) (string, []any) {
	q, args := assignmentQueryOf(pageSelect, f)
	return "SELECT q.id, q.prefix, q.pool_id, q.tenant, q.resource, q.name, q.state, q.created_at, q.released_at, q.quarantine_until, t.key, t.value" +
		" FROM (" + q + ") q LEFT JOIN LATERAL (SELECT t.key, t.value FROM tags t WHERE t.kind = 'assignment' AND t.object_id = q.id OFFSET 0) t ON true" + pageOrder(f), args
}

// pageOrder is the ORDER BY of pageQuery: f's order (ByAddress).
func pageOrder(f registry.AssignmentFilter) string {
	if f.ByAddress() {
		return " ORDER BY q.prefix, q.id"
	}
	return " ORDER BY q.id"
}

// AssignmentPage implements registry.AssignmentPager: one round trip of one
// statement (and the plan settings before it), without BEGIN and COMMIT:
// a single statement sees one snapshot. A page of a region named f.Region
// that comes back empty looks the region up, to tell an empty page from
// a region that does not exist. The page's pools the store has not seen
// yet are read after it (pagePools).
func (s *Store) AssignmentPage(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	if err := f.CursorError(); err != nil {
		return nil, err
	}
	q, args := pageQuery(f)
	b := &pgx.Batch{}
	b.Queue(pagePlans)
	b.Queue(q, args...)
	br := s.pool.SendBatch(ctx, b)
	out, err := readPage(br, f.Limit)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, mapErr(err)
	}
	if len(out) == 0 && f.RegionID == 0 && f.Region != "" {
		var id int64
		err := s.pool.QueryRow(ctx, `SELECT id FROM regions WHERE name = $1`, f.Region).Scan(&id)
		if err != nil {
			return nil, mapErr(notFound(err, "region "+f.Region))
		}
	}
	if err := s.pagePools.fill(ctx, s.pool, out); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// pagePool is what a page of assignments shows of an assignment's pool:
// its prefix, its region, its space (the assignment's, 00078) and the
// relocation that lent it. None of them changes once the pool is committed (a pool's purpose changes, a child
// pool is dissolved: neither is shown), and a pool's ID is never given
// to another pool (a sequence), so every replica may keep them.
type pagePool struct {
	prefix    netip.Prefix
	regionID  int64
	region    string
	relID     int64 // 0: not lent
	relPrefix netip.Prefix
	relFrom   string
	space     string
}

// pagePoolCache holds the pagePool of each pool a page showed, by ID.
type pagePoolCache struct {
	mu    sync.RWMutex
	pools map[int64]pagePool
}

// maxPagePools bounds the cache: a register with more pools (child
// pools) than this starts it again when it is full.
const maxPagePools = 1 << 16

// fill sets each assignment's pool columns from the cache, reading the
// pools it does not hold (one statement) first. A cached pool whose
// prefix does not hold the assignment's is read again: whatever
// replaced the register under a running server (a restore into a new
// database reuses IDs) shows as the database says.
func (c *pagePoolCache) fill(ctx context.Context, db *pgxpool.Pool, as []registry.Assignment) error {
	var missing []int64
	c.mu.RLock()
	for i := range as {
		a := &as[i]
		p, ok := c.pools[a.PoolID]
		if !ok || !holds(p.prefix, a.Prefix) {
			if !slices.Contains(missing, a.PoolID) {
				missing = append(missing, a.PoolID)
			}
			continue
		}
		setPool(a, p)
	}
	c.mu.RUnlock()
	if len(missing) == 0 {
		return nil
	}
	rows, err := db.Query(ctx, `SELECT p.id, p.prefix, p.region_id, g.name, r.id, r.prefix, fg.name, p.space FROM pools p JOIN regions g ON g.id = p.region_id
		LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id WHERE p.id = ANY($1)`, missing)
	if err != nil {
		return err
	}
	read := make(map[int64]pagePool, len(missing))
	for rows.Next() {
		var id int64
		var p pagePool
		var relID pgtype.Int8
		var relPrefix *netip.Prefix
		var relFrom pgtype.Text
		if err := rows.Scan(&id, &p.prefix, &p.regionID, &p.region, &relID, &relPrefix, &relFrom, &p.space); err != nil {
			rows.Close()
			return err
		}
		if relID.Valid {
			p.relID, p.relFrom = relID.Int64, relFrom.String
			if relPrefix != nil {
				p.relPrefix = *relPrefix
			}
		}
		read[id] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.pools == nil || len(c.pools)+len(read) > maxPagePools {
		c.pools = make(map[int64]pagePool, len(read))
	}
	maps.Copy(c.pools, read)
	c.mu.Unlock()
	for i := range as {
		a := &as[i]
		if !slices.Contains(missing, a.PoolID) {
			continue // set from the cache
		}
		p, ok := read[a.PoolID]
		if !ok { // a pool is never deleted while it holds assignments
			return fmt.Errorf("assignment %d: pool %d: %w", a.ID, a.PoolID, registry.ErrNotFound)
		}
		setPool(a, p)
	}
	return nil
}

// holds reports whether pool holds prefix.
func holds(pool, prefix netip.Prefix) bool {
	return pool.Bits() <= prefix.Bits() && pool.Contains(prefix.Addr())
}

// setPool sets a's pool columns to p's.
func setPool(a *registry.Assignment, p pagePool) {
	a.Pool, a.RegionID, a.Region, a.Space = p.prefix, p.regionID, p.region, p.space
	if p.relID != 0 {
		a.Borrowed = true
		a.Relocation = &registry.RelocationRef{ID: p.relID, Prefix: p.relPrefix, FromRegion: p.relFrom, ToRegion: p.region}
	}
}

// readPage reads the batch of AssignmentPage, its settings and its
// statement's rows, into capacity for limit of them; the pools' columns are left to
// pagePools (the space too). The texts that repeat from row to row (state, tag
// keys and values) are read in place and made strings once
// per page (string columns were half of a list request's allocations);
// the others (tenant, resource, name) are copied into one string for the
// page, and the optional times into one slice.
func readPage(br pgx.BatchResults, limit int) ([]registry.Assignment, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registry.Assignment
	if limit > 0 {
		out = make([]registry.Assignment, 0, min(limit, 1024))
	}
	texts := map[string]string{}
	text := func(b []byte) string {
		if s, ok := texts[string(b)]; ok {
			return s
		}
		s := string(b)
		texts[s] = s
		return s
	}
	// tenant, resource and name of each row: their ends in arena.
	arena := make([]byte, 0, 80*cap(out))
	ends := make([][3]int, 0, cap(out))
	var times []time.Time
	optTime := func(v pgtype.Int8) *time.Time {
		if !v.Valid {
			return nil
		}
		if len(times) == cap(times) {
			times = make([]time.Time, 0, max(2*cap(out), 16))
		}
		times = append(times, rowscan.FromMicros(v.Int64))
		return &times[len(times)-1]
	}
	var id, poolID, created int64
	var prefix netip.Prefix
	var released, until pgtype.Int8
	var tenant, resource, name, state, key, value pgtype.DriverBytes
	// One list of the row's destinations, not one a row (Scan's
	// arguments escape: 208 bytes a row).
	dest := []any{&id, &prefix, &poolID, &tenant, &resource, &name, &state, &created, &released, &until, &key, &value}
	var a *registry.Assignment
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		// A row per tag: the rows of one assignment follow one another.
		if a == nil || a.ID != id {
			out = append(out, registry.Assignment{ID: id, Prefix: prefix, PoolID: poolID, State: registry.State(text(state)),
				CreatedAt: rowscan.FromMicros(created), ReleasedAt: optTime(released), QuarantineUntil: optTime(until)})
			a = &out[len(out)-1]
			arena = append(arena, tenant...)
			t := len(arena)
			arena = append(arena, resource...)
			r := len(arena)
			arena = append(arena, name...)
			ends = append(ends, [3]int{t, r, len(arena)})
		}
		if key != nil {
			if a.Tags == nil {
				a.Tags = registry.Tags{}
			}
			a.Tags[text(key)] = text(value)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	all, from := string(arena), 0
	for i, e := range ends {
		out[i].Tenant, out[i].Resource, out[i].Name = all[from:e[0]], all[e[0]:e[1]], all[e[1]:e[2]]
		from = e[2]
	}
	if len(out) == 0 {
		out = nil // as tx.Assignments: no page, not an empty one
	}
	return out, nil
}
