package rowscan

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/cadastre-ipam/cadastre/registry"
)

// CompareByAddress orders assignments as a page in address order does
// (registry.AssignmentFilter.ByAddress): by first address, IPv4 before
// IPv6, then by length (a prefix before the prefixes inside it), then by
// ID.
func CompareByAddress(a, b registry.Assignment) int {
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// MergeByAddress sorts as (rows of pages of several pools) in address
// order and keeps the first limit (every one when limit <= 0).
func MergeByAddress(as []registry.Assignment, limit int) []registry.Assignment {
	slices.SortFunc(as, CompareByAddress)
	if limit > 0 && len(as) > limit {
		as = as[:limit]
	}
	return as
}

// AfterCursor reports where a page in address order after the cursor
// after starts in a pool of family fam (4 or 6): skip when the whole
// family comes before the cursor, and from, the cursor to start at (with
// the ID's tie-break), when the cursor is in fam (invalid otherwise: from
// the pool's start).
func AfterCursor(after netip.Prefix, fam int) (skip bool, from netip.Prefix) {
	if !after.IsValid() {
		return false, netip.Prefix{}
	}
	cur := 4
	if after.Addr().Is6() {
		cur = 6
	}
	switch {
	case cur > fam:
		return true, netip.Prefix{}
	case cur < fam:
		return false, netip.Prefix{}
	}
	return false, after
}
