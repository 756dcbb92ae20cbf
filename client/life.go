package client

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
)

// tagValues adds each pair of tags as ?tag=KEY=VALUE.
func tagValues(q url.Values, tags registry.Tags) url.Values {
	if q == nil {
		q = url.Values{}
	}
	for k, v := range tags {
		q.Add("tag", k+"="+v)
	}
	return q
}

// ifMatch is the If-Match header of a change, none when empty.
func ifMatch(tag string) map[string]string {
	if tag == "" {
		return nil
	}
	return map[string]string{"If-Match": tag}
}

// tagPatch is the tag part of a PATCH body.
func tagPatch(in map[string]any, p registry.TagPatch) map[string]any {
	if len(p.Set) > 0 {
		in["tags"] = p.Set
	}
	if len(p.Unset) > 0 {
		in["untag"] = p.Unset
	}
	return in
}

// AddSpace creates a private routing domain.
func (c *Client) AddSpace(ctx context.Context, s registry.Space) (out registry.Space, err error) {
	_, err = c.do(ctx, http.MethodPost, "/v1/spaces", nil, nil, map[string]any{"name": s.Name, "note": s.Note}, &out)
	return out, err
}

// Spaces lists the spaces.
func (c *Client) Spaces(ctx context.Context) (out []registry.Space, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/spaces", nil, nil, nil, &out)
	return out, err
}

// RemoveSpace removes a space no block belongs to.
func (c *Client) RemoveSpace(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/spaces/"+url.PathEscape(name), nil, nil, nil, nil)
	return err
}

// RegionsTagged lists the regions carrying every pair of tags.
func (c *Client) RegionsTagged(ctx context.Context, tags registry.Tags) (out []registry.Region, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/regions", tagValues(nil, tags), nil, nil, &out)
	return out, err
}

// PatchRegion changes a region.
func (c *Client) PatchRegion(ctx context.Context, name, etag string, p registry.RegionPatch) (out registry.Region, err error) {
	in := map[string]any{}
	for k, v := range map[string]*string{"country": p.Country, "subdivision": p.Subdivision, "city": p.City} {
		if v != nil {
			in[k] = *v
		}
	}
	if p.Borrow != nil {
		in["borrow_from"] = p.Borrow.String()
	}
	if p.BorrowBits != nil {
		in["borrow_unit"] = *p.BorrowBits
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/regions/"+url.PathEscape(name), nil, ifMatch(etag), tagPatch(in, p.TagPatch), &out)
	return out, err
}

// RemoveRegion removes a region nothing depends on.
func (c *Client) RemoveRegion(ctx context.Context, name, etag string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/regions/"+url.PathEscape(name), nil, ifMatch(etag), nil, nil)
	return err
}

// BlocksWhere lists the blocks of space (every space when empty) carrying
// every pair of tags.
func (c *Client) BlocksWhere(ctx context.Context, space string, tags registry.Tags) (out []registry.Block, err error) {
	q := tagValues(nil, tags)
	if space != "" {
		q.Set("space", space)
	}
	_, err = c.do(ctx, http.MethodGet, "/v1/blocks", q, nil, nil, &out)
	return out, err
}

// FindBlock finds the block of exactly p in space (any, if only one holds p).
func (c *Client) FindBlock(ctx context.Context, p netip.Prefix, space string) (registry.Block, error) {
	bs, err := c.BlocksWhere(ctx, space, nil)
	if err != nil {
		return registry.Block{}, err
	}
	var found []registry.Block
	for _, b := range bs {
		if b.Prefix == p {
			found = append(found, b)
		}
	}
	switch len(found) {
	case 0:
		return registry.Block{}, fmt.Errorf("block %s: %w", p, registry.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return registry.Block{}, fmt.Errorf("block %s: recorded in %d spaces: name one with --space: %w", p, len(found), registry.ErrInvalid)
}

// UpdateBlock changes a block's provenance or tags.
func (c *Client) UpdateBlock(ctx context.Context, id int64, etag string, p registry.BlockPatch) (out registry.Block, err error) {
	in := map[string]any{}
	for k, v := range map[string]*string{"registry": p.Registry, "registered_country": p.RegisteredCountry, "from": p.From, "date": p.Date, "note": p.Note} {
		if v != nil {
			in[k] = *v
		}
	}
	switch {
	case p.ClearPrice && p.Price != nil:
		return out, fmt.Errorf("block %d: a price and no price at once: %w", id, registry.ErrInvalid)
	case p.ClearPrice:
		in["price"] = ""
	case p.Price != nil:
		in["price"] = fmt.Sprintf("%d.%02d", p.Price.Cents/100, p.Price.Cents%100)
		in["currency"] = p.Price.Currency
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/blocks/"+strconv.FormatInt(id, 10), nil, ifMatch(etag), tagPatch(in, p.TagPatch), &out)
	return out, err
}

// RemoveBlock removes a block no pool is carved from.
func (c *Client) RemoveBlock(ctx context.Context, id int64, etag string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/blocks/"+strconv.FormatInt(id, 10), nil, ifMatch(etag), nil, nil)
	return err
}

// PoolsTagged lists the pools of region (every region when empty)
// carrying every pair of tags, with their use.
func (c *Client) PoolsTagged(ctx context.Context, region string, tags registry.Tags) (out []registry.PoolUsage, err error) {
	q := tagValues(nil, tags)
	if region != "" {
		q.Set("region", region)
	}
	_, err = c.do(ctx, http.MethodGet, "/v1/pools", q, nil, nil, &out)
	return out, err
}

// Pool reads one pool.
func (c *Client) Pool(ctx context.Context, id int64) (out registry.Pool, err error) {
	_, err = c.do(ctx, http.MethodGet, "/v1/pools/"+strconv.FormatInt(id, 10), nil, nil, nil, &out)
	return out, err
}

// FindPool finds the pool of exactly p that is not a relocated unit.
func (c *Client) FindPool(ctx context.Context, p netip.Prefix) (registry.Pool, error) {
	return c.FindPoolIn(ctx, p, "")
}

// FindPoolIn is FindPool in space ("" any), as the registry answers it:
// top-level pools before a child pool of the prefix, and where several
// spaces hold it without one named, ErrInvalid naming them (never one
// picked).
func (c *Client) FindPoolIn(ctx context.Context, p netip.Prefix, space string) (registry.Pool, error) {
	ps, err := c.PoolsTagged(ctx, "", nil)
	if err != nil {
		return registry.Pool{}, err
	}
	var top, child []registry.PoolUsage
	for _, pl := range ps {
		if pl.Prefix != p || pl.Relocation != nil || (space != "" && pl.Space != space) {
			continue
		}
		if pl.IsChild() {
			child = append(child, pl)
		} else {
			top = append(top, pl)
		}
	}
	if len(top) == 0 {
		top = child
	}
	switch len(top) {
	case 0:
		if space != "" {
			return registry.Pool{}, fmt.Errorf("pool %s in space %s: %w", p, space, registry.ErrNotFound)
		}
		return registry.Pool{}, fmt.Errorf("pool %s: %w", p, registry.ErrNotFound)
	case 1:
		return c.Pool(ctx, top[0].ID)
	}
	names := make([]string, len(top))
	for i, pl := range top {
		names[i] = fmt.Sprintf("pool %d in space %s", pl.ID, pl.Space)
	}
	return registry.Pool{}, fmt.Errorf("pool %s: one in each of %d spaces (%s): name one with --space, or give the pool's ID: %w", p, len(top), strings.Join(names, ", "), registry.ErrInvalid)
}

// UpdatePool changes a pool's purpose or tags.
func (c *Client) UpdatePool(ctx context.Context, id int64, etag string, p registry.PoolPatch) (out registry.Pool, err error) {
	in := map[string]any{}
	if p.Purpose != nil {
		in["purpose"] = *p.Purpose
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/pools/"+strconv.FormatInt(id, 10), nil, ifMatch(etag), tagPatch(in, p.TagPatch), &out)
	return out, err
}

// RemovePool removes a pool without live assignments or lent space.
func (c *Client) RemovePool(ctx context.Context, id int64, etag string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/pools/"+strconv.FormatInt(id, 10), nil, ifMatch(etag), nil, nil)
	return err
}

// PatchAssignment changes a live assignment's name, resource or tags; the
// server checks the token's tenant.
func (c *Client) PatchAssignment(ctx context.Context, id int64, etag string, _ *string, p registry.AssignmentPatch) (out registry.Assignment, err error) {
	in := map[string]any{}
	if p.Name != nil {
		in["name"] = *p.Name
	}
	if p.Resource != nil {
		in["resource"] = *p.Resource
	}
	_, err = c.do(ctx, http.MethodPatch, "/v1/assignments/"+strconv.FormatInt(id, 10), nil, ifMatch(etag), tagPatch(in, p.TagPatch), &out)
	return out, err
}

// ShowIn tells who holds p in space (as Show when empty); a pool's
// assignments come whole, page after page.
func (c *Client) ShowIn(ctx context.Context, p netip.Prefix, space string) (out registry.Holding, err error) {
	return c.ShowWith(ctx, p, registry.ShowOptions{Space: space, Limit: -1})
}

// ShowWith is registry.Registry.ShowWith through the API: a pool's
// assignments a page at a time, the server reading only that page. A
// negative limit follows every page (10,000 a request).
func (c *Client) ShowWith(ctx context.Context, p netip.Prefix, opts registry.ShowOptions) (out registry.Holding, err error) {
	q := url.Values{"q": {p.String()}}
	if opts.Space != "" {
		q.Set("space", opts.Space)
	}
	limit := opts.Limit
	switch {
	case limit < 0:
		limit = 10000
	case limit == 0:
		limit = registry.DefaultShowLimit
	}
	q.Set("limit", strconv.Itoa(limit))
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if _, err = c.do(ctx, http.MethodGet, "/v1/show", q, nil, nil, &out); err != nil || opts.Limit >= 0 {
		return out, err
	}
	for out.Next != "" {
		q.Set("after", out.Next)
		var page registry.Holding
		if _, err = c.do(ctx, http.MethodGet, "/v1/show", q, nil, nil, &page); err != nil {
			return out, err
		}
		out.Assignments = append(out.Assignments, page.Assignments...)
		out.Next = page.Next
	}
	return out, nil
}
