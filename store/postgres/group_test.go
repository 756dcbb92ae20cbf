package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		dsn := migratedDB(t)
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
	st, err := postgres.Open(ctx, migratedDB(t), postgres.Options{})
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

// TestGroupCommitWithoutSavepoints: a batch whose jobs all succeed runs
// without a savepoint per job (group.go, runBatch): its rows carry one
// transaction ID, not one subtransaction ID per job (two statements per
// job less, and no subtransactions). A batch with a failing job after it
// still keeps every outcome its own (TestGroupCommit); this checks the
// batches before and after such a one.
func TestGroupCommitWithoutSavepoints(t *testing.T) {
	ctx := context.Background()
	st, dsn := oneWriter(t)
	insert := func(ctx context.Context, tx registry.Tx, name string) error {
		return tx.InsertRegion(ctx, &registry.Region{Name: name, Location: location.Location{Country: "US"}, BorrowBits: 24, CreatedAt: time.Unix(1, 0)})
	}
	// batch runs n jobs in one batch (they queue behind a holder); the
	// job failing, if any, inserts its region and then fails.
	batch := func(prefix string, n, failing int) []error {
		return behindHolder(t, st, func(tx registry.Tx) error { return insert(ctx, tx, prefix+"-holder") }, n, func(i int, tx registry.Tx) error {
			if err := insert(ctx, tx, fmt.Sprintf("%s%d", prefix, i)); err != nil {
				return err
			}
			if i == failing {
				return errors.New("test: refused after a write")
			}
			return nil
		})
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	xids := func(prefix string) (rows, ids int) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT xmin::text) FROM regions WHERE name LIKE $1 || '%' AND name NOT LIKE '%-holder'`, prefix).Scan(&rows, &ids); err != nil {
			t.Fatal(err)
		}
		return rows, ids
	}
	for _, c := range []struct {
		name      string
		prefix    string
		failing   int
		wantRows  int
		wantIDsAt int // at most
	}{
		{"a batch that succeeds is one transaction without subtransactions", "clean", -1, 20, 1},
		{"a job that fails after its write is taken back alone", "mixed", 7, 19, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := batch(c.prefix, 20, c.failing)
			for i, err := range errs {
				if (i == c.failing) != (err != nil) {
					t.Errorf("job %d: err = %v", i, err)
				}
			}
			rows, ids := xids(c.prefix)
			if rows != c.wantRows || ids > c.wantIDsAt {
				t.Errorf("%d rows with %d transaction IDs, want %d rows with at most %d", rows, ids, c.wantRows, c.wantIDsAt)
			}
		})
	}
}

// TestGroupCommitJobsShareRegionsUntilChanged: the jobs of a group commit
// share the regions the transaction read under its lock (group.go) until
// one changes them: a job that changes a region, reads it back and then
// fails is taken back alone, and the jobs after it still see the region
// as it is, not as the failed job left it in memory.
func TestGroupCommitJobsShareRegionsUntilChanged(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, migratedDB(t), postgres.Options{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	orig := registry.Region{Name: "shared", Location: location.Location{Country: "US", City: "Before"}, BorrowBits: 24, CreatedAt: time.Unix(1, 0)}
	if err := st.Update(ctx, func(tx registry.Tx) error { return tx.InsertRegion(ctx, &orig) }); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("test: refused after changing the region")
	const n = 12
	seen := make([]string, n)
	errs := behindHolder(t, st, func(tx registry.Tx) error {
		_, err := tx.RegionByName(ctx, "shared")
		return err
	}, n, func(i int, tx registry.Tx) error {
		r, err := tx.RegionByName(ctx, "shared")
		if err != nil {
			return err
		}
		if i%2 == 1 {
			seen[i] = r.Location.City
			return nil
		}
		r.Location.City = fmt.Sprintf("Changed by job %d", i)
		if err := tx.UpdateRegion(ctx, r); err != nil {
			return err
		}
		if r, err = tx.RegionByName(ctx, "shared"); err != nil {
			return err
		}
		if r.Location.City != fmt.Sprintf("Changed by job %d", i) {
			return fmt.Errorf("job %d read back city %q", i, r.Location.City)
		}
		return refused
	})
	for i := range n {
		switch {
		case i%2 == 0 && !errors.Is(errs[i], refused):
			t.Errorf("job %d, which changes the region and fails: err = %v", i, errs[i])
		case i%2 == 1 && (errs[i] != nil || seen[i] != "Before"):
			t.Errorf("job %d, which reads the region: city %q, err %v; want %q", i, seen[i], errs[i], "Before")
		}
	}
	var got registry.Region
	if err := st.View(ctx, func(tx registry.Tx) (err error) {
		got, err = tx.RegionByName(ctx, "shared")
		return err
	}); err != nil || got.Location.City != "Before" {
		t.Fatalf("after the batch: city %q, err %v; want %q", got.Location.City, err, "Before")
	}
}

// behindHolder runs n jobs at once while an Update running holder holds
// the only writer, so that they queue and run as one group commit (most
// of them: the wait for them to queue is a guess), and returns each one's
// outcome.
func behindHolder(t *testing.T, st registry.Store, holder func(registry.Tx) error, n int, job func(i int, tx registry.Tx) error) []error {
	t.Helper()
	ctx := context.Background()
	release := holdWriter(t, st, holder)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Update(ctx, func(tx registry.Tx) error { return job(i, tx) })
		}()
	}
	time.Sleep(200 * time.Millisecond) // let them queue behind the holder
	release()
	wg.Wait()
	return errs
}

// holdWriter starts an Update running holder that holds the only writer
// until release is called; release waits for its outcome.
func holdWriter(t *testing.T, st registry.Store, holder func(registry.Tx) error) (release func()) {
	t.Helper()
	hold, holding := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	// The holder's function may run again (a job of its batch fails
	// without savepoints: runBatch), like any function given to Update.
	var once sync.Once
	go func() {
		held <- st.Update(context.Background(), func(tx registry.Tx) error {
			once.Do(func() { close(holding) })
			<-hold
			return holder(tx)
		})
	}()
	<-holding
	return func() {
		t.Helper()
		close(hold)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
}
