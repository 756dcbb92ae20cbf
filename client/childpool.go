package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cadastre-ipam/cadastre/registry"
)

// childPoolBody is the API's body for a child pool.
type childPoolBody struct {
	Name    string        `json:"as_pool"`
	Region  string        `json:"region"`
	Family  int           `json:"family,omitempty"`
	Len     int           `json:"len"`
	Purpose string        `json:"purpose,omitempty"`
	Tenant  string        `json:"tenant,omitempty"`
	Tags    registry.Tags `json:"tags,omitempty"`
	Space   string        `json:"space,omitempty"`
}

// AllocatePool carves a child pool out of a region's free space.
func (c *Client) AllocatePool(ctx context.Context, s registry.ChildPoolSpec) (out registry.Pool, err error) {
	var h map[string]string
	if s.Key != "" {
		h = map[string]string{"Idempotency-Key": s.Key}
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/child-pools", nil, h,
		childPoolBody{Name: s.Name, Region: s.Region, Family: s.Family, Len: s.Bits, Purpose: s.Purpose, Tenant: s.Tenant, Tags: s.Tags, Space: s.Space}, &out)
	return out, err
}

// ReleasePool dissolves a child pool into its parent; the server decides
// whose it may be from the token.
func (c *Client) ReleasePool(ctx context.Context, name string, _ *string) (out registry.Pool, err error) {
	_, err = c.do(ctx, http.MethodPost, "/v1/child-pools/"+url.PathEscape(name)+"/release", nil, nil, nil, &out)
	return out, err
}
