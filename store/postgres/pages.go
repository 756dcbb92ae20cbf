package postgres

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// Pages of assignments (the API's lists and searches, the web UI's
// pages) and a region's activity, written so that PostgreSQL reads a page
// through an index in ID order and stops when it is full, at any size of
// register (issue 16). A page merged from several ranges is an array of
// IDs the rows are then read by (a.id = ANY(ARRAY(...))): as a join
// (a.id IN (...)) the planner may merge it with a walk of the primary key
// from the first ID up to the page's last. TestAssignmentPagePlans holds every kind of page to
// a plan without a sequential scan of the assignments and without a sort
// of rows in proportion to the register.

// sqlArgs numbers a statement's arguments as they are added.
type sqlArgs []any

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

func (t *tx) Assignments(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	// Registry resolves the region by name; only AssignmentPage's
	// statement looks it up itself.
	f.Region = ""
	if err := f.CursorError(); err != nil {
		return nil, err
	}
	q, args := assignmentQuery(f)
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, scanAssignment)
}

// pastOnly reports whether states is not empty and holds no live state
// other than quarantined: the rows of the partial indexes
// assignments_state_past4 and _past6 (00064) and assignments_pool_past (00030).
func pastOnly(states []registry.State) bool {
	return len(states) > 0 && !slices.Contains(states, registry.StateAssigned)
}

// assignmentQuery is the statement of a page of f. Left to itself the
// planner answers some pages by reading rows in proportion to the register
// (EXPLAIN ANALYZE on a million assignments), so the shape is chosen here:
//   - a region's page (without a tenant, name, resource or tag, which
//     their own indexes serve): a page of each of the region's pools in ID
//     order (assignments_pool_id, or assignments_pool_past per past
//     state), merged; a join of the region's pools sorted every assignment
//     of the region for a page, or walked the whole register in ID order
//     for a rare state;
//   - a tag (without a name, resource or tenant): the page is read from the
//     tag's entries of tags_match in ID order, so a rare tag costs its
//     entries and a common one a page; in a region, from the tag's
//     entries in each of the region's pools (tags_pool_match), merged;
//   - past states (quarantined, released), alone or in one pool: each
//     state's (and family's) page from its partial index in ID order,
//     merged; a list of states is not an ordered index scan, so every past
//     row was sorted;
//   - a tenant's past states: each state's page of the tenant from
//     assignments_tenant_past (00050), merged.
//
// A region is f.RegionID or, when that is 0, f.Region by name (looked up
// in the statement: regionArg).
func assignmentQuery(f registry.AssignmentFilter) (string, []any) {
	return assignmentQueryOf(assignmentSelect, f)
}

// assignmentQueryOf is assignmentQuery with sel (assignmentSelect or
// pageSelect: their columns, FROM assignments a and its joins) as the
// statement's select.
func assignmentQueryOf(sel string, f registry.AssignmentFilter) (string, []any) {
	if f.ByAddress() {
		return byAddressQuery(sel, f)
	}
	byIndex := f.Name == "" && f.Resource == "" && f.Tenant == nil
	if byIndex && f.Limit > 0 && hasRegion(f) && f.PoolID == 0 && !f.Named && len(f.Tags) == 0 {
		return regionQuery(sel, f)
	}
	if byIndex && len(f.Tags) > 0 && f.Limit > 0 && hasRegion(f) && f.PoolID == 0 {
		return tagRegionQuery(sel, f)
	}
	if byIndex && len(f.Tags) > 0 {
		keys := slices.Sorted(maps.Keys(f.Tags))
		k := keys[0]
		g := f
		g.Tags = maps.Clone(f.Tags)
		delete(g.Tags, k)
		g.AfterID = 0
		var args sqlArgs
		where := []string{"tg.kind = 'assignment' AND tg.key = " + args.add(k) + " AND tg.value = " + args.add(f.Tags[k]) + " AND tg.object_id > " + args.add(f.AfterID)}
		if f.PoolID != 0 {
			// A range of tags_pool_match (00056): the tag's entries in
			// the pool, not every entry of the tag.
			where = append(where, "tg.pool_id = "+args.add(f.PoolID))
		}
		where = append(where, assignmentWhere(g, &args)...)
		q := strings.Replace(sel, "FROM assignments a", "FROM tags tg JOIN assignments a ON a.id = tg.object_id", 1) +
			" WHERE " + strings.Join(where, " AND ") + " ORDER BY tg.object_id" + limit(f.Limit)
		return q, args
	}
	// A tenant's past states (alone, or in one family): one ordered range
	// per state of assignments_tenant_past (tenant, state, id), merged.
	// Through assignments_tenant (tenant, id) the page walked the tenant's
	// assignments until it was full, every one of them for a rare state
	// (66,235 rows for a page of a tenant's quarantined at ten million).
	tenantPast := f.Tenant != nil && f.Name == "" && f.Resource == "" && len(f.Tags) == 0 && f.PoolID == 0
	if (byIndex || tenantPast) && (f.Limit > 0 || f.PoolID != 0) && pastOnly(f.States) && !hasRegion(f) && !f.Within.IsValid() && !f.Contains.IsValid() {
		// One part per state, and per family unless the page is a pool's
		// (assignments_pool_past serves it): each an ordered range of
		// assignments_state_past4 or _past6 (state, id), index only.
		// With the family outside the index the planner combined
		// assignments_family_id with the state's index in a bitmap and
		// sorted what both found (176,000 rows for a page of released
		// IPv4 at a million).
		var args sqlArgs
		var parts []string
		fams := []int{4, 6}
		if f.Family != 0 || f.Tenant != nil {
			fams = []int{f.Family} // a tenant's: the family, if any, is a filter
		}
		g := f
		// A tenant's is a range of assignments_tenant_past, which holds
		// the text (the hash's condition made the planner combine it
		// with assignments_tenant in a bitmap).
		g.Tenant = nil
		for _, s := range f.States {
			g.States = []registry.State{s}
			for _, fam := range fams {
				g.Family = fam
				if f.PoolID != 0 && f.Family == 0 {
					g.Family = 0 // the pool's family, whichever it is
				}
				where := assignmentWhere(g, &args)
				if f.Tenant != nil {
					where = append(where, "a.tenant = "+args.add(*f.Tenant))
				}
				parts = append(parts, "(SELECT a.id FROM assignments a WHERE a.state <> 'assigned' AND "+
					strings.Join(where, " AND ")+" ORDER BY a.id"+limit(f.Limit)+")")
				if g.Family == 0 {
					break
				}
			}
		}
		return sel + " WHERE a.id = ANY(ARRAY(" + strings.Join(parts, " UNION ALL ") + ")) ORDER BY a.id" + limit(f.Limit), args
	}
	var args sqlArgs
	where := assignmentWhere(f, &args)
	q := sel
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	order := "a.id"
	if f.Tenant != nil {
		// The same order (the rows left are the tenant's, their key's
		// top bits equal), the index's.
		order = tenantKey
	}
	return q + " ORDER BY " + order + limit(f.Limit), args
}

// tenantKey is assignments_tenant's key (migration 00077): the top 24 bits
// of the tenant's hash above the ID (below 2^39, assignments_id_below),
// one int8, so that a tenant's rows are in ID order in the index.
const tenantKey = "(((hashtext(a.tenant) >> 8)::bigint << 39) + a.id)"

// byAddressQuery is the statement of a page in address order
// (f.ByAddress: a pool's or a region's page): for each pool (f.PoolID, or
// the region's of f's family), a range of assignments_prefix over the
// pool's prefix, filtered by the pool (units lent out and child pools lie
// inside their parent but are pools of their own; pools of other spaces
// may have the same prefix) and after the cursor (AfterPrefix, AfterID),
// at most a page in (prefix, ID) order (cidr's order: by network, a
// prefix before the ones inside it); the pools' pages merged. There is
// no index of a pool's rows by ID (00075 dropped assignments_pool_id,
// 28.5 bytes an assignment and one B-tree written by every allocation).
func byAddressQuery(sel string, f registry.AssignmentFilter) (string, []any) {
	var args sqlArgs
	g := f
	// A pool's assignments are of its family: the pools are chosen by it.
	g.PoolID, g.RegionID, g.Region, g.Limit, g.Family, g.AfterID, g.AfterPrefix = 0, 0, "", 0, 0, 0, netip.Prefix{}
	where := []string{"a.prefix >= rp.prefix AND a.prefix <= set_masklen(broadcast(rp.prefix), CASE rp.family WHEN 4 THEN 32 ELSE 128 END)::cidr"}
	if f.AfterPrefix.IsValid() {
		// The cursor: a bound of the same range (the greater of the two is
		// the scan's start), then the ID among rows of its prefix.
		c := args.add(f.AfterPrefix.Masked().String())
		where = append(where, "a.prefix >= "+c+"::cidr AND (a.prefix > "+c+"::cidr OR a.id > "+args.add(f.AfterID)+")")
	}
	// The pool, the states and a name, as one condition whose selectivity
	// the planner does not know (0.5): estimating a pool's range to hold
	// a handful of rows of the pool (one in the number of pools, times a
	// state's share), it read every row of the range by a bitmap and
	// sorted them rather than walk the index in order up to the page
	// (TestAssignmentPagePlans).
	h := registry.AssignmentFilter{States: g.States, Named: g.Named}
	g.States, g.Named = nil, false
	where = append(where, assignmentWhere(g, &args)...)
	where = append(where, "coalesce("+strings.Join(append([]string{"a.pool_id = rp.id"}, assignmentWhere(h, &args)...), " AND ")+", false)")
	var outer string
	if f.PoolID != 0 {
		outer = "rp.id = " + args.add(f.PoolID)
	} else {
		outer = "rp.region_id = " + regionArg(f, &args)
	}
	if f.Family != 0 {
		outer += " AND rp.family = " + args.add(f.Family)
	}
	// Each pool's rows in the index's order (by prefix alone: an ordered
	// range of assignments_prefix, with no sort), the page's last
	// prefix's ties with it (released rows of the same prefix, in any
	// order); the merge sorts them by ID.
	inner := " ORDER BY a.prefix"
	if f.Limit > 0 {
		inner += " FETCH FIRST " + strconv.Itoa(f.Limit) + " ROWS WITH TIES"
	}
	// The page's IDs, read again by ID with sel's columns; or, for
	// AssignmentPage (pageSelect: the assignments' own columns), the rows
	// themselves, as the range of each pool read them (its conditions are
	// on the rows): read again by ID, a page's 100 descents of the
	// primary key were a quarter of a region's page's backend CPU at ten
	// million (bench/README.md, session 17, pglists3).
	carry := sel == pageSelect
	cols, out := "a.id, a.prefix", "id" // the rows' columns, the page's
	if carry {
		cols, out = pageColumns, "*"
	}
	rows := "SELECT " + cols + " FROM assignments a WHERE " + strings.Join(where, " AND ")
	page := "SELECT x." + out + " FROM pools rp CROSS JOIN LATERAL (" + rows + inner + ") x WHERE " + outer + " ORDER BY x.prefix, x.id" + limit(f.Limit)
	if f.PoolID == 0 && f.Limit > 0 {
		// A region's page: the page of its first pool in address order
		// (the first whose range ends at the cursor or after), read
		// first, bounds the page: the page's last row is at most that
		// page's last when it is full. A pool starting after it holds
		// none of the page, and the other pools' rows after it are not
		// read: SQLite's early stop (byaddress.go), in one statement.
		// Every pool's page merged cost a region's page 0.1 ms more of
		// the backend's CPU than a page in ID order (bench/README.md,
		// session 15, poolpage).
		first := ""
		if f.AfterPrefix.IsValid() {
			first = " AND set_masklen(broadcast(rp.prefix), CASE rp.family WHEN 4 THEN 32 ELSE 128 END)::cidr >= " + args.add(f.AfterPrefix.Masked().String()) + "::cidr"
		}
		const top = "'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128'::cidr" // after every prefix of both families
		page = "WITH p1 AS MATERIALIZED (SELECT rp.id AS pool, x.* FROM (SELECT * FROM pools rp WHERE " + outer + first + " ORDER BY rp.prefix LIMIT 1) rp" +
			" CROSS JOIN LATERAL (" + rows + inner + ") x)," +
			" b AS (SELECT CASE WHEN count(*) >= " + strconv.Itoa(f.Limit) + " THEN max(prefix) END AS b, min(pool) AS pool FROM p1)" +
			" SELECT y." + out + " FROM (SELECT " + strings.ReplaceAll(cols, "a.", "") + " FROM p1 UNION ALL SELECT x.* FROM b CROSS JOIN pools rp CROSS JOIN LATERAL (" +
			rows + " AND a.prefix <= coalesce(b.b, " + top + ")" + inner + ") x WHERE " + outer +
			" AND rp.id IS DISTINCT FROM b.pool AND rp.prefix <= coalesce(b.b, " + top + ")) y ORDER BY y.prefix, y.id" + limit(f.Limit)
	}
	if carry {
		return page, args
	}
	return sel + " WHERE a.id = ANY(ARRAY(" + page + ")) ORDER BY a.prefix, a.id" + limit(f.Limit), args
}

// regionQuery is the statement of a region's page of past states
// (f.RegionID without a pool; other pages of a region are in address
// order: byAddressQuery): for each of the region's pools of f's family
// (pools of the other family hold none of the page), and each past state,
// the first f.Limit rows in ID order, merged. It reads at most
// a page per pool and state, whatever the size of the region.
func regionQuery(sel string, f registry.AssignmentFilter) (string, []any) {
	var args sqlArgs
	g := f
	// A pool's assignments are of its family: the pools are chosen by
	// it. As a condition on the assignments the planner combined
	// assignments_family_id with assignments_pool_id in a bitmap (155,000
	// rows read for a page at a million).
	g.RegionID, g.Region, g.Limit, g.Family = 0, "", 0, 0
	from := "pools rp"
	cond := ""
	if pastOnly(f.States) {
		// assignments_pool_past (pool_id, state, id): one ordered range per
		// pool and state. `<> 'assigned'` is the partial index's condition,
		// which a state given as a parameter does not prove.
		from += " CROSS JOIN unnest(" + args.add(stateNames(f.States)) + "::assignment_state[]) st(s)"
		cond = " AND a.state = st.s AND a.state <> 'assigned'"
		g.States = nil
	}
	where := []string{"a.pool_id = rp.id" + cond}
	where = append(where, assignmentWhere(g, &args)...)
	outer := "rp.region_id = " + regionArg(f, &args)
	if f.Family != 0 {
		outer += " AND rp.family = " + args.add(f.Family)
	}
	page := "SELECT x.id FROM " + from + " CROSS JOIN LATERAL (SELECT a.id FROM assignments a WHERE " + strings.Join(where, " AND ") +
		" ORDER BY a.id" + limit(f.Limit) + ") x WHERE " + outer + " ORDER BY x.id" + limit(f.Limit)
	return sel + " WHERE a.id = ANY(ARRAY(" + page + ")) ORDER BY a.id" + limit(f.Limit), args
}

// tagRegionQuery is the statement of a page of a tag in a region (f.Tags
// and f.RegionID, without a pool): for each of the region's pools of f's
// family, the first f.Limit of the first tag's entries in that pool in ID
// order (a range of tags_pool_match, 00056) whose assignments meet the
// rest of f, merged. Through tags_match the page read the tag's entries
// of every region until it was full (9,301 of a tag one assignment in a
// thousand carries, at ten million, for a page in a region of 60).
func tagRegionQuery(sel string, f registry.AssignmentFilter) (string, []any) {
	keys := slices.Sorted(maps.Keys(f.Tags))
	k := keys[0]
	g := f
	g.Tags = maps.Clone(f.Tags)
	delete(g.Tags, k)
	g.RegionID, g.Region, g.Limit, g.Family, g.AfterID = 0, "", 0, 0, 0
	var args sqlArgs
	where := []string{"tg.kind = 'assignment' AND tg.key = " + args.add(k) + " AND tg.value = " + args.add(f.Tags[k]) +
		" AND tg.pool_id = rp.id AND tg.object_id > " + args.add(f.AfterID)}
	where = append(where, assignmentWhere(g, &args)...)
	outer := "rp.region_id = " + regionArg(f, &args)
	if f.Family != 0 {
		outer += " AND rp.family = " + args.add(f.Family)
	}
	page := "SELECT x.id FROM pools rp CROSS JOIN LATERAL (SELECT tg.object_id AS id FROM tags tg JOIN assignments a ON a.id = tg.object_id WHERE " +
		strings.Join(where, " AND ") + " ORDER BY tg.object_id" + limit(f.Limit) + ") x WHERE " + outer + " ORDER BY x.id" + limit(f.Limit)
	return sel + " WHERE a.id = ANY(ARRAY(" + page + ")) ORDER BY a.id" + limit(f.Limit), args
}

// hasRegion reports whether f names a region, by ID or by name.
func hasRegion(f registry.AssignmentFilter) bool {
	return f.RegionID != 0 || f.Region != ""
}

// regionArg is f's region as an SQL value, its arguments added to args:
// f.RegionID, or when that is 0 the ID of the region named f.Region (an
// uncorrelated subquery, run once; NULL, so no row, when there is none).
func regionArg(f registry.AssignmentFilter, args *sqlArgs) string {
	if f.RegionID != 0 {
		return args.add(f.RegionID)
	}
	return "(SELECT id FROM regions WHERE name = " + args.add(f.Region) + ")"
}

// supernets is each prefix holding p, p itself included, as text.
func supernets(p netip.Prefix) []string {
	out := make([]string, 0, p.Bits()+1)
	for b := p.Bits(); b >= 0; b-- {
		out = append(out, netip.PrefixFrom(p.Addr(), b).Masked().String())
	}
	return out
}

// withinRange is the range of cidr values (as text) that holds the
// prefixes within p: p itself, which sorts before every prefix it holds,
// to its last address as a host prefix, which sorts after them.
func withinRange(p netip.Prefix) (lo, hi string) {
	l, h := withinPrefixes(p)
	return l.String(), h.String()
}

// withinPrefixes is withinRange as prefixes, for parameters whose type
// is cidr: pgx sends them in binary, which neither side has to format or
// parse (text, an IPv6 prefix was formatted twice by every allocation).
func withinPrefixes(p netip.Prefix) (lo, hi netip.Prefix) {
	p = p.Masked()
	return p, netip.PrefixFrom(prefix.Last(p), p.Addr().BitLen())
}

// fromValue is the least cidr value (as text) of the prefixes whose first
// address is a or after it: the largest prefix starting at a, which
// sorts after every prefix starting before a and before every other
// prefix starting at a or after it.
func fromValue(a netip.Addr) string {
	for b := 0; b < a.BitLen(); b++ {
		if p := netip.PrefixFrom(a, b); p.Masked().Addr() == a {
			return p.String()
		}
	}
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func stateNames(states []registry.State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

func limit(n int) string {
	if n <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(n)
}

// assignmentWhere is the condition of f on assignments a (and pools p),
// its arguments added to args.
func assignmentWhere(f registry.AssignmentFilter, args *sqlArgs) []string {
	var where []string
	if hasRegion(f) {
		where = append(where, "p.region_id = "+regionArg(f, args))
	}
	if f.PoolID != 0 {
		where = append(where, "a.pool_id = "+args.add(f.PoolID))
	}
	if f.Family != 0 {
		// A constant, not a parameter: the past's indexes are one a
		// family, WHERE family(prefix) = 4 (and 6) (00064), and a generic
		// plan proves such a condition only from a constant.
		where = append(where, "family(a.prefix) = "+strconv.Itoa(f.Family))
	}
	if f.Name != "" {
		// The key and the conditions of the partial index assignments_name
		// (the hash of the name without its trailing dot, migrations 00061
		// and 00076), so it is used, then the name as stored.
		n := args.add(f.Name)
		where = append(where, "hashtext(rtrim(a.name, '.')) = hashtext(rtrim("+n+"::text, '.')) AND rtrim(a.name, '.') = rtrim("+n+", '.') AND a.name = "+n+" AND a.name <> '' AND a.state <> 'released'")
	}
	if f.Named {
		where = append(where, "a.name <> ''")
	}
	if f.Resource != "" {
		// The key and the condition of the partial index
		// assignments_resource, which holds the text's hash (00060), so
		// it is used; the text itself is compared on the row.
		r := args.add(f.Resource)
		where = append(where, "hashtext(a.resource) = hashtext("+r+"::text) AND a.resource = "+r+" AND a.resource <> ''")
	}
	if f.Tenant != nil {
		// assignments_tenant holds tenantKey (00077): a range of it from
		// the cursor is the tenant's rows in ID order (the rows of tenants
		// of the same 24 bits of hash among them); the text on the row,
		// as a condition whose selectivity the planner does not know
		// (0.5): it holds for nearly every row of the range, and taken
		// as one in the number of tenants on top of the range's default
		// estimate (0.5 %, its bounds being parameters) the generic plan
		// read all the tenant's rows by a bitmap and sorted them rather
		// than walk the range in order up to the page (bench/pgplans).
		// assignments_tenant_past holds the text.
		tn := args.add(*f.Tenant)
		base := "((hashtext(" + tn + "::text) >> 8)::bigint << 39)"
		where = append(where, tenantKey+" > "+base+" + "+args.add(f.AfterID)+"::bigint AND "+tenantKey+" < "+base+" + 549755813888 AND coalesce(a.tenant = "+tn+", false)")
	}
	if len(f.States) == 1 {
		where = append(where, "a.state = "+args.add(string(f.States[0])))
	} else if len(f.States) > 1 {
		where = append(where, "a.state = ANY("+args.add(stateNames(f.States))+")")
	}
	if f.Within.IsValid() {
		// A range of assignments_prefix: in cidr's order the prefixes the
		// prefix holds are the ones from it to its last address (a prefix
		// sorts before the ones it holds, and by its network otherwise).
		// The cidr operator alone is a range of the index only when the
		// prefix is a constant, not a parameter of a prepared statement,
		// and was a walk of every assignment.
		lo, hi := withinRange(f.Within)
		where = append(where, "a.prefix >= "+args.add(lo)+"::cidr AND a.prefix <= "+args.add(hi)+"::cidr"+
			" AND a.prefix <<= "+args.add(f.Within.String())+"::cidr")
	}
	if f.Contains.IsValid() {
		// An assignment holding the prefix is one of its supernets: at
		// most 33 (IPv4) or 129 (IPv6) look-ups of assignments_prefix,
		// not a walk of every assignment. The IDs are found first (an
		// uncorrelated subquery, run once): as conditions on a page in ID
		// order the planner at ten million walked the primary key through
		// every assignment instead, filtering each by the supernets (10.8 s
		// a page: it estimates the prefix conditions to hold many rows).
		where = append(where, "a.id = ANY(ARRAY(SELECT c.id FROM assignments c WHERE c.prefix = ANY("+args.add(supernets(f.Contains))+"::cidr[])"+
			" AND c.prefix >>= "+args.add(f.Contains.String())+"::cidr))")
	}
	if f.AfterID != 0 && f.Tenant == nil {
		// (A tenant's cursor is the lower bound of its key's range: as a
		// condition of its own too, its selectivity made the generic
		// plan read the tenant's rows and sort them.)
		where = append(where, "a.id > "+args.add(f.AfterID))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		where = append(where, "EXISTS (SELECT 1 FROM tags t WHERE t.kind = 'assignment' AND t.object_id = a.id AND t.key = "+args.add(k)+" AND t.value = "+args.add(f.Tags[k])+")")
	}
	return where
}

// Activity implements registry.Tx: the assignments made, from the pools'
// day counters (pool_counts) of the whole days [from, to) touches; the
// released ones, from an index range scan (assignments_released) grouped
// by day. Reading the made ones from the rows read every assignment made
// in the window, through an index of every assignment by creation time
// (dropped: issue 16, storage).
func (t *tx) Activity(ctx context.Context, poolIDs []int64, from, to time.Time) ([]registry.DayActivity, error) {
	if len(poolIDs) == 0 {
		return nil, nil
	}
	if err := t.storeCounts(ctx); err != nil {
		return nil, err
	}
	lo, hi := poolcount.WholeDays(micros(from), micros(to))
	if lo == hi {
		return nil, nil
	}
	var acc rowscan.Activity
	for _, q := range []struct {
		sql      string
		lo, hi   int64
		released bool
	}{
		{`SELECT c.day, p.family, SUM(c.n)::bigint FROM pool_counts c JOIN pools p ON p.id = c.pool_id
			WHERE c.pool_id = ANY($1) AND c.kind = 'created' AND c.day >= $2 AND c.day < $3 GROUP BY 1, 2`, lo, hi, false},
		{rowscan.ActivityQuery("released_at", `pool_id = ANY($1)`, "$2", "$3"), lo * poolcount.DayMicros, hi * poolcount.DayMicros, true},
	} {
		rows, err := t.query(ctx, q.sql, poolIDs, q.lo, q.hi)
		if err != nil {
			return nil, mapErr(err)
		}
		for rows.Next() {
			var day, fam, n int64
			if err := rows.Scan(&day, &fam, &n); err != nil {
				rows.Close()
				return nil, err
			}
			acc.Add(day, fam, n, q.released)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, mapErr(err)
		}
	}
	return acc.Days(), nil
}
