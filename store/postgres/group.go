package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Group commit.
//
// Allocations in one region queue behind the region's row lock, and a
// transaction holds that lock until its COMMIT has reached the disk. One
// allocation per transaction therefore caps a region at 1 / (round trips
// + commit) allocations a second, however many clients and replicas there
// are. So Update hands its function to one of a few writer goroutines,
// which run every function waiting at that moment in one transaction: one
// BEGIN, one region lock and one COMMIT for the lot. A function that fails
// is taken back alone (its savepoint; see runBatch for the batches that
// run without one until a function fails), and nobody is told of success
// before the COMMIT is durable, exactly as if each had its own
// transaction. The SQLite store works the same way.

// job is one Update waiting for a writer.
type job struct {
	ctx   context.Context
	fn    func(registry.Tx) error
	hints []int64 // regions a failed attempt found it needed
	err   chan error
}

const (
	// defaultWriters is how many transactions of one replica may be open
	// at once. One: allocations in a region queue at its lock anyway, and
	// one writer makes the batches larger; measured with three replicas,
	// 1,277-1,364 allocations/s (p99 21-23 ms) against 979-996 (p99 28-32
	// ms) with two (bench/README.md). More help only replicas whose
	// writes go to many regions at once (Options.Writers).
	defaultWriters = 1
	// defaultMaxBatch bounds the functions in one transaction.
	defaultMaxBatch = 64
)

// writer is the right to run transactions for Updates: a Store has
// Options.Writers of them, idle in Store.idle when no Update holds them.
// An Update that takes one runs its own function and the jobs queued
// meanwhile on its own goroutine (runAsWriter); the others queue (jobs)
// until a writer takes them in or one is free.
//
// Why not writer goroutines, as before (issue 16). With one caller every
// Update handed its function to a writer goroutine and waited for the
// outcome: two goroutine switches an Update, each of which woke another
// thread of the process (the runtime starts a spinning thread for a
// goroutine made ready while a P is idle), a futex wake-up and a context
// switch or two on each side, on top of the round trips' own.
type writer struct {
	// last is the number of jobs of this writer's last batch (runBatch).
	last  int
	batch []*job
}

// runAsWriter runs j, and the jobs queued now, as writer w, and returns
// j's outcome.
func (s *Store) runAsWriter(w *writer, j *job) error {
	batch := s.absorb(append(w.batch[:0], j))
	if len(batch) == 1 && w.last < 2 {
		// Alone: no channel between the caller and its outcome.
		w.last = 1
		return s.run(j.ctx, true, &j.hints, j.fn)
	}
	if j.err == nil {
		j.err = make(chan error, 1)
	}
	w.last = s.runBatch(batch, w.last)
	clear(batch)
	w.batch = batch[:0]
	return <-j.err
}

// absorb adds to batch the jobs queued now, up to maxBatch, without
// waiting for any: when the writer starts a batch, and again while it
// runs (runShared).
//
// Why a running batch takes them (issue 16: 16 callers >= 5,000 a
// second). A region's lock is held until the COMMIT is on disk, so a
// writer does nothing else while a batch's WAL is flushed. With 16
// callers and batches closed when they start, two batches of 8
// alternated: while one ran, the 8 callers of the one before came back
// and queued, and each 8 allocations paid for a flush (about half of the
// writer's time at 16 callers was its backend's IO:WALSync and WALWrite,
// bench/README.md session 15). The callers of the batch before come back
// while this one runs its first jobs (a round trip each): taking them
// in, the 16 share one COMMIT. A caller alone is never kept waiting: a
// batch ends as soon as no job is queued.
func (s *Store) absorb(batch []*job) []*job {
	for len(batch) < s.maxBatch {
		select {
		case j := <-s.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

// runBatch runs the jobs in one transaction and tells each its outcome.
//
// It first runs them without savepoints (runShared with savepoints
// false): a savepoint and its release are two statements per job more,
// and each job's writes a subtransaction of its own (a subtransaction ID,
// pg_subtrans, a longer commit record). Most batches have no failing job
// and commit so. A job that fails after sending a statement cannot be
// taken back alone without its savepoint: the transaction is then rolled
// back, nobody is told anything, and the batch runs again with a savepoint
// per job, as every batch did before, so each outcome is the same as if
// each job had its own transaction. The functions of Update run again in
// any case after a conflict (updateAlone), so running them twice is
// allowed. After such a fallback the next batches keep their savepoints
// (savepointBatches), so that a caller that keeps failing (a quota, a
// name taken) costs its batch one run, not two.
//
// A job alone runs in a transaction of its own (run: one round trip less
// than a shared one), unless the writer's last batch held several jobs:
// then the callers of that batch are likely coming back, and the job
// runs as a shared batch that takes them in (absorb). last is the
// number of jobs of the writer's last batch; runBatch returns this
// one's, those taken in included.
func (s *Store) runBatch(batch []*job, last int) int {
	if len(batch) == 1 && last < 2 {
		j := batch[0]
		j.err <- s.run(j.ctx, true, &j.hints, j.fn)
		return 1
	}
	if s.savepointBatches.Load() > 0 {
		s.savepointBatches.Add(-1)
	} else if batch, ok := s.runShared(batch, false); ok {
		return len(batch)
	} else {
		s.savepointBatches.Store(savepointBatchesAfterFallback)
		batch, _ = s.runShared(batch, true)
		return len(batch)
	}
	batch, _ = s.runShared(batch, true)
	return len(batch)
}

// savepointBatchesAfterFallback is how many batches run with savepoints
// after one ran again with them (runBatch).
const savepointBatchesAfterFallback = 16

// runShared runs the jobs in one transaction and tells each its outcome,
// and reports true. Jobs queued while it runs are taken in before its
// last job runs (absorb); it returns the batch with them. Without
// savepoints, it gives up on the first job that fails after sending a
// statement: it rolls the transaction back, tells nobody anything and
// reports false (the batch returned, those taken in included, is to run
// again).
func (s *Store) runShared(batch []*job, savepoints bool) ([]*job, bool) {
	ctx := context.Background()
	results := make([]error, len(batch))
	fail := func(err error) {
		for i, j := range batch {
			if results[i] == nil {
				results[i] = err
			}
			j.err <- results[i]
		}
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		fail(fmt.Errorf("%s: %w: %w", s.name, err, registry.ErrStorage))
		return batch, true
	}
	// Released inside a transaction (a failure below), the connection is
	// closed by the pool, which ends the transaction.
	defer c.Release()
	begun := false
	shared := &tx{raw: c, ctx: ctx, write: true, s: s}
	// cand is the database's next free row, known to every job of a batch
	// without savepoints (memtake.go): a job's take may be answered from
	// the leftovers earlier jobs queued.
	var cand *takeCand
	if !savepoints && !s.noMemTake {
		cand = &takeCand{}
	}
	// carry is the last job's final writes (and its RELEASE), not sent yet:
	// they go out ahead of the next job's first statement, so that a job
	// costs one round trip under the region's lock, not two, or alone at
	// the end. carryTx is that job's tx, carryJob its index, and before
	// the shared state from before it, to go back to if its writes fail.
	var carry *pgx.Batch
	var carryTx *tx
	carryJob := -1
	var before tx
	ok := make([]bool, len(batch))
	rollbackTo := func() error {
		_, err := c.Exec(ctx, "ROLLBACK TO SAVEPOINT job")
		return err
	}
	// giveUp ends a run without savepoints whose job failed after
	// sending a statement: the transaction is rolled back (or, if that
	// fails, the connection closed on release, which ends it).
	giveUp := func() ([]*job, bool) {
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			c.Conn().Close(ctx)
		}
		return batch, false
	}
	// undo takes back the carried job whose writes failed.
	undo := func(err error) error {
		if rerr := rollbackTo(); rerr != nil {
			return fmt.Errorf("%s: rollback to savepoint: %w: %w", s.name, rerr, registry.ErrStorage)
		}
		results[carryJob], ok[carryJob] = err, false
		shared.locked, shared.inserted, shared.regions, shared.use = before.locked, before.inserted, before.regions, before.use
		shared.counts = before.counts
		carry, carryTx, carryJob = nil, nil, -1
		return nil
	}
	for i := 0; ; i++ {
		if i >= len(batch)-1 {
			// Before the last job and after it: callers that queued
			// meanwhile join the batch (absorb).
			batch = s.absorb(batch)
			for len(results) < len(batch) {
				results, ok = append(results, nil), append(ok, false)
			}
		}
		if i >= len(batch) {
			break
		}
		j := batch[i]
		if err := j.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		first := carry
		if first == nil {
			first = &pgx.Batch{}
		}
		carried := first.Len()
		if !begun && carried == 0 {
			s.beginWriteIn(first)
		}
		if savepoints {
			first.Queue("SAVEPOINT job")
		}
		x := &tx{raw: c, ctx: ctx, write: true, s: s, hints: &j.hints,
			// The shared slices are clipped, so that a job's appends
			// copy them, and the regions map is copied by the first job
			// that changes it (ownRegions): most jobs only read both,
			// and each copy was a heap object per allocation (issue 16).
			locked: slices.Clip(shared.locked), ownLocks: len(shared.locked), inserted: slices.Clip(shared.inserted), pending: first,
			regions: shared.regions, regionsShared: true, carried: carried, prev: carryTx,
			batched: true, use: maps.Clone(shared.use), tenantLocks: len(shared.use), counts: shared.counts.Clone(), cand: cand}
		queued := first.Len()
		if queued == 0 {
			// Without a savepoint, and nothing carried or to begin with,
			// the job's statements go straight to the connection, and
			// whether it sent any cannot be told from pending: it is
			// taken as having sent (its state kept if it succeeds, the
			// batch given up if it fails).
			x.pending = nil
		}
		err := safeRun(j.fn, x)
		if !savepoints && err != nil && x.tookQueued {
			// The job took a leftover out of the queue, which holds earlier
			// jobs' writes too, and failed: the batch runs again with
			// savepoints, where its error is its own and the queue intact.
			return giveUp()
		}
		if !savepoints && err == nil && x.pending == first && !x.countedHeld && len(x.readers) == 0 {
			// Nothing sent, writes queued (batches without savepoints):
			// they wait for the next job's statement or the COMMIT, so that
			// a job whose take came from the queue (memtake.go) costs no
			// round trip. A failure there gives the batch up, and it runs
			// again with savepoints.
			carry, carryTx, carryJob = first, x, i
			if carry.Len() == 0 {
				carry, carryTx, carryJob = nil, nil, -1
			}
			ok[i] = true
			shared.locked, shared.inserted, shared.regions, shared.use = x.locked, x.inserted, x.regions, x.use
			shared.counts = x.counts
			continue
		}
		if err == nil && x.pending == first && (first.Len() > queued || x.countedHeld) || err == nil && len(x.readers) > 0 {
			// Writes queued, or uses counted in memory (tenant.go), and no
			// statement sent: send them now, so that the job's outcome,
			// and the carried writes it depends on, are known.
			err = x.flush(ctx)
		}
		if x.carryErr != nil {
			// The carried writes failed, and the rest of that round trip
			// was skipped: the previous job is undone, this one runs again.
			if !savepoints {
				return giveUp()
			}
			if uerr := undo(x.carryErr); uerr != nil {
				fail(uerr)
				return batch, true
			}
			i--
			continue
		}
		if x.pending == first {
			// Nothing was sent, not even the savepoint: the carry waits.
			first.QueuedQueries = first.QueuedQueries[:carried]
			results[i], ok[i] = err, err == nil
			continue
		}
		// The first round trip went out: the carried writes are in.
		begun = true
		carry, carryTx, carryJob = nil, nil, -1
		if err != nil {
			if !savepoints {
				return giveUp()
			}
			// Locks taken since the savepoint are released with it.
			if rerr := rollbackTo(); rerr != nil {
				results[i] = err
				fail(fmt.Errorf("%s: rollback to savepoint: %w: %w", s.name, rerr, registry.ErrStorage))
				return batch, true
			}
			results[i] = err
			continue
		}
		if savepoints {
			x.later("RELEASE SAVEPOINT job")
			before = tx{locked: shared.locked, inserted: slices.Clone(shared.inserted), regions: shared.regions, use: shared.use, counts: shared.counts}
		}
		carry, carryTx, carryJob = x.pending, x, i
		if carry != nil && carry.Len() == 0 {
			carry = nil
		}
		if carry == nil {
			carryTx, carryJob = nil, -1
		}
		ok[i] = true
		shared.locked, shared.inserted, shared.regions, shared.use = x.locked, x.inserted, x.regions, x.use
		shared.counts = x.counts
	}
	if carry != nil {
		// The last job's writes, alone.
		x := &tx{raw: c, ctx: ctx, write: true, s: s, pending: carry, carried: carry.Len(), prev: carryTx}
		if err := x.flush(ctx); err != nil {
			if x.carryErr == nil {
				fail(fmt.Errorf("%s: %w: %w", s.name, err, registry.ErrStorage))
				return batch, true
			}
			if !savepoints {
				return giveUp()
			}
			if uerr := undo(x.carryErr); uerr != nil {
				fail(uerr)
				return batch, true
			}
		} else {
			begun = true
		}
	}
	switch {
	case !begun:
	case !slices.Contains(ok, true):
		c.Exec(ctx, "ROLLBACK")
	default:
		tag, err := commitUse(ctx, c, shared.use, shared.counts)
		if err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("the transaction had failed (%s)", tag)
		}
		if err != nil {
			err = fmt.Errorf("%s: commit: %w", s.name, err)
			if !retryable(err) {
				err = fmt.Errorf("%w: %w", err, registry.ErrStorage)
			}
			fail(err)
			return batch, true
		}
		// The batch may have written free rows: what this replica
		// expected of its regions' next takes is forgotten (expect.go).
		s.next.settle(shared.locked, false, nextKey{}, nil)
	}
	for i, j := range batch {
		j.err <- results[i]
	}
	return batch, true
}

// safeRun turns a panic in fn into an error, so that one caller's bug
// cannot take down a writer and every caller of its batch.
func safeRun(fn func(registry.Tx) error, t registry.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in transaction: %v", r)
		}
	}()
	return fn(t)
}

// errClosed answers an Update after Close.
var errClosed = errors.New("store closed")
