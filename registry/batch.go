package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// chunkPrefixes bounds the prefixes one allocation transaction writes: a
// batch of more is written as several transactions of at most this many,
// so that no other writer (every writer, in the embedded store; the same
// region's, in PostgreSQL) waits behind one request for more than about
// 100 ms (a transaction of 4,096 takes 60-100 ms on the embedded store,
// bench/README.md).
const chunkPrefixes = 4096

// DefaultMaxBatch is how many prefixes one API request may ask for unless
// `serve --max-batch` says otherwise.
const DefaultMaxBatch = 4096

// WithMaxBatch bounds the prefixes one AllocateAll may ask for (0: only
// MaxCount bounds it). The server sets it; a batch over it is refused
// with a *BatchLimitError.
func WithMaxBatch(n int) Option { return func(r *Registry) { r.maxBatch = n } }

// BatchLimitError says that a batch asks for more prefixes than one
// request may hold.
type BatchLimitError struct {
	Limit, Asked int
}

func (e *BatchLimitError) Error() string {
	return fmt.Sprintf("%d prefixes in one request: at most %d (serve --max-batch); split it into several requests", e.Asked, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) and errors.Is(err, ErrInvalid) true.
func (e *BatchLimitError) Is(target error) bool { return target == ErrTooLarge || target == ErrInvalid }

// ErrTooLarge means a request asks for more than one request may hold.
var ErrTooLarge = fmt.Errorf("request too large: %w", ErrInvalid)

// prefixes counts the assignments normalised requests make.
func prefixes(reqs []Request) int {
	n := 0
	for _, q := range reqs {
		c := max(q.Count, 1)
		if q.DualStack {
			c *= 2
		}
		n += c
	}
	return n
}

// chunks splits normalised requests, in order, into groups of at most
// chunkPrefixes prefixes; a request too large for one group is split
// into several of the same kind. The split depends only on the requests,
// so a retry splits alike.
func chunks(reqs []Request) [][]Request {
	var out [][]Request
	var cur []Request
	room := chunkPrefixes
	for _, q := range reqs {
		per := 1
		if q.DualStack {
			per = 2
		}
		left := q.Count
		for left > 0 {
			if room < per {
				out, cur, room = append(out, cur), nil, chunkPrefixes
			}
			n := min(left, room/per)
			part := q
			part.Count = n
			cur = append(cur, part)
			left -= n
			room -= n * per
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// allocateChunks answers a batch of more than chunkPrefixes prefixes in
// several transactions, one per chunk (see chunks).
//
// Semantics, as the README states them. Without an idempotency key the
// batch stays all or nothing as its caller sees it: if a transaction
// fails, what the earlier ones allocated is released at once (no
// quarantine; the log shows both) and the error is returned. With a key,
// each transaction records its answer under the key (the first) or a key
// derived from it (the others), each record bound to the whole request;
// if a transaction fails, the earlier ones stay allocated, the error says
// so, and a retry of the same request with the same key returns what is
// done and continues with the rest. The same key with another request is
// refused, as for any batch.
func (r *Registry) allocateChunks(ctx context.Context, b Batch) ([]Assignment, error) {
	parts := chunks(b.Requests)
	whole := b.hash()
	var out []Assignment
	for i, reqs := range parts {
		cb := Batch{Key: b.Key, Requests: reqs, whole: whole}
		if b.Key != "" && i > 0 {
			// A control character cannot be in a caller's key (CheckText).
			cb.Key = b.Key + "\x1f" + strconv.Itoa(i+1)
		}
		got, err := r.AllocateAll(ctx, cb)
		if err != nil {
			total := prefixes(b.Requests)
			if len(out) == 0 {
				return nil, err
			}
			if b.Key != "" {
				return nil, fmt.Errorf("batch of %d prefixes, transaction %d of %d: %w (the %d prefixes of the transactions before stay allocated; retry the same request with the same idempotency key to continue)", total, i+1, len(parts), err, len(out))
			}
			if uerr := r.undo(ctx, out); uerr != nil {
				return nil, errors.Join(fmt.Errorf("batch of %d prefixes, transaction %d of %d: %w", total, i+1, len(parts), err),
					fmt.Errorf("releasing the %d prefixes allocated before: %w", len(out), uerr))
			}
			return nil, fmt.Errorf("batch of %d prefixes, transaction %d of %d: %w (the %d prefixes allocated before were released at once)", total, i+1, len(parts), err, len(out))
		}
		out = append(out, got...)
	}
	return out, nil
}

// undo releases, without quarantine, assignments a failed batch made,
// in transactions of at most chunkPrefixes.
func (r *Registry) undo(ctx context.Context, as []Assignment) error {
	ctx = context.WithoutCancel(ctx)
	for len(as) > 0 {
		part := as[:min(len(as), chunkPrefixes)]
		as = as[len(part):]
		err := r.store.Update(ctx, func(tx Tx) error {
			now := r.clock()
			gone := make([]Assignment, 0, len(part))
			for _, x := range part {
				a, err := tx.AssignmentByID(ctx, x.ID)
				if err != nil {
					return err
				}
				if a.State != StateAssigned {
					continue
				}
				before := a
				a.State, a.ReleasedAt = StateReleased, &now
				if err := tx.UpdateAssignment(ctx, a); err != nil {
					return err
				}
				if err := r.free(ctx, tx, a); err != nil {
					return err
				}
				if err := r.event(ctx, tx, now, "assignment.release", "assignment", a.ID, a.Prefix.String(), before, a); err != nil {
					return err
				}
				gone = append(gone, a)
			}
			return releaseUse(ctx, tx, gone)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
