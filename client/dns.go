package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// AddZones adds a zone, or the zones of a reverse prefix, as
// manage.Manager.AddZones does.
func (c *Client) AddZones(ctx context.Context, spec manage.ZoneSpec) (out []zone.Zone, err error) {
	in := map[string]any{"name": spec.Name, "kind": string(spec.Kind), "synthesize": spec.Synthesize,
		"ns": spec.Config.NS, "ttl": spec.Config.TTL, "allow_transfer": spec.Config.AllowTransfer, "notify": spec.Config.Notify}
	if spec.Kind == "" {
		delete(in, "kind")
	}
	if spec.Prefix.IsValid() {
		in["prefix"] = spec.Prefix.String()
	}
	if len(spec.Glue) > 0 {
		in["ns_addr"] = glueStrings(spec.Glue)
	}
	if spec.Config.Space != "" {
		in["space"] = spec.Config.Space
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/zones", nil, nil, in, &out)
	return out, err
}

func glueStrings(gs []manage.Glue) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Host + "=" + g.Addr.String()
	}
	return out
}

// Reconfigure changes a zone's configuration, as manage.Manager.Reconfigure.
func (c *Client) Reconfigure(ctx context.Context, name string, ch manage.ZoneChange) (out zone.Zone, err error) {
	in := map[string]any{}
	if ch.NS != nil {
		in["ns"] = ch.NS
	}
	if ch.AllowTransfer != nil {
		in["allow_transfer"] = ch.AllowTransfer
	}
	if ch.Notify != nil {
		in["notify"] = ch.Notify
	}
	if len(ch.Glue) > 0 {
		in["ns_addr"] = glueStrings(ch.Glue)
	}
	if ch.Space != nil {
		in["space"] = *ch.Space
	}
	for k, v := range map[string]uint32{"ttl": ch.TTL, "soa_refresh": ch.Refresh, "soa_retry": ch.Retry, "soa_expire": ch.Expire, "soa_minimum": ch.Minimum} {
		if v != 0 {
			in[k] = v
		}
	}
	var h map[string]string
	if ch.IfMatch != "" {
		h = map[string]string{"If-Match": ch.IfMatch}
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/zones/"+url.PathEscape(name), nil, h, in, &out)
	return out, err
}

// Zones lists the zones.
func (c *Client) Zones(ctx context.Context) (out []zone.Zone, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/zones", nil, nil, nil, &out)
	return out, err
}

// Zone reads one zone.
func (c *Client) Zone(ctx context.Context, name string) (out zone.Zone, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/zones/"+url.PathEscape(name), nil, nil, nil, &out)
	return out, err
}

// RemoveZones removes a zone, or by its prefix the zones of a reverse
// prefix. The server does not say which zones went: the answer lists
// those the client saw named so before.
func (c *Client) RemoveZones(ctx context.Context, nameOrPrefix string) ([]zone.Zone, error) {
	var gone []zone.Zone
	if zs, err := c.Zones(ctx); err == nil {
		for _, z := range zs {
			if z.Name == dnsName(nameOrPrefix) || z.Set.String() == nameOrPrefix || z.Prefix.String() == nameOrPrefix && !z.Set.IsValid() {
				gone = append(gone, z)
			}
		}
	}
	_, err := c.do(ctx, http.MethodDelete, "/v1/zones/"+url.PathEscape(nameOrPrefix), nil, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// Split makes a zone's split children, as manage.Manager.Split does
// (POST /v1/zones/{name}/split).
func (c *Client) Split(ctx context.Context, parent string, o manage.SplitOptions) (out []manage.SplitZone, err error) {
	in := map[string]any{"per_region": o.PerRegion, "stage": o.Stage, "wait_seconds": waitSeconds(o.Wait)}
	if len(o.Regions) > 0 {
		in["regions"] = o.Regions
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/zones/"+url.PathEscape(parent)+"/split", nil, nil, in, &out)
	return out, err
}

// Join takes split children back into their parent, as
// manage.Manager.Join does (POST /v1/zones/{name}/join).
func (c *Client) Join(ctx context.Context, name string, o manage.JoinOptions) (out []zone.Zone, err error) {
	q := url.Values{"wait_seconds": {strconv.Itoa(waitSeconds(o.Wait))}}
	_, err = c.do(ctx, http.MethodPost, "/v1/zones/"+url.PathEscape(name)+"/join", q, nil, nil, &out)
	return out, err
}

// waitSeconds is a split's or join's wait as the API takes it: 0 the
// server's default, -1 none, else whole seconds (at least one).
func waitSeconds(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	return max(1, int(d/time.Second))
}

func dnsName(s string) string {
	n, err := zone.CanonicalName(s)
	if err != nil {
		return s
	}
	return n
}

// AddRecord adds a static record, as manage.Manager.AddRecord.
func (c *Client) AddRecord(ctx context.Context, zoneName, name, typ, data string, ttl uint32) (out zone.Record, err error) {
	in := map[string]any{"name": name, "type": typ, "data": data}
	if ttl != 0 {
		in["ttl"] = ttl
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/zones/"+url.PathEscape(zoneName)+"/records", nil, nil, in, &out)
	return out, err
}

// AddRecordHides is AddRecord, with what the record hides when it
// delegates (the answer's hides: the names the zone no longer serves).
func (c *Client) AddRecordHides(ctx context.Context, zoneName, name, typ, data string, ttl uint32) (zone.Record, []string, error) {
	in := map[string]any{"name": name, "type": typ, "data": data}
	if ttl != 0 {
		in["ttl"] = ttl
	}
	var out struct {
		zone.Record
		Hides []string `json:"hides"`
	}
	_, err := c.do(ctx, http.MethodPost, "/v1/zones/"+url.PathEscape(zoneName)+"/records", nil, nil, in, &out)
	return out.Record, out.Hides, err
}

// Records lists a zone's static records (a tenant's token: those under
// its name suffixes).
func (c *Client) Records(ctx context.Context, zoneName string) (out []zone.Record, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/zones/"+url.PathEscape(zoneName)+"/records", nil, nil, nil, &out)
	return out, err
}

// DeleteRecordIn deletes static record id of zone zoneName.
func (c *Client) DeleteRecordIn(ctx context.Context, zoneName string, id int64) error {
	_, err := c.do(ctx, http.MethodDelete, fmt.Sprintf("/v1/zones/%s/records/%d", url.PathEscape(zoneName), id), nil, nil, nil, nil)
	return err
}

// DeleteRecord deletes static record id, finding its zone among the
// zones (an admin's token; a tenant's gives the zone: DeleteRecordIn).
func (c *Client) DeleteRecord(ctx context.Context, id int64) error {
	zs, err := c.Zones(ctx)
	if err != nil {
		return err
	}
	for _, z := range zs {
		rs, err := c.Records(ctx, z.Name)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.ID == id {
				return c.DeleteRecordIn(ctx, z.Name, id)
			}
		}
	}
	return fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
}

// AddTSIG stores a TSIG key on the server and returns it with its
// secret, which the server shows this once.
func (c *Client) AddTSIG(ctx context.Context, name, alg string, secret []byte, grants ...string) (zone.TSIGKey, []byte, error) {
	in := map[string]any{"name": name, "algorithm": alg}
	if secret != nil {
		in["secret"] = base64.StdEncoding.EncodeToString(secret)
	}
	if len(grants) > 0 {
		in["grant_update"] = grants
	}
	var out struct {
		Key    zone.TSIGKey `json:"key"`
		Secret string       `json:"secret"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/tsig-keys", nil, nil, in, &out); err != nil {
		return zone.TSIGKey{}, nil, err
	}
	sec, err := base64.StdEncoding.DecodeString(out.Secret)
	if err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: the server's secret is not base64: %w", name, err)
	}
	return out.Key, sec, nil
}

// UpdateTSIG changes a TSIG key on the server (manage.UpdateTSIG) and
// returns it with the new secret when the server generated one.
func (c *Client) UpdateTSIG(ctx context.Context, name string, ch manage.TSIGChange) (zone.TSIGKey, []byte, error) {
	in := map[string]any{}
	if ch.Algorithm != "" {
		in["algorithm"] = ch.Algorithm
	}
	if ch.Secret != nil {
		in["secret"] = base64.StdEncoding.EncodeToString(ch.Secret)
	}
	if ch.NewSecret {
		in["new_secret"] = true
	}
	if ch.Grants != nil {
		in["grant_update"] = append([]string{}, *ch.Grants...)
	}
	var out struct {
		Key    zone.TSIGKey `json:"key"`
		Secret string       `json:"secret"`
	}
	if _, err := c.do(ctx, http.MethodPatch, "/v1/tsig-keys/"+url.PathEscape(name), nil, nil, in, &out); err != nil {
		return zone.TSIGKey{}, nil, err
	}
	if out.Secret == "" {
		return out.Key, nil, nil
	}
	sec, err := base64.StdEncoding.DecodeString(out.Secret)
	if err != nil {
		return zone.TSIGKey{}, nil, fmt.Errorf("TSIG key %s: the server's secret is not base64: %w", name, err)
	}
	return out.Key, sec, nil
}

// TSIGKeys lists the TSIG keys, never their secrets.
func (c *Client) TSIGKeys(ctx context.Context) (out []zone.TSIGKey, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/tsig-keys", nil, nil, nil, &out)
	return out, err
}

// RemoveTSIG deletes a TSIG key.
func (c *Client) RemoveTSIG(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/tsig-keys/"+url.PathEscape(name), nil, nil, nil, nil)
	return err
}
