package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cadastre-ipam/cadastre/registry"
)

func tenantBody(s registry.TenantSpec) map[string]any {
	in := map[string]any{}
	if s.Names != nil {
		in["names"] = *s.Names
	}
	if s.MaxIPv4 != nil {
		in["max_ipv4"] = *s.MaxIPv4
	}
	if s.MaxIPv6 != nil {
		in["max_ipv6"] = *s.MaxIPv6
	}
	if s.Note != nil {
		in["note"] = *s.Note
	}
	if s.MayDelegate != nil {
		in["may_delegate"] = *s.MayDelegate
	}
	return in
}

// AddTenant creates a tenant.
func (c *Client) AddTenant(ctx context.Context, s registry.TenantSpec) (out registry.Tenant, err error) {
	in := tenantBody(s)
	in["name"] = s.Name
	_, err = c.do(ctx, http.MethodPost, "/v1/tenants", nil, nil, in, &out)
	return out, err
}

// Tenants lists the tenants.
func (c *Client) Tenants(ctx context.Context) (out []registry.Tenant, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/tenants", nil, nil, nil, &out)
	return out, err
}

// Tenant reads one tenant.
func (c *Client) Tenant(ctx context.Context, name string) (out registry.Tenant, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(name), nil, nil, nil, &out)
	return out, err
}

// UpdateTenant changes a tenant.
func (c *Client) UpdateTenant(ctx context.Context, s registry.TenantSpec) (out registry.Tenant, err error) {
	in := tenantBody(s)
	if s.ClearIPv4 {
		in["clear_max_ipv4"] = true
	}
	if s.ClearIPv6 {
		in["clear_max_ipv6"] = true
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/tenants/"+url.PathEscape(s.Name), nil, nil, in, &out)
	return out, err
}

// RemoveTenant removes a tenant that holds nothing.
func (c *Client) RemoveTenant(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/tenants/"+url.PathEscape(name), nil, nil, nil, nil)
	return err
}
