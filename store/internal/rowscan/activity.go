package rowscan

import (
	"cmp"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// dayMicros is a day in the stores' time unit (microseconds since 1970).
const dayMicros = 86400_000_000

// ActivityQuery is the query of Tx.Activity over column col (created_at
// or released_at); poolFilter and the two bounds are the store's own SQL.
// The rows are counted per pool and day from the index on (pool_id, col)
// alone, and the family comes from the pool: counting per family read
// each row from the table for it, a random read per assignment released
// in the window (half of a region page's first view at a million).
func ActivityQuery(col, poolFilter, ge, lt string) string {
	return `SELECT g.day, p.family, SUM(g.n) FROM (SELECT pool_id, ` + col + ` / 86400000000 AS day, COUNT(*) AS n FROM assignments WHERE ` + poolFilter +
		` AND ` + col + ` >= ` + ge + ` AND ` + col + ` < ` + lt + ` GROUP BY 1, 2) g JOIN pools p ON p.id = g.pool_id GROUP BY 1, 2`
}

// Activity gathers the rows of the two ActivityQuery scans.
type Activity struct {
	byKey map[[2]int64]*registry.DayActivity
}

// Add counts n assignments of family fam made (released false) or
// released on day (days since 1970).
func (a *Activity) Add(day, fam, n int64, released bool) {
	if a.byKey == nil {
		a.byKey = map[[2]int64]*registry.DayActivity{}
	}
	k := [2]int64{day, fam}
	d, ok := a.byKey[k]
	if !ok {
		d = &registry.DayActivity{Day: time.UnixMicro(day * dayMicros).UTC(), Family: int(fam)}
		a.byKey[k] = d
	}
	if released {
		d.Released += n
	} else {
		d.Allocated += n
	}
}

// Days returns the counts by day, then family.
func (a *Activity) Days() []registry.DayActivity {
	out := make([]registry.DayActivity, 0, len(a.byKey))
	for _, d := range a.byKey {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(x, y registry.DayActivity) int {
		return cmp.Or(x.Day.Compare(y.Day), cmp.Compare(x.Family, y.Family))
	})
	return out
}
