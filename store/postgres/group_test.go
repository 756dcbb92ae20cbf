package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// insert writes a region and its event, the two writes of a tiny mutation.
func insert(ctx context.Context, tx registry.Tx, name string) error {
	r := registry.Region{Name: name, Location: location.Location{Country: "US"}, BorrowBits: 24, CreatedAt: time.Unix(1, 0)}
	if err := tx.InsertRegion(ctx, &r); err != nil {
		return err
	}
	return tx.AppendEvent(ctx, &registry.Event{At: r.CreatedAt, Actor: "test", Action: "region.add", SubjectKind: "region", SubjectID: r.ID, Subject: name})
}

// contents lists the region names and event subjects in the store.
func contents(t *testing.T, st registry.Store) (regions, events map[string]bool) {
	t.Helper()
	regions, events = map[string]bool{}, map[string]bool{}
	err := st.View(context.Background(), func(tx registry.Tx) error {
		rs, err := tx.Regions(context.Background())
		if err != nil {
			return err
		}
		for _, r := range rs {
			regions[r.Name] = true
		}
		es, err := tx.Events(context.Background(), registry.EventFilter{})
		for _, e := range es {
			if events[e.Subject] {
				t.Errorf("event for %s written twice", e.Subject)
			}
			events[e.Subject] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return regions, events
}

var errRefused = errors.New("test: refused")

// Concurrent callers share transactions (group commit), but each one's
// outcome is its own: failing, panicking, constraint-violating and
// cancelled callers leave no trace, the others all persist, and the
// writers keep going.
func TestGroupCommitKeepsEachCallersOutcome(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	// One writer, so that every caller below queues behind the first.
	st, err := postgres.Open(ctx, dsn, postgres.Options{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 300
	type outcome int
	const (
		succeed outcome = iota
		fail
		crash
		duplicate // a constraint error from the database itself
		cancelled
		silent // fails before any statement
	)
	kind := func(i int) outcome {
		switch {
		case i%10 == 3:
			return fail
		case i%10 == 7:
			return crash
		case i%25 == 11:
			return duplicate
		case i%25 == 24:
			return cancelled
		case i%25 == 16:
			return silent
		}
		return succeed
	}
	if err := st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "taken") }); err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	holding := make(chan struct{})
	go st.Update(ctx, func(tx registry.Tx) error {
		close(holding)
		<-hold
		return insert(ctx, tx, "first")
	})
	<-holding
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("r%d", i)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			errs[i] = st.Update(cctx, func(tx registry.Tx) error {
				if kind(i) == silent {
					return errRefused
				}
				if err := insert(cctx, tx, name); err != nil {
					return err
				}
				switch kind(i) {
				case fail:
					return errRefused
				case crash:
					panic("test: boom")
				case duplicate:
					return insert(cctx, tx, "taken")
				case cancelled:
					// The caller gives up half-way: its next write must fail
					// and its first one roll back, and the connection the
					// batch shares must survive it.
					cancel()
					return insert(cctx, tx, name+"-more")
				}
				return nil
			})
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them queue behind the first
	close(hold)
	wg.Wait()

	regions, events := contents(t, st)
	if !regions["first"] || !regions["taken"] {
		t.Fatalf("regions %v", regions)
	}
	for i, err := range errs {
		name := fmt.Sprintf("r%d", i)
		switch kind(i) {
		case succeed:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case fail, silent:
			if !errors.Is(err, errRefused) {
				t.Errorf("%s: err = %v, want its own error", name, err)
			}
		case crash:
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Errorf("%s: err = %v, want the panic as an error", name, err)
			}
		case duplicate:
			if !errors.Is(err, registry.ErrExists) {
				t.Errorf("%s: err = %v, want ErrExists", name, err)
			}
		case cancelled:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: err = %v, want context.Canceled", name, err)
			}
		}
		if want := kind(i) == succeed; regions[name] != want || events[name] != want {
			t.Errorf("%s (outcome %d, err %v): region stored %v, event stored %v; want %v", name, kind(i), err, regions[name], events[name], want)
		}
		if regions[name+"-more"] {
			t.Errorf("%s: a write after its context ended was stored", name)
		}
	}
	if err := st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "after") }); err != nil {
		t.Fatalf("writer after the batch: %v", err)
	}
	// Everything acknowledged is in the database for a new connection.
	st2, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	regions2, _ := contents(t, st2)
	if len(regions2) != len(regions)+1 {
		t.Fatalf("from a second store: %d regions, want %d", len(regions2), len(regions)+1)
	}
}

// Update on a closed store fails at once.
func TestUpdateAfterCloseFails(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, freshSchema(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	err = st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "late") })
	if !errors.Is(err, registry.ErrStorage) {
		t.Fatalf("Update after Close: %v, want ErrStorage", err)
	}
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
	if regions, _ := contents(t, st); regions["write"] {
		t.Fatal("a write through ViewOne was stored")
	}
}
