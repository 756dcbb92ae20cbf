package sqlite

import (
	"context"
	"fmt"
	"maps"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// useCache keeps tenants' use counters for one group-commit batch in
// memory, so that a batch of N allocations for a tenant reads the
// tenant's row once and writes it once (before COMMIT) instead of running
// N UPDATE ... RETURNING statements. Writers are serialised on the one
// writer connection, so the counts it hands out are exact: nothing else
// writes the row while the batch runs, and every statement of the batch
// that reads or writes tenants otherwise flushes it first (flush). A
// caller's failure rolls its savepoint back and, with it, the changes it
// made here (begin, end).
type useCache struct {
	rows map[string]usedRow
	// snap is the cache as the running caller found it, taken before its
	// first change (nil: no change yet), put back if the caller fails.
	snap    map[string]usedRow
	snapped bool
}

// usedRow is a tenant as the batch sees it and the use stored in its row.
type usedRow struct {
	t                registry.Tenant
	stored4, stored6 int64
}

// begin starts a caller's savepoint.
func (c *useCache) begin() { c.snap, c.snapped = nil, false }

// end closes a caller's savepoint: failed, its changes are undone.
func (c *useCache) end(failed bool) {
	if failed && c.snapped {
		c.rows = c.snap
	}
	c.snap, c.snapped = nil, false
}

// change is called before the running caller changes the cache.
func (c *useCache) change() {
	if !c.snapped {
		c.snap, c.snapped = maps.Clone(c.rows), true
	}
}

// add is AddTenantUse within the batch.
func (c *useCache) add(ctx context.Context, q querier, name string, d4, d6 int64) (registry.Tenant, error) {
	r, ok := c.rows[name]
	if !ok {
		rows, err := q.query(ctx, `SELECT `+tenantCols+` FROM tenants WHERE name = ?`, name)
		x, err := one(rows, err, rowscan.Tenant)
		if err != nil {
			return registry.Tenant{}, notFound(mapErr(err), "tenant "+name)
		}
		r = usedRow{t: x, stored4: x.UsedIPv4, stored6: x.UsedIPv6}
	}
	c.change()
	if c.rows == nil {
		c.rows = map[string]usedRow{}
	}
	// As the row's MAX(used + d, 0) would.
	r.t.UsedIPv4 = max(r.t.UsedIPv4+d4, 0)
	r.t.UsedIPv6 = max(r.t.UsedIPv6+d6, 0)
	c.rows[name] = r
	return r.t, nil
}

// flush writes the counts that changed and empties the cache; every
// statement on tenants other than the count runs after it.
func (c *useCache) flush(ctx context.Context, q querier) error {
	if len(c.rows) == 0 {
		return nil
	}
	c.change()
	for name, r := range c.rows {
		if r.t.UsedIPv4 == r.stored4 && r.t.UsedIPv6 == r.stored6 {
			continue
		}
		res, err := q.exec(ctx, `UPDATE tenants SET used_ipv4 = ?, used_ipv6 = ? WHERE id = ?`, r.t.UsedIPv4, r.t.UsedIPv6, r.t.ID)
		if err != nil {
			return fmt.Errorf("tenant %s: store its use: %w", name, mapErr(err))
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("tenant %s: store its use: %w", name, registry.ErrNotFound)
		}
	}
	c.rows = nil
	return nil
}
