package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// An Update that finds the writer idle runs its function on the caller's
// own goroutine (issue 16): handed to a writer goroutine and back, each
// Update of one caller woke two threads of the process more.
func TestUpdateAloneRunsOnTheCallersGoroutine(t *testing.T) {
	st, _ := oneWriter(t)
	ctx := context.Background()
	caller := func() []byte {
		buf := make([]byte, 64<<10)
		return buf[:runtime.Stack(buf, false)]
	}
	for i := range 3 {
		var stack []byte
		err := st.Update(ctx, func(tx registry.Tx) error {
			stack = caller()
			return tx.AppendEvent(ctx, &registry.Event{At: time.Unix(1, 0), Actor: "test", Action: "noop", SubjectKind: "test", Subject: "-"})
		})
		if err != nil {
			t.Fatal(err)
		}
		// The test's own frame (its closures are named after it too).
		if !bytes.Contains(stack, []byte("postgres_test.TestUpdateAloneRunsOnTheCallersGoroutine(")) {
			t.Fatalf("Update %d: the function ran on another goroutine:\n%s", i, stack)
		}
	}
}

// Close waits for an Update under way, which commits; an Update after
// Close fails without running its function.
func TestCloseWaitsForTheUpdateUnderWay(t *testing.T) {
	dsn := migratedDB(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	running, release := make(chan struct{}), make(chan struct{})
	updated := make(chan error, 1)
	go func() {
		updated <- st.Update(ctx, func(tx registry.Tx) error {
			close(running)
			<-release
			return tx.AppendEvent(ctx, &registry.Event{At: time.Unix(1, 0), Actor: "test", Action: "noop", SubjectKind: "test", Subject: "held"})
		})
	}()
	<-running
	closed := make(chan struct{})
	go func() {
		st.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while an Update ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-updated; err != nil {
		t.Fatalf("the Update under way: %v", err)
	}
	select {
	case <-closed:
	case <-time.After(time.Minute):
		t.Fatal("Close did not return within a minute of the Update's end")
	}
	ran := false
	err = st.Update(ctx, func(registry.Tx) error { ran = true; return nil })
	if !errors.Is(err, registry.ErrStorage) || ran {
		t.Fatalf("Update after Close: %v (function ran: %v), want registry.ErrStorage without running", err, ran)
	}
	again, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var n int
	if err := again.View(ctx, func(tx registry.Tx) error {
		evs, err := tx.Events(ctx, registry.EventFilter{})
		for _, e := range evs {
			if e.Subject == "held" {
				n++
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d events of the Update under way, want 1", n)
	}
}
