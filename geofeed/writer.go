package geofeed

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// WriteOptions tunes Write.
type WriteOptions struct {
	// Header lines are written first, each as a "# " comment (the
	// generation time and event-log position, say). They must be valid
	// UTF-8 without line breaks.
	Header []string
}

// Publishable reports why e must not appear in a published feed, or nil:
// an invalid prefix, host bits, a zone, the IPv4-mapped form, space that is
// not globally reachable, or a location that location.Validate rejects
// (unknown or withdrawn codes, a city that cannot be written in CSV). An
// empty location ("do not geolocate") is publishable. The errors match
// ErrNotPublishable.
func Publishable(e Entry) error {
	return publishable(e, nil)
}

// publishable is Publishable with the location verdicts cached in seen.
func publishable(e Entry, seen map[location.Location]string) error {
	p := e.Prefix
	var why string
	switch {
	case !p.IsValid():
		why = "invalid prefix"
	case p.Addr().Zone() != "":
		why = "IPv6 zone"
	case p.Addr().Is4In6():
		why = "IPv4-mapped form"
	case p.Masked() != p:
		why = fmt.Sprintf("host bits set (did you mean %v?)", p.Masked())
	case !prefix.GloballyReachable(p):
		why = specialMessage(p)
	case e.Location.IsZero():
	default:
		var ok bool
		if why, ok = seen[e.Location]; !ok {
			if err := e.Location.Validate(); err != nil {
				why = err.Error()
			}
			if seen != nil {
				seen[e.Location] = why
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("geofeed: %v %v: %s: %w", p, e.Location, why, ErrNotPublishable)
}

// MergeByLocation returns the fewest prefixes that give every address the
// location the entries give it, in Write's order. Where entries nest, the
// more specific one wins (as RFC 8805 consumers read a feed); the result
// never nests, so a consumer that ignores specificity reads it the same.
// Adjacent space with the same location is merged into the fewest CIDRs.
// Postal codes and lines are dropped. Unpublishable entries and the same
// prefix with two locations are errors matching ErrNotPublishable.
func MergeByLocation(entries []Entry) ([]Entry, error) {
	es := slices.Clone(entries)
	seen := map[location.Location]string{}
	for _, e := range es {
		if err := publishable(e, seen); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(es, func(a, b Entry) int { return prefix.Compare(a.Prefix, b.Prefix) })

	// Flatten the nesting into disjoint address ranges, each with the
	// location of its most specific entry.
	type span struct {
		first, last netip.Addr
		loc         location.Location
	}
	type frame struct {
		p          netip.Prefix
		last, next netip.Addr // next: first address not yet emitted; invalid when done
		loc        location.Location
	}
	var spans []span
	var stack []frame
	emit := func(f *frame, upto netip.Addr) {
		if f.next.IsValid() && upto.IsValid() && f.next.Compare(upto) <= 0 {
			spans = append(spans, span{f.next, upto, f.loc})
		}
	}
	pop := func() {
		f := &stack[len(stack)-1]
		emit(f, f.last)
		next := f.last.Next()
		stack = stack[:len(stack)-1]
		if len(stack) > 0 {
			stack[len(stack)-1].next = next
		}
	}
	for i, e := range es {
		if i > 0 && es[i-1].Prefix == e.Prefix {
			if es[i-1].Location != e.Location {
				return nil, fmt.Errorf("geofeed: %v listed with two locations, %v and %v: %w", e.Prefix, es[i-1].Location, e.Location, ErrNotPublishable)
			}
			continue
		}
		for len(stack) > 0 && !stack[len(stack)-1].p.Contains(e.Prefix.Addr()) {
			pop()
		}
		if len(stack) > 0 {
			if top := &stack[len(stack)-1]; top.next.IsValid() && top.next.Less(e.Prefix.Addr()) {
				emit(top, e.Prefix.Addr().Prev())
			}
		}
		stack = append(stack, frame{p: e.Prefix, last: prefix.Last(e.Prefix), next: e.Prefix.Addr(), loc: e.Location})
	}
	for len(stack) > 0 {
		pop()
	}

	byLoc := map[location.Location][]netip.Prefix{}
	for _, s := range spans {
		byLoc[s.loc] = append(byLoc[s.loc], prefix.Range(s.first, s.last)...)
	}
	var out []Entry
	for loc, ps := range byLoc {
		for _, p := range prefix.Aggregate(ps) {
			out = append(out, Entry{Prefix: p, Location: loc})
		}
	}
	slices.SortFunc(out, func(a, b Entry) int { return prefix.Compare(a.Prefix, b.Prefix) })
	return out, nil
}

// Write writes entries as an RFC 8805 feed: the header comments, then one
// line "prefix,country,region,city," per prefix of MergeByLocation, IPv4
// first, by address, shorter first, with LF line endings. The postal field
// is always empty (RFC 8805 §2.1.1.5). What Write writes, Check passes
// without error and ReadAll reads back to the same prefix-to-location map.
func Write(w io.Writer, entries []Entry, opts WriteOptions) error {
	for _, h := range opts.Header {
		if strings.ContainsAny(h, "\r\n") || !utf8.ValidString(h) || strings.ContainsRune(h, 0) {
			return fmt.Errorf("geofeed: header line %q: must be UTF-8 without line breaks or NUL", h)
		}
		if strings.HasPrefix("# "+h, sigStartMarker) || strings.HasPrefix("# "+h, sigEndMarker) {
			return fmt.Errorf("geofeed: header line %q: would read as an RFC 9632 signature marker", h)
		}
	}
	merged, err := MergeByLocation(entries)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, h := range opts.Header {
		bw.WriteString("# ")
		bw.WriteString(h)
		bw.WriteByte('\n')
	}
	var buf []byte
	for _, e := range merged {
		buf = e.Prefix.AppendTo(buf[:0])
		buf = append(buf, ',')
		buf = append(buf, e.Location.Country...)
		buf = append(buf, ',')
		buf = append(buf, e.Location.Subdivision...)
		buf = append(buf, ',')
		buf = append(buf, e.Location.City...)
		buf = append(buf, ",\n"...)
		bw.Write(buf)
	}
	return bw.Flush()
}
