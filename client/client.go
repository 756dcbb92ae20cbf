// Package client speaks cadastre's /v1 HTTP API with the same methods as
// registry.Registry, so the CLI runs the same verbs against a server as
// against a file. Problems (RFC 9457) come back as *problem.Details, which
// unwrap to the registry's sentinel errors chosen by their type URN, so
// exit codes match too. It shares no code with the server but the domain
// types and package problem.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Client calls one cadastre server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// defaultTimeout bounds one request of a client New makes.
const defaultTimeout = 60 * time.Second

// New returns a client of the server at base, authenticating with token.
func New(base, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: must be http(s)://host[:port]", base)
	}
	if token == "" {
		return nil, errors.New("a server needs a token: give --token or set $CADASTRE_TOKEN")
	}
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Client{base: u, token: token, http: hc}, nil
}

// raw is a request body sent as it is, not as JSON.
type raw struct {
	body        io.Reader
	contentType string
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, header map[string]string, in, out any) (http.Header, error) {
	u := *c.base
	if p, err := url.PathUnescape(path); err == nil && p != path {
		// A segment escaped by the caller (a reverse prefix's slash,
		// 10.1.16.0%2F20) stays escaped on the wire.
		u.RawPath = c.base.EscapedPath() + path
		u.Path += p
	} else {
		u.Path += path
	}
	u.RawQuery = query.Encode()
	var body io.Reader
	contentType := "application/json"
	switch in := in.(type) {
	case nil:
	case raw:
		body, contentType = in.body, in.contentType
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", c.base.Host, err)
	}
	if resp.StatusCode >= 400 {
		p := &problem.Details{Status: resp.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Status == 0 {
			p.Status, p.Detail = resp.StatusCode, strings.TrimSpace(string(b))
		}
		return nil, p
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("server %s: %s %s: bad answer: %w", c.base.Host, method, path, err)
		}
	}
	return resp.Header, nil
}

// regionBody is POST /v1/regions: a region's location is flat on the wire.
type regionBody struct {
	Name        string        `json:"name"`
	Country     string        `json:"country"`
	Subdivision string        `json:"subdivision,omitempty"`
	City        string        `json:"city,omitempty"`
	BorrowFrom  string        `json:"borrow_from,omitempty"`
	BorrowUnit  int           `json:"borrow_unit,omitempty"`
	Tags        registry.Tags `json:"tags,omitempty"`
}

// blockBody is POST /v1/blocks: the price is a decimal string on the wire.
type blockBody struct {
	Prefix            netip.Prefix    `json:"prefix"`
	Source            registry.Source `json:"source"`
	Registry          string          `json:"registry,omitempty"`
	RegisteredCountry string          `json:"registered_country,omitempty"`
	From              string          `json:"from,omitempty"`
	Price             string          `json:"price,omitempty"`
	Currency          string          `json:"currency,omitempty"`
	Date              string          `json:"date,omitempty"`
	Note              string          `json:"note,omitempty"`
	Space             string          `json:"space,omitempty"`
	Tags              registry.Tags   `json:"tags,omitempty"`
}

// releaseBody is POST /v1/assignments/{id}/release.
type releaseBody struct {
	Quarantine string `json:"quarantine"`
}

// AddRegion creates a region.
func (c *Client) AddRegion(ctx context.Context, s registry.RegionSpec) (out registry.Region, err error) {
	in := regionBody{Name: s.Name, Country: s.Location.Country, Subdivision: s.Location.Subdivision, City: s.Location.City, BorrowFrom: s.Borrow.String(), BorrowUnit: s.BorrowBits, Tags: s.Tags}
	_, err = c.do(ctx, http.MethodPost, "/v1/regions", nil, nil, in, &out)
	return out, err
}

// Regions lists regions.
func (c *Client) Regions(ctx context.Context) (out []registry.Region, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/regions", nil, nil, nil, &out)
	return out, err
}

// AddBlock records a block.
func (c *Client) AddBlock(ctx context.Context, b registry.Block) (out registry.Block, err error) {
	in := blockBody{Prefix: b.Prefix, Source: b.Source, Registry: b.Registry, RegisteredCountry: b.RegisteredCountry, From: b.From, Date: b.Date, Note: b.Note, Space: b.Space, Tags: b.Tags}
	if b.Price != nil {
		in.Price = fmt.Sprintf("%d.%02d", b.Price.Cents/100, b.Price.Cents%100)
		in.Currency = b.Price.Currency
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/blocks", nil, nil, in, &out)
	return out, err
}

// Blocks lists blocks.
func (c *Client) Blocks(ctx context.Context) (out []registry.Block, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/blocks", nil, nil, nil, &out)
	return out, err
}

// AddPool creates a pool.
func (c *Client) AddPool(ctx context.Context, s registry.PoolSpec) (out registry.Pool, err error) {
	_, err = c.do(ctx, http.MethodPost, "/v1/pools", nil, nil, s, &out)
	return out, err
}

// Pools lists pools with their use.
func (c *Client) Pools(ctx context.Context, region string) (out []registry.PoolUsage, err error) {
	q := url.Values{}
	if region != "" {
		q.Set("region", region)
	}
	_, err = c.do(ctx, http.MethodGet, "/v1/pools", q, nil, nil, &out)
	return out, err
}

// Allocate asks for q in one transaction.
func (c *Client) Allocate(ctx context.Context, q registry.Request) (out []registry.Assignment, err error) {
	var h map[string]string
	if q.Key != "" {
		h = map[string]string{"Idempotency-Key": q.Key}
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/assignments", nil, h, []registry.Request{q}, &out)
	return out, err
}

// Release releases an assignment by ID or exact prefix.
func (c *Client) Release(ctx context.Context, t registry.Target, quarantine time.Duration, _ *string) (out registry.Assignment, err error) {
	id := t.ID
	if t.Prefix.IsValid() {
		as, err := c.Assignments(ctx, registry.AssignmentFilter{Contains: t.Prefix, States: []registry.State{registry.StateAssigned, registry.StateQuarantined}})
		if err != nil {
			return out, err
		}
		// Two spaces may hold the prefix: the one named, or the only one.
		var in []string
		for _, a := range as {
			if t.Space != "" && a.Space != t.Space {
				continue
			}
			if a.State != registry.StateReleased {
				in = append(in, a.Space)
				if len(in) > 1 {
					return out, fmt.Errorf("%s: held in %d spaces (%s): name one with --space: %w", t.Prefix, len(in), strings.Join(in, ", "), registry.ErrInvalid)
				}
				if a.Prefix != t.Prefix {
					return out, fmt.Errorf("%s: not assigned as such; it overlaps assignment %d (%s), release that: %w", t.Prefix, a.ID, a.Prefix, registry.ErrNotFound)
				}
				id = a.ID
			}
		}
		if id == 0 {
			return out, fmt.Errorf("%s: not assigned: %w", t.Prefix, registry.ErrNotFound)
		}
	}
	_, err = c.do(ctx, http.MethodPost, "/v1/assignments/"+strconv.FormatInt(id, 10)+"/release", nil, nil,
		releaseBody{Quarantine: quarantine.String()}, &out)
	return out, err
}

// Assignments lists assignments matching f, following pages.
func (c *Client) Assignments(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error) {
	q := url.Values{}
	if f.RegionID != 0 {
		return nil, errors.New("client: filter by region name, not ID")
	}
	if f.Region != "" {
		q.Set("region", f.Region)
	}
	if f.Family != 0 {
		q.Set("family", strconv.Itoa(f.Family))
	}
	if f.Tenant != nil {
		q.Set("tenant", *f.Tenant)
	}
	if len(f.States) == 1 {
		q.Set("state", string(f.States[0]))
	}
	if f.Within.IsValid() {
		q.Set("within", f.Within.String())
	}
	if f.Contains.IsValid() {
		q.Set("contains", f.Contains.String())
	}
	tagValues(q, f.Tags)
	var out []registry.Assignment
	for {
		var page struct {
			Items []registry.Assignment `json:"items"`
			Next  string                `json:"next"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/v1/assignments", q, nil, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == "" || (f.Limit > 0 && len(out) >= f.Limit) {
			break
		}
		q.Set("cursor", page.Next)
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Show tells who holds p.
func (c *Client) Show(ctx context.Context, p netip.Prefix) (out registry.Holding, err error) {
	return c.ShowIn(ctx, p, "")
}

// Report gives the per-region report.
func (c *Client) Report(ctx context.Context, region string) (out []registry.ReportRow, err error) {
	q := url.Values{}
	if region != "" {
		q.Set("region", region)
	}
	_, err = c.do(ctx, http.MethodGet, "/v1/report", q, nil, nil, &out)
	return out, err
}

// Relocations lists relocations.
func (c *Client) Relocations(ctx context.Context) (out []registry.Relocation, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/relocations", nil, nil, nil, &out)
	return out, err
}

// Events reads the change log, following pages.
func (c *Client) Events(ctx context.Context, f registry.EventFilter) ([]registry.Event, error) {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	after := f.AfterSeq
	var out []registry.Event
	for {
		q.Set("after", strconv.FormatInt(after, 10))
		var page struct {
			Items []registry.Event `json:"items"`
			Next  int64            `json:"next"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == 0 || (f.Limit > 0 && len(out) >= f.Limit) {
			break
		}
		after = page.Next
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Reserve keeps a prefix from ever being handed out.
func (c *Client) Reserve(ctx context.Context, s registry.ReservationSpec) (out registry.Reservation, err error) {
	_, err = c.do(ctx, http.MethodPost, "/v1/reservations", nil, nil, s, &out)
	return out, err
}

// Unreserve ends the reservation of exactly p.
func (c *Client) Unreserve(ctx context.Context, p netip.Prefix) (out registry.Reservation, err error) {
	return c.UnreserveIn(ctx, p, "")
}

// UnreserveIn ends the reservation of exactly p in space ("" the one
// space reserving p).
func (c *Client) UnreserveIn(ctx context.Context, p netip.Prefix, space string) (out registry.Reservation, err error) {
	q := url.Values{}
	if space != "" {
		q.Set("space", space)
	}
	_, err = c.do(ctx, http.MethodDelete, "/v1/reservations/"+p.Addr().String()+"/"+strconv.Itoa(p.Bits()), q, nil, nil, &out)
	return out, err
}

// Reservations lists the reservations in force.
func (c *Client) Reservations(ctx context.Context) (out []registry.Reservation, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/reservations", nil, nil, nil, &out)
	return out, err
}
