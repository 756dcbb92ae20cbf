package interchange

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/internal/jsonkeys"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Reader reads a dump from a stream: first every kind but the
// assignments (Head), then the assignments a chunk at a time (Next), so
// that an import holds a chunk of a file, not the file. It reads either
// format: JSON when the first character that is not blank is '{', else
// CSV.
//
// A file in the order export writes (every other kind, with the format
// and version, before the assignments) is read that way. A hand-written
// file that puts the assignments before another kind is read whole, as
// Read reads it: Head then holds its assignments too. A CSV file whose
// records of another kind follow its assignments is refused at that
// record's line, once assignments were handed out.
type Reader struct {
	head registry.Dump
	next func() (item, bool)
	stop func()
	err  error
}

// item is one step of the parser: the head, a chunk, or an error.
type item struct {
	head bool
	recs []registry.AssignmentRecord
	err  error
}

// errStopped ends the parser when its reader is closed.
var errStopped = errors.New("reader closed")

// NewReader reads the head of the dump on r: every record before its
// first assignment, and all of the file when chunk is 0 or the file is
// not in export order. Next then gives at most chunk assignments a call.
func NewReader(r io.Reader, chunk int) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	p := &parser{chunk: chunk, t: &tracker{r: br}}
	seq := p.csv
	if isJSON(br) {
		seq = p.json
		p.t.keep = true
	}
	next, stop := iter.Pull(func(yield func(item) bool) {
		if err := seq(yield); err != nil && !errors.Is(err, errStopped) {
			yield(item{err: err})
		}
	})
	rd := &Reader{next: next, stop: stop}
	it, ok := next()
	switch {
	case !ok:
		stop()
		return nil, fmt.Errorf("line 1: empty file: %w", ErrInvalid)
	case it.err != nil:
		stop()
		return nil, it.err
	}
	rd.head = p.d
	return rd, nil
}

// Head is every record read before the first chunk: every kind but the
// assignments, and the assignments too when the file was read whole.
func (r *Reader) Head() registry.Dump { return r.head }

// Next gives the next chunk of assignments, io.EOF after the last; an
// error of the file (with its line) ends the reading. The records are
// valid until the next call.
func (r *Reader) Next() ([]registry.AssignmentRecord, error) {
	if r.err != nil {
		return nil, r.err
	}
	it, ok := r.next()
	switch {
	case !ok:
		r.err = io.EOF
	case it.err != nil:
		r.err = it.err
	default:
		return it.recs, nil
	}
	return nil, r.err
}

// Close ends the reading.
func (r *Reader) Close() { r.stop() }

// isJSON says whether the first character of br that is not blank (nor a
// byte order mark) is '{'.
func isJSON(br *bufio.Reader) bool {
	for n := 1; n <= br.Size(); n++ {
		b, err := br.Peek(n)
		t := bytes.TrimLeft(b, " \t\r\n\ufeff")
		if len(t) > 0 && (t[0] != 0xEF || len(t) >= 3) {
			return t[0] == '{'
		}
		if err != nil {
			return false
		}
	}
	return false
}

// tracker passes a stream on, refusing what is not UTF-8 (JSON would
// read such a byte as U+FFFD and write that back, so the file would not
// round-trip) and counting lines: those before an offset the JSON
// decoder names, with keep, and those before a bad byte.
type tracker struct {
	r    io.Reader
	keep bool
	// buf holds, with keep, the bytes read from offset base on; line
	// counts the newlines before base.
	buf  []byte
	base int64
	line int
	// nl counts the newlines of every byte read; pend is the start of a
	// character cut by the end of the last read.
	nl   int
	pend []byte
}

func (t *tracker) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	data := b[:n]
	if bad := t.valid(data); bad >= 0 {
		return 0, fmt.Errorf("line %d: not UTF-8 text: %w", t.nl+bytes.Count(data[:bad], []byte{'\n'})+1, ErrInvalid)
	}
	if err == io.EOF && len(t.pend) > 0 {
		return 0, fmt.Errorf("line %d: not UTF-8 text: %w", t.nl+1, ErrInvalid)
	}
	t.nl += bytes.Count(data, []byte{'\n'})
	if t.keep {
		t.buf = append(t.buf, data...)
	}
	return n, err
}

// valid checks data, after what was read before, and returns the index of
// its first byte that is not UTF-8, or -1.
func (t *tracker) valid(data []byte) int {
	i := 0
	for len(t.pend) > 0 && i < len(data) {
		t.pend = append(t.pend, data[i])
		i++
		if utf8.FullRune(t.pend) {
			if r, _ := utf8.DecodeRune(t.pend); r == utf8.RuneError {
				return 0
			}
			t.pend = t.pend[:0]
		}
	}
	// A character cut at the end waits for the next read.
	end := len(data)
	for j := len(data) - 1; j >= i && j >= len(data)-utf8.UTFMax+1; j-- {
		if utf8.RuneStart(data[j]) {
			if !utf8.FullRune(data[j:]) {
				end = j
			}
			break
		}
	}
	if !utf8.Valid(data[i:end]) {
		for i < end {
			r, n := utf8.DecodeRune(data[i:end])
			if r == utf8.RuneError && n <= 1 {
				return i
			}
			i += n
		}
	}
	t.pend = append(t.pend[:0], data[end:]...)
	return -1
}

// at is the line of offset off (from 1); offsets only go forward, and the
// bytes before off are let go.
func (t *tracker) at(off int64) int {
	if off < t.base {
		return t.line + 1
	}
	k := min(int(off-t.base), len(t.buf))
	t.line += bytes.Count(t.buf[:k], []byte{'\n'})
	t.base += int64(k)
	t.buf = t.buf[k:]
	if cap(t.buf) > 1<<20 && len(t.buf) < cap(t.buf)/4 {
		t.buf = slices.Clone(t.buf)
	}
	return t.line + 1
}

// span is the bytes from offset from to offset to, while they are kept
// (with keep, from at or after the last offset given to at).
func (t *tracker) span(from, to int64) ([]byte, bool) {
	if !t.keep || from < t.base || to < from || to-t.base > int64(len(t.buf)) {
		return nil, false
	}
	return t.buf[from-t.base : to-t.base], true
}

// start skips blanks and a comma after off: where the next value begins.
func (t *tracker) start(off int64) int64 {
	if off < t.base {
		return off
	}
	i := int(off - t.base)
	for i < len(t.buf) && (t.buf[i] == ' ' || t.buf[i] == '\t' || t.buf[i] == '\r' || t.buf[i] == '\n' || t.buf[i] == ',') {
		i++
	}
	return t.base + int64(i)
}

// parser reads one file into d, yielding the head and then the chunks.
type parser struct {
	chunk int
	t     *tracker
	d     registry.Dump
	// streaming: the head was yielded; assignments go to chunks.
	streaming bool
	page      registry.Dump
}

// flush yields the chunk read so far.
func (p *parser) flush(yield func(item) bool) error {
	if len(p.page.Assignments) == 0 {
		return nil
	}
	if !yield(item{recs: p.page.Assignments}) {
		return errStopped
	}
	p.page.Assignments = p.page.Assignments[:0]
	return nil
}

// ---- JSON: one record a line, so that a line number names a record.

func (p *parser) json(yield func(item) bool) error {
	d := &p.d
	dec := json.NewDecoder(p.t)
	dec.DisallowUnknownFields()
	fail := func(path string, err error) error {
		var le *lineError
		if errors.As(err, &le) || errors.Is(err, ErrInvalid) {
			return err
		}
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			off = te.Offset
			err = fmt.Errorf("field %s: %s where %s is wanted", te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("line %d (%s): %w: %w", p.t.at(off), path, err, ErrInvalid)
	}
	tok, err := dec.Token()
	if err != nil {
		return fail("$", err)
	}
	if tok != json.Delim('{') {
		return fail("$", errors.New("a dump is a JSON object"))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("$", err)
		}
		key, _ := tok.(string)
		path := "$." + key
		if seen[key] {
			return fail(path, errors.New("key given twice"))
		}
		seen[key] = true
		switch key {
		case "format":
			err = dec.Decode(&d.Format)
		case "version":
			err = dec.Decode(&d.Version)
		default:
			i := slices.IndexFunc(kinds, func(k kind) bool { return k.list == key })
			if i < 0 {
				return fail(path, unknownKind(key))
			}
			if kinds[i].name == last.name && p.chunk > 0 && len(seen) == len(kinds)+2 {
				// Everything else is read: the head is whole.
				if err := checkHead(d.Format, d.Version); err != nil {
					return fmt.Errorf("line 1 ($.format): %w", err)
				}
				if !yield(item{head: true}) {
					return errStopped
				}
				p.streaming = true
			}
			err = p.jsonList(dec, kinds[i], path, yield)
		}
		if err != nil {
			return fail(path, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fail("$", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("text after the dump's closing brace")
		}
		return fail("$", err)
	}
	if err := checkHead(d.Format, d.Version); err != nil {
		return fmt.Errorf("line 1 ($.format): %w", err)
	}
	if p.streaming {
		return p.flush(yield)
	}
	if !yield(item{head: true}) {
		return errStopped
	}
	return nil
}

func (p *parser) jsonList(dec *json.Decoder, k kind, path string, yield func(item) bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s: want a list", k.list)
	}
	into := &p.d
	if p.streaming {
		into = &p.page
	}
	for i := 0; dec.More(); i++ {
		from := p.t.start(dec.InputOffset())
		at := "line " + strconv.Itoa(p.t.at(from)) + " (" + path + "[" + strconv.Itoa(i) + "])"
		err := k.decode(dec, into, at)
		if err == nil {
			// The record as written: a key given twice (or in two cases)
			// was read as its last by the decoder, so refuse it, as the
			// API refuses such a body (one pass, no copy).
			rec, ok := p.t.span(from, dec.InputOffset())
			if !ok {
				return fmt.Errorf("%s: the record's bytes were not kept", at)
			}
			err = jsonkeys.Check(rec)
		}
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				err = fmt.Errorf("field %s: %s where %s is wanted", te.Field, te.Value, te.Type)
			}
			if errors.Is(err, ErrInvalid) {
				return err
			}
			return &lineError{fmt.Errorf("%s: %s: %w: %w", at, k.name, err, ErrInvalid)}
		}
		if p.streaming && len(p.page.Assignments) >= p.chunk {
			if err := p.flush(yield); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token()
	return err
}

// ---- CSV: a first record "cadastre-register,VERSION"; then, for each
// kind, a header "#KIND,COLUMN,..." and its records "KIND,VALUE,...".

func (p *parser) csv(yield func(item) bool) error {
	d := &p.d
	cr := csv.NewReader(p.t)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	line := func() int { l, _ := cr.FieldPos(0); return l }
	rec, err := cr.Read()
	if err != nil {
		return fmt.Errorf("line 1: %w: %w", csvErr(err), ErrInvalid)
	}
	if len(rec) != 2 {
		return fmt.Errorf("line 1: a dump in CSV starts with %q: %w", registry.DumpFormat+","+strconv.Itoa(registry.DumpVersion), ErrInvalid)
	}
	d.Format = strings.TrimPrefix(rec[0], "\ufeff")
	if d.Version, err = strconv.Atoi(rec[1]); err != nil {
		return fmt.Errorf("line 1: version %q: not a number: %w", rec[1], ErrInvalid)
	}
	if err := checkHead(d.Format, d.Version); err != nil {
		return fmt.Errorf("line 1: %w", err)
	}
	headers := map[string][]int{} // kind -> column index of each field of the record
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			if p.streaming {
				return p.flush(yield)
			}
			if !yield(item{head: true}) {
				return errStopped
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrInvalid) {
				return err
			}
			return fmt.Errorf("%w: %w", csvErr(err), ErrInvalid)
		}
		ln := line()
		name, isHeader := strings.CutPrefix(rec[0], "#")
		i := slices.IndexFunc(kinds, func(k kind) bool { return k.name == name })
		if i < 0 {
			return fmt.Errorf("line %d: %w: %w", ln, unknownKind(name), ErrInvalid)
		}
		k := kinds[i]
		if p.streaming && k.name != last.name {
			return fmt.Errorf("line %d: a %s after the assignments: write the assignments last, as export does: %w", ln, name, ErrInvalid)
		}
		if isHeader {
			if _, ok := headers[name]; ok {
				return fmt.Errorf("line %d: header of %s given twice: %w", ln, name, ErrInvalid)
			}
			cols := k.columns(d, -1)
			idx := make([]int, len(cols))
			for j := range idx {
				idx[j] = -1
			}
			for j, h := range rec[1:] {
				c := slices.IndexFunc(cols, func(c column) bool { return c.name == h })
				if c < 0 {
					return fmt.Errorf("line %d: %s has no column %q (it has %s): %w", ln, name, h, colNames(cols), ErrInvalid)
				}
				if idx[c] >= 0 {
					return fmt.Errorf("line %d: column %q given twice: %w", ln, h, ErrInvalid)
				}
				idx[c] = j + 1
			}
			headers[name] = idx
			continue
		}
		idx, ok := headers[name]
		if !ok {
			return fmt.Errorf("line %d: a %s record before the header #%s: %w", ln, name, name, ErrInvalid)
		}
		if len(rec) > len(rec[:1])+countSet(idx) {
			return fmt.Errorf("line %d: %d fields, the header #%s has %d: %w", ln, len(rec), name, countSet(idx)+1, ErrInvalid)
		}
		if k.name == last.name && !p.streaming && p.chunk > 0 && len(headers) == len(kinds) {
			// Every header is read, and each kind's records come after
			// its header: the head is whole unless records of another
			// kind follow, which are then refused.
			if !yield(item{head: true}) {
				return errStopped
			}
			p.streaming = true
		}
		into := d
		if p.streaming {
			into = &p.page
		}
		at := "line " + strconv.Itoa(ln)
		n := k.add(into)
		k.setAt(into, n, at)
		for j, c := range k.columns(into, n) {
			if idx[j] < 0 || idx[j] >= len(rec) || rec[idx[j]] == "" {
				continue
			}
			if err := c.set(rec[idx[j]]); err != nil {
				return fmt.Errorf("%s: %s: column %s: %w: %w", at, name, c.name, err, ErrInvalid)
			}
		}
		if p.streaming && len(p.page.Assignments) >= p.chunk {
			if err := p.flush(yield); err != nil {
				return err
			}
		}
	}
}
