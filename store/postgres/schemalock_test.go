package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestNameLocksArePerSchema: two registers in two schemas of one database
// do not share their name locks. Advisory locks belong to the database:
// with the names' fence at (728, 0), a bulk load in one register (the
// fence exclusive) held every named allocation of the other until
// lock_timeout (10 s), and the allocation failed. Now register b allocates
// a named address while register a holds every name.
func TestNameLocksArePerSchema(t *testing.T) {
	ctx := context.Background()
	_, sa, _ := nonEmptyRegister(t)
	_, _, rb := nonEmptyRegister(t)

	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- sa.Update(ctx, func(tx registry.Tx) error {
			nl, ok := tx.(registry.NameLocker)
			if !ok {
				return fmt.Errorf("the PostgreSQL transaction is no registry.NameLocker")
			}
			if err := nl.LockAllNames(ctx); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("register a could not lock every name: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("register a did not lock every name within 30 s")
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := rb.Allocate(registry.Restricted(actx), registry.Request{Region: "r0", Tenant: "a", Name: "second.bulk.example"})
	cancel()
	close(release)
	if lerr := <-done; lerr != nil {
		t.Errorf("register a's transaction: %v", lerr)
	}
	if err != nil {
		t.Fatalf("register b's named allocation while register a (another schema) held every name: %v", err)
	}
}
