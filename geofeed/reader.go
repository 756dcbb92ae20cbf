package geofeed

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
)

// Entry is one usable data line of a feed. Location is empty for a "do not
// geolocate" entry. Codes are as written but upper-cased; a withdrawn region
// code is kept as written (its warning names the successor). Postal is the
// deprecated fifth field, kept so an importer can say what it drops; the
// writer never writes it.
type Entry struct {
	Line     int
	Prefix   netip.Prefix
	Location location.Location
	Postal   string
}

// Options tunes a Reader. The zero value gives the defaults.
type Options struct {
	// MaxLineLength bounds a line in bytes, excluding its line ending
	// (default 4096). A longer line is reported once and skipped without
	// being held in memory.
	MaxLineLength int
	// LargeIPv4Bits and LargeIPv6Bits: prefixes shorter than these are
	// reported as very large (defaults 16 and 32: more than a /16 of IPv4
	// or a /32 of IPv6, an RIR's whole LIR allocation, in one place is
	// rarely true). Set 24 and 64 for the strictest reading.
	LargeIPv4Bits, LargeIPv6Bits int
}

// Summary counts what a Reader has seen so far.
type Summary struct {
	Lines    int `json:"lines"`    // lines read, including comments and blank lines
	Entries  int `json:"entries"`  // entries returned by Next
	Errors   int `json:"errors"`   // diagnostics of severity Error
	Warnings int `json:"warnings"` // diagnostics of severity Warning
}

const (
	defaultMaxLine = 4096
	minBuffer      = 64 << 10
	// maxLocCache bounds the interned locations, so that memory does not
	// grow with hostile input; past it, locations are validated afresh.
	maxLocCache      = 1 << 16
	maxLocCacheBytes = 8 << 20
	maxCity          = 128 // as location.Validate
)

// Reader reads a geofeed (RFC 8805, with the RFC 9632 signature block)
// as a stream, line by line, checking every rule as it goes. Memory grows
// with the number of data lines (32 bytes each, for the duplicate and
// overlap rules that run when the input ends), never with line length,
// comments or the number of fields.
//
// Use it like bufio.Scanner:
//
//	r := geofeed.NewReader(f, geofeed.Options{})
//	for r.Next() {
//		use(r.Entry())
//		report(r.Diagnostics())
//	}
//	report(r.Diagnostics()) // the rest, with the whole-feed rules
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	br   *bufio.Reader
	opts Options

	line    int
	bom     bool
	entry   Entry
	diags   []Diagnostic
	lineErr bool
	err     error
	done    bool
	sum     Summary

	sig sigState

	// Records are kept in chunks, each sorted by a background goroutine
	// when full (using the second core while the reader parses), and
	// merged when the input ends: no large slice is ever copied to grow.
	cur       []record
	curSorted bool
	chunks    [][]record
	sorting   sync.WaitGroup

	lastKey []byte
	lastLoc *locInfo

	key      []byte
	unq      []byte
	locs     map[string]*locInfo
	locBytes int
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = defaultMaxLine
	}
	if opts.LargeIPv4Bits == 0 {
		opts.LargeIPv4Bits = 16
	}
	if opts.LargeIPv6Bits == 0 {
		opts.LargeIPv6Bits = 32
	}
	size := max(minBuffer, opts.MaxLineLength+2)
	return &Reader{
		br:        bufio.NewReaderSize(r, size),
		opts:      opts,
		locs:      map[string]*locInfo{},
		curSorted: true,
	}
}

// Next advances to the next entry whose line has no error and reports
// whether there is one. Lines with errors are skipped; their diagnostics
// are in Diagnostics. After Next returns false, Diagnostics holds the
// remaining line diagnostics and those of the whole-feed rules (duplicate,
// redundant, override, signature), which can only be known at the end: a
// line returned earlier may then be found a duplicate.
func (r *Reader) Next() bool {
	r.diags = r.diags[:0]
	for !r.done {
		line, ok := r.readLine()
		if !ok {
			r.done = true
			r.finish()
			return false
		}
		if r.processLine(line) {
			r.sum.Entries++
			return true
		}
	}
	return false
}

// Entry returns the entry Next found. It is valid until the next call.
func (r *Reader) Entry() Entry { return r.entry }

// Diagnostics returns the diagnostics found by the last call to Next: those
// of the lines it skipped and of the entry it returned. The slice is reused
// by the next call to Next.
func (r *Reader) Diagnostics() []Diagnostic { return r.diags }

// Err returns the first read error, or nil when the input ended cleanly.
func (r *Reader) Err() error { return r.err }

// Summary counts the lines, entries and diagnostics so far.
func (r *Reader) Summary() Summary { return r.sum }

func (r *Reader) report(line, col int, sev Severity, code, msg string) {
	r.diags = append(r.diags, Diagnostic{Line: line, Col: col, Severity: sev, Code: code, Message: msg})
	if sev == Error {
		r.sum.Errors++
		if line == r.line {
			r.lineErr = true
		}
	} else {
		r.sum.Warnings++
	}
}

// readLine returns the next line without its line ending, skipping (and
// reporting) lines longer than MaxLineLength. ok is false at the end.
func (r *Reader) readLine() ([]byte, bool) {
	for {
		b, err := r.br.ReadSlice('\n')
		if len(b) == 0 && err != nil {
			if err != io.EOF {
				r.err = err
			}
			return nil, false
		}
		r.line++
		r.sum.Lines++
		r.lineErr = false
		if err == bufio.ErrBufferFull {
			// Skip to the next newline a buffer at a time: the line is
			// never held whole.
			for err == bufio.ErrBufferFull {
				_, err = r.br.ReadSlice('\n')
			}
			r.tooLong()
			if err != nil && err != io.EOF {
				r.err = err
				return nil, false
			}
			continue
		}
		if err != nil && err != io.EOF {
			r.err = err
			return nil, false
		}
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if len(b) > r.opts.MaxLineLength {
			r.tooLong()
			continue
		}
		return b, true
	}
}

func (r *Reader) tooLong() {
	r.report(r.line, r.opts.MaxLineLength+1, Error, CodeLineTooLong,
		fmt.Sprintf("line longer than %d bytes: skipped", r.opts.MaxLineLength))
}

var bom = []byte("\xef\xbb\xbf")

// processLine checks one line and reports whether it is a usable entry,
// now in r.entry.
func (r *Reader) processLine(b []byte) bool {
	off := 0
	if r.line == 1 && bytes.HasPrefix(b, bom) {
		r.bom = true
		off = len(bom)
		r.report(1, 1, Warning, CodeBOM, "UTF-8 byte-order mark at the start of the feed: remove it (RFC 8805 feeds are plain UTF-8)")
	}
	c := b[off:]
	if i := bytes.IndexByte(c, 0); i >= 0 {
		r.report(r.line, off+i+1, Error, CodeNUL, "NUL byte: line skipped")
		return false
	}
	if !isASCII(c) && !utf8.Valid(c) {
		r.report(r.line, off+invalidUTF8At(c)+1, Error, CodeBadUTF8, "invalid UTF-8: line skipped")
		return false
	}
	if isBlank(c) {
		if r.sig.state == sigIn {
			r.sigSyntax(off+1, "blank line inside the signature block")
		}
		return false
	}
	if r.sig.state == sigAfter {
		r.report(r.line, off+1, Error, CodeAfterSignature, fmt.Sprintf("line after the signature block that ends on line %d: the block must be last, and this line is outside the signed content (RFC 9632 §5)", r.sig.endLine))
		return false
	}
	if c[0] == '#' {
		r.comment(c, off)
		return false
	}
	if r.sig.state == sigIn {
		r.sigSyntax(off+1, "data line inside the signature block: every line up to \"# End Signature:\" must be \"# \" and base64")
		return false
	}
	return r.data(c, off)
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return 0
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// data checks a data line; off is the column offset (the BOM).
func (r *Reader) data(c []byte, off int) bool {
	var f [5][]byte
	var col [5]int
	r.unq = r.unq[:0]
	n, pos, more := 0, 0, true
	for more && n < 5 {
		col[n] = off + pos + 1
		if pos < len(c) && c[pos] == '"' {
			v, next, ok := r.unquote(c, pos)
			if !ok {
				r.report(r.line, col[n], Error, CodeBadQuote, "quoted field without its closing quote, or with text after it")
				return false
			}
			f[n], pos = v, next
		} else if j := bytes.IndexByte(c[pos:], ','); j >= 0 {
			f[n], pos = c[pos:pos+j], pos+j
		} else {
			f[n], pos = c[pos:], len(c)
		}
		n++
		if pos >= len(c) {
			more = false
		} else {
			pos++ // the comma
		}
	}
	if n < 5 {
		r.report(r.line, off+len(c)+1, Warning, CodeFewFields,
			fmt.Sprintf("%d of 5 fields (prefix,country,region,city,postal): the missing ones read as empty", n))
	}
	if more {
		// Count without splitting: a million columns cost nothing.
		extra := 1 + bytes.Count(c[pos:], []byte{','})
		what := "fields"
		if extra == 1 {
			what = "field"
		}
		r.report(r.line, off+pos+1, Warning, CodeExtraFields,
			fmt.Sprintf("%d %s beyond the 5 of RFC 8805: ignored", extra, what))
	}
	for i := range n {
		v := f[i]
		if len(v) > 0 && (isSpace(v[0]) || isSpace(v[len(v)-1])) {
			r.report(r.line, col[i], Warning, CodeSpace, fmt.Sprintf("spaces around the %s field %q: trimmed", fieldNames[i], v))
			f[i] = bytes.Trim(v, " \t")
		}
	}

	p, ok := r.prefix(f[0], col[0])
	if !ok {
		return false
	}
	loc := r.location(f[1], f[2], f[3])
	for _, d := range loc.diags {
		r.report(r.line, col[d.field], d.sev, d.code, d.msg)
	}
	r.record(p, loc.hash)
	postal := ""
	if len(f[4]) > 0 {
		postal = string(f[4])
		r.report(r.line, col[4], Warning, CodePostal, fmt.Sprintf("postal code %q: deprecated by RFC 8805 §2.1.1.5; dropped on import, never published", postal))
	}
	if r.lineErr {
		return false
	}
	r.entry = Entry{Line: r.line, Prefix: p, Location: loc.loc, Postal: postal}
	return true
}

var fieldNames = [5]string{"prefix", "country", "region", "city", "postal"}

// unquote reads an RFC 4180 quoted field starting at c[pos] == '"'. It
// returns the value and the position of the comma or end after it.
func (r *Reader) unquote(c []byte, pos int) (v []byte, next int, ok bool) {
	escaped := false
	for k := pos + 1; k < len(c); k++ {
		if c[k] != '"' {
			continue
		}
		if k+1 < len(c) && c[k+1] == '"' {
			escaped = true
			k++
			continue
		}
		if k+1 < len(c) && c[k+1] != ',' {
			return nil, 0, false
		}
		v = c[pos+1 : k]
		if escaped {
			start := len(r.unq)
			r.unq = append(r.unq, v...)
			v = bytes.ReplaceAll(r.unq[start:], []byte(`""`), []byte(`"`))
		}
		return v, k + 1, true
	}
	return nil, 0, false
}

// prefix parses and checks the prefix field: syntax, host bits, zone,
// mapped form, special-purpose space and size.
//
// A single address without a length is a /32 or /128 (RFC 8805 §2.1.1.1:
// "an IP address or an IP prefix").
func (r *Reader) prefix(b []byte, col int) (netip.Prefix, bool) {
	p, ok := parsePrefix(b)
	if !ok && bytes.IndexByte(b, '/') < 0 {
		if a, isAddr := parseAddr(b); isAddr {
			p, ok = netip.PrefixFrom(a, a.BitLen()), true
		}
	}
	if !ok || p.Masked() != p || (p.Addr().Is4In6() && p.Bits() >= 96) {
		return r.badPrefix(b, col)
	}
	if maybeSpecial(p) && !prefix.GloballyReachable(p) {
		r.report(r.line, col, Error, CodeSpecialPurpose, specialMessage(p))
		return netip.Prefix{}, false
	}
	if large := r.opts.LargeIPv4Bits; p.Addr().Is6() {
		if large = r.opts.LargeIPv6Bits; p.Bits() < large {
			r.report(r.line, col, Warning, CodeLargePrefix, fmt.Sprintf("%v is very large (shorter than /%d): check that all of it is used in one place", p, large))
		}
	} else if p.Bits() < large {
		r.report(r.line, col, Warning, CodeLargePrefix, fmt.Sprintf("%v is very large (%v addresses, shorter than /%d): check that all of it is used in one place", p, prefix.Size(p), large))
	}
	return p, true
}

// badPrefix is the slow path: it names the problem with prefix.Parse's
// message and picks the code.
func (r *Reader) badPrefix(b []byte, col int) (netip.Prefix, bool) {
	s := string(b)
	if s == "" {
		r.report(r.line, col, Error, CodeBadPrefix, "missing prefix")
		return netip.Prefix{}, false
	}
	p, err := prefix.Parse(s)
	if err == nil {
		// Not reached while parsePrefix agrees with netip; be safe.
		return p, true
	}
	code := CodeBadPrefix
	if !strings.Contains(s, "/") {
		// A single address (RFC 8805 §2.1.1.1): name what is wrong with
		// it as an address.
		if a, perr := netip.ParseAddr(s); perr == nil && a.Is4In6() {
			_, err = prefix.ParseAddr(s)
			code = CodeIPv4Mapped
		}
	}
	if strings.ContainsRune(s, '%') {
		code = CodeZone
	} else if np, err := netip.ParsePrefix(s); err == nil {
		if np.Addr().Is4In6() && np.Bits() >= 96 {
			code = CodeIPv4Mapped
		} else if np.Masked() != np {
			code = CodeHostBits
		}
	}
	r.report(r.line, col, Error, code, err.Error())
	return netip.Prefix{}, false
}

// Special-purpose space that is not globally reachable, aggregated, so that
// one binary search clears an ordinary prefix; prefix.GloballyReachable
// then decides the rare rest exactly.
var unreachable4, unreachable6 = unreachableRanges()

type addrRange struct{ first, last netip.Addr }

func unreachableRanges() (v4, v6 []addrRange) {
	var ps []netip.Prefix
	for _, s := range prefix.Specials() {
		if !s.GloballyReachable {
			ps = append(ps, s.Prefix)
		}
	}
	for _, p := range prefix.Aggregate(ps) {
		ar := addrRange{p.Addr(), prefix.Last(p)}
		if p.Addr().Is4() {
			v4 = append(v4, ar)
		} else {
			v6 = append(v6, ar)
		}
	}
	return v4, v6
}

// touched4 and touched6 mark the first octet of IPv4 and the first 16
// bits of IPv6 that some unreachable range touches: most prefixes are
// cleared by one look-up.
var touched4, touched6 = touchedTables()

func touchedTables() (t4 [256]bool, t6 [1 << 16]bool) {
	for _, r := range unreachable4 {
		for o := int(r.first.As4()[0]); o <= int(r.last.As4()[0]); o++ {
			t4[o] = true
		}
	}
	for _, r := range unreachable6 {
		f, l := r.first.As16(), r.last.As16()
		for o := int(f[0])<<8 | int(f[1]); o <= int(l[0])<<8|int(l[1]); o++ {
			t6[o] = true
		}
	}
	return t4, t6
}

func maybeSpecial(p netip.Prefix) bool {
	first := p.Addr()
	list := unreachable6
	if first.Is4() {
		if p.Bits() >= 8 && !touched4[first.As4()[0]] {
			return false
		}
		list = unreachable4
	} else if p.Bits() >= 16 {
		a := first.As16()
		if !touched6[int(a[0])<<8|int(a[1])] {
			return false
		}
	}
	lo, hi := 0, len(list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if list[m].last.Less(first) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(list) && list[lo].first.Compare(prefix.Last(p)) <= 0
}

func specialMessage(p netip.Prefix) string {
	ov := prefix.Overlapping(p)
	for i := len(ov) - 1; i >= 0; i-- {
		s := ov[i]
		if s.GloballyReachable {
			continue
		}
		where := "lies in"
		if p.Bits() < s.Prefix.Bits() {
			where = "covers"
		}
		return fmt.Sprintf("%v is not globally reachable: it %s %s space %v (%s, %s); a geofeed lists public addresses only", p, where, s.Kind, s.Prefix, s.Name, s.RFC)
	}
	return fmt.Sprintf("%v is not globally reachable: a geofeed lists public addresses only", p)
}

// record keeps what the whole-feed rules need of a data line: 32 bytes.
type record struct {
	hi, lo uint64 // the address as 16 bytes (IPv4 mapped)
	loc    uint64 // hash of the location
	line   uint32
	bits   uint8
	v6     bool
}

func (r *Reader) record(p netip.Prefix, loc uint64) {
	if r.line > math.MaxUint32 {
		return
	}
	a := p.Addr().As16()
	rec := record{
		hi:   binary.BigEndian.Uint64(a[:8]),
		lo:   binary.BigEndian.Uint64(a[8:]),
		loc:  loc,
		line: uint32(r.line),
		bits: uint8(p.Bits()),
		v6:   p.Addr().Is6(),
	}
	if n := len(r.cur); n > 0 && r.curSorted && compareRecords(r.cur[n-1], rec) > 0 {
		r.curSorted = false
	}
	if r.cur == nil {
		r.cur = make([]record, 0, chunkLen)
	}
	r.cur = append(r.cur, rec)
	if len(r.cur) == chunkLen {
		r.flushChunk()
	}
}

// chunkLen records (1 MiB) make a chunk.
const chunkLen = 1 << 15

// flushChunk hands the current chunk to a goroutine that sorts it.
func (r *Reader) flushChunk() {
	c, sorted := r.cur, r.curSorted
	r.cur, r.curSorted = nil, true
	if len(c) == 0 {
		return
	}
	r.chunks = append(r.chunks, c)
	if sorted {
		return
	}
	r.sorting.Add(1)
	go func() {
		defer r.sorting.Done()
		slices.SortFunc(c, compareRecords)
	}()
}

func (a record) samePrefix(b record) bool {
	return a.hi == b.hi && a.lo == b.lo && a.bits == b.bits && a.v6 == b.v6
}

// mergeChunks yields the records of the sorted chunks in order: a k-way
// merge over a binary heap of the chunks' heads.
func mergeChunks(chunks [][]record) iter.Seq2[int, record] {
	return func(yield func(int, record) bool) {
		h := make([][]record, 0, len(chunks))
		for _, c := range chunks {
			if len(c) > 0 {
				h = append(h, c)
			}
		}
		less := func(i, j int) bool { return compareRecords(h[i][0], h[j][0]) < 0 }
		down := func(i int) {
			for {
				l := 2*i + 1
				if l >= len(h) {
					return
				}
				if r := l + 1; r < len(h) && less(r, l) {
					l = r
				}
				if !less(l, i) {
					return
				}
				h[i], h[l] = h[l], h[i]
				i = l
			}
		}
		for i := len(h)/2 - 1; i >= 0; i-- {
			down(i)
		}
		for n := 0; len(h) > 0; n++ {
			if !yield(n, h[0][0]) {
				return
			}
			if h[0] = h[0][1:]; len(h[0]) == 0 {
				h[0] = h[len(h)-1]
				h = h[:len(h)-1]
			}
			down(0)
		}
	}
}

func compareRecords(a, b record) int {
	switch {
	case a.v6 != b.v6:
		if a.v6 {
			return 1
		}
		return -1
	case a.hi != b.hi:
		if a.hi < b.hi {
			return -1
		}
		return 1
	case a.lo != b.lo:
		if a.lo < b.lo {
			return -1
		}
		return 1
	case a.bits != b.bits:
		return int(a.bits) - int(b.bits)
	}
	return int(int64(a.line) - int64(b.line))
}

func (rec record) prefix() netip.Prefix {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], rec.hi)
	binary.BigEndian.PutUint64(a[8:], rec.lo)
	addr := netip.AddrFrom16(a)
	bits := int(rec.bits)
	if !rec.v6 {
		addr = addr.Unmap()
	}
	return netip.PrefixFrom(addr, bits)
}

// covers reports whether outer contains inner (both valid, outer first in
// sort order).
func (outer record) covers(inner record) bool {
	if outer.v6 != inner.v6 || outer.bits > inner.bits {
		return false
	}
	bits := int(outer.bits)
	if !outer.v6 {
		bits += 96
	}
	var mhi, mlo uint64
	switch {
	case bits >= 128:
		mhi, mlo = math.MaxUint64, math.MaxUint64
	case bits >= 64:
		mhi, mlo = math.MaxUint64, ^(math.MaxUint64 >> (bits - 64))
	case bits > 0:
		mhi = ^(math.MaxUint64 >> bits)
	}
	return inner.hi&mhi == outer.hi && inner.lo&mlo == outer.lo
}

// finish runs the whole-feed rules once the input has ended.
func (r *Reader) finish() {
	if r.sig.state == sigIn {
		r.report(r.sig.startLine, r.sig.startCol, Error, CodeSignatureUnterminated,
			fmt.Sprintf("signature block from line %d has no \"# End Signature:\" line", r.sig.startLine))
	}
	start := len(r.diags)
	r.flushChunk()
	r.sorting.Wait()
	var stack []record
	var first, prev record
	for i, rec := range mergeChunks(r.chunks) {
		if i > 0 && prev.samePrefix(rec) {
			r.report(int(rec.line), r.prefixCol(rec.line), Error, CodeDuplicate,
				fmt.Sprintf("%v is already listed on line %d (prefixes compared after normalising)", rec.prefix(), first.line))
			continue
		}
		first, prev = rec, rec
		for len(stack) > 0 && !stack[len(stack)-1].covers(rec) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.loc == rec.loc {
				r.report(int(rec.line), r.prefixCol(rec.line), Warning, CodeRedundant,
					fmt.Sprintf("%v is redundant: %v on line %d covers it with the same location", rec.prefix(), top.prefix(), top.line))
			} else {
				r.report(int(rec.line), r.prefixCol(rec.line), Warning, CodeOverride,
					fmt.Sprintf("%v overrides the location of %v on line %d (the more specific wins; legal, listed for review)", rec.prefix(), top.prefix(), top.line))
			}
		}
		stack = append(stack, rec)
		if len(r.sig.prefixes) > 0 {
			r.checkSigned(rec)
		}
	}
	r.chunks = nil
	slices.SortStableFunc(r.diags[start:], func(a, b Diagnostic) int { return a.Line - b.Line })
}

func (r *Reader) prefixCol(line uint32) int {
	if line == 1 && r.bom {
		return len(bom) + 1
	}
	return 1
}

// Check reads a whole feed and returns every diagnostic, sorted by line
// and column, and the summary. err is a read error; a feed with errors is
// reported through the diagnostics (Summary.Errors > 0), not err.
func Check(r io.Reader, opts Options) ([]Diagnostic, Summary, error) {
	fr := NewReader(r, opts)
	var diags []Diagnostic
	for fr.Next() {
		diags = append(diags, fr.Diagnostics()...)
	}
	diags = append(diags, fr.Diagnostics()...)
	sortDiagnostics(diags)
	return diags, fr.Summary(), fr.Err()
}

// ReadAll reads a whole feed and returns the entries of the lines without
// errors (a line found a duplicate at the end is dropped too: the first
// occurrence is kept), and every diagnostic as Check returns them.
func ReadAll(r io.Reader, opts Options) ([]Entry, []Diagnostic, error) {
	fr := NewReader(r, opts)
	var entries []Entry
	var diags []Diagnostic
	for fr.Next() {
		entries = append(entries, fr.Entry())
		diags = append(diags, fr.Diagnostics()...)
	}
	end := fr.Diagnostics()
	diags = append(diags, end...)
	bad := map[int]bool{}
	for _, d := range end {
		if d.Severity == Error {
			bad[d.Line] = true
		}
	}
	if len(bad) > 0 {
		entries = slices.DeleteFunc(entries, func(e Entry) bool { return bad[e.Line] })
	}
	sortDiagnostics(diags)
	return entries, diags, fr.Err()
}

func sortDiagnostics(ds []Diagnostic) {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}

// ErrNotPublishable is matched by the errors of Publishable, Write and
// MergeByLocation for an entry that a feed must not carry.
var ErrNotPublishable = errors.New("entry cannot be published")
