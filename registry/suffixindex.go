package registry

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// The tenants' suffix index (issue 16). Two tenants' suffixes overlap
// when one equals, contains or lies under the other, so the suffixes that
// overlap one suffix are its ancestors (a handful of names, one per label
// it has) and its descendants. Keyed by SuffixKey, a suffix's descendants
// are the keys that begin with its key: one range of an ordered index,
// and its ancestors are the keys that are label-boundary prefixes of its
// key: point look-ups. Finding a tenant's overlaps then costs what its
// overlaps cost, never a comparison with every tenant (which at 5,000
// tenants sharing a suffix, as the first cloud demo's did, made the list
// of tenants 25 million comparisons and one tenant's read 5,000).

// SuffixKey is the index key of a canonical suffix: "." followed by the
// byte-reversed suffix with its trailing dot moved to the front:
// "a.cloud.example." is ".elpmaxe.duolc.a." and "." is ".". A suffix lies at
// or under another exactly when the other's key is a prefix of its key
// (labels never hold a dot), so the suffixes under s are the keys from
// SuffixKey(s) up to SuffixKeyEnd(s). The stores' migration 00034 makes
// the same keys in SQL.
func SuffixKey(suffix string) string {
	if suffix == "." || suffix == "" {
		return "."
	}
	s := "." + strings.TrimSuffix(suffix, ".")
	b := make([]byte, len(s)+1)
	b[0] = '.'
	for i := range len(s) {
		b[1+i] = s[len(s)-1-i]
	}
	return string(b)
}

// SuffixOfKey is the canonical suffix whose SuffixKey is key.
func SuffixOfKey(key string) string {
	if key == "." || key == "" {
		return "."
	}
	k := key[1:]
	b := make([]byte, len(k))
	for i := range len(k) {
		b[len(k)-1-i] = k[i]
	}
	return strings.TrimPrefix(string(b), ".") + "."
}

// SuffixKeyEnd is the first key past those that begin with key (which
// ends with "."): the key with its last byte made "/", the byte after ".".
func SuffixKeyEnd(key string) string { return key[:len(key)-1] + "/" }

// SuffixAncestors lists the keys of the suffixes that contain key's,
// shortest first: "." (every name), then each key's prefix that ends at a
// label's end, key itself excluded.
func SuffixAncestors(key string) []string {
	var out []string
	for i := 0; i < len(key)-1; i++ {
		if key[i] == '.' {
			out = append(out, key[:i+1])
		}
	}
	return out
}

// SuffixHolder is one tenant's suffix in the index: its key
// (SuffixOfKey gives the suffix back) and the tenant.
type SuffixHolder struct {
	Key      string
	TenantID int64
	Tenant   string
}

// Suffix is the holder's canonical suffix.
func (h SuffixHolder) Suffix() string { return SuffixOfKey(h.Key) }

// compareHolders orders holders as the index does: by key, then tenant
// ID, then (for tenants not stored yet, ID 0) name.
func compareHolders(a, b SuffixHolder) int {
	return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.TenantID, b.TenantID), strings.Compare(a.Tenant, b.Tenant))
}

// holderWalk calls fn with the holders of the suffixes that overlap key's
// (ancestors, then key's own and its descendants, in index order) until
// fn returns false.
type holderWalk func(ctx context.Context, key string, fn func(SuffixHolder) bool) error

// suffixHolderPage is how many holders a store is asked for at a time.
const suffixHolderPage = 64

// storeWalk walks tx's index (TenantTx.SuffixHolders) a page at a time.
func storeWalk(tx Tx) holderWalk {
	return func(ctx context.Context, key string, fn func(SuffixHolder) bool) error {
		var after SuffixHolder
		for {
			page, err := tx.SuffixHolders(ctx, key, after, suffixHolderPage)
			if err != nil {
				return err
			}
			for _, h := range page {
				if !fn(h) {
					return nil
				}
			}
			if len(page) < suffixHolderPage {
				return nil
			}
			after = page[len(page)-1]
		}
	}
}

// suffixIndex is the index over tenants held in memory (a list already
// read, or a file being loaded): holders in index order.
type suffixIndex []SuffixHolder

func newSuffixIndex(ts []Tenant) suffixIndex {
	var idx suffixIndex
	for _, t := range ts {
		for _, s := range t.Names {
			idx = append(idx, SuffixHolder{Key: SuffixKey(s), TenantID: t.ID, Tenant: t.Name})
		}
	}
	slices.SortFunc(idx, compareHolders)
	return idx
}

// walk is holderWalk over the index.
func (idx suffixIndex) walk(_ context.Context, key string, fn func(SuffixHolder) bool) error {
	keyRange := func(lo, hi string) []SuffixHolder {
		i, _ := slices.BinarySearchFunc(idx, lo, func(h SuffixHolder, k string) int { return strings.Compare(h.Key, k) })
		j, _ := slices.BinarySearchFunc(idx[i:], hi, func(h SuffixHolder, k string) int { return strings.Compare(h.Key, k) })
		return idx[i : i+j]
	}
	for _, a := range SuffixAncestors(key) {
		for _, h := range keyRange(a, a+"\x00") {
			if !fn(h) {
				return nil
			}
		}
	}
	for _, h := range keyRange(key, SuffixKeyEnd(key)) {
		if !fn(h) {
			return nil
		}
	}
	return nil
}

// MaxListedOverlaps bounds Tenant.Overlaps: a register where every tenant
// holds one suffix (the upgrade's ".") would list every other tenant
// under each, a reply that grows with the square of the tenants.
const MaxListedOverlaps = 20

// overlapsOf finds the tenants other than t whose suffixes overlap t's,
// at most max of them (max < 0: all), by name, and whether there are more.
// Which max are listed: the first found in index order.
func overlapsOf(ctx context.Context, walk holderWalk, t Tenant, max int) (names []string, more bool, err error) {
	seen := map[string]bool{}
	for _, s := range t.Names {
		err := walk(ctx, SuffixKey(s), func(h SuffixHolder) bool {
			if h.Tenant == t.Name || seen[h.Tenant] {
				return true
			}
			if max >= 0 && len(seen) == max {
				more = true
				return false
			}
			seen[h.Tenant] = true
			return true
		})
		if err != nil {
			return nil, false, err
		}
		if more {
			break
		}
	}
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, more, nil
}

// firstOverlap is the first holder (in index order) of a suffix that
// overlaps s other than tenant's, if any.
func firstOverlap(ctx context.Context, walk holderWalk, tenant, s string) (SuffixHolder, bool, error) {
	var found SuffixHolder
	var ok bool
	err := walk(ctx, SuffixKey(s), func(h SuffixHolder) bool {
		if h.Tenant == tenant {
			return true
		}
		found, ok = h, true
		return false
	})
	return found, ok, err
}
