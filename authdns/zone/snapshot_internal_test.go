package zone

import (
	"reflect"
	"testing"
)

// TestPublishedVersionsReadOnly: a published snapshot is immutable (see
// Snapshot), which holds only if no code outside this package can write
// into one: the snapshot and a zone's version expose methods, no field.
func TestPublishedVersionsReadOnly(t *testing.T) {
	for _, v := range []any{Snapshot{}, Data{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			if f := typ.Field(i); f.IsExported() {
				t.Errorf("%s.%s is exported: code outside zone could write into a published version", typ.Name(), f.Name)
			}
		}
	}
}
