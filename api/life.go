package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
)

// parseTagQuery reads the tag filter of a /v1 list: ?tag=KEY=VALUE,
// repeatable (every pair must match). (huma reads no parameters from an
// embedded struct, so each list declares the field itself.)
func parseTagQuery(list []string) (registry.Tags, error) {
	t, err := registry.ParseTags(list)
	if err != nil {
		return nil, fmt.Errorf("tag: %w", err)
	}
	return t, nil
}

type spaceBody struct {
	Name string `json:"name" minLength:"1" maxLength:"63" doc:"lower-case letters, digits and '-'"`
	Note string `json:"note,omitempty" maxLength:"1000"`
}

type blockOut struct {
	ETag string `header:"ETag"`
	Body registry.Block
}

type poolOut struct {
	ETag string `header:"ETag"`
	Body registry.Pool
}

// routeLife mounts spaces and the change and removal of regions, blocks
// and pools. Each answers 409 naming what still depends on an object it
// will not remove.
func (s *Server) routeLife(api huma.API) {
	huma.Register(api, op("list-spaces", http.MethodGet, "/v1/spaces", "List spaces (VRFs) with their number of blocks", auth.ScopeRead, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []registry.Space }, error) {
			sp, err := s.reg.Spaces(ctx)
			return &struct{ Body []registry.Space }{nonNil(sp)}, s.problem(err)
		})
	cs := op("create-space", http.MethodPost, "/v1/spaces", "Create a private routing domain (VRF)", auth.ScopeAdmin, false, http.StatusConflict, http.StatusUnprocessableEntity)
	cs.DefaultStatus = http.StatusCreated
	huma.Register(api, cs, func(ctx context.Context, in *struct{ Body spaceBody }) (*struct{ Body registry.Space }, error) {
		sp, err := s.reg.AddSpace(ctx, registry.Space{Name: in.Body.Name, Note: in.Body.Note})
		return &struct{ Body registry.Space }{sp}, s.problem(err)
	})
	ds := op("remove-space", http.MethodDelete, "/v1/spaces/{name}", "Remove a space no block belongs to", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusConflict)
	ds.DefaultStatus = http.StatusNoContent
	huma.Register(api, ds, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"63"`
	}) (*struct{}, error) {
		return nil, s.problem(s.reg.RemoveSpace(ctx, in.Name))
	})

	dr := op("remove-region", http.MethodDelete, "/v1/regions/{name}", "Remove a region no pool, relocation or borrowing policy depends on", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	dr.DefaultStatus = http.StatusNoContent
	huma.Register(api, dr, func(ctx context.Context, in *struct {
		Name    string `path:"name" maxLength:"63"`
		IfMatch string `header:"If-Match" doc:"the ETag from a GET; the removal is refused with 412 if the object changed since (no header: no check)"`
	}) (*struct{}, error) {
		return nil, s.problem(s.reg.RemoveRegion(ctx, in.Name, in.IfMatch))
	})

	huma.Register(api, op("get-block", http.MethodGet, "/v1/blocks/{id}", "Get a block", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			ID int64 `path:"id" minimum:"1"`
		}) (*blockOut, error) {
			b, err := s.reg.Block(ctx, in.ID)
			if err != nil {
				return nil, s.problem(err)
			}
			return &blockOut{ETag: registry.ETag(b), Body: b}, nil
		})
	huma.Register(api, op("update-block", http.MethodPatch, "/v1/blocks/{id}", "Change a block's provenance or tags", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			ID      int64  `path:"id" minimum:"1"`
			IfMatch string `header:"If-Match" doc:"the ETag from a GET; the change is refused with 412 if the object changed since (no header: no check)"`
			Body    struct {
				Registry          *string       `json:"registry,omitempty" maxLength:"8"`
				RegisteredCountry *string       `json:"registered_country,omitempty" maxLength:"2"`
				From              *string       `json:"from,omitempty" maxLength:"200"`
				Price             *string       `json:"price,omitempty" maxLength:"24" doc:"amount with at most two decimals; empty removes the price"`
				Currency          string        `json:"currency,omitempty" maxLength:"3"`
				Date              *string       `json:"date,omitempty" maxLength:"10"`
				Note              *string       `json:"note,omitempty" maxLength:"1000"`
				Tags              registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE pairs to add or replace"`
				Untag             []string      `json:"untag,omitempty" maxItems:"32" doc:"keys to remove"`
			}
		}) (*blockOut, error) {
			b := in.Body
			p := registry.BlockPatch{Registry: b.Registry, RegisteredCountry: b.RegisteredCountry, From: b.From, Date: b.Date, Note: b.Note, TagPatch: registry.TagPatch{Set: b.Tags, Unset: b.Untag}}
			switch {
			case b.Price != nil && *b.Price == "":
				p.ClearPrice = true
			case b.Price != nil:
				cur := b.Currency
				if cur == "" {
					cur = "USD"
				}
				m, err := registry.ParseMoney(*b.Price, cur)
				if err != nil {
					return nil, s.problem(fmt.Errorf("price: %w: %w", err, registry.ErrInvalid))
				}
				p.Price = &m
			case b.Currency != "":
				return nil, s.problem(fmt.Errorf("currency without price: %w", registry.ErrInvalid))
			}
			out, err := s.reg.UpdateBlock(ctx, in.ID, in.IfMatch, p)
			if err != nil {
				return nil, s.problem(err)
			}
			return &blockOut{ETag: registry.ETag(out), Body: out}, nil
		})
	db := op("remove-block", http.MethodDelete, "/v1/blocks/{id}", "Remove a block no pool is carved from", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	db.DefaultStatus = http.StatusNoContent
	huma.Register(api, db, func(ctx context.Context, in *struct {
		ID      int64  `path:"id" minimum:"1"`
		IfMatch string `header:"If-Match" doc:"the ETag from a GET; the removal is refused with 412 if the object changed since (no header: no check)"`
	}) (*struct{}, error) {
		return nil, s.problem(s.reg.RemoveBlock(ctx, in.ID, in.IfMatch))
	})

	huma.Register(api, op("get-pool", http.MethodGet, "/v1/pools/{id}", "Get a pool", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			ID int64 `path:"id" minimum:"1"`
		}) (*poolOut, error) {
			p, err := s.reg.Pool(ctx, in.ID)
			if err != nil {
				return nil, s.problem(err)
			}
			return &poolOut{ETag: registry.ETag(p), Body: p}, nil
		})
	huma.Register(api, op("update-pool", http.MethodPatch, "/v1/pools/{id}", "Change a pool's purpose or tags", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			ID      int64  `path:"id" minimum:"1"`
			IfMatch string `header:"If-Match" doc:"the ETag from a GET; the change is refused with 412 if the object changed since (no header: no check)"`
			Body    struct {
				Purpose *string       `json:"purpose,omitempty" maxLength:"200"`
				Tags    registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE pairs to add or replace"`
				Untag   []string      `json:"untag,omitempty" maxItems:"32" doc:"keys to remove"`
			}
		}) (*poolOut, error) {
			out, err := s.reg.UpdatePool(ctx, in.ID, in.IfMatch, registry.PoolPatch{Purpose: in.Body.Purpose, TagPatch: registry.TagPatch{Set: in.Body.Tags, Unset: in.Body.Untag}})
			if err != nil {
				return nil, s.problem(err)
			}
			return &poolOut{ETag: registry.ETag(out), Body: out}, nil
		})
	dp := op("remove-pool", http.MethodDelete, "/v1/pools/{id}", "Remove a pool without live assignments or lent space", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed)
	dp.DefaultStatus = http.StatusNoContent
	huma.Register(api, dp, func(ctx context.Context, in *struct {
		ID      int64  `path:"id" minimum:"1"`
		IfMatch string `header:"If-Match" doc:"the ETag from a GET; the removal is refused with 412 if the object changed since (no header: no check)"`
	}) (*struct{}, error) {
		return nil, s.problem(s.reg.RemovePool(ctx, in.ID, in.IfMatch))
	})
}
