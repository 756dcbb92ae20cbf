package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var (
	_ geo.Store  = (*Store)(nil)
	_ auth.Store = (*Store)(nil)
)

// PutSource implements geo.Store.
func (s *Store) PutSource(ctx context.Context, src geo.Source, entries []geo.Entry, e registry.Event) (geo.Source, error) {
	err := s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		if _, err := x.exec(ctx, `DELETE FROM sources WHERE name = $1`, src.Name); err != nil {
			return err
		}
		if src.Kind != geo.KindMMDB {
			src.Entries = int64(len(entries))
		}
		if err := x.row(ctx, `INSERT INTO sources (name, kind, origin, entries, sha256, imported_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			src.Name, string(src.Kind), src.Origin, src.Entries, src.SHA256, micros(src.ImportedAt)).Scan(&src.ID); err != nil {
			return mapErr(err)
		}
		rows := make([][]any, len(entries))
		for i, en := range entries {
			rows[i] = []any{src.ID, prefix.Family(en.Prefix), addrBytes(en.Prefix.Addr()), en.Prefix.Bits(), en.Location.Country, en.Location.Subdivision, en.Location.City}
		}
		// A large import's COPY may take longer than a write's statement
		// bound (Options.StatementTimeout); the bound is back after it.
		if _, err := x.exec(ctx, `SELECT set_config('statement_timeout', '0', true)`); err != nil {
			return err
		}
		cctx, err := x.bctx(ctx)
		if err != nil {
			return err
		}
		if _, err := x.raw.CopyFrom(cctx, pgx.Identifier{"source_entries"}, []string{"source_id", "family", "first", "bits", "country", "subdivision", "city"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("source %s: %w", src.Name, mapErr(err))
		}
		if _, err := x.exec(ctx, `SELECT set_config('statement_timeout', $1, true)`, s.statementTimeout); err != nil {
			return err
		}
		e.SubjectID = src.ID
		return x.AppendEvent(ctx, &e)
	})
	return src, err
}

// Sources implements geo.Store.
func (s *Store) Sources(ctx context.Context) (out []geo.Source, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).query(ctx, `SELECT id, name, kind, origin, entries, sha256, imported_at FROM sources ORDER BY name`)
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
	return s.View(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		var id int64
		if err := x.row(ctx, `SELECT id FROM sources WHERE name = $1`, name).Scan(&id); err != nil {
			return notFound(err, "source "+name)
		}
		rows, err := x.query(ctx, `SELECT first, bits, country, subdivision, city FROM source_entries WHERE source_id = $1 ORDER BY family, first, bits`, id)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		for rows.Next() {
			en, err := rowscan.GeoEntry(rows, name)
			if err != nil {
				return err
			}
			if err := fn(en); err != nil {
				return err
			}
		}
		return mapErr(rows.Err())
	})
}

// SourceEntriesAt implements geo.Store: each of the prefixes that can
// contain a, by the primary key; the rows are filtered by length after.
func (s *Store) SourceEntriesAt(ctx context.Context, name string, a netip.Addr) (out []geo.Entry, err error) {
	firsts := geo.ContainingFirsts(a)
	keys := make([][]byte, len(firsts))
	for i, f := range firsts {
		keys[i] = addrBytes(f)
	}
	fam := 4
	if a.Is6() {
		fam = 6
	}
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).query(ctx, `SELECT e.first, e.bits, e.country, e.subdivision, e.city FROM source_entries e
			WHERE e.source_id = (SELECT id FROM sources WHERE name = $1) AND e.family = $2 AND e.first = ANY($3::bytea[])
			ORDER BY e.bits`, name, fam, keys)
		if err != nil {
			return mapErr(err)
		}
		defer rows.Close()
		out, err = rowscan.GeoEntriesAt(rows, name, firsts)
		return mapErr(err)
	})
	return out, err
}

// DeleteSource implements geo.Store.
func (s *Store) DeleteSource(ctx context.Context, name string, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		tag, err := x.exec(ctx, `DELETE FROM sources WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("source %s: %w", name, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

const tokenCols = `id, name, scope, tenant, mac, created_at, created_by, expires_at, revoked_at, last_used_at, allow_from`

// InsertToken implements auth.Store.
func (s *Store) InsertToken(ctx context.Context, t auth.Token, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		if t.Tenant != "" {
			// Like a foreign key: a token is bound to a tenant that exists.
			if _, err := x.TenantByName(ctx, t.Tenant); err != nil {
				return err
			}
		}
		if _, err := x.exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, $9)`,
			t.ID, t.Name, t.Scope.String(), t.Tenant, t.MAC, micros(t.CreatedAt), t.CreatedBy, optMicros(t.ExpiresAt), rowscan.AllowFrom(t.AllowFrom)); err != nil {
			return err
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Token implements auth.Store.
func (s *Store) Token(ctx context.Context, id string) (t auth.Token, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = $1`, id)
		t, err = one(rows, err, scanToken)
		return notFound(err, "token "+id)
	})
	return t, err
}

// Tokens implements auth.Store.
func (s *Store) Tokens(ctx context.Context) (out []auth.Token, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
		out, err = collect(rows, err, scanToken)
		return err
	})
	return out, err
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		tag, err := x.exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`, micros(at), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("token %s: %w", id, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// RekeyTokens implements auth.Store. The table lock keeps other
// replicas' token writes (a token created with the old key) out until the
// re-key commits; reads go on.
func (s *Store) RekeyTokens(ctx context.Context, rekey func(auth.Token) ([]byte, error), event func(n int) registry.Event) (n int, err error) {
	err = s.Update(ctx, func(rt registry.Tx) error {
		n = 0
		x := rt.(*tx)
		if _, err := x.exec(ctx, `LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		rows, err := x.query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
		ts, err := collect(rows, err, scanToken)
		if err != nil {
			return err
		}
		for _, t := range ts {
			mac, err := rekey(t)
			if err != nil {
				return err
			}
			if mac == nil {
				continue
			}
			if _, err := x.exec(ctx, `UPDATE tokens SET mac = $1 WHERE id = $2`, mac, t.ID); err != nil {
				return err
			}
			n++
		}
		e := event(n)
		return x.AppendEvent(ctx, &e)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// TouchToken implements auth.Store.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		_, err := rt.(*tx).exec(ctx, `UPDATE tokens SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) WHERE id = $2`, micros(at), id)
		return err
	})
}
