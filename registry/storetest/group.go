package storetest

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
)

// GroupOpen opens a fresh store that runs one write transaction at a time
// (one writer), and a function that opens the same database again after
// the first is closed.
type GroupOpen func(t *testing.T) (st registry.Store, reopen func() registry.Store)

// GroupCommit checks a store whose Update shares one transaction among
// concurrent callers (group commit): each caller keeps its own outcome.
func GroupCommit(t *testing.T, open GroupOpen) {
	ctx := context.Background()

	t.Run("each caller keeps its outcome in a shared transaction", func(t *testing.T) {
		st, reopen := open(t)
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
		// The first caller holds the writer while the others queue up, so
		// that they share transactions.
		hold := make(chan struct{})
		holding := make(chan struct{})
		firstErr := make(chan error, 1)
		go func() {
			firstErr <- st.Update(ctx, func(tx registry.Tx) error {
				close(holding)
				<-hold
				return insert(ctx, tx, "first")
			})
		}()
		select {
		case <-holding:
		case err := <-firstErr:
			t.Fatalf("the first caller's Update ended before its function held the writer: %v", err)
		}
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
						// The caller gives up half-way: its next write must
						// fail and its first one roll back, and what the
						// callers share must survive it.
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
		if err := <-firstErr; err != nil {
			t.Fatalf("the first caller: %v", err)
		}

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
		// Everything acknowledged is durable across a reopen.
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st2 := reopen()
		defer st2.Close()
		if regions2, _ := contents(t, st2); len(regions2) != len(regions)+1 {
			t.Fatalf("after reopening: %d regions, want %d", len(regions2), len(regions)+1)
		}
	})

	t.Run("a panicking caller alone does not stop the writer or leave writes", func(t *testing.T) {
		st, _ := open(t)
		defer st.Close()
		for i := range 3 {
			err := st.Update(ctx, func(tx registry.Tx) error {
				if err := insert(ctx, tx, fmt.Sprint("p", i)); err != nil {
					return err // not the panic the test is about
				}
				var m map[string]int
				//lint:ignore SA5000 the panic is the point
				m["nil map"]++ // a real runtime panic
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Fatalf("err = %v, want the panic as an error", err)
			}
			if err := st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, fmt.Sprint("ok", i)) }); err != nil {
				t.Fatalf("writer after a panic: %v", err)
			}
		}
		regions, events := contents(t, st)
		if len(regions) != 3 || len(events) != 3 || regions["p0"] {
			t.Fatalf("regions %v events %v", regions, events)
		}
	})

	t.Run("a caller whose context has ended is not run", func(t *testing.T) {
		st, _ := open(t)
		defer st.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		ran := false
		err := st.Update(cctx, func(tx registry.Tx) error { ran = true; return insert(cctx, tx, "x") })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("err = %v, ran = %v", err, ran)
		}
		if regions, _ := contents(t, st); len(regions) != 0 {
			t.Fatalf("regions %v", regions)
		}
	})

	t.Run("Update after Close fails at once", func(t *testing.T) {
		st, _ := open(t)
		if err := st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, "before") }); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		const n = 64
		done := make(chan error, n)
		for i := range n {
			go func() {
				done <- st.Update(ctx, func(tx registry.Tx) error { return insert(ctx, tx, fmt.Sprint("late", i)) })
			}()
		}
		timeout := time.After(3 * time.Second)
		for range n {
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "closed") {
					t.Errorf("Update after Close: err = %v, want \"closed\"", err)
				}
			case <-timeout:
				t.Fatal("Update calls after Close did not return within 3s")
			}
		}
	})
}

var errRefused = errors.New("test: refused")

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
