package zone

import (
	"iter"

	"github.com/miekg/dns"
)

// TransferSets is the AXFR answer (RFC 5936) a set at a time, each with
// its signatures: the SOA set first, every other set and the NSEC3 chain
// in no particular order (§2.2 asks none), the SOA again last. Unlike
// Transfer it neither collects nor sorts the zone, so the first message
// leaves at once and the transfer's memory is one message: Transfer sorts
// every name first (at 237,000 names that outlasted Knot's and kdig's 5 s
// wait for the first message on a loaded machine, and grows as n log n).
// The slice yielded is reused once yield returns.
func (zd *Data) TransferSets() iter.Seq[[]dns.RR] {
	return func(yield func([]dns.RR) bool) {
		if !yield(append(append([]dns.RR{}, zd.soa.RRs...), zd.setSigs(zd.soa)...)) {
			return
		}
		var buf []dns.RR
		for _, n := range zd.names.All() {
			for t, s := range n.sets.all() {
				if t == dns.TypeSOA {
					continue
				}
				buf = append(append(buf[:0], s.RRs...), zd.setSigs(s)...)
				if !yield(buf) {
					return
				}
			}
		}
		for h, l := range zd.chain.All() {
			rr := zd.nsec3RR(h, l)
			buf = append(append(buf[:0], rr), zd.sigRRs(rr, l.sigs)...)
			if !yield(buf) {
				return
			}
		}
		yield([]dns.RR{zd.soa.RRs[0]})
	}
}
