package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// Concurrent callers share transactions (group commit), but each one's
// outcome is its own; one writer, so that every caller queues behind the
// first.
func TestGroupCommit(t *testing.T) {
	storetest.GroupCommit(t, func(t *testing.T) (registry.Store, func() registry.Store) {
		dsn := freshSchema(t)
		reopen := func() registry.Store {
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		st, err := postgres.Open(context.Background(), dsn, postgres.Options{Writers: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, reopen
	})
}

// ViewOne answers one read without a transaction and refuses a second
// statement or a write, so that a caller cannot mistake it for View.
func TestViewOneAllowsOneReadOnly(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, freshSchema(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	insert := func(ctx context.Context, tx registry.Tx, name string) error {
		return tx.InsertRegion(ctx, &registry.Region{Name: name, Location: location.Location{Country: "US"}, BorrowBits: 24, CreatedAt: time.Unix(1, 0)})
	}
	if err := st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "one") }); err != nil {
		t.Fatal(err)
	}
	var got registry.Region
	if err := st.ViewOne(ctx, func(tx registry.Tx) error {
		got, err = tx.RegionByName(ctx, "one")
		return err
	}); err != nil || got.Name != "one" {
		t.Fatalf("ViewOne read: %+v, %v", got, err)
	}
	err = st.ViewOne(ctx, func(tx registry.Tx) error {
		if _, err := tx.RegionByName(ctx, "one"); err != nil {
			return err
		}
		_, err := tx.Regions(ctx)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "more than one statement") {
		t.Fatalf("two reads in ViewOne: %v", err)
	}
	err = st.ViewOne(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "write") })
	if err == nil {
		t.Fatal("a write through ViewOne succeeded")
	}
	if err := st.View(ctx, func(tx registry.Tx) error {
		_, err := tx.RegionByName(ctx, "write")
		return err
	}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a write through ViewOne: read back %v, want not found", err)
	}
}
