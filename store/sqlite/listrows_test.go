package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/demo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestListRowsAsTheJoinedSelect: a list of assignments read from the
// assignments table alone, with the pools' parts filled in once per pool
// (listAssignments, fillPools), says of every assignment exactly what the
// joined select of a single assignment (AssignmentByID) says: prefix,
// pool, region, relocation and borrowing, states and times. A cloud
// register has relocated pools, past states, tenants and both families.
func TestListRowsAsTheJoinedSelect(t *testing.T) {
	ctx := registry.WithActor(context.Background(), "test")
	s, err := Open(ctx, filepath.Join(t.TempDir(), "list.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	res, err := demo.Cloud(ctx, s, now, demo.CloudOptions{Assignments: 1500, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Relocations == 0 || res.Released == 0 || res.Quarantined == 0 {
		t.Fatalf("the register lacks a case: %+v", res)
	}
	err = s.Update(ctx, func(rt registry.Tx) error {
		for _, id := range []int64{3, 700, 1400} {
			if err := rt.(*tx).SetTags(ctx, registry.KindAssignment, id, registry.Tags{"env": "prod"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(rt registry.Tx) error {
		tx := rt.(*tx)
		all, err := tx.Assignments(ctx, registry.AssignmentFilter{})
		if err != nil {
			return err
		}
		if len(all) != res.Assignments {
			return fmt.Errorf("listed %d assignments of %d", len(all), res.Assignments)
		}
		borrowed := 0
		for _, a := range all {
			want, err := tx.AssignmentByID(ctx, a.ID)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(a, want) {
				t.Errorf("assignment %d listed as\n  %+v\nread alone as\n  %+v", a.ID, a, want)
			}
			if a.Borrowed {
				borrowed++
			}
		}
		if borrowed == 0 {
			t.Error("no assignment of a relocated pool listed")
		}
		sample := all[len(all)/2]
		var quarantined registry.Assignment
		for _, a := range all {
			if a.State == registry.StateQuarantined {
				quarantined = a
			}
		}
		tenant := sample.Tenant
		for _, c := range []struct {
			name string
			f    registry.AssignmentFilter
		}{
			{"a region's page", registry.AssignmentFilter{RegionID: sample.RegionID, Limit: 101}},
			{"a region's quarantined", registry.AssignmentFilter{RegionID: quarantined.RegionID, States: []registry.State{registry.StateQuarantined}, Limit: 101}},
			{"a tenant's in a region", registry.AssignmentFilter{RegionID: sample.RegionID, Tenant: &tenant, Limit: 101}},
			{"a tag in a region", registry.AssignmentFilter{RegionID: all[699].RegionID, Tags: registry.Tags{"env": "prod"}, Limit: 101}},
			{"a tag", registry.AssignmentFilter{Tags: registry.Tags{"env": "prod"}, Limit: 101}},
			{"released after a cursor", registry.AssignmentFilter{States: []registry.State{registry.StateReleased}, AfterID: 100, Limit: 101}},
			{"an IPv6 page", registry.AssignmentFilter{Family: 6, Limit: 101}},
			{"holding an address", registry.AssignmentFilter{Contains: sample.Prefix}},
		} {
			got, err := tx.Assignments(ctx, c.f)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if len(got) == 0 {
				t.Errorf("%s: no assignment", c.name)
			}
			for _, a := range got {
				want, err := tx.AssignmentByID(ctx, a.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(a, want) {
					t.Errorf("%s: assignment %d listed as\n  %+v\nread alone as\n  %+v", c.name, a.ID, a, want)
				}
			}
		}
		at, err := tx.AssignmentsAt(ctx, sample.Space, sample.Prefix)
		if err != nil || len(at) == 0 || !reflect.DeepEqual(at[len(at)-1], sample) {
			t.Errorf("AssignmentsAt(%s) = %+v, %v; want the last to be %+v", sample.Prefix, at, err, sample)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
