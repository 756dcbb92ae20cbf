package zone

import (
	"fmt"

	"github.com/miekg/dns"
)

// Records in wire form, as the journal keeps them and transfers send them:
// packed without writing into the record, split, typed, condensed.

// condensed is a run of journal steps as one: the SOA at its start and
// at its end, and what left and came in between (SOA signatures
// included: they change with every step), in wire form.
type condensed struct {
	FromSOA, ToSOA string
	Removed, Added rrList
}

// condense joins the steps that lead from serial from to serial to;
// ok is false if they do not (a step was never written, or pruned).
func condense(steps []Diff, from, to uint32) (c condensed, ok bool) {
	cur := from
	for _, d := range steps {
		if cur == to {
			break
		}
		if d.From != cur {
			return c, false
		}
		rem, add := splitWire(d.Removed), splitWire(d.Added)
		if len(rem) == 0 || len(add) == 0 || wireType(rem[0]) != dns.TypeSOA || wireType(add[0]) != dns.TypeSOA {
			return c, false // not a step this package wrote
		}
		if c.FromSOA == "" {
			c.FromSOA = rem[0]
		}
		c.ToSOA = add[0]
		// Each record that comes back after it left (or leaves after it
		// came) drops out.
		for _, w := range rem[1:] {
			if !c.Added.drop(w) {
				c.Removed.add(w)
			}
		}
		for _, w := range add[1:] {
			if !c.Removed.drop(w) {
				c.Added.add(w)
			}
		}
		cur = d.To
	}
	return c, cur == to && c.FromSOA != ""
}

// wireType is the type of the uncompressed record w, and for an RRSIG
// the type it covers as covered.
func wireType(w string) uint16 {
	t, _ := wireTypes(w)
	return t
}

func wireTypes(w string) (typ, covered uint16) {
	off := 0
	for off < len(w) && w[off] != 0 {
		off += int(w[off]) + 1
	}
	off++
	if off+10 > len(w) {
		return 0, 0
	}
	typ = uint16(w[off])<<8 | uint16(w[off+1])
	if typ == dns.TypeRRSIG && off+12 <= len(w) {
		covered = uint16(w[off+10])<<8 | uint16(w[off+11])
	}
	return typ, covered
}

// rrList is an ordered set of records in wire form.
type rrList struct {
	order []string
	at    map[string]int // index in order; dropped ones are deleted
}

func (l *rrList) add(w string) {
	if l.at == nil {
		l.at = map[string]int{}
	}
	if _, ok := l.at[w]; !ok {
		l.at[w] = len(l.order)
		l.order = append(l.order, w)
	}
}

// drop removes w and says whether it was there.
func (l *rrList) drop(w string) bool {
	if _, ok := l.at[w]; !ok {
		return false
	}
	delete(l.at, w)
	return true
}

// list is the records left, in order.
func (l *rrList) list() []string {
	var out []string
	for i, w := range l.order {
		if j, ok := l.at[w]; ok && j == i {
			out = append(out, w)
		}
	}
	return out
}

// packRR is rr in uncompressed wire form, packed in buf when it fits.
// It never writes into rr: the records of a published snapshot are
// shared with the goroutines answering queries, and dns.PackRR sets the
// Rdlength of the record it packs (a data race, and a write to data
// that is immutable once published). Packing rr as the one answer of a
// message reads it only; the record follows the 12-byte message header.
func packRR(rr dns.RR, buf []byte) (string, []byte, error) {
	const header = 12
	if need := header + dns.Len(rr) + 1; len(buf) < need {
		buf = make([]byte, max(need, 4096))
	}
	m := dns.Msg{Answer: []dns.RR{rr}}
	b, err := m.PackBuffer(buf)
	if err != nil {
		return "", buf, fmt.Errorf("pack %s: %w", rr.Header().Name, err)
	}
	return string(b[header:]), buf, nil
}

// splitWire cuts records in wire form apart, without parsing their data.
func splitWire(b []byte) []string {
	var out []string
	for off := 0; off < len(b); {
		end, ok := wireEnd(b, off)
		if !ok {
			return out
		}
		out = append(out, string(b[off:end]))
		off = end
	}
	return out
}

// wireEnd is where the uncompressed record at off ends.
func wireEnd(b []byte, off int) (int, bool) {
	for off < len(b) && b[off] != 0 { // the owner name's labels
		off += int(b[off]) + 1
	}
	off++ // the root label
	if off+10 > len(b) {
		return 0, false
	}
	end := off + 10 + (int(b[off+8])<<8 | int(b[off+9]))
	if end > len(b) {
		return 0, false
	}
	return end, true
}
