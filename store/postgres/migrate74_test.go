package postgres

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestOverlapWithoutIndexMigration: migration 74 (issue 16, storage)
// drops the exclusion constraints of assignments; the writes check the
// overlap rule themselves. At the latest version no constraint or index
// of the rule is left, an overlapping live row is refused by
// InsertAssignment and by LoadAssignments (ErrOverlap) and a released
// one is not, and a released row does not become live again. Down to 72
// the three constraints are back and refuse an overlapping row written
// by SQL alone; up again they are gone. Fails on main: the constraints
// are there.
func TestOverlapWithoutIndexMigration(t *testing.T) {
	ctx := context.Background()
	m := newMigrationStore(t, true)
	s, db := m.s, m.db
	as, err := m.reg.Allocate(ctx, registry.Request{Region: "r", Family: 4, Bits: 28})
	if err != nil {
		t.Fatal(err)
	}
	live := as[0]
	const defsQuery = `SELECT coalesce(string_agg(d, E'\n' ORDER BY d), '') FROM (
		SELECT conname || ' ' || pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = 'assignments'::regclass AND contype = 'x'
		UNION ALL SELECT proname FROM pg_proc WHERE proname IN ('assignments_overlap', 'assignments_revived') AND pronamespace = current_schema()::regnamespace) s`
	read := func(t *testing.T) string { return m.read(t, defsQuery) }
	if got, want := read(t), "assignments_overlap\nassignments_revived"; got != want {
		t.Errorf("at the latest version:\n%s\nwant\n%s", got, want)
	}
	inside := func(state registry.State) registry.Assignment {
		return registry.Assignment{Prefix: netip.PrefixFrom(live.Prefix.Addr().Next(), 32), PoolID: live.PoolID, State: state, CreatedAt: live.CreatedAt}
	}
	for _, write := range []struct {
		name string
		fn   func(tx *tx, a *registry.Assignment) error
	}{
		{"InsertAssignment", func(tx *tx, a *registry.Assignment) error { return tx.InsertAssignment(ctx, a) }},
		{"LoadAssignments", func(tx *tx, a *registry.Assignment) error { return tx.LoadAssignments(ctx, []registry.Assignment{*a}) }},
	} {
		a := inside(registry.StateAssigned)
		if err := s.Update(ctx, func(x registry.Tx) error { return write.fn(x.(*tx), &a) }); !errors.Is(err, registry.ErrOverlap) {
			t.Errorf("%s of %s inside the live %s: %v, want ErrOverlap", write.name, a.Prefix, live.Prefix, err)
		}
		released := inside(registry.StateReleased)
		released.ReleasedAt = &live.CreatedAt
		if err := s.Update(ctx, func(x registry.Tx) error { return write.fn(x.(*tx), &released) }); err != nil {
			t.Errorf("%s of the released %s inside the live %s: %v", write.name, released.Prefix, live.Prefix, err)
		}
	}
	var old int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM assignments WHERE state = 'released' ORDER BY id LIMIT 1`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(x registry.Tx) error {
		return x.UpdateAssignment(ctx, registry.Assignment{ID: old, State: registry.StateAssigned})
	})
	if !errors.Is(err, registry.ErrState) || !strings.Contains(err.Error(), "does not become live again") {
		t.Errorf("a released assignment made live again: %v, want ErrState", err)
	}

	p := migrationProvider(t, db)
	if _, err := p.DownTo(ctx, 72); err != nil {
		t.Fatal(err)
	}
	down := read(t)
	for _, want := range []string{"assignments_no_overlap EXCLUDE USING spgist (prefix WITH &&) WHERE",
		"assignments_private_no_overlap EXCLUDE USING spgist", "assignments_space_no_overlap EXCLUDE USING gist"} {
		if !strings.Contains(down, want) {
			t.Errorf("down to 72, no %q in\n%s", want, down)
		}
	}
	if strings.Contains(down, "assignments_overlap") {
		t.Errorf("down to 72, the functions left:\n%s", down)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO assignments (pool_id, prefix, state, created_at, space) VALUES ($1, $2, 'assigned', 0, 'private')`,
		live.PoolID, netip.PrefixFrom(live.Prefix.Addr(), 30).String()); err == nil || !strings.Contains(err.Error(), "exclusion") {
		t.Errorf("down to 72, an overlapping row written by SQL: %v, want the constraint's refusal", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := read(t), "assignments_overlap\nassignments_revived"; got != want {
		t.Errorf("up again:\n%s\nwant\n%s", got, want)
	}
}
