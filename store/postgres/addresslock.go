package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// LockAddresses implements registry.Tx: the row locks of the regions
// whose live pools of space overlap p (lockRegion), which every write of
// free space in them takes before it reads free space and holds until it
// commits. Without them a static record's reverse-name check (manage.
// ReverseRecordCheck) read the assignments while an allocation of the
// address was in flight on another replica, and both committed: a PTR
// written at a tenant's live address, after it was allocated (issue 10).
//
// The regions are locked in ID order, as lockRegion requires of a
// transaction that holds none yet; a transaction that covered p already
// (a zone import checks each record against its zone's prefix) sends no
// statement.
func (t *tx) LockAddresses(ctx context.Context, space string, p netip.Prefix) error {
	if !t.write {
		return nil
	}
	key := addressLock{space, p.Masked()}
	if slices.Contains(t.addressLocks, key) {
		return nil
	}
	pools, err := t.PoolsOverlapping(ctx, space, p)
	if err != nil {
		return fmt.Errorf("lock the addresses of %s in space %q: %w", p, space, err)
	}
	ids := make([]int64, 0, len(pools))
	for _, pl := range pools {
		ids = append(ids, pl.RegionID)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if err := t.lockRegion(ctx, id); err != nil {
			return fmt.Errorf("lock the addresses of %s in space %q: %w", p, space, err)
		}
	}
	t.addressLocks = append(t.addressLocks, key)
	return nil
}

// addressLock is a space's prefix whose regions a transaction locked
// (LockAddresses).
type addressLock struct {
	space string
	p     netip.Prefix
}
