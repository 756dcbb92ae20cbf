package postgres

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ registry.AssignmentPager = (*Store)(nil)

// pageSelect is the page's own columns, the assignments' (the prefix as
// cidr, not text: read straight into a netip.Prefix, no cidr_out in the
// backend nor a parse in cadastre). Its pool p is there for the
// conditions on p.region_id; a page with none loses the join (a LEFT
// JOIN on a unique key whose columns are not read: join removal).
const pageSelect = `SELECT a.id, a.prefix, a.pool_id, a.tenant, a.resource, a.name, a.state,
	a.created_at, a.released_at, a.quarantine_until, a.space
	FROM assignments a LEFT JOIN pools p ON p.id = a.pool_id`

// The page's statement runs with PostgreSQL's generic plan: planned once
// per connection (pgx prepares it), not at every run. Left to plan_cache_mode
// auto, the page kinds whose custom plans cost less than the generic one
// (a region's assigned, a tag: 8 custom plans in 8 runs of a prepared
// statement) were planned at every request, a quarter of the backends'
// CPU per list request under load (perf). TestAssignmentPagePlans checks
// every page kind's generic plan with its custom plan's bounds. The
// setting is SET and RESET around the statement in the same round trip
// (one implicit transaction: a failure rolls the SET back).
const (
	genericPlans = "SET plan_cache_mode = force_generic_plan"
	defaultPlans = "RESET plan_cache_mode"
)

// pageQuery is the statement of AssignmentPage: f's page (assignmentQuery,
// with pageSelect's columns), its pools' columns (prefix, region,
// relocation) read once per pool of the page, not once per assignment (a
// region's page of 101 holds at most its region's pools: 27 at ten
// million; the pools, regions and relocations joined per row were a third
// of the statement's executor time), and each assignment's tags, one probe
// of tags_pkey per assignment, as one text of length-prefixed keys and
// values (parseTags): read in place, where an array is a string allocated
// per key and per value.
func pageQuery(f registry.AssignmentFilter) (string, []any) {
	q, args := assignmentQueryOf(pageSelect, f)
	return "WITH q AS MATERIALIZED (" + q + "), pi AS MATERIALIZED (SELECT p.id, p.prefix, p.region_id, g.name, r.id AS rel_id, r.prefix AS rel_prefix, fg.name AS rel_from" +
		" FROM pools p JOIN regions g ON g.id = p.region_id LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id" +
		" WHERE p.id = ANY(ARRAY(SELECT DISTINCT q.pool_id FROM q)))" +
		" SELECT q.id, q.prefix, q.pool_id, pi.prefix, pi.region_id, pi.name, q.tenant, q.resource, q.name, q.state, q.created_at, q.released_at, q.quarantine_until," +
		" pi.rel_id, pi.rel_prefix, pi.rel_from, q.space," +
		" (SELECT string_agg(octet_length(t.key) || ':' || t.key || octet_length(t.value) || ':' || t.value, '')" +
		" FROM tags t WHERE t.kind = 'assignment' AND t.object_id = q.id) FROM q JOIN pi ON pi.id = q.pool_id" + pageOrder(f), args
}

// pageOrder is the ORDER BY of pageQuery: f's order (ByAddress).
func pageOrder(f registry.AssignmentFilter) string {
	if f.ByAddress() {
		return " ORDER BY q.prefix, q.id"
	}
	return " ORDER BY q.id"
}

// AssignmentPage implements registry.AssignmentPager: one round trip of one
// statement (and the plan setting around it), without BEGIN and COMMIT:
// a single statement sees one snapshot. A page of a region named f.Region
// that comes back empty looks the region up, to tell an empty page from
// a region that does not exist.
func (s *Store) AssignmentPage(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	if err := f.CursorError(); err != nil {
		return nil, err
	}
	q, args := pageQuery(f)
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(q, args...)
	b.Queue(defaultPlans)
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
	return out, nil
}

// readPage reads the batch of AssignmentPage up to its statement's rows,
// into capacity for limit of them. The texts that repeat from row to row
// (region, tenant, state, space, tag keys and values) are read in place
// and made strings once per page: string columns were half of a list
// request's allocations.
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
	var region, tenant, state, relFrom, space, tags pgtype.DriverBytes
	var created int64
	var released, until, relID *int64
	var relPrefix netip.Prefix
	for rows.Next() {
		out = append(out, registry.Assignment{})
		a := &out[len(out)-1]
		if err := rows.Scan(&a.ID, &a.Prefix, &a.PoolID, &a.Pool, &a.RegionID, &region, &tenant, &a.Resource, &a.Name, &state,
			&created, &released, &until, &relID, &relPrefix, &relFrom, &space, &tags); err != nil {
			return nil, err
		}
		a.Region, a.Tenant, a.Space = text(region), text(tenant), text(space)
		a.State, a.CreatedAt = registry.State(text(state)), rowscan.FromMicros(created)
		a.ReleasedAt, a.QuarantineUntil = rowscan.OptTime(released), rowscan.OptTime(until)
		if relID != nil {
			a.Borrowed = true
			a.Relocation = &registry.RelocationRef{ID: *relID, Prefix: relPrefix, FromRegion: text(relFrom), ToRegion: a.Region}
		}
		if a.Tags, err = parseTags(tags, text); err != nil {
			return nil, fmt.Errorf("assignment %d: %w", a.ID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		out = nil // as tx.Assignments: no page, not an empty one
	}
	_, err = br.Exec()
	return out, err
}

// parseTags reads pageQuery's text of an assignment's tags: each key and
// then its value, as its length in bytes, ':' and the bytes. text makes
// a string of bytes. No text is no tags (nil).
func parseTags(b []byte, text func([]byte) string) (registry.Tags, error) {
	if len(b) == 0 {
		return nil, nil
	}
	next := func() (string, error) {
		n, i := 0, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && n <= len(b); i++ {
			n = n*10 + int(b[i]-'0')
		}
		if i == 0 || i >= len(b) || b[i] != ':' || n > len(b)-i-1 {
			return "", fmt.Errorf("stored tags %q: not a length and ':' with that many bytes", b)
		}
		s := text(b[i+1 : i+1+n])
		b = b[i+1+n:]
		return s, nil
	}
	t := registry.Tags{}
	for len(b) > 0 {
		k, err := next()
		if err != nil {
			return nil, err
		}
		v, err := next()
		if err != nil {
			return nil, err
		}
		t[k] = v
	}
	return t, nil
}
