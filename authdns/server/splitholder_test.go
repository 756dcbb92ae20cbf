package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestZoneSplitDelegationRefusesALiveName{SQLite,PostgreSQL}: a split's
// second step (the delegation: NS at the child's apex in the parent) is
// refused, with nothing written and the child left staged, when a
// tenant's live assignment took the child's apex as its name while the
// child was staged (an admin names freely, a staged zone's apex too).
// Before, only the first step checked the apex, and the delegation made a
// tenant's VM name a zone cut (issue 10: admins never collide with a
// tenant's live name; zone add and the first step refuse the same).
func TestZoneSplitDelegationRefusesALiveNameSQLite(t *testing.T) {
	splitDelegationHolder(t, newEnv(t, false))
}

func TestZoneSplitDelegationRefusesALiveNamePostgreSQL(t *testing.T) {
	splitDelegationHolder(t, newEnvOn(t, false, openPG(t, pgSchema(t))))
}

func splitDelegationHolder(t *testing.T, e *env) {
	e.alloc(4, "vm0."+splitZone)
	if _, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{Regions: []string{"us-east"}, Stage: true}); err != nil {
		t.Fatal(err)
	}
	e.alloc(6, splitZone) // acme's VM at the staged child's apex
	rs, _ := e.mgr.Records(e.ctx, fwdZone)
	_, err := e.mgr.Split(e.ctx, fwdZone, manage.SplitOptions{Regions: []string{"us-east"}, Wait: -1})
	var taken *registry.NameTakenError
	if !errors.As(err, &taken) || taken.Holder != registry.HolderAssignment || !strings.Contains(err.Error(), splitZone) {
		t.Fatalf("delegating a staged child whose apex a tenant's live assignment holds: %v, want name-taken by an assignment naming %s", err, splitZone)
	}
	rs2, _ := e.mgr.Records(e.ctx, fwdZone)
	if len(rs2) != len(rs) {
		t.Errorf("the refused delegation wrote: %d records in the parent (were %d): %v", len(rs2), len(rs), rs2)
	}
	z, err := e.mgr.Zone(e.ctx, splitZone)
	if err != nil || !z.Config.Staged {
		t.Errorf("the child after the refused delegation: %+v, %v; want it still staged", z.Config, err)
	}
}
