package poolcount

import (
	"slices"
	"testing"
)

func TestColumns(t *testing.T) {
	for _, c := range []struct {
		name  string
		rows  []Row
		pools []int64
		kinds []string
		bits  []int32
		days  []int64
		ns    []int64
	}{
		{name: "no rows, empty columns", pools: []int64{}, kinds: []string{}, bits: []int32{}, days: []int64{}, ns: []int64{}},
		{
			name:  "each row's fields in its column, in the rows' order",
			rows:  []Row{{Key{Pool: 7, Kind: Assigned, Bits: 128}, 1}, {Key{Pool: 7, Kind: Created, Bits: 128, Day: 20428}, -2}},
			pools: []int64{7, 7}, kinds: []string{"assigned", "created"}, bits: []int32{128, 128}, days: []int64{0, 20428}, ns: []int64{1, -2},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			pools, kinds, bits, days, ns := Columns(c.rows)
			if !slices.Equal(pools, c.pools) || !slices.Equal(kinds, c.kinds) || !slices.Equal(bits, c.bits) || !slices.Equal(days, c.days) || !slices.Equal(ns, c.ns) {
				t.Fatalf("Columns = %v %v %v %v %v, want %v %v %v %v %v", pools, kinds, bits, days, ns, c.pools, c.kinds, c.bits, c.days, c.ns)
			}
			// The int64 columns share an array: an append to one must not
			// write into the next.
			if len(pools) > 0 {
				_ = append(pools, 99)
				_ = append(days, 99)
				if days[0] != c.days[0] || ns[0] != c.ns[0] {
					t.Fatalf("an append to one column wrote into the next: days %v, ns %v", days, ns)
				}
			}
		})
	}
}
