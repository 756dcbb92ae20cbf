package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// When a savepoint command of a shared transaction fails (here ROLLBACK
// TO, after the caller's savepoint was released under it), the store can
// no longer undo one caller alone: the whole batch fails, as on
// PostgreSQL, so that no caller is told of a failure for a change that
// committed (a retry without a key would then allocate twice), and none
// of success for one that did not.
func TestFailedSavepointCommandFailsTheBatch(t *testing.T) {
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "sp.db"))
	insert := func(tx registry.Tx, name string) error {
		r := registry.Region{Name: name, Location: location.Location{Country: "US"}, BorrowBits: 24}
		return tx.InsertRegion(ctx, &r)
	}
	errBroken := errors.New("test: the caller fails after its savepoint was released")
	hold, holding := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- st.Update(ctx, func(tx registry.Tx) error {
			close(holding)
			<-hold
			return insert(tx, "first")
		})
	}()
	<-holding
	// Three callers queue behind the first and share one transaction: the
	// middle one breaks its savepoint, writes, and fails.
	names := []string{"before", "broken", "after"}
	errs := make([]chan error, len(names))
	for i, name := range names {
		errs[i] = make(chan error, 1)
		go func() {
			errs[i] <- st.Update(ctx, func(tx registry.Tx) error {
				if name != "broken" {
					return insert(tx, name)
				}
				if err := sqlite.ExecInTx(ctx, tx, "RELEASE job"); err != nil {
					return fmt.Errorf("release: %w", err)
				}
				if err := insert(tx, name); err != nil {
					return err
				}
				return errBroken
			})
		}()
		sqlite.WaitQueued(t, st, i+1)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("the first caller, alone in its transaction: %v", err)
	}
	stored := map[string]bool{}
	if err := st.View(ctx, func(tx registry.Tx) error {
		rs, err := tx.Regions(ctx)
		for _, r := range rs {
			stored[r.Name] = true
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		err := <-errs[i]
		if (err == nil) != stored[name] {
			t.Errorf("caller %s: told %v, but stored = %v", name, err, stored[name])
		}
		if name == "broken" && !errors.Is(err, errBroken) {
			t.Errorf("caller %s: err = %v, want its own error", name, err)
		}
	}
	if stored["broken"] {
		t.Error("the failed caller's write committed")
	}
	// The writer goes on.
	if err := st.Update(ctx, func(tx registry.Tx) error { return insert(tx, "later") }); err != nil {
		t.Fatalf("writer after the failed batch: %v", err)
	}
}
