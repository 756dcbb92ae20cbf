// Package evcodec stores the JSON payloads of events (before, after) in
// fewer bytes, and gives back the very same JSON.
//
// The event log is the larger half of a register (issue 16: ~350 of the
// ~720 bytes per assignment were an assignment event's JSON). Its readers
// (the DNS delta, the audit and `events` CLI and API, replication by
// position) read registry.Event values whose Before and After are JSON:
// the stores encode on write and decode on read, so no reader sees the
// encoding, and a stored JSON text (every event written before, or one
// this codec declines) is returned as it is. Encode is lossless by
// construction: it decodes what it made and keeps the encoding only if
// that gives back the input byte for byte; otherwise the caller stores
// the JSON.
//
// Version 1 (first byte 0x01; JSON text never starts with it): one value,
// where an object key or string value is one byte when it is in the
// fixed dictionary below, a string that equals the event's subject (the
// assignment's prefix) or a number that equals its subject ID is one
// byte, an object that begins with the keys of an assignment (shape1)
// is its values, a time in Go's RFC 3339 form is a varint of
// nanoseconds, a prefix in netip's form is its length and address bytes
// (only those that hold its bits when it has no host bits), an integer a
// varint, and any other string its raw JSON text (escapes kept). The
// dictionary is part of the format: a later version appends to a copy
// under a new first byte and keeps decoding this one.
package evcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/internal/jsonfast"
)

// Version1 is the first byte of a version 1 encoding.
const Version1 = 0x01

// dict1 is version 1's dictionary: object keys of the registry's event
// payloads and their most frequent short values. Never reorder or
// remove: stored events index it.
var dict1 = [...]string{
	"", "id", "prefix", "pool_id", "pool", "region", "space", "tenant", "resource", "name",
	"state", "borrowed", "relocation", "tags", "created_at", "released_at", "quarantine_until",
	"global", "private", "assigned", "quarantined", "released",
	"region_id", "block_id", "block", "purpose", "source", "registry", "registered_country", "date", "note",
	"from", "price", "used_ipv4", "used_ipv6", "names", "location", "borrow_unit", "borrow_from",
	"to_region", "from_region", "from_pool_id", "reason", "country", "subdivision", "city",
	"family", "bits", "until", "parent_id", "child_of", "dissolved_at", "use_all", "counterparty",
	"currency", "cents", "acquired", "max_ipv4", "max_ipv6", "may_delegate", "key", "value",
	"rir", "transfer", "byoip", "AFRINIC", "APNIC", "ARIN", "LACNIC", "RIPE NCC", "none", "any",
	"kind", "origin", "entries", "skipped_lines", "geofeed", "ttl", "type", "data", "zone",
}

// Tags of version 1. 0x00-0x3f are the integers 0 to 63; 0x80 + i is
// dictionary entry i.
const (
	tagDict    = 0x80
	tagObject  = 0xf0
	tagEnd     = 0xf1
	tagArray   = 0xf2
	tagNull    = 0xf3
	tagTrue    = 0xf4
	tagFalse   = 0xf5
	tagInt     = 0xf6 // zigzag varint
	tagString  = 0xf7 // uvarint length, raw JSON string content
	tagNumber  = 0xf8 // uvarint length, JSON number text
	tagTime    = 0xf9 // zigzag varint: Unix nanoseconds, RFC 3339 in UTC
	tagPrefix4 = 0xfa // bits, 4 address bytes
	tagPrefix6 = 0xfb // bits, 16 address bytes
	tagSubject = 0xfc // the string equal to the event's subject
	tagSubjID  = 0xfd // the number equal to the event's subject ID
	tagShape   = 0xfe // an object whose first keys are shape1's: their values, then members as in tagObject
	tagPrefixM = 0xff // a prefix without host bits: its length (IPv6: plus 33), then the bytes that hold the bits
	maxSmall   = 0x3f
)

// shape1 is the keys, in the order the registry writes them, that an
// assignment's JSON (registry.Assignment) begins with: such an object
// is stored as its values alone.
var shape1 = [...]string{"id", "prefix", "pool_id", "pool", "region", "space", "tenant", "resource", "name", "state", "borrowed"}

// dictByLen[n] lists the dictionary entries n bytes long (n > 0): a
// string of an event is looked up among the few of its length, without
// hashing it (a map lookup for each of an assignment's ~21 strings cost
// ~130 instructions; most of its values are no entry). The empty string
// is entry 0.
var dictByLen = func() (out [maxDictLen + 1][]byte) {
	seen := make(map[string]bool, len(dict1))
	for i, s := range dict1 {
		if seen[s] {
			panic("evcodec: dictionary entry twice: " + s)
		}
		seen[s] = true
		if s != "" {
			out[len(s)] = append(out[len(s)], byte(i))
		}
	}
	return out
}()

// maxDictLen is the length of the longest dictionary entry.
const maxDictLen = len("registered_country")

// dictLookup returns the index of the dictionary entry raw, if it is one.
func dictLookup(raw []byte) (byte, bool) {
	if len(raw) == 0 {
		return 0, dict1[0] == ""
	}
	if len(raw) >= len(dictByLen) {
		return 0, false
	}
	for _, i := range dictByLen[len(raw)] {
		if s := dict1[i]; s[0] == raw[0] && s == string(raw) {
			return i, true
		}
	}
	return 0, false
}

// shapeKeys are shape1's keys as JSON writes them, quoted and followed
// by the colon: an assignment's keys are matched with these first.
var shapeKeys = func() (out [len(shape1)][]byte) {
	for i, k := range shape1 {
		out[i] = []byte(`"` + k + `":`)
	}
	return out
}()

// shapeTags are shape1's keys as the encoder writes them.
var shapeTags = func() (out [len(shape1)]byte) {
	for i, k := range shape1 {
		j, ok := dictLookup([]byte(k))
		if !ok {
			panic("evcodec: shape key not in the dictionary: " + k)
		}
		out[i] = tagDict + j
	}
	return out
}()

func init() {
	if len(dict1) > tagObject-tagDict {
		panic("evcodec: dictionary too large for its tags")
	}
	for _, s := range dict1 {
		if len(s) > maxDictLen {
			panic("evcodec: maxDictLen below a dictionary entry's length: " + s)
		}
	}
}

// Subject is what an event says besides its payload and the codec may
// refer to instead of repeating it.
type Subject struct {
	ID   int64
	Text string
}

// Encode returns the compact form of the JSON value js, or nil when the
// JSON should be stored as it is (empty, not in the form the registry
// writes, or not given back byte for byte).
func Encode(js []byte, s Subject) []byte {
	if len(js) == 0 {
		return nil
	}
	// The check's decoding goes to a buffer kept for the next one, and
	// both directions remember the last prefix they converted: every
	// event an allocation writes passes here (issue 16), and its pool's
	// prefix is the same text allocation after allocation.
	sc := scratches.Get().(*scratch)
	e := encoder{in: js, s: s, out: make([]byte, 1, len(js)/2+8), memo: &sc.enc}
	e.out[0] = Version1
	ok := e.value() && e.pos == len(js)
	if ok {
		d := decoder{in: e.out, pos: 1, s: s, out: sc.buf[:0], memo: &sc.dec}
		back, err := d.run()
		ok = err == nil && bytes.Equal(back, js)
		sc.buf = back
	}
	if cap(sc.buf) <= maxCheckBuf {
		scratches.Put(sc)
	}
	if !ok {
		return nil
	}
	return e.out
}

// scratch is what Encode keeps between calls: the check's buffer and
// the encoder's and the check's last prefix.
type scratch struct {
	buf      []byte
	enc, dec prefixMemo
}

// prefixMemo is the last prefix converted one way: text, the JSON
// string's content, and enc, its encoding. Each direction fills its own
// from its own conversion, so the check still decodes what the encoder
// wrote with the decoder's code, only not twice for the same bytes.
type prefixMemo struct {
	text, enc []byte
}

// set remembers text and enc, copied.
func (m *prefixMemo) set(text, enc []byte) {
	if len(text) > 64 {
		return
	}
	m.text = append(m.text[:0], text...)
	m.enc = append(m.enc[:0], enc...)
}

// scratches holds Encode's scratch; one whose buffer grew past
// maxCheckBuf (a large payload) is left to the collector.
var scratches = sync.Pool{New: func() any { return new(scratch) }}

const maxCheckBuf = 64 << 10

// IsEncoded reports whether b is an encoding (rather than JSON text).
func IsEncoded(b []byte) bool { return len(b) > 0 && b[0] == Version1 }

// Text returns the JSON of a stored payload: b itself when it is JSON
// text, its decoding when it is an encoding.
func Text(b []byte, s Subject) ([]byte, error) {
	if !IsEncoded(b) {
		return b, nil
	}
	return Decode(b, s)
}

type encoder struct {
	in  []byte
	pos int
	s   Subject
	out []byte
	// memo, when not nil, is the last prefix str encoded.
	memo *prefixMemo
}

func (e *encoder) value() bool {
	if e.pos >= len(e.in) {
		return false
	}
	switch c := e.in[e.pos]; {
	case c == '{':
		e.pos++
		start := len(e.out)
		e.out = append(e.out, tagObject)
		if e.peek('}') {
			e.out = append(e.out, tagEnd)
			return true
		}
		// Where each of the first members' key and value were written,
		// to drop the keys if they are shape1's.
		var keys [len(shape1)][2]int
		n := 0
		for {
			k := len(e.out)
			if n < len(shapeKeys) && bytes.HasPrefix(e.in[e.pos:], shapeKeys[n]) {
				// The key str would find in the dictionary at
				// shapeTags[n], compared as one literal.
				e.pos += len(shapeKeys[n]) - 1 // up to the ':'
				e.out = append(e.out, shapeTags[n])
			} else if !e.peekIs('"') || !e.str() {
				return false
			}
			if n < len(keys) {
				keys[n] = [2]int{k, len(e.out)}
			}
			n++
			if !e.peek(':') || !e.value() {
				return false
			}
			if e.peek(',') {
				continue
			}
			if e.peek('}') {
				e.out = append(e.out, tagEnd)
				e.shape(start, n, &keys)
				return true
			}
			return false
		}
	case c == '[':
		e.pos++
		e.out = append(e.out, tagArray)
		if e.peek(']') {
			e.out = append(e.out, tagEnd)
			return true
		}
		for {
			if !e.value() {
				return false
			}
			if e.peek(',') {
				continue
			}
			if e.peek(']') {
				e.out = append(e.out, tagEnd)
				return true
			}
			return false
		}
	case c == '"':
		return e.str()
	case c == 'n':
		return e.lit("null", tagNull)
	case c == 't':
		return e.lit("true", tagTrue)
	case c == 'f':
		return e.lit("false", tagFalse)
	case c == '-' || c >= '0' && c <= '9':
		return e.number()
	}
	return false
}

// shape rewrites the object encoded from start (n members, keys where
// the first keys were written) as tagShape when its first keys are
// shape1's.
func (e *encoder) shape(start, n int, keys *[len(shape1)][2]int) {
	if n < len(shape1) {
		return
	}
	for i, tag := range shapeTags {
		if e.out[keys[i][0]] != tag || keys[i][1]-keys[i][0] != 1 {
			return
		}
	}
	// In place: each value moves left over the keys dropped before it.
	out := append(e.out[:start], tagShape)
	for i := range shape1 {
		// A value ends where the next key starts; the last one's runs
		// on with the members after the shape and the object's end.
		end := len(e.out)
		if i+1 < len(shape1) {
			end = keys[i+1][0]
		}
		out = append(out, e.out[keys[i][1]:end]...)
	}
	e.out = out
}

func (e *encoder) peekIs(c byte) bool { return e.pos < len(e.in) && e.in[e.pos] == c }

func (e *encoder) peek(c byte) bool {
	if e.peekIs(c) {
		e.pos++
		return true
	}
	return false
}

func (e *encoder) lit(word string, tag byte) bool {
	if !bytes.HasPrefix(e.in[e.pos:], []byte(word)) {
		return false
	}
	e.pos += len(word)
	e.out = append(e.out, tag)
	return true
}

func (e *encoder) number() bool {
	start := e.pos
	for e.pos < len(e.in) {
		c := e.in[e.pos]
		if c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' && (c < '0' || c > '9') {
			break
		}
		e.pos++
	}
	text := e.in[start:e.pos]
	// The checks below format into a buffer on the stack: every event an
	// allocation writes passes here (issue 16).
	var tmp [64]byte
	if v, err := strconv.ParseInt(string(text), 10, 64); err == nil && string(strconv.AppendInt(tmp[:0], v, 10)) == string(text) {
		switch {
		case v == e.s.ID:
			e.out = append(e.out, tagSubjID)
		case v >= 0 && v <= maxSmall:
			e.out = append(e.out, byte(v))
		default:
			e.out = append(e.out, tagInt)
			e.out = binary.AppendVarint(e.out, v)
		}
		return true
	}
	e.out = append(e.out, tagNumber)
	e.out = binary.AppendUvarint(e.out, uint64(len(text)))
	e.out = append(e.out, text...)
	return true
}

// str encodes the string at pos (its opening quote).
func (e *encoder) str() bool {
	e.pos++
	start := e.pos
	escaped := false
	for {
		if e.pos >= len(e.in) {
			return false
		}
		c := e.in[e.pos]
		if c == '"' {
			break
		}
		if c == '\\' {
			escaped = true
			e.pos++
		}
		e.pos++
	}
	raw := e.in[start:e.pos]
	e.pos++
	var tmp [64]byte // see number
	if i, ok := dictLookup(raw); ok {
		e.out = append(e.out, tagDict+i)
		return true
	}
	if escaped {
		e.literal(raw)
		return true
	}
	if e.s.Text != "" && string(raw) == e.s.Text {
		e.out = append(e.out, tagSubject)
		return true
	}
	if len(raw) >= 20 && len(raw) <= 35 && raw[4] == '-' && raw[len(raw)-1] == 'Z' {
		if t, ok := parseUTC(raw); ok && string(jsonfast.AppendTime(tmp[:0], t.UTC())) == string(raw) {
			e.out = append(e.out, tagTime)
			e.out = binary.AppendVarint(e.out, t.UnixNano())
			return true
		}
	}
	if m := e.memo; m != nil && len(m.text) > 0 && bytes.Equal(raw, m.text) {
		e.out = append(e.out, m.enc...)
		return true
	}
	if bytes.IndexByte(raw, '/') > 0 {
		mark := len(e.out)
		if e.prefix(raw) {
			if e.memo != nil {
				e.memo.set(raw, e.out[mark:])
			}
			return true
		}
	}
	e.literal(raw)
	return true
}

// parseUTC parses raw as time.Parse(time.RFC3339Nano) does, reading the
// form jsonfast.AppendTime writes for a time in UTC (every event's) by
// its digits' places rather than with Parse's layout interpreter
// (issue 16: ~530 instructions an allocation's event against ~750);
// anything else goes to time.Parse. What it gives is a time only when it
// formats back to raw, which str compares, as it compares Parse's.
func parseUTC(raw []byte) (time.Time, bool) {
	if t, ok := parseAppended(raw); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw))
	return t, err == nil
}

// parseAppended reads "YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z" (false for
// another form; a field out of range is normalised by time.Date, and
// the caller's comparison refuses it).
func parseAppended(raw []byte) (time.Time, bool) {
	n := len(raw)
	if n < 20 || n == 21 || n > 30 || raw[4] != '-' || raw[7] != '-' || raw[10] != 'T' || raw[13] != ':' || raw[16] != ':' || raw[n-1] != 'Z' || (n > 20 && raw[19] != '.') {
		return time.Time{}, false
	}
	for i, c := range raw[:19] {
		if c-'0' > 9 && i != 4 && i != 7 && i != 10 && i != 13 && i != 16 {
			return time.Time{}, false
		}
	}
	d := func(i int) int { return int(raw[i]-'0')*10 + int(raw[i+1]-'0') }
	ns := 0
	if n > 20 {
		digits := raw[20 : n-1]
		for _, c := range digits {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			ns = ns*10 + int(c-'0')
		}
		for range 9 - len(digits) {
			ns *= 10
		}
	}
	return time.Date(d(0)*100+d(2), time.Month(d(5)), d(8), d(11), d(14), d(17), ns, time.UTC), true
}

// prefix encodes raw when it is a prefix in netip's form.
func (e *encoder) prefix(raw []byte) bool {
	var tmp [64]byte // see number
	if p, err := netip.ParsePrefix(string(raw)); err == nil && string(p.AppendTo(tmp[:0])) == string(raw) {
		if p == p.Masked() && !p.Addr().Is4In6() {
			// The length (IPv6: 33 more), then the bytes that hold the bits.
			fb := byte(p.Bits())
			if p.Addr().Is6() {
				fb += 33
			}
			e.out = append(e.out, tagPrefixM, fb)
			a := p.Addr().As16()
			if p.Addr().Is4() {
				a4 := p.Addr().As4()
				copy(a[:], a4[:])
			}
			e.out = append(e.out, a[:(p.Bits()+7)/8]...)
			return true
		}
		if p.Addr().Is4() {
			e.out = append(e.out, tagPrefix4, byte(p.Bits()))
		} else {
			e.out = append(e.out, tagPrefix6, byte(p.Bits()))
		}
		if p.Addr().Is4() {
			a := p.Addr().As4()
			e.out = append(e.out, a[:]...)
		} else {
			a := p.Addr().As16()
			e.out = append(e.out, a[:]...)
		}
		return true
	}
	return false
}

func (e *encoder) literal(raw []byte) {
	e.out = append(e.out, tagString)
	e.out = binary.AppendUvarint(e.out, uint64(len(raw)))
	e.out = append(e.out, raw...)
}

// ErrCorrupt is returned for bytes that are no encoding this package
// wrote.
var ErrCorrupt = errors.New("evcodec: corrupt event payload")

// Decode returns the JSON that b encodes.
func Decode(b []byte, s Subject) ([]byte, error) {
	return decodeTo(make([]byte, 0, len(b)*3), b, s)
}

// decodeTo is Decode appending to dst.
func decodeTo(dst, b []byte, s Subject) ([]byte, error) {
	if !IsEncoded(b) {
		return nil, fmt.Errorf("%w: version byte %#x", ErrCorrupt, firstByte(b))
	}
	d := decoder{in: b, pos: 1, s: s, out: dst}
	return d.run()
}

// run decodes the value at pos, which must end the input.
func (d *decoder) run() ([]byte, error) {
	if err := d.value(); err != nil {
		return nil, err
	}
	if d.pos != len(d.in) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrCorrupt, len(d.in)-d.pos)
	}
	return d.out, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

type decoder struct {
	in    []byte
	pos   int
	s     Subject
	out   []byte
	depth int
	// memo, when not nil, is the last prefix decoded.
	memo *prefixMemo
}

func (d *decoder) corrupt(what string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrCorrupt, what, d.pos)
}

func (d *decoder) value() error {
	if d.pos >= len(d.in) {
		return d.corrupt("truncated")
	}
	c := d.in[d.pos]
	d.pos++
	switch {
	case c <= maxSmall:
		d.out = strconv.AppendInt(d.out, int64(c), 10)
	case c >= tagDict && c < tagObject:
		i := int(c - tagDict)
		if i >= len(dict1) {
			return d.corrupt("dictionary index")
		}
		d.out = append(append(append(d.out, '"'), dict1[i]...), '"')
	case c == tagObject || c == tagArray || c == tagShape:
		if d.depth++; d.depth > 64 {
			return d.corrupt("nesting")
		}
		open, close := byte('{'), byte('}')
		if c == tagArray {
			open, close = '[', ']'
		}
		d.out = append(d.out, open)
		first := 0
		if c == tagShape {
			for i, k := range shape1 {
				if i > 0 {
					d.out = append(d.out, ',')
				}
				d.out = append(append(append(d.out, '"'), k...), '"', ':')
				if err := d.value(); err != nil {
					return err
				}
			}
			c, first = tagObject, len(shape1)
		}
		for n := first; ; n++ {
			if d.pos >= len(d.in) {
				return d.corrupt("truncated")
			}
			if d.in[d.pos] == tagEnd {
				d.pos++
				break
			}
			if n > 0 {
				d.out = append(d.out, ',')
			}
			if err := d.value(); err != nil {
				return err
			}
			if c == tagObject {
				d.out = append(d.out, ':')
				if err := d.value(); err != nil {
					return err
				}
			}
		}
		d.out = append(d.out, close)
		d.depth--
	case c == tagNull:
		d.out = append(d.out, "null"...)
	case c == tagTrue:
		d.out = append(d.out, "true"...)
	case c == tagFalse:
		d.out = append(d.out, "false"...)
	case c == tagInt:
		v, n := binary.Varint(d.in[d.pos:])
		if n <= 0 {
			return d.corrupt("integer")
		}
		d.pos += n
		d.out = strconv.AppendInt(d.out, v, 10)
	case c == tagString || c == tagNumber:
		l, n := binary.Uvarint(d.in[d.pos:])
		if n <= 0 || l > uint64(len(d.in)-d.pos-n) {
			return d.corrupt("length")
		}
		d.pos += n
		raw := d.in[d.pos : d.pos+int(l)]
		d.pos += int(l)
		if c == tagString {
			d.out = append(append(append(d.out, '"'), raw...), '"')
		} else {
			d.out = append(d.out, raw...)
		}
	case c == tagTime:
		v, n := binary.Varint(d.in[d.pos:])
		if n <= 0 {
			return d.corrupt("time")
		}
		d.pos += n
		d.out = append(d.out, '"')
		d.out = jsonfast.AppendTime(d.out, time.Unix(0, v).UTC()) // AppendFormat(RFC3339Nano) without its layout interpreter
		d.out = append(d.out, '"')
	case (c == tagPrefix4 || c == tagPrefix6 || c == tagPrefixM) && d.memo != nil:
		return d.memoPrefix()
	case c == tagPrefix4 || c == tagPrefix6:
		size := 4
		if c == tagPrefix6 {
			size = 16
		}
		if len(d.in)-d.pos < 1+size {
			return d.corrupt("prefix")
		}
		bits := int(d.in[d.pos])
		a, _ := netip.AddrFromSlice(d.in[d.pos+1 : d.pos+1+size])
		d.pos += 1 + size
		p := netip.PrefixFrom(a, bits)
		if !p.IsValid() {
			return d.corrupt("prefix length")
		}
		d.out = append(d.out, '"')
		d.out = p.AppendTo(d.out)
		d.out = append(d.out, '"')
	case c == tagPrefixM:
		if d.pos >= len(d.in) {
			return d.corrupt("prefix")
		}
		bits, size := int(d.in[d.pos]), 4
		if bits > 32 {
			bits, size = bits-33, 16
		}
		n := (bits + 7) / 8
		if bits > size*8 || len(d.in)-d.pos-1 < n {
			return d.corrupt("prefix")
		}
		var a [16]byte
		copy(a[:], d.in[d.pos+1:d.pos+1+n])
		d.pos += 1 + n
		addr := netip.AddrFrom16(a)
		if size == 4 {
			addr = netip.AddrFrom4([4]byte(a[:4]))
		}
		d.out = append(d.out, '"')
		d.out = netip.PrefixFrom(addr, bits).AppendTo(d.out)
		d.out = append(d.out, '"')
	case c == tagSubject:
		d.out = append(append(append(d.out, '"'), d.s.Text...), '"')
	case c == tagSubjID:
		d.out = strconv.AppendInt(d.out, d.s.ID, 10)
	default:
		return d.corrupt(fmt.Sprintf("tag %#x", c))
	}
	return nil
}

// memoPrefix decodes the prefix whose tag was just read, as the memo
// has it when its encoding is the one at hand, else with value (and
// remembers that one).
func (d *decoder) memoPrefix() error {
	start := d.pos - 1
	if m := d.memo; len(m.enc) > 0 && bytes.HasPrefix(d.in[start:], m.enc) && prefixLen(d.in[start:]) == len(m.enc) {
		d.pos = start + len(m.enc)
		d.out = append(append(append(d.out, '"'), m.text...), '"')
		return nil
	}
	m := d.memo
	d.memo = nil
	d.pos = start
	mark := len(d.out)
	err := d.value()
	d.memo = m
	if err == nil && d.pos-start <= 64 {
		// The text without its quotes.
		m.set(d.out[mark+1:len(d.out)-1], d.in[start:d.pos])
	}
	return err
}

// prefixLen is the length of the prefix encoding b begins with (its tag
// is one of the prefix tags), or -1 when b is too short to hold it.
func prefixLen(b []byte) int {
	n := -1
	switch {
	case len(b) < 2:
	case b[0] == tagPrefix4:
		n = 2 + 4
	case b[0] == tagPrefix6:
		n = 2 + 16
	case b[0] == tagPrefixM:
		bits := int(b[1])
		if bits > 32 {
			bits -= 33
		}
		n = 2 + (bits+7)/8
	}
	if n > len(b) {
		return -1
	}
	return n
}

// Stored is what a store writes for the payload js of an event about s:
// nil for none, the encoding, or (when Encode declines) the JSON itself.
func Stored(js []byte, s Subject) []byte {
	if len(js) == 0 {
		return nil
	}
	if enc := Encode(js, s); enc != nil {
		return enc
	}
	return js
}

// Read is the JSON of a stored payload b (nil for none), for readers of
// the event log: JSON text as it was stored, an encoding decoded.
func Read(b []byte, s Subject) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	return Text(b, s)
}
