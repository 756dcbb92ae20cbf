package storetest

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
)

// BatchMatchesSingles checks that a Count batch, which a store may write
// its own way (multi-row INSERTs, deferred writes), leaves exactly the
// assignments, events and free space that as many single allocations
// leave, and that a batch larger than what is left changes nothing. IDs
// are compared by the order they were handed out in: a store's IDs are
// unique, not necessarily consecutive.
func BatchMatchesSingles(t *testing.T, open Open) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	setup := func() (registry.Store, *registry.Registry) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		r := registry.New(st, registry.WithClock(func() time.Time { return at }))
		if _, err := r.AddRegion(ctx, registry.RegionSpec{Name: "r", Location: location.Location{Country: "US"}}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"10.0.0.0/22", "10.0.8.0/23", "fd00::/48"} {
			if _, err := r.AddBlock(ctx, registry.Block{Prefix: mp(p), Source: "private"}); err != nil {
				t.Fatal(err)
			}
			if _, err := r.AddPool(ctx, registry.PoolSpec{Prefix: mp(p), Region: "r", UseAll: true}); err != nil {
				t.Fatal(err)
			}
		}
		return st, r
	}
	// Counts chosen to cross chunk and free-prefix boundaries; the IPv4
	// total spans both pools.
	reqs := []registry.Request{
		{Region: "r", Family: 4, Count: 3},
		{Region: "r", Family: 4, Count: 300, Tenant: "t"},
		{Region: "r", Family: 4, Bits: 30, Count: 20},
		{Region: "r", Family: 4, Count: 1100, Resource: "vm"},
		{Region: "r", Count: 1500},
		{Region: "r", Bits: 64, Count: 129},
	}
	batchStore, batch := setup()
	singleStore, single := setup()
	batchIDs, singleIDs := ordinals{}, ordinals{}
	for _, q := range reqs {
		got, err := batch.Allocate(ctx, q)
		if err != nil {
			t.Fatalf("batch %+v: %v", q, err)
		}
		one := q
		one.Count = 1
		var want []registry.Assignment
		for range q.Count {
			a, err := single.Allocate(ctx, one)
			if err != nil {
				t.Fatalf("single %+v: %v", one, err)
			}
			want = append(want, a...)
		}
		if g, w := batchIDs.assignments(got), singleIDs.assignments(want); !reflect.DeepEqual(g, w) {
			t.Fatalf("%+v: batch and singles differ:\n%v\n%v", q, g, w)
		}
	}
	before := snapshot(t, ctx, batchStore, at)
	if _, err := batch.Allocate(ctx, registry.Request{Region: "r", Family: 4, Count: 1 << 12}); err == nil {
		t.Fatal("oversized batch succeeded")
	}
	if after := snapshot(t, ctx, batchStore, at); after != before {
		t.Fatal("a failed oversized batch changed the store")
	}
	dump := func(st registry.Store, ids ordinals) string {
		var out struct {
			A []registry.Assignment
			E []registry.Event
			F [][]netip.Prefix
		}
		err := st.View(ctx, func(tx registry.Tx) error {
			as, err := tx.Assignments(ctx, registry.AssignmentFilter{})
			if err != nil {
				return err
			}
			out.A = ids.assignments(as)
			if out.E, err = tx.Events(ctx, registry.EventFilter{}); err != nil {
				return err
			}
			for i := range out.E {
				out.E[i] = ids.event(t, out.E[i], int64(i+1))
			}
			pools, err := tx.Pools(ctx, registry.PoolFilter{})
			if err != nil {
				return err
			}
			for _, p := range pools {
				f, err := tx.FreeOfPool(ctx, p.ID)
				if err != nil {
					return err
				}
				out.F = append(out.F, f)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		return string(b)
	}
	if b, s := dump(batchStore, batchIDs), dump(singleStore, singleIDs); b != s {
		t.Fatalf("stores differ after batch and single allocations")
	}
}

// ordinals numbers a store's assignment IDs in the order first seen.
type ordinals map[int64]int64

func (o ordinals) of(id int64) int64 {
	n, ok := o[id]
	if !ok {
		n = int64(len(o) + 1)
		o[id] = n
	}
	return n
}

func (o ordinals) assignments(as []registry.Assignment) []registry.Assignment {
	out := make([]registry.Assignment, len(as))
	for i, a := range as {
		a.ID = o.of(a.ID)
		out[i] = a
	}
	return out
}

// event renumbers e: seq, its assignment's ID, and that ID in its JSON.
func (o ordinals) event(t *testing.T, e registry.Event, seq int64) registry.Event {
	e.Seq = seq
	if e.SubjectKind != "assignment" {
		return e
	}
	e.SubjectID = o.of(e.SubjectID)
	for _, j := range []*json.RawMessage{&e.Before, &e.After} {
		if len(*j) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(*j, &m); err != nil {
			t.Fatalf("event %d: %v", e.Seq, err)
		}
		m["id"] = e.SubjectID
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		*j = b
	}
	return e
}
