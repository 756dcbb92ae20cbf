package zone

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/registry"
)

var ixfrSeed = flag.Uint64("ixfr-seed", 0, "replay TestIXFRStreamedMatchesCondensed with this seed")

// memJournal is a journal cut into parts of partSize bytes, as a store
// cuts it but smaller (records straddle parts all the time), counting the
// parts read.
type memJournal struct {
	steps    []Diff
	partSize int
	read     int
}

func (j *memJournal) cut(d Diff) [][]byte {
	var out [][]byte
	for _, b := range [][]byte{d.Removed, d.Added} {
		for len(b) > 0 {
			n := min(len(b), j.partSize)
			out = append(out, b[:n])
			b = b[n:]
		}
	}
	return out
}

func (j *memJournal) sideParts(b []byte) int { return (len(b) + j.partSize - 1) / j.partSize }

func (j *memJournal) JournalSteps(_ context.Context, _ int64, from uint32) ([]Step, error) {
	start := -1
	for i, d := range j.steps {
		if d.From == from {
			start = i
		}
	}
	if start < 0 {
		return nil, nil
	}
	var out []Step
	for i, d := range j.steps[start:] {
		out = append(out, Step{ID: int64(start + i), From: d.From, To: d.To, RemovedParts: j.sideParts(d.Removed), AddedParts: j.sideParts(d.Added)})
	}
	return out, nil
}

func (j *memJournal) JournalParts(_ context.Context, id int64, from, to int) ([][]byte, error) {
	parts := j.cut(j.steps[id])
	if to > len(parts) {
		return nil, fmt.Errorf("step %d: %w", id, registry.ErrNotFound)
	}
	j.read += to - from
	return parts[from:to], nil
}

// condensedAnswer is the IXFR answer as it was made before it was
// streamed: the steps read whole, condensed in memory, unpacked (the
// model the streamed answer must equal, record for record).
func condensedAnswer(t *testing.T, steps []Diff, have uint32, soa dns.RR, serial uint32) []string {
	t.Helper()
	c, ok := condense(steps, have, serial)
	if !ok {
		return nil
	}
	out := []string{soa.String(), unpackWire(t, c.FromSOA).String()}
	for _, l := range []*rrList{&c.Removed, &c.Added} {
		for _, w := range l.list() {
			out = append(out, unpackWire(t, w).String())
		}
		out = append(out, soa.String())
	}
	return out
}

func unpackWire(t *testing.T, w string) dns.RR {
	t.Helper()
	rr, _, err := dns.UnpackRR([]byte(w), 0)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestIXFRStreamedMatchesCondensed: an IXFR read from the journal a
// window at a time is the answer condensing the steps in memory gave,
// record for record and in the same order, from every serial the
// journal holds: one step (sent as written) and runs of steps in which
// records leave and come back (the 128-bit hashes of what condensing
// keeps); and, for steps larger together than condenseParts, each
// step's sequence as the journal holds it. Random zones evolve by random
// steps; -ixfr-seed replays one.
func TestIXFRStreamedMatchesCondensed(t *testing.T) {
	seed := *ixfrSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (-ixfr-seed to replay)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var p packer
	pack := func(rr dns.RR) string {
		w, err := p.pack(rr)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	soaAt := func(serial uint32) dns.RR {
		rr, err := dns.NewRR(fmt.Sprintf("ixfr.test. 3600 IN SOA ns1.ixfr.test. hostmaster.ixfr.test. %d 3600 600 86400 300", serial))
		if err != nil {
			t.Fatal(err)
		}
		return rr
	}
	for round := range 40 {
		// A pool of records small enough that steps take back what
		// earlier ones did.
		pool := make([]string, 10+rng.IntN(300))
		for i := range pool {
			rr, err := dns.NewRR(fmt.Sprintf("h%d.ixfr.test. 300 IN TXT %q", i, fmt.Sprintf("%020d", rng.Uint64())[:1+rng.IntN(20)]))
			if err != nil {
				t.Fatal(err)
			}
			pool[i] = pack(rr)
		}
		in := map[int]bool{}
		for i := range pool {
			in[i] = rng.IntN(2) == 0
		}
		const first = 100
		var steps []Diff
		nsteps := 1 + rng.IntN(6)
		for s := range nsteps {
			from, to := uint32(first+s), uint32(first+s+1)
			d := Diff{From: from, To: to}
			d.Removed = append(d.Removed, pack(soaAt(from))...)
			d.Added = append(d.Added, pack(soaAt(to))...)
			for _, i := range rng.Perm(len(pool)) {
				if rng.IntN(4) != 0 {
					continue
				}
				if in[i] {
					d.Removed = append(d.Removed, pool[i]...)
				} else {
					d.Added = append(d.Added, pool[i]...)
				}
				in[i] = !in[i]
			}
			steps = append(steps, d)
		}
		last := uint32(first + nsteps)
		soa := soaAt(last)
		zd := &Data{zone: Zone{ID: 1, Name: "ixfr.test."}, serial: last, soa: &rrset{RRs: []dns.RR{soa}}}
		for have := uint32(first - 1); have <= last; have++ {
			j := &memJournal{steps: steps, partSize: 1 + rng.IntN(400)}
			x, err := zd.IncrementalTransfer(context.Background(), j, have)
			if err != nil {
				t.Fatal(err)
			}
			var from []Diff // what Store.Journal gives from have
			for i, d := range steps {
				if d.From == have {
					from = steps[i:]
				}
			}
			want := condensedAnswer(t, from, have, soa, last)
			if x == nil {
				if want != nil {
					t.Fatalf("round %d, from %d: no incremental answer, condensing gave one", round, have)
				}
				continue
			}
			records := func(x *IXFR) []string {
				var got []string
				for rrs := range x.Records() {
					for _, rr := range rrs {
						got = append(got, rr.String())
					}
				}
				if x.Err() != nil {
					t.Fatalf("round %d, from %d: %v", round, have, x.Err())
				}
				return got
			}
			x.condenseParts = 1 << 30
			if got := records(x); !slices.Equal(got, want) {
				t.Fatalf("round %d, from %d (%d steps, parts of %d bytes): streamed %d records, condensed %d: %s",
					round, have, last-have, j.partSize, len(got), len(want), firstDiff(got, want))
			}
			// Larger than condenseParts, several steps go as they are:
			// each step's sequence, as the journal holds it.
			if x, err = zd.IncrementalTransfer(context.Background(), j, have); err != nil {
				t.Fatal(err)
			}
			x.condenseParts = 0
			want = []string{soa.String()}
			for _, d := range from {
				if len(from) == 1 {
					want = condensedAnswer(t, from, have, soa, last)
					break
				}
				for _, w := range append(splitWire(d.Removed), splitWire(d.Added)...) {
					want = append(want, unpackWire(t, w).String())
				}
			}
			if len(from) > 1 {
				want = append(want, soa.String())
			}
			if got := records(x); !slices.Equal(got, want) {
				t.Fatalf("round %d, from %d (%d steps, parts of %d bytes), uncondensed: streamed %d records, the steps %d: %s",
					round, have, last-have, j.partSize, len(got), len(want), firstDiff(got, want))
			}
		}
	}
}

// firstDiff names the first line where got and want part.
func firstDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("line %d: %q, want %q", i, g, w)
		}
	}
	return ""
}
