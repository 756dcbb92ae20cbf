package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ registry.AssignmentPager = (*Store)(nil)

// pageSelect is assignmentSelect with the prefixes as cidr, not text: the
// binary value is read straight into a netip.Prefix (no cidr_out in the
// backend, no parse in cadastre; 3 of a row's 17 columns).
const pageSelect = `SELECT a.id, a.prefix, a.pool_id, p.prefix, p.region_id, g.name, a.tenant, a.resource, a.name, a.state,
	a.created_at, a.released_at, a.quarantine_until, r.id, r.prefix, fg.name, a.space
	FROM assignments a JOIN pools p ON p.id = a.pool_id JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id`

// pageColumns names pageSelect's columns for the statement around it (two
// are called id, three name).
const pageColumns = "id, prefix, pool_id, pool, region_id, region, tenant, resource, name, state, created_at, released_at, quarantine_until, rel_id, rel_prefix, rel_from, space"

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
// with pageSelect's columns) and each assignment's tags as KEY=VALUE text
// (a key holds no '=': registry.ValidateTagKey), one probe of tags_pkey
// per assignment of the page.
func pageQuery(f registry.AssignmentFilter) (string, []any) {
	q, args := assignmentQueryOf(pageSelect, f)
	return "SELECT q.*, ARRAY(SELECT t.key || '=' || t.value FROM tags t WHERE t.kind = 'assignment' AND t.object_id = q.id) FROM (" +
		q + ") q(" + pageColumns + ") ORDER BY q.id", args
}

// AssignmentPage implements registry.AssignmentPager: one round trip of one
// statement (and the plan setting around it), without BEGIN and COMMIT:
// a single statement sees one snapshot. A page of a region named f.Region
// that comes back empty looks the region up, to tell an empty page from
// a region that does not exist.
func (s *Store) AssignmentPage(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	q, args := pageQuery(f)
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(q, args...)
	b.Queue(defaultPlans)
	br := s.pool.SendBatch(ctx, b)
	out, err := readPage(br)
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

// readPage reads the batch of AssignmentPage up to its statement's rows.
func readPage(br pgx.BatchResults) ([]registry.Assignment, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []registry.Assignment
	var state string
	var created int64
	var released, until, relID *int64
	var relPrefix netip.Prefix
	var relFrom *string
	var tags []string
	for rows.Next() {
		out = append(out, registry.Assignment{})
		a := &out[len(out)-1]
		if err := rows.Scan(&a.ID, &a.Prefix, &a.PoolID, &a.Pool, &a.RegionID, &a.Region, &a.Tenant, &a.Resource, &a.Name, &state,
			&created, &released, &until, &relID, &relPrefix, &relFrom, &a.Space, &tags); err != nil {
			return nil, err
		}
		a.State, a.CreatedAt = registry.State(state), rowscan.FromMicros(created)
		a.ReleasedAt, a.QuarantineUntil = rowscan.OptTime(released), rowscan.OptTime(until)
		if relID != nil {
			a.Borrowed = true
			a.Relocation = &registry.RelocationRef{ID: *relID, Prefix: relPrefix, FromRegion: *relFrom, ToRegion: a.Region}
		}
		if len(tags) > 0 {
			a.Tags = make(registry.Tags, len(tags))
			for _, kv := range tags {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("assignment %d: stored tag %q: no '='", a.ID, kv)
				}
				a.Tags[k] = v
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	_, err = br.Exec()
	return out, err
}
