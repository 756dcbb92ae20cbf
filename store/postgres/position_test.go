package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/postgres"
	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
	"net/netip"
)

// followed is a register on a schema of its own with one IPv6 pool to
// allocate from, and a connection to its schema for reading the log as
// stored (its xid column).
type followed struct {
	dsn  string
	s    *postgres.Store
	reg  *registry.Registry
	conn *pgx.Conn
}

func newFollowed(t *testing.T) followed {
	t.Helper()
	ctx := context.Background()
	dsn := migratedDB(t)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg := registry.New(s)
	if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("2603:1000::/24"), Source: registry.SourceRIR, Registry: "arin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPool(ctx, registry.PoolSpec{Prefix: netip.MustParsePrefix("2603:1030::/48"), Region: "us-east", UseAll: true}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return followed{dsn: dsn, s: s, reg: reg, conn: conn}
}

func (f followed) allocate(t *testing.T, n int) {
	t.Helper()
	for range n {
		if _, err := f.reg.Allocate(context.Background(), registry.Request{Region: "us-east", Family: 6, Tenant: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
}

// commitOrder is every committed event's Seq in the log's order, (xid, seq).
func (f followed) commitOrder(t *testing.T) []int64 {
	t.Helper()
	rows, err := f.conn.Query(context.Background(), `SELECT seq FROM events ORDER BY xid, seq`)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// positions reads the Position as Registry.Position does (one statement,
// ViewOne) and in a view.
func (f followed) positions(t *testing.T) (one, view int64) {
	t.Helper()
	ctx := context.Background()
	var p, q registry.Position
	if err := f.s.ViewOne(ctx, func(tx registry.Tx) (err error) { p, err = tx.Position(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	if err := f.s.View(ctx, func(tx registry.Tx) (err error) { q, err = tx.Position(ctx); return err }); err != nil {
		t.Fatal(err)
	}
	return p.Seq, q.Seq
}

// follow reads the log from cursor as a follower does, a page of 3 at a
// time, until it has read the event to and a page comes back empty.
func (f followed) follow(t *testing.T, cursor, to int64) []int64 {
	t.Helper()
	return f.followBy(t, cursor, to, 3)
}

// followBy is follow with pages of size events. An empty page before to
// is read again, for at most 30 s: the horizon may step back for one read
// (see horizon in tx.go: a transaction of another database that ends
// between a statement's snapshot and its status read counts for that
// read), and a follower then reads on at its next poll. An empty page at
// to ends the log; events past to are returned, for the caller to refuse.
func (f followed) followBy(t *testing.T, cursor, to int64, size int) []int64 {
	t.Helper()
	var got []int64
	deadline := time.Now().Add(30 * time.Second)
	for range 10000 {
		var page []registry.Event
		if err := f.s.View(context.Background(), func(tx registry.Tx) (err error) {
			page, err = tx.EventsAfter(context.Background(), registry.EventFilter{AfterSeq: cursor, Limit: size})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			if cursor == to || time.Now().After(deadline) {
				return got
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, e := range page {
			got = append(got, e.Seq)
		}
		cursor = page[len(page)-1].Seq
	}
	t.Fatal("the log never ended")
	return nil
}

// waitPosition polls the position until it is want, for at most 30 s: the
// test database may be shared with other tests' short transactions, which
// hold it back for a moment.
func (f followed) waitPosition(t *testing.T, want int64) {
	t.Helper()
	var one, view int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if one, view = f.positions(t); one == want && view == want || time.Now().After(deadline) {
			break
		}
	}
	if one != want || view != want {
		t.Fatalf("Position = %d (ViewOne), %d (View), want %d (the last event committed)", one, view, want)
	}
}

// otherDatabase opens a connection to another database of the test server
// (postgres, the maintenance database every server has; template1 if the
// tests themselves run in postgres).
func otherDatabase(t *testing.T) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(pgtest.BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	other := "postgres"
	if strings.TrimPrefix(u.Path, "/") == other {
		other = "template1"
	}
	u.Path = "/" + other
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("another database of the test server: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// holdXid opens a transaction on conn that has an xid (what any write
// gives a transaction; pg_current_xact_id takes one without writing) and
// leaves it open; the returned function rolls it back.
func holdXid(t *testing.T, conn *pgx.Conn) (xid uint64, end func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	end = func() { once.Do(func() { tx.Rollback(context.Background()) }) }
	t.Cleanup(end)
	return xid, end
}

// TestPositionPassesOtherDatabases: a transaction left open in another
// database of the server (an import, another application, a session idle
// in transaction) does not hold this register's followers back: the
// position reaches the allocations committed meanwhile and a follower
// reads them once, in order. On main the position stayed at the last
// event before that transaction began (it was the cluster's xmin) until
// it ended: session 8 saw followers stopped for 14 minutes.
func TestPositionPassesOtherDatabases(t *testing.T) {
	f := newFollowed(t)
	f.allocate(t, 2)
	before := f.commitOrder(t)
	foreign, end := holdXid(t, otherDatabase(t))
	defer end()
	f.allocate(t, 5)
	all := f.commitOrder(t)
	if len(all) <= len(before) {
		t.Fatalf("allocations wrote no events: %d, then %d", len(before), len(all))
	}
	// The case is real: the other database's transaction is the oldest
	// in flight, so the cluster's xmin is at or below it.
	var xmin uint64
	if err := f.conn.QueryRow(context.Background(), `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).Scan(&xmin); err != nil {
		t.Fatal(err)
	}
	if xmin > foreign {
		t.Fatalf("xmin %d is past the held transaction %d: the test holds nothing back", xmin, foreign)
	}
	f.waitPosition(t, all[len(all)-1])
	if got := f.follow(t, 0, all[len(all)-1]); !slices.Equal(got, all) {
		t.Errorf("a follower from the start read %v, want %v", got, all)
	}
	if got := f.follow(t, before[len(before)-1], all[len(all)-1]); !slices.Equal(got, all[len(before):]) {
		t.Errorf("a follower from the last event before the other database's transaction read %v, want %v", got, all[len(before):])
	}
}

// TestPositionWaitsForItsOwnWriters: a write transaction of the register
// itself still holds the position back while it is open (its events would
// otherwise be skipped by every follower past them), whatever commits after
// it; once it commits, a follower reads its events, once, before the later
// ones (commit order is transaction ID order). A transaction reading its
// own position does not count its own uncommitted events.
func TestPositionWaitsForItsOwnWriters(t *testing.T) {
	ctx := context.Background()
	f := newFollowed(t)
	f.allocate(t, 2)
	before := f.commitOrder(t)
	cursor := before[len(before)-1]
	earlier := append([]int64{0}, before...) // positions not past the held transaction
	f.waitPosition(t, cursor)
	// Another replica of the register holds its transaction open (this
	// one's writer would otherwise queue behind it).
	replica, err := postgres.Open(ctx, f.dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer replica.Close()
	var held registry.Event
	// The held transaction writes its event, waits, and reads its own
	// position once the later allocations have committed (xmax is then
	// past its xid): it must not count its own uncommitted event.
	wrote, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		done <- replica.Update(ctx, func(tx registry.Tx) error {
			held = registry.Event{At: time.Now(), Actor: "tester", Action: "pool.note", SubjectKind: "pool", SubjectID: 1, Subject: "held"}
			if err := tx.AppendEvent(ctx, &held); err != nil {
				return err
			}
			once.Do(func() { close(wrote) })
			select {
			case <-release:
			case <-time.After(time.Minute):
				return errors.New("the held transaction was never released")
			}
			p, err := tx.Position(ctx)
			if err == nil && !slices.Contains(earlier, p.Seq) {
				// Past its own xid: its own uncommitted event counted as
				// followed, or events after it.
				err = fmt.Errorf("inside the held transaction, Position = %d, want %d (the last event before it) or one before", p.Seq, cursor)
			}
			return err
		})
	}()
	select {
	case <-wrote:
	case err := <-done:
		t.Fatalf("held transaction: %v", err)
	}
	commit := func() error { close(release); return <-done }
	committed := false
	defer func() {
		if !committed {
			commit()
		}
	}()
	f.allocate(t, 3)
	// As long as the held transaction is open, the position is the last
	// event before it and a follower there reads nothing: it would have
	// skipped the held event otherwise.
	for range 5 {
		// (Or earlier: other tests' transactions in this database count too.)
		if one, view := f.positions(t); !slices.Contains(earlier, one) || !slices.Contains(earlier, view) {
			t.Fatalf("Position = %d (ViewOne), %d (View) with a write transaction of the register open, want %d (the last event before it) or one before", one, view, cursor)
		}
		if got := f.follow(t, cursor, cursor); len(got) != 0 {
			t.Fatalf("a follower read %v past a write transaction still open", got)
		}
	}
	committed = true
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	all := f.commitOrder(t)
	f.waitPosition(t, all[len(all)-1])
	got := f.follow(t, cursor, all[len(all)-1])
	if !slices.Equal(got, all[len(before):]) {
		t.Fatalf("after the commit, a follower read %v, want %v", got, all[len(before):])
	}
	if got[0] != held.Seq {
		t.Errorf("the held transaction's event %d is not first (commit order is xid order): %v", held.Seq, got)
	}
}

// TestPositionFollowerRace: writers of the register and transactions of
// another database that begin, take an xid and end all the time (some of
// them end between a follower's snapshot and its read of the server's
// backends), and a follower that polls the position and reads after its
// cursor: it reads every event once, in commit order, and reaches the end.
// Bounded: 4 writers of 15 allocations, 10 s at most.
func TestPositionFollowerRace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := newFollowed(t)
	other := otherDatabase(t)

	var writers sync.WaitGroup
	var werr atomic.Value
	for range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for range 15 {
				if _, err := f.reg.Allocate(ctx, registry.Request{Region: "us-east", Family: 6, Tenant: "acme"}); err != nil {
					werr.Store(err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	foreignDone := make(chan error, 1)
	go func() {
		// Short transactions with an xid in the other database, back to back.
		for {
			select {
			case <-stop:
				foreignDone <- nil
				return
			default:
			}
			_, err := other.Exec(ctx, `BEGIN; SELECT pg_current_xact_id(); COMMIT`)
			if err != nil {
				foreignDone <- err
				return
			}
		}
	}()
	writersDone := make(chan struct{})
	go func() { writers.Wait(); close(writersDone) }()

	var got []int64
	seen := map[int64]bool{}
	var cursor int64
	deadline := time.Now().Add(10 * time.Second)
	finished := false
	for !finished && time.Now().Before(deadline) {
		select {
		case <-writersDone:
			finished = true // one more round reads the rest
		default:
		}
		var page []registry.Event
		if err := f.s.View(ctx, func(tx registry.Tx) (err error) {
			if _, err = tx.Position(ctx); err != nil {
				return err
			}
			page, err = tx.EventsAfter(ctx, registry.EventFilter{AfterSeq: cursor, Limit: 7})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if seen[e.Seq] {
				t.Fatalf("event %d read twice", e.Seq)
			}
			seen[e.Seq] = true
			got = append(got, e.Seq)
		}
		if len(page) > 0 {
			cursor = page[len(page)-1].Seq
		}
	}
	close(stop)
	writers.Wait()
	if err := <-foreignDone; err != nil {
		t.Fatalf("other database: %v", err)
	}
	if err, _ := werr.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
	// Whatever the loop had not read yet, the follower reads now: the
	// whole log, once, in commit order.
	all := f.commitOrder(t)
	f.waitPosition(t, all[len(all)-1])
	got = append(got, f.follow(t, cursor, all[len(all)-1])...)
	if !slices.Equal(got, all) {
		t.Fatalf("the follower read %d events %v, want the log's %d in commit order %v", len(got), got, len(all), all)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test ran out of time")
	}
}

// TestPositionWhileALargeTransactionWrites: a transaction of the register
// that writes many events and stays open (an import) holds the position
// back (its events would otherwise be skipped) and does not make the
// position expensive: its uncommitted events, the newest by time, are not
// read one by one to find the latest time below the horizon. On main
// every Position walked the index on at through them, each fetched from
// the heap only to be found invisible: ~2,000 buffers with 100,000 of
// them (~20,000 and 0.5 s with a million), for every poll of every
// follower. Once the transaction commits, the position passes it and its
// time is the latest event's; once it rolls back, nothing of it counts.
func TestPositionWhileALargeTransactionWrites(t *testing.T) {
	const events = 100000
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "then commits", false: "then rolls back"}[commit], func(t *testing.T) {
			ctx := context.Background()
			f := newFollowed(t)
			f.allocate(t, 3)
			before := f.commitOrder(t)
			f.waitPosition(t, before[len(before)-1]) // a follower that polls
			p0, err := f.reg.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			imp, err := pgx.Connect(ctx, f.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer imp.Close(ctx)
			tx, err := imp.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// Newer than every event committed, an hour apart from them.
			base := p0.At.Add(time.Hour).UnixMicro()
			if _, err := tx.Exec(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject)
				SELECT $1::bigint + g, 'import', 'assignments.import', 'import', g, 'batch' FROM generate_series(1, $2::int) g`, base, events); err != nil {
				t.Fatal(err)
			}
			f.allocate(t, 2) // committed after the import began
			// Three reads at p0 each way; one at an earlier event is the
			// horizon's step back (see followBy) and is read again, one
			// past it fails. (Seq is compared for equality only.)
			earlier := append([]int64{0}, before[:len(before)-1]...)
			for held, tries := 0, 0; held < 3; tries++ {
				var one, view registry.Position
				if err := f.s.ViewOne(ctx, func(tx registry.Tx) (err error) { one, err = tx.Position(ctx); return err }); err != nil {
					t.Fatal(err)
				}
				if err := f.s.View(ctx, func(tx registry.Tx) (err error) { view, err = tx.Position(ctx); return err }); err != nil {
					t.Fatal(err)
				}
				back := false
				for _, p := range []registry.Position{one, view} {
					if slices.Contains(earlier, p.Seq) && tries < 100 {
						back = true
						continue
					}
					if p.Seq != p0.Seq || !p.At.Equal(p0.At) {
						t.Fatalf("Position = %d at %v with a large write open, want %d at %v (the last event before it)", p.Seq, p.At, p0.Seq, p0.At)
					}
				}
				if !back {
					held++
				}
			}
			// The case is real: without what the Store keeps (its first
			// Position), the statement reads the open transaction's events.
			first, err := postgres.PositionBuffers(ctx, f.s, false)
			if err != nil {
				t.Fatal(err)
			}
			polled, err := postgres.PositionBuffers(ctx, f.s, true)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("Position with %d uncommitted events: %d buffers as a Store's first, %d as a follower's", events, first, polled)
			if first < 1000 {
				t.Fatalf("a first Position used %d buffers with %d uncommitted events: the test reproduces nothing", first, events)
			}
			if polled > 100 {
				t.Errorf("a follower's Position used %d buffers with %d uncommitted events (a first one %d), want at most 100", polled, events, first)
			}
			want := p0.At
			if commit {
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				want = time.UnixMicro(base + events).UTC()
			} else if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			all := f.commitOrder(t)
			f.waitPosition(t, all[len(all)-1])
			p, err := f.reg.Position(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !commit {
				// The allocations after it are the latest.
				last, err := f.lastAt(ctx)
				if err != nil {
					t.Fatal(err)
				}
				want = last
			}
			if !p.At.Equal(want) {
				t.Errorf("after the large transaction, Position's time %v, want %v", p.At, want)
			}
			if got := f.followBy(t, before[len(before)-1], all[len(all)-1], 10000); !slices.Equal(got, all[len(before):]) {
				t.Errorf("a follower from before the large transaction read %d events, want %d", len(got), len(all)-len(before))
			}
		})
	}
}

// lastAt is the latest time of the committed events.
func (f followed) lastAt(ctx context.Context) (time.Time, error) {
	var at int64
	err := f.conn.QueryRow(ctx, `SELECT MAX(at) FROM events`).Scan(&at)
	return time.UnixMicro(at).UTC(), err
}
