package postgres_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
)

// A caller that queues while a shared transaction runs its jobs joins that
// transaction (issue 16): with 16 callers the batches no longer alternate
// in two halves, each paying for its own WAL flush. Job A holds the
// shared transaction of A and B open until C has queued; A, B and C then
// commit together (one transaction ID on their three events), X, which
// ran before them, alone.
func TestGroupCommitTakesInCallersQueuedWhileItRuns(t *testing.T) {
	ctx := context.Background()
	st, dsn := oneWriter(t)
	var wg sync.WaitGroup
	// update runs one Update appending an event for subject, which waits
	// for hold (if any) once it has said it started.
	update := func(subject string, hold chan struct{}) (started chan struct{}) {
		started = make(chan struct{})
		var once sync.Once
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Update(ctx, func(tx registry.Tx) error {
				once.Do(func() { close(started) })
				if hold != nil {
					<-hold
				}
				return tx.AppendEvent(ctx, &registry.Event{At: time.Unix(1, 0), Actor: "test", Action: "noop", SubjectKind: "test", Subject: subject})
			})
			if err != nil {
				t.Errorf("update %s: %v", subject, err)
			}
		}()
		return started
	}
	waitFor := func(what string, c chan struct{}) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(time.Minute):
			t.Fatalf("%s did not start within a minute", what)
		}
	}
	holdX, holdA := make(chan struct{}), make(chan struct{})
	waitFor("X", update("X", holdX))
	startedA := update("A", holdA)
	update("B", nil)
	waitQueued(t, 2)
	close(holdX)
	waitFor("A", startedA)
	update("C", nil)
	waitQueued(t, 1)
	close(holdA)
	wg.Wait()

	side, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer side.Close(ctx)
	rows, err := side.Query(ctx, `SELECT subject, xid::text FROM events WHERE subject_kind = 'test'`)
	if err != nil {
		t.Fatal(err)
	}
	xids := map[string]string{}
	for rows.Next() {
		var s, x string
		if err := rows.Scan(&s, &x); err != nil {
			t.Fatal(err)
		}
		xids[s] = x
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(xids) != 4 || xids["A"] != xids["B"] || xids["C"] != xids["A"] || xids["X"] == xids["A"] {
		t.Fatalf("transaction IDs by subject %v: want A, B and C in one transaction, X in another", xids)
	}
}

// oneWriter opens a Store with one writer on a database of its own, closed
// at the test's end, and returns it with the database's DSN.
func oneWriter(t *testing.T) (registry.Store, string) {
	t.Helper()
	dsn := migratedDB(t)
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dsn
}

// waitQueued waits until n goroutines wait to hand a job to the Store's
// writer (in Update's select), or fails after a minute.
func waitQueued(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	buf := make([]byte, 1<<20)
	for {
		k := 0
		all := buf[:runtime.Stack(buf, true)]
		for g := range bytes.SplitSeq(all, []byte("\n\n")) {
			if bytes.Contains(g, []byte(" [select")) && bytes.Contains(g, []byte("postgres.(*Store).Update(")) {
				k++
			}
		}
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers queued after a minute, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}
