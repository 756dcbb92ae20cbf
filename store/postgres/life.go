package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// The register's life after creation: spaces, tags, and changing and
// removing regions, blocks and pools (registry.LifeTx).

var _ registry.LifeTx = (*tx)(nil)

func (t *tx) InsertSpace(ctx context.Context, s *registry.Space) error {
	return mapErr(t.row(ctx, `INSERT INTO spaces (name, note, created_at) VALUES ($1, $2, $3) RETURNING id`, s.Name, s.Note, micros(s.CreatedAt)).Scan(&s.ID))
}

func (t *tx) SpaceByName(ctx context.Context, name string) (registry.Space, error) {
	rows, err := t.query(ctx, `SELECT id, name, note, created_at FROM spaces WHERE name = $1`, name)
	s, err := one(rows, err, rowscan.Space)
	return s, notFound(err, "space "+name)
}

func (t *tx) Spaces(ctx context.Context) ([]registry.Space, error) {
	rows, err := t.query(ctx, `SELECT id, name, note, created_at FROM spaces ORDER BY name`)
	return collect(rows, err, rowscan.Space)
}

func (t *tx) DeleteSpace(ctx context.Context, id int64) error {
	return t.deleteRow(ctx, "spaces", "space", id)
}

// deleteRow deletes the row of table with id; none is ErrNotFound.
func (t *tx) deleteRow(ctx context.Context, table, what string, id int64) error {
	tag, err := t.exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s %d: %w", what, id, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) SetTags(ctx context.Context, kind string, id int64, tags registry.Tags) error {
	if _, err := t.exec(ctx, `DELETE FROM tags WHERE kind = $1 AND object_id = $2`, kind, id); err != nil {
		return mapErr(err)
	}
	if len(tags) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(tags))
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = tags[k]
	}
	_, err := t.exec(ctx, `INSERT INTO tags (kind, object_id, key, value) SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS u (k, v)`, kind, id, keys, vals)
	return mapErr(err)
}

// tagsByID is the most IDs TagsOf looks up one by one; more (every
// pool's tags, a dump's kind) are read by one scan.
const tagsByID = 1000

// tagsOfQuery is TagsOf's statement for n IDs ($1 the kind, $2 the IDs).
// A page's IDs (100 of a list, 1 of a GET) are looked up one by one in
// tags_pkey: as `object_id = ANY($2)` the planner read every tag of the
// register for a page (a Seq Scan of 9,303 tags for 101 IDs at a million
// assignments, 93,000 at ten million), since it costs 101 index probes
// above one pass over a small table. OFFSET 0 keeps the subquery a loop
// per ID (not flattened into a join the planner may hash).
func tagsOfQuery(n int) string {
	if n > tagsByID {
		return `SELECT object_id, key, value FROM tags WHERE kind = $1 AND object_id = ANY($2)`
	}
	return `SELECT t.object_id, t.key, t.value FROM unnest($2::bigint[]) AS i(id)
		CROSS JOIN LATERAL (SELECT object_id, key, value FROM tags WHERE kind = $1 AND object_id = i.id OFFSET 0) t`
}

func (t *tx) TagsOf(ctx context.Context, kind string, ids []int64) (map[int64]registry.Tags, error) {
	out := map[int64]registry.Tags{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := t.query(ctx, tagsOfQuery(len(ids)), kind, ids)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	m, err := rowscan.Tags(rows)
	return m, mapErr(err)
}

func (t *tx) Tagged(ctx context.Context, kind string, match registry.Tags) ([]int64, error) {
	// One index seek of tags_match per pair, intersected.
	var parts []string
	args := []any{kind}
	for _, k := range slices.Sorted(maps.Keys(match)) {
		args = append(args, k, match[k])
		n := len(args)
		parts = append(parts, `SELECT object_id FROM tags WHERE kind = $1 AND key = $`+strconv.Itoa(n-1)+` AND value = $`+strconv.Itoa(n))
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("tagged: no tag to match: %w", registry.ErrInvalid)
	}
	rows, err := t.query(ctx, strings.Join(parts, " INTERSECT ")+` ORDER BY 1`, args...)
	return collect(rows, err, func(rows rowscan.Scanner) (int64, error) {
		var id int64
		return id, rows.Scan(&id)
	})
}

func (t *tx) DeleteRegion(ctx context.Context, id int64) error {
	if err := t.deleteRow(ctx, "regions", "region", id); err != nil {
		return err
	}
	if t.s != nil {
		t.s.lockFirst.Delete(id)
	}
	t.ownRegions()
	for name, r := range t.regions {
		if r.ID == id {
			delete(t.regions, name)
		}
	}
	if t.s != nil {
		t.s.regions.Range(func(name, r any) bool {
			if r.(registry.Region).ID == id {
				t.s.regions.Delete(name)
			}
			return true
		})
	}
	return nil
}

func (t *tx) BlockByID(ctx context.Context, id int64) (registry.Block, error) {
	rows, err := t.query(ctx, `SELECT `+blockCols+` FROM blocks WHERE id = $1`, id)
	b, err := one(rows, err, scanBlock)
	return b, notFound(err, fmt.Sprintf("block %d", id))
}

func (t *tx) UpdateBlock(ctx context.Context, b registry.Block) error {
	var price *int64
	cur := ""
	if b.Price != nil {
		price, cur = &b.Price.Cents, b.Price.Currency
	}
	tag, err := t.exec(ctx, `UPDATE blocks SET registry = $1, registered_country = $2, counterparty = $3, price_cents = $4, currency = $5, acquired = $6, note = $7 WHERE id = $8`,
		b.Registry, b.RegisteredCountry, b.From, price, cur, b.Date, b.Note, b.ID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("block %d: %w", b.ID, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteBlock(ctx context.Context, id int64) error {
	return t.deleteRow(ctx, "blocks", "block", id)
}

func (t *tx) UpdatePool(ctx context.Context, p registry.Pool) error {
	tag, err := t.exec(ctx, `UPDATE pools SET purpose = $1 WHERE id = $2`, p.Purpose, p.ID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("pool %d: %w", p.ID, registry.ErrNotFound)
	}
	if t.s != nil {
		t.s.pools.Delete(p.ID)
	}
	return nil
}

func (t *tx) DeletePool(ctx context.Context, id int64) error {
	// Its counters go with it (ON DELETE CASCADE): changes not yet
	// stored would otherwise be written for a pool that is gone.
	t.counts.DropPool(id)
	// `state <> 'assigned'`: the condition of the partial index
	// assignments_pool_past, so that it finds the released rows (a pool
	// being deleted has no live one: Registry checks, and the trigger
	// pools_assignments refuses, 00086). No index leads with the pool
	// alone (00075).
	for _, q := range []string{
		`DELETE FROM tags WHERE kind = 'assignment' AND object_id IN (SELECT id FROM assignments WHERE pool_id = $1 AND state <> 'assigned')`,
		`DELETE FROM assignments WHERE pool_id = $1 AND state = 'released' AND state <> 'assigned'`,
		poolFreeDeleteSQL,
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return mapErr(err)
		}
	}
	if err := t.deleteRow(ctx, "pools", "pool", id); err != nil {
		return err
	}
	if t.s != nil {
		t.s.pools.Delete(id)
	}
	return nil
}
