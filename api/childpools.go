package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
)

// childPoolBody asks for a child pool: an allocation of len in region made
// a pool of its own (the CLI's `alloc --as-pool NAME`).
type childPoolBody struct {
	Name    string            `json:"as_pool" maxLength:"63" doc:"name of the child pool; children are then allocated with pool set to it"`
	Region  string            `json:"region" maxLength:"63"`
	Family  int               `json:"family,omitempty" enum:"4,6" doc:"default 6"`
	Len     int               `json:"len" minimum:"1" maximum:"64" doc:"length of the child pool (IPv6 at most /64)"`
	Purpose string            `json:"purpose,omitempty" maxLength:"256"`
	Tenant  string            `json:"tenant,omitempty" maxLength:"128"`
	Tags    map[string]string `json:"tags,omitempty" maxProperties:"32" doc:"KEY=VALUE tags of the child pool"`
	Space   string            `json:"space,omitempty" maxLength:"63" doc:"carve it from the region's pools of this space (VRF) only; default the global and the built-in private space"`
}

type childPoolOut struct {
	Body registry.Pool
}

// routeChildPools serves child pools. They are pools, not assignments, so
// they have their own resource; their children are allocated through POST
// /v1/assignments with "pool" set.
func (s *Server) routeChildPools(api huma.API) {
	add := op("allocate-child-pool", http.MethodPost, "/v1/child-pools", "Carve a child pool out of a region's free space", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	add.DefaultStatus = http.StatusCreated
	add.Description = "The child pool is counted as assigned in its parent and against its tenant's quotas as an assignment of its length; only its tenant (or an admin) allocates inside it, with POST /v1/assignments and pool set to its name. Child pools are one level deep: they are carved from the region's own pools only. With an Idempotency-Key header a retry returns the same child pool; the same key with another request (or one first used for assignments) is 409. A name in use is 409; no room is 409; over quota is 409."
	huma.Register(api, add, func(ctx context.Context, in *struct {
		Key  string `header:"Idempotency-Key" maxLength:"256"`
		Body childPoolBody
	}) (*childPoolOut, error) {
		q := in.Body
		if t := principalOf(ctx).token.Tenant; t != "" {
			if q.Tenant != "" && q.Tenant != t {
				return nil, huma.Error403Forbidden(fmt.Sprintf("this token is bound to tenant %s", t))
			}
			q.Tenant = t
		}
		p, err := s.reg.AllocatePool(ctx, registry.ChildPoolSpec{Name: q.Name, Region: q.Region, Family: q.Family, Bits: q.Len,
			Purpose: q.Purpose, Tenant: q.Tenant, Tags: q.Tags, Space: q.Space, Key: in.Key})
		if err != nil {
			return nil, s.problemFor(ctx, err)
		}
		return &childPoolOut{Body: p}, nil
	})
	huma.Register(api, op("release-child-pool", http.MethodPost, "/v1/child-pools/{name}/release", "Dissolve a child pool into its parent", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			Name string `path:"name" maxLength:"63"`
		}) (*childPoolOut, error) {
			p, err := s.reg.ReleasePool(ctx, in.Name, principalOf(ctx).tenant())
			if err != nil {
				return nil, s.problem(err)
			}
			return &childPoolOut{Body: p}, nil
		})
}
