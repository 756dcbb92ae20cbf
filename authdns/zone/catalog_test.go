package zone_test

import (
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

func TestCatalogIDsAndMembers(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	acl := []string{"key:xfr.test."}
	a := zone.Zone{ID: 1, Name: "a.test.", CreatedAt: at, Config: zone.Config{AllowTransfer: acl}}
	again := a
	again.ID, again.CreatedAt = 7, at.Add(time.Hour) // removed and added again
	for _, c := range []struct {
		name string
		x, y zone.Zone
		same bool
	}{
		{"the same stored zone", a, a, true},
		{"the zone as read on another replica (monotonic clock gone)", a, zone.Zone{ID: 1, Name: "a.test.", CreatedAt: at.Round(0)}, true},
		{"removed and added again", a, again, false},
		{"another zone", a, zone.Zone{ID: 2, Name: "b.test.", CreatedAt: at}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, y := zone.CatalogID(c.x), zone.CatalogID(c.y)
			if (x == y) != c.same {
				t.Fatalf("ids %s and %s: same %v, want %v", x, y, x == y, c.same)
			}
			if len(x) != 20 {
				t.Fatalf("id %q: want 20 hex digits, one label", x)
			}
		})
	}
	ms := zone.CatalogMembers([]zone.Zone{
		{Name: "z.test.", Config: zone.Config{AllowTransfer: acl}},
		{Name: "catalog.invalid.", Config: zone.Config{Catalog: true, AllowTransfer: acl}},
		{Name: "private.test."}, // nobody may transfer it
		a,
	})
	if len(ms) != 2 || ms[0].Name != "a.test." || ms[1].Name != "z.test." {
		t.Fatalf("members %v: want a.test. and z.test., by name", ms)
	}
}
