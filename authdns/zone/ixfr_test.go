package zone_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
)

// countingJournal is a store's journal that counts the parts read.
type countingJournal struct {
	zone.JournalReader
	parts int
}

func (c *countingJournal) JournalParts(ctx context.Context, id int64, from, to int) ([][]byte, error) {
	c.parts += to - from
	return c.JournalReader.JournalParts(ctx, id, from, to)
}

// TestIXFRSendsBeforeReadingTheStep: an IXFR's first records (the new
// and the old SOA) come after one part of the journal step is read, not
// the step; each later batch after at most a window of parts more, and
// each part is read once. On main the step was read whole and unpacked
// before the first record (the split's step at 10M: ~5 s, past Knot's
// I/O timeout). The step here removes 6,000 signed names (~8 parts of
// the SQLite store's 256 KiB).
func TestIXFRSendsBeforeReadingTheStep(t *testing.T) {
	e := newDeltaEnv(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	b := zone.NewBuilder(e.st, e.sealer, zone.BuilderOptions{Now: func() time.Time { return now }})
	base := len(e.in.Records)
	var zoneID int64
	for _, z := range e.in.Zones {
		if z.Name == deltaFwd {
			zoneID = z.ID
		}
	}
	for i := range 6000 {
		e.in.Records = append(e.in.Records, zone.Record{ZoneID: zoneID, Name: fmt.Sprintf("h%d.%s", i, deltaFwd), Type: "A", TTL: 300, Data: fmt.Sprintf("10.9.%d.%d", i/250, i%250+1)})
	}
	snap, _, err := b.Rebuild(e.ctx, &e.in, now, "")
	if err != nil {
		t.Fatal(err)
	}
	have := snap.Zone(deltaFwd).Serial()
	if e.in.Zones, err = e.st.Zones(e.ctx); err != nil { // their new serials
		t.Fatal(err)
	}
	e.in.Records = e.in.Records[:base]
	if snap, _, err = b.Rebuild(e.ctx, &e.in, now.Add(time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	zd := snap.Zone(deltaFwd)
	steps, err := e.st.JournalSteps(e.ctx, zoneID, have)
	if err != nil || len(steps) != 1 {
		t.Fatalf("journal from %d: %+v, %v", have, steps, err)
	}
	total := steps[0].RemovedParts + steps[0].AddedParts
	if total < 6 {
		t.Fatalf("the step is %d parts; the test wants more than a window's", total)
	}
	j := &countingJournal{JournalReader: e.st}
	x, err := zd.IncrementalTransfer(e.ctx, j, have)
	if err != nil || x == nil {
		t.Fatalf("incremental transfer from %d: %v, %v", have, x, err)
	}
	batches, removed := 0, 0
	for rrs := range x.Records() {
		batches++
		switch {
		case batches == 1:
			if j.parts != 1 || len(rrs) != 2 || rrs[0].(*dns.SOA).Serial != zd.Serial() || rrs[1].(*dns.SOA).Serial != have {
				t.Fatalf("first batch %v after %d of %d parts read; want the new and the old SOA after 1", rrs, j.parts, total)
			}
		case j.parts > 1+batches*4:
			t.Fatalf("batch %d after %d of %d parts read: more than a window ahead", batches, j.parts, total)
		}
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeA {
				removed++
			}
		}
	}
	if x.Err() != nil {
		t.Fatal(x.Err())
	}
	if removed != 6000 || j.parts != total+1 {
		t.Errorf("%d A records removed, %d parts read; want 6000, and each of the %d parts once (the first twice: the old SOA)", removed, j.parts, total)
	}
	t.Logf("%d parts, %d batches", total, batches)
}
