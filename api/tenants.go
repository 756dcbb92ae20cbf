package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
)

// tenantBody is a tenant as an admin creates or changes it. In a PATCH,
// absent fields stay; a quota of null (with clear_max_*) is removed.
type tenantBody struct {
	Names        *[]string `json:"names,omitempty" maxItems:"100" doc:"DNS suffixes under which callers below admin may name the tenant's assignments; \".\" is every name. A suffix that equals, contains or lies under another tenant's is 409 overlap"`
	MaxIPv4      *int64    `json:"max_ipv4,omitempty" minimum:"0" doc:"IPv4 addresses the tenant may hold (live and quarantined)"`
	MaxIPv6      *int64    `json:"max_ipv6,omitempty" minimum:"0" doc:"IPv6 prefixes of any length the tenant may hold (live and quarantined)"`
	ClearMaxIPv4 bool      `json:"clear_max_ipv4,omitempty" doc:"remove the IPv4 quota"`
	ClearMaxIPv6 bool      `json:"clear_max_ipv6,omitempty" doc:"remove the IPv6 quota"`
	Note         *string   `json:"note,omitempty" maxLength:"1000"`
	MayDelegate  *bool     `json:"may_delegate,omitempty" doc:"let the tenant's tokens write NS, DS and DNAME records under its suffixes (default false: those hand names away from the operator's zone)"`
}

func (b tenantBody) spec(name string) registry.TenantSpec {
	return registry.TenantSpec{Name: name, Names: b.Names, MaxIPv4: b.MaxIPv4, MaxIPv6: b.MaxIPv6, ClearIPv4: b.ClearMaxIPv4, ClearIPv6: b.ClearMaxIPv6, Note: b.Note, MayDelegate: b.MayDelegate}
}

type tenantOut struct {
	Body registry.Tenant
}

func (s *Server) routeTenants(api huma.API) {
	huma.Register(api, op("list-tenants", http.MethodGet, "/v1/tenants", "List tenants with their name suffixes, quotas and use", auth.ScopeAdmin, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []registry.Tenant }, error) {
			ts, err := s.reg.Tenants(ctx)
			return &struct{ Body []registry.Tenant }{nonNil(ts)}, s.problem(err)
		})
	// A tenant-bound token reads its own tenant (quotas and use); any
	// other tenant reads as one that does not exist.
	huma.Register(api, op("get-tenant", http.MethodGet, "/v1/tenants/{name}", "Get a tenant (an admin, or a token bound to it)", auth.ScopeRead, true, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Name string `path:"name" maxLength:"128"`
		}) (*tenantOut, error) {
			tok := principalOf(ctx).token
			switch {
			case tok.Tenant != "" && tok.Tenant != in.Name:
				return nil, s.problem(notFoundTenant())
			case tok.Tenant == "" && tok.Scope < auth.ScopeAdmin:
				return nil, huma.Error403Forbidden("reading a tenant needs a token of scope admin, or one bound to that tenant")
			}
			t, err := s.reg.Tenant(ctx, in.Name)
			if err != nil && tok.Tenant != "" && errors.Is(err, registry.ErrNotFound) {
				err = notFoundTenant()
			}
			if err != nil {
				return nil, s.problem(err)
			}
			return &tenantOut{Body: t}, nil
		})
	ct := op("create-tenant", http.MethodPost, "/v1/tenants", "Create a tenant", auth.ScopeAdmin, false, http.StatusConflict, http.StatusUnprocessableEntity)
	ct.DefaultStatus = http.StatusCreated
	huma.Register(api, ct, func(ctx context.Context, in *struct {
		Body struct {
			Name        string    `json:"name" minLength:"1" maxLength:"128"`
			Names       *[]string `json:"names,omitempty" maxItems:"100" doc:"DNS suffixes under which callers below admin may name the tenant's assignments; \".\" is every name. A suffix that equals, contains or lies under another tenant's is 409 overlap"`
			MaxIPv4     *int64    `json:"max_ipv4,omitempty" minimum:"0" doc:"IPv4 addresses the tenant may hold (live and quarantined)"`
			MaxIPv6     *int64    `json:"max_ipv6,omitempty" minimum:"0" doc:"IPv6 prefixes of any length the tenant may hold (live and quarantined)"`
			Note        *string   `json:"note,omitempty" maxLength:"1000"`
			MayDelegate *bool     `json:"may_delegate,omitempty" doc:"let the tenant's tokens write NS, DS and DNAME records under its suffixes (default false)"`
		}
	}) (*tenantOut, error) {
		b := in.Body
		t, err := s.reg.AddTenant(ctx, tenantBody{Names: b.Names, MaxIPv4: b.MaxIPv4, MaxIPv6: b.MaxIPv6, Note: b.Note, MayDelegate: b.MayDelegate}.spec(b.Name))
		if err != nil {
			return nil, s.problem(err)
		}
		return &tenantOut{Body: t}, nil
	})
	huma.Register(api, op("update-tenant", http.MethodPatch, "/v1/tenants/{name}", "Change a tenant's name suffixes, quotas, note or whether its tokens may delegate", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			Name string `path:"name" maxLength:"128"`
			Body tenantBody
		}) (*tenantOut, error) {
			t, err := s.reg.UpdateTenant(ctx, in.Body.spec(in.Name))
			if err != nil {
				return nil, s.problem(err)
			}
			return &tenantOut{Body: t}, nil
		})
	rt := op("remove-tenant", http.MethodDelete, "/v1/tenants/{name}", "Remove a tenant that holds no live or quarantined assignment", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict)
	rt.DefaultStatus = http.StatusNoContent
	huma.Register(api, rt, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"128"`
	}) (*struct{}, error) {
		return nil, s.problem(s.reg.RemoveTenant(ctx, in.Name))
	})
}

// notFoundTenant is what a tenant-bound token learns of any tenant but its
// own: that it cannot see it, never whether it exists.
func notFoundTenant() error {
	return fmt.Errorf("no such tenant for this token: %w", registry.ErrNotFound)
}
