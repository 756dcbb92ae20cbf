package registry_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// countingStore counts write transactions.
type countingStore struct {
	registry.Store
	updates atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(registry.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

// TestLargeBatches: a batch over 4,096 prefixes is written in several
// transactions (no other writer waits behind more than one), and keeps the
// promised semantics: all or nothing without an idempotency key; with one,
// retries replay and continue.
func TestLargeBatches(t *testing.T) {
	setup := func(t *testing.T) (*env, *countingStore, *registry.Registry) {
		e := newEnv(t)
		e.region("r", "none", 0)
		e.block("fd00::/64")
		e.pool("fd00::/116", "r")     // 4,096 addresses
		e.pool("fd00::1000/117", "r") // 2,048 more
		cs := &countingStore{Store: e.store}
		return e, cs, registry.New(cs, registry.WithClock(e.clock.Now))
	}
	live := func(t *testing.T, e *env) int {
		return e.count(`SELECT COUNT(*) FROM assignments WHERE state <> 'released'`)
	}
	t.Run("6,000 prefixes go in two transactions and answer as one batch", func(t *testing.T) {
		e, cs, reg := setup(t)
		out, err := reg.AllocateAll(e.ctx, registry.Batch{Requests: []registry.Request{{Region: "r", Count: 6000}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 6000 || live(t, e) != 6000 || cs.updates.Load() != 2 {
			t.Fatalf("%d assignments answered, %d live, %d transactions; want 6000, 6000, 2", len(out), live(t, e), cs.updates.Load())
		}
		seen := map[int64]bool{}
		for _, a := range out {
			if seen[a.ID] {
				t.Fatalf("assignment %d answered twice", a.ID)
			}
			seen[a.ID] = true
		}
	})
	t.Run("with a key a retry returns the same assignments, and another request with the key is refused", func(t *testing.T) {
		e, _, reg := setup(t)
		b := registry.Batch{Key: "big", Requests: []registry.Request{{Region: "r", Count: 5000}}}
		first, err := reg.AllocateAll(e.ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		again, err := reg.AllocateAll(e.ctx, b)
		if err != nil || len(again) != len(first) || again[0].ID != first[0].ID || again[4999].ID != first[4999].ID {
			t.Fatalf("retry: %d assignments (%v), want the same %d", len(again), err, len(first))
		}
		if live(t, e) != 5000 {
			t.Fatalf("%d live after a retry, want 5000", live(t, e))
		}
		other := registry.Batch{Key: "big", Requests: []registry.Request{{Region: "r", Count: 4500}}}
		if _, err := reg.AllocateAll(e.ctx, other); !errors.Is(err, registry.ErrIdempotency) {
			t.Fatalf("another request with the key: %v, want ErrIdempotency", err)
		}
	})
	t.Run("without a key a failing transaction releases what the earlier ones took", func(t *testing.T) {
		e, _, reg := setup(t)
		_, err := reg.AllocateAll(e.ctx, registry.Batch{Requests: []registry.Request{{Region: "r", Count: 7000}}})
		if !errors.Is(err, registry.ErrNoSpace) || !strings.Contains(err.Error(), "released") {
			t.Fatalf("err = %v, want no space, saying what was released", err)
		}
		if n := live(t, e); n != 0 {
			t.Fatalf("%d assignments left live, want 0", n)
		}
		if got := e.alloc(registry.Request{Region: "r", Bits: 116}); got[0].Prefix != mustPrefix("fd00::/116") {
			t.Fatalf("the space did not come back whole: %v", got[0].Prefix)
		}
	})
	t.Run("with a key a failing transaction keeps the earlier ones, and a retry continues", func(t *testing.T) {
		e, _, reg := setup(t)
		b := registry.Batch{Key: "k", Requests: []registry.Request{{Region: "r", Count: 7000}}}
		_, err := reg.AllocateAll(e.ctx, b)
		if !errors.Is(err, registry.ErrNoSpace) || !strings.Contains(err.Error(), "continue") {
			t.Fatalf("err = %v, want no space, saying a retry continues", err)
		}
		if n := live(t, e); n != 4096 {
			t.Fatalf("%d live after the failure, want the first transaction's 4096", n)
		}
		e.pool("fd00::2000/116", "r")
		out, err := reg.AllocateAll(e.ctx, b)
		if err != nil || len(out) != 7000 || live(t, e) != 7000 {
			t.Fatalf("retry: %d assignments, %d live (%v); want 7000", len(out), live(t, e), err)
		}
	})
}
