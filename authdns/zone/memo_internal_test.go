package zone

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestLinkMemo: appendLink gives the records makeLink makes, the second
// time from the version's memo (the same records, not made again); a
// link put at the same hash later (a link of another version, with
// another next hash or signatures) is made anew, never answered with the
// records of the link before; and a version without a memo makes them
// each time.
func TestLinkMemo(t *testing.T) {
	zd := &Data{zone: Zone{Name: "memo.test."}, negTTL: 60, made: new(linkMemo)}
	h := "0123456789ABCDEFGHIJKLMNOPQRSTUV"
	sig := rawSig{inc: 1, exp: 2, tag: 3, alg: dns.ECDSAP256SHA256, labels: 2}
	sig.sig[0] = 1
	l1 := &chainLink{next: "1123456789ABCDEFGHIJKLMNOPQRSTUV", types: []uint16{dns.TypeAAAA, dns.TypeRRSIG}, sigs: sigList{sig}}
	text := func(rrs []dns.RR) string {
		var b strings.Builder
		for _, rr := range rrs {
			b.WriteString(rr.String() + "\n")
		}
		return b.String()
	}
	want := text(zd.makeLink(nil, h, l1))
	first := zd.appendLink(nil, h, l1)
	second := zd.appendLink([]dns.RR{zd.makeLink(nil, h, l1)[0]}, h, l1)[1:]
	if text(first) != want || text(second) != want {
		t.Fatalf("appendLink:\n%s%s\nmakeLink:\n%s", text(first), text(second), want)
	}
	if len(first) != 2 || first[0] != second[0] || first[1] != second[1] {
		t.Fatalf("the second answer's records were made again, not taken from the memo")
	}

	// The same hash, another link (the next version's after a name
	// came): its own records.
	sig.sig[0] = 2
	l2 := &chainLink{next: "2123456789ABCDEFGHIJKLMNOPQRSTUV", types: l1.types, sigs: sigList{sig}}
	if got, want := text(zd.appendLink(nil, h, l2)), text(zd.makeLink(nil, h, l2)); got != want || strings.Contains(got, l1.next) {
		t.Fatalf("a new link at the same hash:\n%s\nwant\n%s", got, want)
	}

	// Without a memo (a version made outside the builder).
	bare := &Data{zone: zd.zone, negTTL: zd.negTTL}
	a, b := bare.appendLink(nil, h, l1), bare.appendLink(nil, h, l1)
	if text(a) != text(first) || a[0] == b[0] {
		t.Fatalf("without a memo: %s (shared %v)", text(a), a[0] == b[0])
	}
}
