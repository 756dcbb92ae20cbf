package registry

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// marshalEvent writes what json.Marshal writes, whichever way it takes.
func TestMarshalEvent(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	t2 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	mp := netip.MustParsePrefix
	base := Assignment{ID: 7, Prefix: mp("40.64.0.1/32"), PoolID: 3, Pool: mp("40.64.0.0/24"), RegionID: 2, Region: "east", State: StateAssigned, CreatedAt: t0}
	cases := []func(*Assignment){
		func(*Assignment) {},
		func(a *Assignment) {
			a.Prefix, a.Pool, a.Tenant, a.Resource, a.Name, a.Space = mp("2001:db8::/64"), mp("2001:db8::/32"), "acme", "vm 1", "www.acme.example", "vpc-a"
		},
		func(a *Assignment) { a.State, a.ReleasedAt, a.QuarantineUntil = StateQuarantined, &t1, &t0 },
		func(a *Assignment) { a.ReleasedAt = &t2 },
		func(a *Assignment) { a.Resource = `vm "<1>" & \ é` + "\u2028\x01" },
		func(a *Assignment) { a.Tags = Tags{"b": "2", "a": "1"} },
		func(a *Assignment) { a.Tags = Tags{} },
		func(a *Assignment) { a.CreatedAt = time.Time{} },
		func(a *Assignment) { a.Prefix = netip.Prefix{} },
		func(a *Assignment) {
			a.Borrowed, a.Relocation = true, &RelocationRef{ID: 1, Prefix: mp("40.64.0.0/24"), FromRegion: "west", ToRegion: "east"}
		},
		func(a *Assignment) { a.ID, a.PoolID = -1, 1<<62 },
		// Every string field set: a field added to Assignment and not to
		// appendAssignmentJSON makes the bytes differ here.
		func(a *Assignment) {
			v := reflect.ValueOf(a).Elem()
			for i := range v.NumField() {
				if f := v.Field(i); f.Kind() == reflect.String && f.CanSet() {
					f.SetString("x" + strconv.Itoa(i))
				}
			}
		},
	}
	for i, change := range cases {
		a := base
		change(&a)
		want, werr := json.Marshal(a)
		got, err := marshalEvent(nil, a)
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d: %s (%v), want %s (%v)", i, got, err, want, werr)
		}
		// An allocation's payload: the prefixes' texts given.
		var texts prefixTexts
		got, err = marshalEvent(nil, assignmentPayload{a: &a, prefix: a.Prefix.String(), pool: texts.text(a.Pool)})
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Errorf("case %d with texts: %s (%v), want %s (%v)", i, got, err, want, werr)
		}
	}
	// Other values go to json.Marshal.
	if got, _ := marshalEvent(nil, map[string]int{"a": 1}); string(got) != `{"a":1}` {
		t.Errorf("map: %s", got)
	}
}

// TestPrefixTexts: the remembered text is the prefix's, for more
// prefixes than slots, asked for again in another order.
func TestPrefixTexts(t *testing.T) {
	var c prefixTexts
	var ps []netip.Prefix
	for i := range 300 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		ps = append(ps, netip.PrefixFrom(a, 24), netip.PrefixFrom(a, 16), netip.PrefixFrom(netip.AddrFrom16(a.As16()), 120), netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, byte(i)}), 48))
	}
	ps = append(ps, netip.Prefix{})
	for round := range 3 {
		for i := range ps {
			p := ps[(i*7+round)%len(ps)]
			if got := c.text(p); got != p.String() {
				t.Fatalf("round %d: text(%v) = %q", round, p, got)
			}
		}
	}
}
