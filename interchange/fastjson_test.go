package interchange

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// appendAssignment writes what json.Marshal writes, or declines.
func TestAppendAssignment(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	t2 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	mp := netip.MustParsePrefix
	base := registry.AssignmentRecord{Prefix: mp("40.64.0.1/32"), Pool: mp("40.64.0.0/24"), Region: "east", State: registry.StateAssigned, CreatedAt: t0}
	cases := []func(*registry.AssignmentRecord){
		func(*registry.AssignmentRecord) {},
		func(a *registry.AssignmentRecord) {
			a.Prefix, a.Pool, a.Tenant, a.Resource, a.Name, a.ChildPool = mp("2001:db8::/64"), mp("2001:db8::/32"), "acme", "vm 1", "www.acme.example", "site1"
		},
		func(a *registry.AssignmentRecord) {
			a.State, a.ReleasedAt, a.QuarantineUntil = registry.StateQuarantined, &t1, &t0
		},
		func(a *registry.AssignmentRecord) { a.ReleasedAt = &t2 },
		func(a *registry.AssignmentRecord) { a.Resource = `vm "<1>" & \ é` + "\u2028\x01" },
		func(a *registry.AssignmentRecord) { a.Tags = registry.Tags{"b": "2", "a": "1"} },
		func(a *registry.AssignmentRecord) { a.CreatedAt = time.Time{} },
		func(a *registry.AssignmentRecord) { a.Space = "vpc-a" },
		// Every string field set: a field added to the record and not
		// to appendAssignment makes the bytes differ here.
		func(a *registry.AssignmentRecord) {
			v := reflect.ValueOf(a).Elem()
			for i := range v.NumField() {
				if f := v.Field(i); f.Kind() == reflect.String && f.CanSet() && f.Type() == reflect.TypeFor[string]() {
					f.SetString("x" + strconv.Itoa(i))
				}
			}
		},
	}
	for i, change := range cases {
		a := base
		change(&a)
		want, werr := json.Marshal(&a)
		got, err := marshalRecord(nil, &a)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d: %s (%v), want %s (%v)", i, got, err, want, werr)
		}
	}
}
