package sqlite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// The register's life after creation: spaces, tags, and changing and
// removing regions, blocks and pools (registry.LifeTx).

var _ registry.LifeTx = (*tx)(nil)

// blockSpace is the space a block is stored in; a caller that inserts a
// block without one (the registry always names it) gets the default.
var blockSpace = rowscan.BlockSpace

func sortedKeys(t registry.Tags) []string { return slices.Sorted(maps.Keys(t)) }

func (t *tx) InsertSpace(ctx context.Context, s *registry.Space) error {
	res, err := t.q.exec(ctx, `INSERT INTO spaces (name, note, created_at) VALUES (?, ?, ?)`, s.Name, s.Note, micros(s.CreatedAt))
	if err != nil {
		return mapErr(err)
	}
	s.ID, err = res.LastInsertId()
	return err
}

func (t *tx) SpaceByName(ctx context.Context, name string) (registry.Space, error) {
	rows, err := t.q.query(ctx, `SELECT id, name, note, created_at FROM spaces WHERE name = ?`, name)
	s, err := one(rows, err, rowscan.Space)
	return s, notFound(err, "space "+name)
}

func (t *tx) Spaces(ctx context.Context) ([]registry.Space, error) {
	rows, err := t.q.query(ctx, `SELECT id, name, note, created_at FROM spaces ORDER BY name`)
	return collect(rows, err, rowscan.Space)
}

func (t *tx) DeleteSpace(ctx context.Context, id int64) error {
	return t.deleteRow(ctx, "spaces", "space", id)
}

// deleteRow deletes the row of table with id; none is ErrNotFound.
func (t *tx) deleteRow(ctx context.Context, table, what string, id int64) error {
	res, err := t.q.exec(ctx, `DELETE FROM `+table+` WHERE id = ?`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%s %d: %w", what, id, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) SetTags(ctx context.Context, kind string, id int64, tags registry.Tags) error {
	if _, err := t.q.exec(ctx, `DELETE FROM tags WHERE kind = ? AND object_id = ?`, kind, id); err != nil {
		return mapErr(err)
	}
	for _, k := range sortedKeys(tags) {
		if _, err := t.q.exec(ctx, insertTagSQL, kind, id, k, tags[k]); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

func (t *tx) TagsOf(ctx context.Context, kind string, ids []int64) (map[int64]registry.Tags, error) {
	out := map[int64]registry.Tags{}
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > tagsRangeMin {
		// A page of an export asks for thousands of IDs in order: one
		// range of the primary key, by a statement prepared once, then
		// those of ids kept (a list of IDs is a new statement to parse
		// each time, and most objects carry no tags).
		lo, hi := slices.Min(ids), slices.Max(ids)
		if hi-lo < int64(4*len(ids)) {
			rows, err := t.q.query(ctx, `SELECT object_id, key, value FROM tags WHERE kind = ? AND object_id BETWEEN ? AND ?`, kind, lo, hi)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			all, err := rowscan.Tags(rows)
			if err != nil {
				return nil, err
			}
			want := make(map[int64]bool, len(ids))
			for _, id := range ids {
				want[id] = true
			}
			for id := range all {
				if !want[id] {
					delete(all, id)
				}
			}
			return all, nil
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), maxIDList)
		if err := t.tagsOfList(ctx, kind, ids[:n], out); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// maxIDList is the most IDs tagsOfList binds in one statement.
const maxIDList = 512

// tagsOfList adds to out the tags of the objects of kind among ids (at
// most maxIDList). The IDs are bound to placeholders (idArgs), so a page's
// read is one of ten statements, each prepared once per connection: the
// IDs written into the text made each page (and each GET by ID) a new
// statement to parse, 5-8 % of a list page's CPU, and filled the
// connection's statement cache (maxStmts) with statements never used
// again, after which no new statement was kept (bench/README.md,
// "Session 10: list pages").
func (t *tx) tagsOfList(ctx context.Context, kind string, ids []int64, out map[int64]registry.Tags) error {
	n, bound := idArgs(ids)
	args := append([]any{kind}, bound...)
	rows, err := t.q.query(ctx, `SELECT object_id, key, value FROM tags WHERE kind = ? AND object_id IN (`+placeholders(n)+`)`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	m, err := rowscan.Tags(rows)
	if err != nil {
		return err
	}
	maps.Copy(out, m)
	return nil
}

// placeholders is n question marks separated by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// tagsRangeMin is the number of IDs from which TagsOf reads a range.
const tagsRangeMin = 64

func (t *tx) Tagged(ctx context.Context, kind string, match registry.Tags) ([]int64, error) {
	// One index seek of tags_match per pair, intersected.
	var parts []string
	var args []any
	for _, k := range sortedKeys(match) {
		parts = append(parts, `SELECT object_id FROM tags WHERE kind = ? AND key = ? AND value = ?`)
		args = append(args, kind, k, match[k])
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("tagged: no tag to match: %w", registry.ErrInvalid)
	}
	rows, err := t.q.query(ctx, strings.Join(parts, " INTERSECT ")+` ORDER BY 1`, args...)
	return collect(rows, err, func(rows rowscan.Scanner) (int64, error) {
		var id int64
		return id, rows.Scan(&id)
	})
}

func (t *tx) DeleteRegion(ctx context.Context, id int64) error {
	return t.deleteRow(ctx, "regions", "region", id)
}

func (t *tx) BlockByID(ctx context.Context, id int64) (registry.Block, error) {
	rows, err := t.q.query(ctx, `SELECT `+blockCols+` FROM blocks WHERE id = ?`, id)
	b, err := one(rows, err, scanBlock)
	return b, notFound(err, fmt.Sprintf("block %d", id))
}

func (t *tx) UpdateBlock(ctx context.Context, b registry.Block) error {
	var price any
	cur := ""
	if b.Price != nil {
		price, cur = b.Price.Cents, b.Price.Currency
	}
	res, err := t.q.exec(ctx, `UPDATE blocks SET registry = ?, registered_country = ?, counterparty = ?, price_cents = ?, currency = ?, acquired = ?, note = ? WHERE id = ?`,
		b.Registry, b.RegisteredCountry, b.From, price, cur, b.Date, b.Note, b.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("block %d: %w", b.ID, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteBlock(ctx context.Context, id int64) error {
	return t.deleteRow(ctx, "blocks", "block", id)
}

func (t *tx) UpdatePool(ctx context.Context, p registry.Pool) error {
	res, err := t.q.exec(ctx, `UPDATE pools SET purpose = ? WHERE id = ?`, p.Purpose, p.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("pool %d: %w", p.ID, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) DeletePool(ctx context.Context, id int64) error {
	if c := t.counts(); c != nil && len(c.d) > 0 {
		// Its counters go with it (ON DELETE CASCADE): changes not yet
		// stored would otherwise be written for a pool that is gone.
		c.change()
		c.d.DropPool(id)
	}
	// `state <> 'assigned'`: the condition of the partial indexes
	// assignments_pool_state (00026) and assignments_pool_past, so that
	// they find the released rows (a pool being deleted has no live one:
	// Registry checks, and the trigger pools_assignments refuses, 00069).
	// No index leads with the pool alone (00065).
	for _, q := range []string{
		`DELETE FROM tags WHERE kind = 'assignment' AND object_id IN (SELECT id FROM assignments WHERE pool_id = ?1 AND state <> 'assigned')`,
		`DELETE FROM assignments WHERE pool_id = ?1 AND state = 'released' AND state <> 'assigned'`,
		poolFreeDeleteSQL,
	} {
		if _, err := t.q.exec(ctx, q, id); err != nil {
			return mapErr(err)
		}
	}
	// The rows deleted may have been the last: new rows, whose IDs follow
	// the last left, must still join the counters' tail (00059).
	if _, err := t.q.exec(ctx, markClampSQL); err != nil {
		return mapErr(err)
	}
	return t.deleteRow(ctx, "pools", "pool", id)
}

// insertTagSQL writes one tag (its CHECK on kind: 00049) with, for an
// assignment's, its pool (00057: tags_pool_match), so that the trigger
// tags_pool_insert, which sets the pool of a row written without it,
// finds nothing to correct and writes the row only once.
const insertTagSQL = `INSERT INTO tags (kind, object_id, key, value, pool_id) VALUES (?1, ?2, ?3, ?4,
	CASE WHEN ?1 = 'assignment' THEN (SELECT pool_id FROM assignments WHERE id = ?2) END)`
