package sqlite_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestAssignmentsAtFindsContainingAndContained: AssignmentsAt seeks the
// first addresses an overlapping assignment can have (the query's range,
// and the query's address masked to each length down to the pool's): an
// assignment containing the query, ones inside it, past ones, and none
// beside it.
func TestAssignmentsAtFindsContainingAndContained(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	r := registry.New(st)
	mp := netip.MustParsePrefix
	if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r1", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp("10.0.0.0/16"), Source: registry.SourcePrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp("10.0.0.0/20"), Region: "r1", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"10.0.4.0/24", "10.0.5.16/28", "10.0.5.32/32", "10.0.6.0/23"} {
		if _, err := r.Allocate(ctx, registry.Request{Region: "r1", Prefix: mp(p)}); err != nil {
			t.Fatalf("allocate %s: %v", p, err)
		}
	}
	at := func(q string) (out []string) {
		if err := st.View(ctx, func(tx registry.Tx) error {
			as, err := tx.AssignmentsAt(ctx, registry.PrivateSpace, mp(q))
			for _, a := range as {
				out = append(out, a.Prefix.String())
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for q, want := range map[string][]string{
		"10.0.4.77/32":  {"10.0.4.0/24"},
		"10.0.4.0/26":   {"10.0.4.0/24"},
		"10.0.7.255/32": {"10.0.6.0/23"},
		"10.0.5.0/24":   {"10.0.5.16/28", "10.0.5.32/32"},
		"10.0.4.0/22":   {"10.0.4.0/24", "10.0.5.16/28", "10.0.5.32/32", "10.0.6.0/23"},
		"10.0.5.20/32":  {"10.0.5.16/28"},
		"10.0.5.33/32":  nil,
		"10.0.8.0/21":   nil,
		"10.0.0.0/16":   {"10.0.4.0/24", "10.0.5.16/28", "10.0.5.32/32", "10.0.6.0/23"},
	} {
		if got := at(q); !slices.Equal(got, want) {
			t.Errorf("AssignmentsAt(%s) = %v, want %v", q, got, want)
		}
	}
}
