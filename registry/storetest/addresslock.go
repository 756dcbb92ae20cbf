package storetest

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// runAddressLocks is the conformance of Tx.LockAddresses: in a write
// transaction it takes the locks of the pools' regions (or none, where
// writers are serialised) without failing, whether pools lie in the
// prefix or not, for one space or all; the transaction then reads and
// writes as before and commits; a read-only view takes none. Taking them
// twice is the same as once. That another writer waits for them is raced
// through two stores in api's TestReverseRecordWaitsForAllocation.
func runAddressLocks(t *testing.T, open Open) {
	t.Run("address locks are taken in a write transaction and commit with it", func(t *testing.T) {
		ctx := context.Background()
		f := setup(t, open)
		err := f.s.Update(ctx, func(tx registry.Tx) error {
			for _, c := range []struct {
				space string
				p     string
			}{
				{registry.GlobalSpace, "40.64.0.0/16"}, // holds pool4
				{"", "2603:1030::/32"},                 // pool6, every space
				{registry.PrivateSpace, "10.0.0.0/8"},  // no pool
				{registry.GlobalSpace, "40.64.0.0/16"}, // again
			} {
				if err := tx.LockAddresses(ctx, c.space, mp(c.p)); err != nil {
					return err
				}
			}
			a := registry.Assignment{Prefix: mp("40.64.0.7/32"), PoolID: f.pool4.ID, RegionID: f.region.ID, Space: registry.GlobalSpace,
				State: registry.StateAssigned, Tenant: "b", CreatedAt: t0}
			return tx.InsertAssignment(ctx, &a)
		})
		if err != nil {
			t.Fatalf("update with address locks: %v", err)
		}
		err = f.s.View(ctx, func(tx registry.Tx) error {
			if err := tx.LockAddresses(ctx, "", mp("40.64.0.0/24")); err != nil {
				return err
			}
			as, err := tx.AssignmentsAt(ctx, registry.GlobalSpace, mp("40.64.0.7/32"))
			if err == nil && len(as) != 1 {
				t.Errorf("after the locked update: %d assignments at 40.64.0.7, want 1", len(as))
			}
			return err
		})
		if err != nil {
			t.Fatalf("view with address locks: %v", err)
		}
	})
}
