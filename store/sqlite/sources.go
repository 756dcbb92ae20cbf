package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ geo.Store = (*Store)(nil)

// PutSource implements geo.Store.
func (s *Store) PutSource(ctx context.Context, src geo.Source, entries []geo.Entry, e registry.Event) (geo.Source, error) {
	err := s.Update(ctx, func(t registry.Tx) error {
		x := t.(*tx)
		if _, err := x.q.exec(ctx, `DELETE FROM sources WHERE name = ?`, src.Name); err != nil {
			return err
		}
		if src.Kind != geo.KindMMDB {
			src.Entries = int64(len(entries))
		}
		res, err := x.q.exec(ctx, `INSERT INTO sources (name, kind, origin, entries, sha256, imported_at) VALUES (?, ?, ?, ?, ?, ?)`,
			src.Name, string(src.Kind), src.Origin, src.Entries, src.SHA256, micros(src.ImportedAt))
		if err != nil {
			return mapErr(err)
		}
		if src.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, en := range entries {
			if _, err := x.q.exec(ctx, `INSERT INTO source_entries (source_id, family, first, bits, country, subdivision, city) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				src.ID, prefix.Family(en.Prefix), addrBytes(en.Prefix.Addr()), en.Prefix.Bits(), en.Location.Country, en.Location.Subdivision, en.Location.City); err != nil {
				return fmt.Errorf("source %s: entry %s: %w", src.Name, en.Prefix, mapErr(err))
			}
		}
		e.SubjectID = src.ID
		return x.AppendEvent(ctx, &e)
	})
	return src, err
}

// Sources implements geo.Store.
func (s *Store) Sources(ctx context.Context) (out []geo.Source, err error) {
	err = s.View(ctx, func(t registry.Tx) error {
		rows, err := t.(*tx).q.query(ctx, `SELECT id, name, kind, origin, entries, sha256, imported_at FROM sources ORDER BY name`)
		out, err = collect(rows, err, func(rows rowscan.Scanner) (geo.Source, error) {
			var src geo.Source
			var kind string
			var at int64
			err := rows.Scan(&src.ID, &src.Name, &kind, &src.Origin, &src.Entries, &src.SHA256, &at)
			src.Kind, src.ImportedAt = geo.Kind(kind), fromMicros(at)
			return src, err
		})
		return err
	})
	return out, err
}

// SourceEntries implements geo.Store.
func (s *Store) SourceEntries(ctx context.Context, name string, fn func(geo.Entry) error) error {
	return s.View(ctx, func(t registry.Tx) error {
		rows, err := t.(*tx).q.query(ctx, `SELECT e.first, e.bits, e.country, e.subdivision, e.city FROM source_entries e
			JOIN sources s ON s.id = e.source_id WHERE s.name = ? ORDER BY e.family, e.first, e.bits`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			en, err := rowscan.GeoEntry(rows, name)
			if err != nil {
				return err
			}
			if err := fn(en); err != nil {
				return err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			r, err := t.(*tx).q.query(ctx, `SELECT 1 FROM sources WHERE name = ?`, name)
			if v, err := oneInt(r, err); err != nil || v != 1 {
				if errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("source %s: %w", name, registry.ErrNotFound)
				}
				return err
			}
		}
		return nil
	})
}

// sqlEntriesAt4 and sqlEntriesAt6 find the entries of a source that
// contain an address: each of the 33 (129) prefixes that can, by the
// primary key; the rows are filtered by length after.
var sqlEntriesAt4, sqlEntriesAt6 = sqlEntriesAt(33), sqlEntriesAt(129)

func sqlEntriesAt(n int) string {
	return `SELECT e.first, e.bits, e.country, e.subdivision, e.city FROM source_entries e
		WHERE e.source_id = (SELECT id FROM sources WHERE name = ?) AND e.family = ? AND e.first IN (?` + strings.Repeat(", ?", n-1) + `)
		ORDER BY e.bits`
}

// SourceEntriesAt implements geo.Store.
func (s *Store) SourceEntriesAt(ctx context.Context, name string, a netip.Addr) (out []geo.Entry, err error) {
	firsts := geo.ContainingFirsts(a)
	q, fam := sqlEntriesAt4, 4
	if a.Is6() {
		q, fam = sqlEntriesAt6, 6
	}
	args := make([]any, 0, 2+len(firsts))
	args = append(args, name, fam)
	for _, f := range firsts {
		args = append(args, addrBytes(f))
	}
	err = s.View(ctx, func(t registry.Tx) error {
		rows, err := t.(*tx).q.query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = rowscan.GeoEntriesAt(rows, name, firsts)
		return err
	})
	return out, err
}

func oneInt(rows *sql.Rows, err error) (int, error) {
	return one(rows, err, func(rows rowscan.Scanner) (int, error) {
		var v int
		return v, rows.Scan(&v)
	})
}

// DeleteSource implements geo.Store.
func (s *Store) DeleteSource(ctx context.Context, name string, e registry.Event) error {
	return s.Update(ctx, func(t registry.Tx) error {
		x := t.(*tx)
		res, err := x.q.exec(ctx, `DELETE FROM sources WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("source %s: %w", name, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}
