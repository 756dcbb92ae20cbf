package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/geofeed"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// MaxLookupBatch is the most addresses one POST /v1/geo carries.
const MaxLookupBatch = 10000

// Placements lists where every pooled prefix is used, with the event-log
// position the list reflects, as registry.Registry.Placements does: the
// client is a geo.Placer, so the geofeed and the MMDB export are made from
// it by the same code as from a file.
func (c *Client) Placements(ctx context.Context) ([]registry.Placement, registry.Position, error) {
	return c.PlacementsIn(ctx, "")
}

// PlacementsIn is Placements of the named space (the global space when
// empty), as registry.Registry.PlacementsIn.
func (c *Client) PlacementsIn(ctx context.Context, space string) ([]registry.Placement, registry.Position, error) {
	var out struct {
		Items    []registry.Placement `json:"items"`
		Position registry.Position    `json:"position"`
	}
	var q url.Values
	if space != "" {
		q = url.Values{"space": {space}}
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/placements", q, nil, nil, &out)
	return out.Items, out.Position, err
}

// Audit runs the audit on the server, against its sources.
func (c *Client) Audit(ctx context.Context, sources []string) (out geo.AuditReport, err error) {
	return c.AuditWith(ctx, geo.AuditOptions{Sources: sources})
}

// AuditWith runs the audit on the server with thresholds, so the server
// sends only the findings asked for.
func (c *Client) AuditWith(ctx context.Context, opts geo.AuditOptions) (out geo.AuditReport, err error) {
	q := url.Values{"source": opts.Sources}
	if opts.MinShare > 0 {
		q.Set("min_share", strconv.FormatFloat(opts.MinShare, 'g', -1, 64))
	}
	if opts.MinAddresses > 0 {
		q.Set("min_addresses", strconv.FormatUint(opts.MinAddresses, 10))
	}
	if opts.IPv6Unit > 0 {
		q.Set("ipv6_unit", strconv.Itoa(opts.IPv6Unit))
	}
	if opts.Provider != "" {
		q.Set("provider", opts.Provider)
	}
	_, err = c.do(ctx, http.MethodGet, "/v1/audit", q, nil, nil, &out)
	return out, err
}

// AuditProvider audits the published space of the server's ranges source
// provider against its other sources (or those named).
func (c *Client) AuditProvider(ctx context.Context, provider string, sources []string) (out geo.AuditReport, err error) {
	return c.AuditWith(ctx, geo.AuditOptions{Provider: provider, Sources: sources})
}

// ImportRanges sends a cloud provider's published ranges file r (format
// aws, azure, gcp or oracle) to be kept as the source name.
func (c *Client) ImportRanges(ctx context.Context, name, origin, format string, r io.Reader) (geo.RangesReport, error) {
	var rep geo.RangesReport
	_, err := c.do(ctx, http.MethodPut, "/v1/geo/sources/"+url.PathEscape(name)+"/ranges", url.Values{"origin": {origin}, "format": {format}}, nil, raw{r, "application/octet-stream"}, &rep)
	return rep, err
}

// Lookup locates addrs on the server, MaxLookupBatch at a time; the
// answers are in the order asked.
func (c *Client) Lookup(ctx context.Context, addrs []netip.Addr, all bool) ([]geo.Result, error) {
	out := make([]geo.Result, 0, len(addrs))
	for len(addrs) > 0 {
		n := min(len(addrs), MaxLookupBatch)
		in := struct {
			Addresses []string `json:"addresses"`
			All       bool     `json:"all,omitempty"`
		}{make([]string, n), all}
		for i, a := range addrs[:n] {
			in.Addresses[i] = a.String()
		}
		var page struct {
			Items []struct {
				Query  string      `json:"query"`
				Result *geo.Result `json:"result"`
				Error  string      `json:"error"`
			} `json:"items"`
		}
		if _, err := c.do(ctx, http.MethodPost, "/v1/geo", nil, nil, in, &page); err != nil {
			return nil, err
		}
		if len(page.Items) != n {
			return nil, errors.New("server: geo look-up: " + strconv.Itoa(len(page.Items)) + " answers to " + strconv.Itoa(n) + " addresses")
		}
		for _, it := range page.Items {
			if it.Result == nil {
				return nil, errors.New("server: geo look-up of " + it.Query + ": " + it.Error)
			}
			out = append(out, *it.Result)
		}
		addrs = addrs[n:]
	}
	return out, nil
}

// GeoSources lists the server's sources in rank order, with how each loaded.
func (c *Client) GeoSources(ctx context.Context) (out []geo.SourceStatus, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/geo/sources", nil, nil, nil, &out)
	return out, err
}

// AddMMDB makes the MMDB file at path on the server the source name.
func (c *Client) AddMMDB(ctx context.Context, name, path string) (out geo.AddedMMDB, err error) {
	in := struct {
		Name string `json:"name"`
		MMDB string `json:"mmdb"`
	}{name, path}
	_, err = c.do(ctx, http.MethodPost, "/v1/geo/sources", nil, nil, in, &out)
	return out, err
}

// RemoveSource removes the source name.
func (c *Client) RemoveSource(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/geo/sources/"+url.PathEscape(name), nil, nil, nil, nil)
	return err
}

// ImportFeed sends the feed r to be kept as the source name. A feed
// refused for its errors comes back with its diagnostics in the report and
// an error that matches geo.ErrFeedHasErrors, as geo.ImportFeed does.
func (c *Client) ImportFeed(ctx context.Context, name, origin string, r io.Reader, opts geo.ImportOptions) (geo.ImportReport, error) {
	q := url.Values{"origin": {origin}}
	if opts.SkipBadLines {
		q.Set("skip_bad_lines", "true")
	}
	if opts.AllowEmpty {
		q.Set("allow_empty", "true")
	}
	var rep geo.ImportReport
	_, err := c.do(ctx, http.MethodPut, "/v1/geo/sources/"+url.PathEscape(name)+"/feed", q, nil, raw{r, "text/csv"}, &rep)
	var p *problem.Details
	if errors.As(err, &p) && p.Type == problem.FeedErrors {
		for _, e := range p.Errors {
			var d geofeed.Diagnostic
			if json.Unmarshal(e.Value, &d) == nil {
				rep.Diagnostics = append(rep.Diagnostics, d)
			}
		}
	}
	return rep, err
}
