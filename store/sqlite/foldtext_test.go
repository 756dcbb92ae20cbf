package sqlite

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestFoldTextsAsNull: the folded allocation sends as NULL the texts its
// trigger writes for one (foldState, foldAction, foldKind: the row's
// state, the event's action and subject kind), so that the driver copies into C
// memory only the texts that vary (issue 16: the allocation's own CPU;
// bench/README.md, "Session 20: sqlitecpu"); any other value goes as it is.
func TestFoldTextsAsNull(t *testing.T) {
	p := netip.MustParsePrefix("fd00:db8::1/128")
	first, _ := netip.MustParsePrefix("fd00:db8::1/128").Addr().MarshalBinary()
	mkHeld := func(state registry.State, space string) *held {
		return &held{take: registry.FreePrefix{RegionID: 1, PoolID: 2, Prefix: p}, hasTake: true, hasIns: true,
			ins: [14]any{int64(7), int64(2), int64(6), first, first, int64(128), string(state), "", "", "", int64(1), nil, nil, space}}
	}
	event := func(action string) *registry.Event {
		return &registry.Event{At: time.Unix(1, 0), Actor: "a", Action: action, SubjectKind: registry.KindAssignment, SubjectID: 7, Subject: p.String(),
			After: []byte(`{"id":7}`)}
	}
	texts := func(args [foldArgs]any) (n int) {
		for _, v := range args {
			switch v.(type) {
			case string, []byte:
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		name      string
		h         *held
		e         *registry.Event
		null, set []int // arguments sent as NULL, and as their value
		texts     int   // texts and blobs the driver copies
	}{
		// actor, subject, first, space, after
		{"plain", mkHeld(registry.StateAssigned, registry.GlobalSpace), event("assignment.allocate"), []int{9, 19, 20}, []int{16}, 5},
		{"other action", mkHeld(registry.StateAssigned, "private"), event("assignment.reserve"), []int{9, 20}, []int{16, 19}, 6},
		{"other state", mkHeld(registry.StateQuarantined, "private"), event("assignment.allocate"), []int{19, 20}, []int{9, 16}, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.h.foldValues(c.e)
			for _, i := range c.null {
				if args[i] != nil {
					t.Errorf("argument %d = %v, want NULL (the trigger's text)", i, args[i])
				}
			}
			for _, i := range c.set {
				if args[i] == nil {
					t.Errorf("argument %d is NULL, want its value", i)
				}
			}
			if n := texts(args); n != c.texts {
				t.Errorf("%d texts and blobs sent, want %d", n, c.texts)
			}
		})
	}
}

// TestFoldWritesDefaultTexts: the trigger writes the texts sent as NULL
// (foldState, foldAction, foldKind):
// allocations folded into one statement each (all but
// the first, which fills the writer's caches) read back with their state,
// their events with their action and subject kind.
func TestFoldWritesDefaultTexts(t *testing.T) {
	ctx := context.Background()
	s, r := storeWithPool(t, "fd00:db8::/56")
	for range 4 {
		if _, err := r.Allocate(ctx, registry.Request{Region: "r", Family: 6, Bits: 64}); err != nil {
			t.Fatal(err)
		}
	}
	type row struct{ state, action, kind string }
	var got []row
	if err := s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT a.state, e.action, e.subject_kind FROM assignments a
			JOIN events e ON e.subject_id = a.id AND e.subject_kind = 'assignment' ORDER BY a.id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var x row
			if err := rows.Scan(&x.state, &x.action, &x.kind); err != nil {
				return err
			}
			got = append(got, x)
		}
		return rows.Err()
	}); err != nil {
		t.Fatal(err)
	}
	want := row{foldState, foldAction, foldKind}
	if len(got) != 4 {
		t.Fatalf("%d allocations with their event read back, want 4", len(got))
	}
	for i, x := range got {
		if x != want {
			t.Errorf("allocation %d read back as %+v, want %+v", i+1, x, want)
		}
	}
}
