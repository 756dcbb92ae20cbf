package zone

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"time"

	"github.com/miekg/dns"
)

// JournalReader is what an incremental transfer reads of a Store: the
// journal's steps, and their records a few parts at a time.
type JournalReader interface {
	JournalSteps(ctx context.Context, zoneID int64, from uint32) ([]Step, error)
	JournalParts(ctx context.Context, id int64, from, to int) ([][]byte, error)
}

// ixfrWindow is how many parts of a step a transfer reads at once (the
// stores cut steps into parts of 256 KiB): with the records unpacked from
// them, what a transfer holds of the journal at any time.
const ixfrWindow = 4

// ixfrReadTimeout bounds each read of the journal, not the transfer,
// which lasts as long as the secondary takes to read it.
const ixfrReadTimeout = 30 * time.Second

// IXFR is an incremental transfer (RFC 1995) from one serial to a
// version, read from the journal as it is sent: its first message goes
// before the difference is read, and it holds a window of the journal,
// not the difference (the parent's step of a split at 10M is 1.49M
// records, 174 MB; read whole and unpacked, it took ~5 s before the first
// message, past Knot's default 5 s I/O timeout). Records iterates the
// answer; Err says, once it has ended, whether it ended early.
type IXFR struct {
	ctx    context.Context
	j      JournalReader
	zd     *Data
	steps  []Step
	oldSOA dns.RR
	// kept, for a run of steps, is what condensing them keeps: for each
	// record left in the condensed difference (by a 128-bit hash of its
	// wire form), where it was removed or added for the last time (a
	// recPos); nil for one step, which is sent as written.
	kept  map[[2]uint64]uint64
	seeds [2]maphash.Seed
	// condenseParts is the package's, but in tests.
	condenseParts int
	err           error
}

// IncrementalTransfer prepares the IXFR answer from serial have to this
// version from the journal j holds (Store.JournalSteps from have): nil
// with no error if the steps do not lead from have to this serial (the
// caller falls back to AXFR, RFC 1995 §4). It reads the steps' serials
// and the first record of the first step (the old SOA), nothing more.
// The answer is the one condensing the steps in memory gave (condense,
// then the records removed and those added, each in the order they
// last left or came): several steps are read twice, once to learn what
// condensing keeps (a hash and a position a record, ~40 bytes with the
// map's overhead, not the record), once to send it; several steps
// larger than condenseParts go uncondensed (see Records).
func (zd *Data) IncrementalTransfer(ctx context.Context, j JournalReader, have uint32) (*IXFR, error) {
	rctx, cancel := context.WithTimeout(ctx, ixfrReadTimeout)
	steps, err := j.JournalSteps(rctx, zd.zone.ID, have)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("journal of %s from %d: %w", zd.zone.Name, have, err)
	}
	// The steps that lead from have to this version, as condense joins
	// them (a step beyond it, another replica's newer one, is left).
	cur, n := have, 0
	for _, st := range steps {
		if cur == zd.serial {
			break
		}
		if st.From != cur {
			return nil, nil
		}
		cur = st.To
		n++
	}
	if cur != zd.serial || n == 0 {
		return nil, nil
	}
	x := &IXFR{ctx: ctx, j: j, zd: zd, steps: steps[:n], condenseParts: condenseParts}
	err = x.records(steps[0], false, 1, func(_ int, w []byte) error {
		if x.oldSOA, _, err = dns.UnpackRR(w, 0); err != nil {
			return err
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("journal of %s from %d: %w", zd.zone.Name, have, err)
	}
	if x.oldSOA == nil || x.oldSOA.Header().Rrtype != dns.TypeSOA {
		return nil, nil // not a step this package wrote
	}
	if n > 1 {
		x.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	return x, nil
}

// errStop ends a walk over records early.
var errStop = errors.New("stop")

// Err is the error that ended the transfer's records early, if any: the
// secondary then got no closing SOA and takes nothing of it.
func (x *IXFR) Err() error { return x.err }

// Records yields the answer's records, in batches of at most one part's
// worth (the slice is reused once yield returns): the new SOA and the
// old one first, then the removed records, the new SOA, the added ones
// and the new SOA again (RFC 1995 §4, one condensed sequence). Steps
// larger together than condenseParts parts go as they are, one sequence
// a step (RFC 1995 §4 allows both): condensing reads them all before
// the first record, and for the split's step at 10M and one more that
// was 5.4 s without a message at load 21, past Knot's default wait.
func (x *IXFR) Records() iter.Seq[[]dns.RR] {
	return func(yield func([]dns.RR) bool) {
		soa := x.zd.soa.RRs[0]
		if !yield([]dns.RR{soa, x.oldSOA}) {
			return
		}
		whole := len(x.steps) > 1 && x.parts() > x.condenseParts
		if len(x.steps) > 1 && !whole {
			if x.err = x.condense(); x.err != nil {
				return
			}
		}
		var batch []dns.RR
		// side sends the removed (or added) records of step si: its SOA
		// too when whole (but the first step's old SOA, sent above),
		// else those condensing keeps.
		side := func(si int, added bool) (more bool, err error) {
			st := x.steps[si]
			more = true
			err = x.records(st, added, ixfrWindow, func(i int, w []byte) error {
				if i == 0 {
					if wireType(string(w)) != dns.TypeSOA {
						return fmt.Errorf("journal step %d (%d to %d): not starting with an SOA", st.ID, st.From, st.To)
					}
					if !whole || si == 0 && !added {
						return nil
					}
				} else if x.kept != nil && x.kept[x.key(w)] != recPos(si, added, i) {
					return nil // condensed away, or sent where it last came
				}
				rr, _, err := dns.UnpackRR(w, 0)
				if err != nil {
					return fmt.Errorf("journal step %d: record %d: %w", st.ID, i, err)
				}
				batch = append(batch, rr)
				if len(batch) == 2048 {
					more = yield(batch)
					batch = batch[:0]
					if !more {
						return errStop
					}
				}
				return nil
			})
			if !more {
				err = nil
			}
			return more, err
		}
		var more bool
		if whole {
			for si := range x.steps {
				for _, added := range []bool{false, true} {
					if more, x.err = side(si, added); !more || x.err != nil {
						return
					}
				}
			}
		} else {
			for _, added := range []bool{false, true} {
				if added {
					batch = append(batch, soa)
				}
				for si := range x.steps {
					if more, x.err = side(si, added); !more || x.err != nil {
						return
					}
				}
			}
		}
		yield(append(batch, soa))
	}
}

// condenseParts is how many parts (of 256 KiB in the stores) the steps
// of an IXFR may hold together for it to be condensed: reading them
// before the first record cost ~10 ms a part at load 20 (BenchmarkLargeIXFR
// with two steps), so at most ~0.3 s here.
const condenseParts = 32

// parts is how many parts the steps hold.
func (x *IXFR) parts() int {
	n := 0
	for _, st := range x.steps {
		n += st.RemovedParts + st.AddedParts
	}
	return n
}

// recPos is where a record stands in the steps: step si, its removed or
// added records, the i-th of them.
func recPos(si int, added bool, i int) uint64 {
	p := uint64(si)<<33 | uint64(i)
	if added {
		p |= 1 << 32
	}
	return p
}

func (x *IXFR) key(w []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(x.seeds[0], w), maphash.Bytes(x.seeds[1], w)}
}

// condense reads the steps once and keeps, as condense does with the
// records themselves, each record that left (or came) and did not come
// back (or leave) by a later step, with the position where it last left
// (or came).
func (x *IXFR) condense() error {
	x.kept = map[[2]uint64]uint64{}
	for si, st := range x.steps {
		for _, added := range []bool{false, true} {
			err := x.records(st, added, ixfrWindow, func(i int, w []byte) error {
				if i == 0 {
					return nil
				}
				k := x.key(w)
				p, ok := x.kept[k]
				if !ok {
					x.kept[k] = recPos(si, added, i)
				} else if wasAdded := p&(1<<32) != 0; wasAdded != added {
					delete(x.kept, k) // back as it was before the steps
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// records calls fn with each record of st's removed (or added) records,
// and its index among them, reading window parts at a time. w is valid
// only until fn returns. An error of fn ends the walk and is returned.
func (x *IXFR) records(st Step, added bool, window int, fn func(i int, w []byte) error) error {
	lo, hi := 0, st.RemovedParts
	if added {
		lo, hi = st.RemovedParts, st.RemovedParts+st.AddedParts
	}
	var rest []byte // a record cut at the end of a part
	i := 0
	for p := lo; p < hi; p += window {
		ctx, cancel := context.WithTimeout(x.ctx, ixfrReadTimeout)
		parts, err := x.j.JournalParts(ctx, st.ID, p, min(p+window, hi))
		cancel()
		if err != nil {
			return err
		}
		for _, b := range parts {
			if len(rest) > 0 {
				b = append(rest, b...)
			}
			off := 0
			for {
				end, ok := wireEnd(b, off)
				if !ok {
					break
				}
				if err := fn(i, b[off:end]); err != nil {
					return err
				}
				i++
				off = end
			}
			rest = append([]byte(nil), b[off:]...)
		}
	}
	if len(rest) > 0 {
		return fmt.Errorf("journal step %d (%d to %d): %d bytes after the last whole record", st.ID, st.From, st.To, len(rest))
	}
	return nil
}
