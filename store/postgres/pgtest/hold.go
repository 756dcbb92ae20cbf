package pgtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// HoldOpen runs write in a write transaction of s and returns once write
// has returned, with the transaction still open, so that a test can make
// other transactions commit before it (out of commit order). The returned
// commit lets the transaction finish and returns its error. A transaction
// never released gives up after a minute, so a failing test cannot leave
// it behind.
func HoldOpen(t testing.TB, ctx context.Context, s registry.Store, write func(registry.Tx) error) (commit func() error) {
	t.Helper()
	wrote, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx registry.Tx) error {
			if err := write(tx); err != nil {
				return err
			}
			once.Do(func() { close(wrote) }) // Update may run fn again
			select {
			case <-release:
				return nil
			case <-time.After(time.Minute):
				return errors.New("the held transaction was never released")
			}
		})
	}()
	select {
	case <-wrote:
	case err := <-done:
		t.Fatalf("held transaction: %v", err)
	}
	return func() error {
		close(release)
		return <-done
	}
}
