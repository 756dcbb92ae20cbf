package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cadastre-ipam/cadastre/auth"
)

// CreateToken issues a token on the server (admin scope) and returns its
// record and its secret, shown once.
func (c *Client) CreateToken(ctx context.Context, s auth.Spec) (auth.Token, string, error) {
	in := map[string]any{"scope": s.Scope.String()}
	if s.Name != "" {
		in["name"] = s.Name
	}
	if s.Tenant != "" {
		in["tenant"] = s.Tenant
	}
	if s.Expires > 0 {
		in["expires"] = s.Expires.String()
	}
	if len(s.AllowFrom) > 0 {
		af := make([]string, len(s.AllowFrom))
		for i, p := range s.AllowFrom {
			af[i] = p.String()
		}
		in["allow_from"] = af
	}
	var out struct {
		auth.Token
		Secret string `json:"secret"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/tokens", nil, nil, in, &out); err != nil {
		return auth.Token{}, "", err
	}
	return out.Token, out.Secret, nil
}

// Tokens lists the server's tokens, never their secrets.
func (c *Client) Tokens(ctx context.Context) (out []auth.Token, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/tokens", nil, nil, nil, &out)
	return out, err
}

// RevokeToken revokes a token on the server at once.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil, nil, nil)
	return err
}
