package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// ETag is a strong entity tag for an object as the API shows it: it changes
// whenever any field does, so If-Match detects a lost update.
func ETag(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `""`
	}
	h := sha256.Sum256(b)
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

// ErrPrecondition means an If-Match did not match the object's ETag.
var ErrPrecondition = fmt.Errorf("precondition failed: %w", ErrState)

// matches reports whether an If-Match header value allows a change to an
// object whose ETag is tag; an empty header allows it.
func matches(ifMatch, tag string) bool {
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	for _, m := range strings.Split(ifMatch, ",") {
		if strings.TrimSpace(m) == tag {
			return true
		}
	}
	return false
}

// Region returns one region by name.
func (r *Registry) Region(ctx context.Context, name string) (g Region, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		g, err = r.regionWithTags(ctx, tx, name)
		return err
	})
	return g, err
}

// UpdateRegion changes a region with fn, inside one transaction, if its
// ETag still matches ifMatch. The rules of AddRegion apply to the result.
func (r *Registry) UpdateRegion(ctx context.Context, name, ifMatch string, fn func(*Region) error) (Region, error) {
	var out Region
	err := r.store.Update(ctx, func(tx Tx) error {
		g, err := r.regionWithTags(ctx, tx, name)
		if err != nil {
			return err
		}
		if !matches(ifMatch, ETag(g)) {
			return fmt.Errorf("region %s changed since it was read (ETag %s): %w", name, ETag(g), ErrPrecondition)
		}
		before := g
		if err := fn(&g); err != nil {
			return err
		}
		if err := CheckText("city", g.Location.City); err != nil {
			return err
		}
		if err := g.Location.Validate(); err != nil {
			return fmt.Errorf("region %s: %w: %w", name, err, ErrInvalid)
		}
		if g.BorrowBits < 8 || g.BorrowBits > 32 {
			return invalid("region %s: borrow unit /%d: must be an IPv4 length from /8 to /32", name, g.BorrowBits)
		}
		for _, lender := range g.Borrow.From {
			if lender == name {
				return invalid("region %s: cannot borrow from itself", name)
			}
			if _, err := tx.RegionByName(ctx, lender); err != nil {
				return fmt.Errorf("region %s: borrow from %s: no such region: %w", name, lender, err)
			}
		}
		if err := g.Tags.Validate(); err != nil {
			return fmt.Errorf("region %s: %w", name, err)
		}
		if err := tx.UpdateRegion(ctx, g); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindRegion, g.ID, before.Tags, g.Tags); err != nil {
			return err
		}
		out = g
		return r.event(ctx, tx, r.clock(), "region.update", "region", g.ID, g.Name, before, g)
	})
	return out, err
}

// UpdateAssignment changes a live assignment's name or resource (nil leaves
// a field alone) if its ETag still matches ifMatch; tenant, when not nil,
// must own it.
func (r *Registry) UpdateAssignment(ctx context.Context, id int64, ifMatch string, tenant, name, resource *string) (Assignment, error) {
	return r.PatchAssignment(ctx, id, ifMatch, tenant, AssignmentPatch{Name: name, Resource: resource})
}

// PatchAssignment changes a live assignment's name, resource or tags if
// its ETag (tags included) still matches ifMatch; tenant, when not nil,
// must own it.
func (r *Registry) PatchAssignment(ctx context.Context, id int64, ifMatch string, tenant *string, p AssignmentPatch) (Assignment, error) {
	name, resource := p.Name, p.Resource
	if name != nil && *name != "" {
		if err := ValidateFQDN(*name); err != nil {
			return Assignment{}, fmt.Errorf("%w: %w", err, ErrInvalid)
		}
	}
	if resource != nil && len(*resource) > 256 {
		return Assignment{}, invalid("resource: longer than 256 bytes")
	}
	if resource != nil {
		if err := CheckText("resource", *resource); err != nil {
			return Assignment{}, err
		}
	}
	var out Assignment
	err := r.store.Update(ctx, func(tx Tx) error {
		a, err := tx.AssignmentByID(ctx, id)
		if err == nil && tenant != nil && a.Tenant != *tenant {
			err = fmt.Errorf("assignment %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if a.Tags, err = tagsOf(ctx, tx, KindAssignment, a.ID); err != nil {
			return err
		}
		if !matches(ifMatch, ETag(a)) {
			return fmt.Errorf("assignment %d changed since it was read (ETag %s): %w", id, ETag(a), ErrPrecondition)
		}
		if a.State != StateAssigned {
			return fmt.Errorf("assignment %d (%s) is %s: only live assignments change: %w", id, a.Prefix, a.State, ErrState)
		}
		before := a
		if name != nil && *name != "" && *name != a.Name {
			if err := r.checkRename(ctx, tx, a.Tenant, *name); err != nil {
				return err
			}
		}
		if name != nil {
			a.Name = *name
		}
		if resource != nil {
			a.Resource = *resource
		}
		if a.Tags, err = p.TagPatch.apply(a.Tags); err != nil {
			return fmt.Errorf("assignment %d: %w", id, err)
		}
		if err := tx.UpdateAssignment(ctx, a); err != nil {
			return err
		}
		if err := setTagsIfChanged(ctx, tx, KindAssignment, a.ID, before.Tags, a.Tags); err != nil {
			return err
		}
		out = a
		return r.event(ctx, tx, r.clock(), "assignment.update", "assignment", a.ID, a.Prefix.String(), before, a)
	})
	return out, err
}
