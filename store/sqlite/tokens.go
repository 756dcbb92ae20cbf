package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ auth.Store = (*Store)(nil)

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
		if _, err := x.q.exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)`,
			t.ID, t.Name, t.Scope.String(), t.Tenant, t.MAC, micros(t.CreatedAt), t.CreatedBy, optMicros(t.ExpiresAt), rowscan.AllowFrom(t.AllowFrom)); err != nil {
			return mapErr(err)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Token implements auth.Store.
func (s *Store) Token(ctx context.Context, id string) (t auth.Token, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id)
		t, err = one(rows, err, scanToken)
		return notFound(err, "token "+id)
	})
	return t, err
}

// Tokens implements auth.Store.
func (s *Store) Tokens(ctx context.Context) (out []auth.Token, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
		out, err = collect(rows, err, scanToken)
		return err
	})
	return out, err
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, micros(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %s: %w", id, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// TouchToken implements auth.Store: it records when a token was last used.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		_, err := rt.(*tx).q.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}

// RekeyTokens implements auth.Store. SQLite has one writer at a time, so
// no token write interleaves with the transaction.
func (s *Store) RekeyTokens(ctx context.Context, rekey func(auth.Token) ([]byte, error), event func(n int) registry.Event) (n int, err error) {
	err = s.Update(ctx, func(rt registry.Tx) error {
		n = 0
		x := rt.(*tx)
		rows, err := x.q.query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
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
			if _, err := x.q.exec(ctx, `UPDATE tokens SET mac = ? WHERE id = ?`, mac, t.ID); err != nil {
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
