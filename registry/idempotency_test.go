package registry_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// How idempotency keys are scoped and compared.
func TestIdempotencyKeys(t *testing.T) {
	t.Run("a keyed batch whose requests name two tenants is refused and changes nothing", func(t *testing.T) {
		e := newEnv(t)
		e.standard(24)
		before := e.dump()
		_, err := e.reg.AllocateAll(e.ctx, registry.Batch{Key: "k", Requests: []registry.Request{
			{Region: "east", Tenant: "acme"}, {Region: "east", Tenant: "globex"}}})
		if !errors.Is(err, registry.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		if after := e.dump(); after != before {
			t.Fatalf("changed the database:\n%s", diff(before, after))
		}
	})
	t.Run("a key recorded with the first form of the request hash still replays", func(t *testing.T) {
		e := newEnv(t)
		e.standard(24)
		q := registry.Request{Region: "east", Family: 4, Bits: 32, Count: 1, Tenant: "acme", Resource: "vm", Key: "old"}
		first := e.alloc(registry.Request{Region: "east", Family: 4, Tenant: "acme", Resource: "vm"})
		// What the first form recorded: the hex SHA-256 of the hex SHA-256
		// of the fields joined with "|".
		one := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d|%d|%t|%s|%s|%s", q.Region, q.Family, q.Bits, q.Count, q.DualStack, q.Tenant, q.Resource, q.Name)))
		batch := sha256.Sum256([]byte(hex.EncodeToString(one[:])))
		err := e.store.Update(e.ctx, func(tx registry.Tx) error {
			return tx.PutIdempotent(e.ctx, registry.Idempotent{Tenant: "acme", Key: "old", RequestHash: hex.EncodeToString(batch[:]),
				AssignmentIDs: []int64{first[0].ID}, CreatedAt: e.clock.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
		again := e.alloc(q)
		if len(again) != 1 || again[0].ID != first[0].ID {
			t.Fatalf("retry got %+v, want assignment %d", again, first[0].ID)
		}
		q.Resource = "other"
		if _, err := e.reg.Allocate(e.ctx, q); !errors.Is(err, registry.ErrIdempotency) {
			t.Fatalf("another request under the old key: err = %v, want ErrIdempotency", err)
		}
	})
}
