package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Overlap: a transaction alone's first statements run on the server
// while cadastre makes the rest (issue 16: one caller's durable
// allocation at >= 80 % of an empty durable commit).
//
// An allocation alone whose take is expected (expect.go) is one round
// trip: BEGIN, the region's lock, the take, its writes and COMMIT, sent
// together once fn has made them all. For one caller client and server
// then run one after the other. So, when such a take is about to be
// queued, the statements queued before it (BEGIN and the region's lock
// with the transaction's bounds) are sent at once in a pipeline without
// a Sync (sendEarly): the server begins the transaction and waits for the
// region's row while cadastre makes the take, the assignment, the event
// and the counters. They follow in the same pipeline, with the COMMIT and
// the Sync, and the results of all are read as one batch's, in order:
// drain sees the early statements' results first, and a failure of any
// fails the transaction as before, with the same error. The client still
// waits once; the early results come with the rest (the server sends
// nothing before the Sync). The take stays folded with the writes
// (fold.go): only statements fold never folds go early.
//
// pgx's Batch cannot do this (its connection is busy until the batch's
// results are read): the pipeline is pgconn's, with statements prepared
// once per connection by name (overlapConn) and parameters encoded by
// pgx's ExtendedQueryBuilder, as pgx's own batches do. A statement of the
// rest not prepared yet on the connection sends the Sync first and reads
// the early results (a round trip, once per connection and statement
// text), then the rest as a plain batch; its text is prepared after.
//
// The caller's context counts until fn has succeeded, as before: the
// pipeline watches a context of its own that the caller's cancels
// (context.AfterFunc), detached before the COMMIT goes out (sendBatch),
// so that an ended context cannot cut a COMMIT under way. The lock and
// statement timeouts are set by the early statements themselves.

// overlapKey is the connection's custom data key of its overlapConn.
const overlapKey = "cadastre.overlap"

// overlapConn is what one connection keeps for early sends: the
// statements it has prepared by name, and an encoder.
type overlapConn struct {
	sds map[string]*pgconn.StatementDescription
	eqb pgx.ExtendedQueryBuilder
	// missed are statement texts a pipeline could not send (not
	// prepared), to prepare once the connection is idle.
	missed []string
}

// overlapOf is c's overlapConn, made on first use.
func overlapOf(c *pgx.Conn) *overlapConn {
	cd := c.PgConn().CustomData()
	if o, ok := cd[overlapKey].(*overlapConn); ok {
		return o
	}
	o := &overlapConn{sds: map[string]*pgconn.StatementDescription{}}
	cd[overlapKey] = o
	return o
}

// prepare prepares sql on idle connection c, named by its text (pgx's
// Prepare names it by a hash), unless it was.
func (o *overlapConn) prepare(ctx context.Context, c *pgx.Conn, sql string) (*pgconn.StatementDescription, error) {
	if sd, ok := o.sds[sql]; ok {
		return sd, nil
	}
	sd, err := c.Prepare(ctx, sql, sql)
	if err != nil {
		return nil, err
	}
	o.sds[sql] = sd
	return sd, nil
}

// pipe is a transaction's pipeline of statements sent early (sendEarly).
type pipe struct {
	p    *pgconn.Pipeline
	conn *pgx.Conn
	o    *overlapConn
	// sent is how many of the transaction's first pending statements went
	// out in the pipeline.
	sent int
	// caller is the caller's context, cancel the pipeline's; stop
	// detaches the one from the other.
	caller context.Context
	cancel context.CancelFunc
	stop   func() bool
	tracer pgx.BatchTracer
	tctx   context.Context
}

// earlyEligible says whether the statements pending in t can go out
// before the rest: a transaction alone, none of them folded with what
// follows nor read by the client, and not sent already.
func (t *tx) earlyEligible() bool {
	if t.pipe != nil || !t.alone() || t.s.noOverlap || t.carried > 0 || len(t.readers) > 0 || t.pending == nil || t.pending.Len() == 0 {
		return false
	}
	return true
}

// sendEarly sends the statements pending in t without a Sync, to run on
// the server while the client makes the rest; a no-op where they cannot
// go early (earlyEligible) or the connection is not a pool's. A failure
// to send leaves the statements pending, as if none went.
func (t *tx) sendEarly(ctx context.Context) {
	if !t.earlyEligible() {
		return
	}
	pc, ok := t.raw.(*pgxpool.Conn)
	if !ok {
		return
	}
	c := pc.Conn()
	o := overlapOf(c)
	qs := t.pending.QueuedQueries
	sds := make([]*pgconn.StatementDescription, len(qs))
	for i, q := range qs {
		sd, err := o.prepare(ctx, c, q.SQL)
		if err != nil {
			return // the statements go as they would have, with the rest
		}
		sds[i] = sd
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	pp := &pipe{conn: c, o: o, sent: len(qs), caller: ctx, cancel: cancel, stop: stop, tctx: pctx}
	if bt := t.s.batchTracer; bt != nil {
		pp.tracer = bt
		pp.tctx = bt.TraceBatchStart(pctx, c, pgx.TraceBatchStartData{Batch: t.pending})
	}
	p := c.PgConn().StartPipeline(pctx)
	pp.p = p
	for i, q := range qs {
		if err := pp.queue(sds[i], q); err != nil {
			pp.abandon()
			return
		}
	}
	if err := p.Flush(); err != nil {
		// The pipeline closed the connection: the statements stay
		// pending, and the next send fails on it as it would have.
		pp.abandon()
		return
	}
	t.pipe = pp
}

// queue encodes q by sd and queues it in the pipeline.
func (pp *pipe) queue(sd *pgconn.StatementDescription, q *pgx.QueuedQuery) error {
	if err := pp.o.eqb.Build(pp.conn.TypeMap(), sd, q.Arguments); err != nil {
		return fmt.Errorf("postgres: %s: %w", q.SQL, err)
	}
	// SendQueryStatement keeps the result formats until the results are
	// read; the builder's are reused by the next statement.
	rf := append([]int16(nil), pp.o.eqb.ResultFormats...)
	pp.p.SendQueryStatement(sd, pp.o.eqb.ParamValues, pp.o.eqb.ParamFormats, rf)
	return nil
}

// abandon ends the pipeline unread (a failed transaction: the caller
// rolls back after), and lets the caller's context go.
func (pp *pipe) abandon() {
	pp.p.SendPipelineSync()
	if err := pp.p.Flush(); err == nil {
		_ = pp.p.Close()
	}
	pp.release()
	if pp.tracer != nil {
		pp.tracer.TraceBatchEnd(pp.tctx, pp.conn, pgx.TraceBatchEndData{Err: errors.New("postgres: pipeline abandoned")})
		pp.tracer = nil
	}
}

// release detaches the pipeline's context from the caller's.
func (pp *pipe) release() {
	pp.stop()
	pp.cancel()
}

// abandonPipe ends t's pipeline, if any, unread.
func (t *tx) abandonPipe() {
	if t.pipe != nil {
		t.pipe.abandon()
		t.pipe = nil
	}
}

// sendBatch sends b, pending statements of t (fold done), and returns its
// results from the first statement not read yet, and how many of b's
// first statements were read already (off). Where t has a pipeline open,
// b's first t.pipe.sent statements went out early: the rest follows in
// the pipeline with a Sync, and the results of all are read in order; a
// statement of the rest that the connection has not prepared sends the
// Sync first and reads the early statements' results here (off), then
// the rest as a plain batch. ctx without Done is the COMMIT's (run): the
// caller's context no longer counts from there.
func (t *tx) sendBatch(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, int, error) {
	pp := t.pipe
	if pp == nil {
		return t.raw.SendBatch(ctx, b), 0, nil
	}
	t.pipe = nil
	if ctx.Done() == nil && !pp.stop() {
		// The caller's context ended before the COMMIT went out: the
		// pipeline is being cut (pgconn's context watcher), and the
		// transaction has not committed.
		pp.abandon()
		return nil, 0, pp.caller.Err()
	}
	qs := b.QueuedQueries
	sds := make([]*pgconn.StatementDescription, len(qs))
	missing := false
	for i := pp.sent; i < len(qs); i++ {
		sd, ok := pp.o.sds[qs[i].SQL]
		if !ok {
			pp.o.missed = append(pp.o.missed, qs[i].SQL)
			missing = true
		}
		sds[i] = sd
	}
	if missing {
		if err := pp.readEarly(); err != nil {
			return nil, 0, t.idempotencyErr(err)
		}
		t.prepareMissed(ctx, pp)
		if len(t.readers) > 0 {
			// Renumbered from the rest's first statement (none is
			// among the early ones: earlyEligible).
			readers := make(map[int]func(pgx.Rows) error, len(t.readers))
			for k, rd := range t.readers {
				readers[k-pp.sent] = rd
			}
			t.readers = readers
		}
		rest := &pgx.Batch{QueuedQueries: qs[pp.sent:]}
		return t.raw.SendBatch(ctx, rest), pp.sent, nil
	}
	for i := pp.sent; i < len(qs); i++ {
		if err := pp.queue(sds[i], qs[i]); err != nil {
			pp.abandon()
			return nil, 0, err
		}
	}
	if err := pp.p.Sync(); err != nil {
		pp.release()
		return nil, 0, mapErr(err)
	}
	return &pipeResults{pp: pp, qs: qs}, 0, nil
}

// readEarly sends the Sync after the early statements and reads their
// results, then closes the pipeline: the connection is idle after.
func (pp *pipe) readEarly() error {
	defer pp.release()
	if err := pp.p.Sync(); err != nil {
		return err
	}
	var first error
	for range pp.sent {
		res, err := pp.p.GetResults()
		if err == nil {
			if rr, ok := res.(*pgconn.ResultReader); ok {
				_, err = rr.Close()
			} else {
				err = fmt.Errorf("postgres: unexpected pipeline result %T", res)
			}
		}
		if err != nil {
			first = err
			break
		}
	}
	err := pp.p.Close()
	if pp.tracer != nil {
		pp.tracer.TraceBatchEnd(pp.tctx, pp.conn, pgx.TraceBatchEndData{Err: cmpErr(first, err)})
	}
	return cmpErr(first, err)
}

// cmpErr is the first of a and b that is not nil.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// prepareMissed prepares, on the idle connection, the statement texts
// an early pipeline met unprepared: the next one sends them in it. Best
// effort: one that fails is not prepared (and sent as a plain batch).
func (t *tx) prepareMissed(ctx context.Context, pp *pipe) {
	for _, sql := range pp.o.missed {
		if _, err := pp.o.prepare(ctx, pp.conn, sql); err != nil {
			break
		}
	}
	pp.o.missed = pp.o.missed[:0]
}

// pipeResults reads an early pipeline's results, as pgx's batch results
// do: in order, each statement's once.
type pipeResults struct {
	pp     *pipe
	qs     []*pgx.QueuedQuery
	i      int
	err    error
	closed bool
}

var _ pgx.BatchResults = (*pipeResults)(nil)

// next is the next statement's result reader.
func (r *pipeResults) next() (*pgconn.ResultReader, *pgx.QueuedQuery, error) {
	if r.err != nil {
		return nil, nil, r.err
	}
	if r.closed || r.i >= len(r.qs) {
		return nil, nil, errors.New("postgres: no more results in the pipeline")
	}
	q := r.qs[r.i]
	r.i++
	res, err := r.pp.p.GetResults()
	if err == nil {
		rr, ok := res.(*pgconn.ResultReader)
		if ok {
			return rr, q, nil
		}
		err = fmt.Errorf("postgres: unexpected pipeline result %T", res)
	}
	r.err = err
	r.trace(q, pgconn.CommandTag{}, err)
	return nil, q, err
}

func (r *pipeResults) trace(q *pgx.QueuedQuery, tag pgconn.CommandTag, err error) {
	if r.pp.tracer != nil {
		r.pp.tracer.TraceBatchQuery(r.pp.tctx, r.pp.conn, pgx.TraceBatchQueryData{SQL: q.SQL, Args: q.Arguments, CommandTag: tag, Err: err})
	}
}

// Exec reads the next statement's result as pgx's Exec would.
func (r *pipeResults) Exec() (pgconn.CommandTag, error) {
	rr, q, err := r.next()
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := rr.Close()
	r.trace(q, tag, err)
	if err != nil {
		r.err = err
	}
	return tag, err
}

// Query reads the next statement's rows.
func (r *pipeResults) Query() (pgx.Rows, error) {
	rr, q, err := r.next()
	if err != nil {
		return nil, err // this package's callers read no rows on an error
	}
	r.trace(q, pgconn.CommandTag{}, nil)
	return &pipeRows{Rows: pgx.RowsFromResultReader(r.pp.conn.TypeMap(), rr), r: r}, nil
}

// QueryRow reads the next statement's one row.
func (r *pipeResults) QueryRow() pgx.Row {
	rows, err := r.Query()
	if err != nil {
		return errRow{err}
	}
	return pipeRow{rows}
}

// Close reads what is left and closes the pipeline.
func (r *pipeResults) Close() error {
	if r.closed {
		return r.err
	}
	for r.err == nil && r.i < len(r.qs) {
		_, _ = r.Exec()
	}
	r.closed = true
	err := r.pp.p.Close()
	if r.err == nil {
		r.err = err
	}
	r.pp.release()
	if r.pp.tracer != nil {
		r.pp.tracer.TraceBatchEnd(r.pp.tctx, r.pp.conn, pgx.TraceBatchEndData{Err: r.err})
	}
	return r.err
}

// Tx is not one of these results'.
func (r *pipeResults) Tx() pgx.Tx { return nil }

// pipeRows are a statement's rows in a pipeline: a failure while they
// are read fails the rest of the pipeline's results.
type pipeRows struct {
	pgx.Rows
	r *pipeResults
}

func (p *pipeRows) Close() {
	p.Rows.Close()
	if err := p.Rows.Err(); err != nil && p.r.err == nil {
		p.r.err = err
	}
}

// pipeRow is QueryRow's row.
type pipeRow struct{ rows pgx.Rows }

func (p pipeRow) Scan(dest ...any) error {
	defer p.rows.Close()
	if !p.rows.Next() {
		if err := p.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := p.rows.Scan(dest...); err != nil {
		return err
	}
	p.rows.Close()
	return p.rows.Err()
}
