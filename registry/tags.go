package registry

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Tags are KEY=VALUE attributes of a region, block, pool or assignment, to
// filter and integrate by. A nil or empty Tags is no tags. Stores keep one
// row a pair (not a blob per object), so a filter by tag is an index seek.
type Tags map[string]string

// The kinds of object that carry tags, as stored.
const (
	KindRegion     = "region"
	KindBlock      = "block"
	KindPool       = "pool"
	KindAssignment = "assignment"
)

// Limits of tags: an object holds at most MaxTags, a key is at most 63
// characters and a value at most 256 bytes.
const (
	MaxTags        = 32
	maxTagKeyLen   = 63
	maxTagValueLen = 256
)

// ValidateTagKey checks a tag key: 1 to 63 characters, lower-case letters,
// digits, '.', '_', '-', ':' and '/', starting with a letter or digit, so
// that it reads the same in a URL query, a shell and a CSV header.
func ValidateTagKey(k string) error {
	if k == "" {
		return invalid("tag: empty key (write KEY=VALUE)")
	}
	if err := CheckText("tag key", k); err != nil {
		return err
	}
	if len(k) > maxTagKeyLen {
		return invalid("tag key %q: longer than %d characters", k, maxTagKeyLen)
	}
	for i, c := range k {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune("._-:/", c)) {
			return invalid("tag key %q: only lower-case letters, digits and . _ - : /, starting with a letter or digit", k)
		}
	}
	return nil
}

// validateTagValue checks a tag value: text of at most 256 bytes with no
// control character (see CheckText); it may be empty.
func validateTagValue(k, v string) error {
	if len(v) > maxTagValueLen {
		return invalid("tag %s: value longer than %d bytes", k, maxTagValueLen)
	}
	return CheckText("tag "+k, v)
}

// ParseTag reads KEY=VALUE (the value may hold '=' and may be empty).
func ParseTag(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		if err := CheckText("tag", s); err != nil {
			return "", "", err
		}
		return "", "", invalid("tag %q: write KEY=VALUE", s)
	}
	if err := ValidateTagKey(k); err != nil {
		return "", "", err
	}
	if err := validateTagValue(k, v); err != nil {
		return "", "", err
	}
	return k, v, nil
}

// ParseTags reads a list of KEY=VALUE; a key given twice is refused.
func ParseTags(list []string) (Tags, error) {
	if len(list) == 0 {
		return nil, nil
	}
	t := Tags{}
	for _, s := range list {
		k, v, err := ParseTag(s)
		if err != nil {
			return nil, err
		}
		if _, dup := t[k]; dup {
			return nil, invalid("tag %s: given twice", k)
		}
		t[k] = v
	}
	return t, nil
}

// Validate checks every key and value and the count.
func (t Tags) Validate() error {
	if len(t) > MaxTags {
		return invalid("%d tags: at most %d on one object", len(t), MaxTags)
	}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if err := ValidateTagKey(k); err != nil {
			return err
		}
		if err := validateTagValue(k, t[k]); err != nil {
			return err
		}
	}
	return nil
}

// String is "k1=v1,k2=v2" in key order, "-" for none.
func (t Tags) String() string {
	if len(t) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(t))
	for _, k := range slices.Sorted(maps.Keys(t)) {
		parts = append(parts, k+"="+t[k])
	}
	return strings.Join(parts, ",")
}

// Matches reports whether t holds every pair of want.
func (t Tags) Matches(want Tags) bool {
	for k, v := range want {
		if got, ok := t[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// TagPatch changes an object's tags: Set adds or replaces pairs, Unset
// removes keys. A key in both is refused.
type TagPatch struct {
	Set   Tags     `json:"tags,omitempty"`
	Unset []string `json:"untag,omitempty"`
}

// IsZero reports whether the patch changes nothing.
func (p TagPatch) IsZero() bool { return len(p.Set) == 0 && len(p.Unset) == 0 }

// apply returns t changed by p, checked.
func (p TagPatch) apply(t Tags) (Tags, error) {
	if err := p.Set.Validate(); err != nil {
		return nil, err
	}
	out := maps.Clone(t)
	if out == nil {
		out = Tags{}
	}
	for _, k := range p.Unset {
		if err := ValidateTagKey(k); err != nil {
			return nil, err
		}
		if _, both := p.Set[k]; both {
			return nil, invalid("tag %s: both set and removed", k)
		}
		delete(out, k)
	}
	maps.Copy(out, p.Set)
	if err := out.Validate(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// TagTx is what a transaction offers for tags.
type TagTx interface {
	// SetTags replaces every tag of the object (kind, id) with tags.
	SetTags(ctx context.Context, kind string, id int64, tags Tags) error
	// TagsOf returns the tags of the objects of kind among ids; objects
	// without tags are absent from the map.
	TagsOf(ctx context.Context, kind string, ids []int64) (map[int64]Tags, error)
	// Tagged returns, in id order, the ids of the objects of kind that
	// carry every pair of match (match is not empty).
	Tagged(ctx context.Context, kind string, match Tags) ([]int64, error)
}

// tagsOf loads one object's tags.
func tagsOf(ctx context.Context, tx Tx, kind string, id int64) (Tags, error) {
	m, err := tx.TagsOf(ctx, kind, []int64{id})
	if err != nil {
		return nil, fmt.Errorf("%s %d: tags: %w", kind, id, err)
	}
	return m[id], nil
}

// fillTags sets the Tags of each of objs (found by id).
func fillTags[T any](ctx context.Context, tx Tx, kind string, objs []T, id func(*T) int64, set func(*T, Tags)) error {
	if len(objs) == 0 {
		return nil
	}
	ids := make([]int64, len(objs))
	for i := range objs {
		ids[i] = id(&objs[i])
	}
	m, err := tx.TagsOf(ctx, kind, ids)
	if err != nil {
		return fmt.Errorf("%s tags: %w", kind, err)
	}
	for i := range objs {
		set(&objs[i], m[id(&objs[i])])
	}
	return nil
}

// keepTagged keeps the objects of kind that carry every pair of match.
func keepTagged[T any](ctx context.Context, tx Tx, kind string, objs []T, match Tags, id func(*T) int64) ([]T, error) {
	if len(match) == 0 {
		return objs, nil
	}
	ids, err := tx.Tagged(ctx, kind, match)
	if err != nil {
		return nil, fmt.Errorf("%s tags: %w", kind, err)
	}
	keep := make(map[int64]bool, len(ids))
	for _, i := range ids {
		keep[i] = true
	}
	return slices.DeleteFunc(objs, func(o T) bool { return !keep[id(&o)] }), nil
}

// setTagsIfChanged stores after when it differs from before.
func setTagsIfChanged(ctx context.Context, tx Tx, kind string, id int64, before, after Tags) error {
	if maps.Equal(before, after) {
		return nil
	}
	return tx.SetTags(ctx, kind, id, after)
}
