package sqlite

import (
	"database/sql/driver"
	"testing"
)

// rawArgs gives the driver's statement what database/sql's default
// converter would (an int as int64, the driver's own types as they are,
// ordinals from 1), and refuses any other type, which then goes through
// database/sql as before.
func TestRawArgs(t *testing.T) {
	var r rawStmts
	b := []byte{1, 2}
	if !r.rawArgs([]any{int(7), int64(-3), "x", b, nil, 1.5, true}) {
		t.Fatal("the driver's own types and int refused")
	}
	want := []driver.Value{int64(7), int64(-3), "x", b, nil, 1.5, true}
	if len(r.args) != len(want) {
		t.Fatalf("%d values, want %d", len(r.args), len(want))
	}
	for i, nv := range r.args {
		if nv.Ordinal != i+1 || nv.Name != "" {
			t.Errorf("value %d: ordinal %d name %q", i, nv.Ordinal, nv.Name)
		}
		if bs, ok := want[i].([]byte); ok {
			if got, ok := nv.Value.([]byte); !ok || &got[0] != &bs[0] {
				t.Errorf("value %d: %#v, want the caller's slice", i, nv.Value)
			}
			continue
		}
		if nv.Value != want[i] {
			t.Errorf("value %d: %#v (%T), want %#v (%T)", i, nv.Value, nv.Value, want[i], want[i])
		}
	}
	type state string
	for _, v := range []any{int32(1), uint64(1), state("assigned"), new(int64)} {
		if r.rawArgs([]any{int64(1), v}) {
			t.Errorf("%T taken: database/sql converts it", v)
		}
	}
}
