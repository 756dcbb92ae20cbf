// Package interchange reads and writes whole registers: cadastre's own
// dump format (registry.Dump as JSON or CSV, versioned, documented in
// README.md) and the exports of other IPAMs (NetBox's REST JSON,
// phpIPAM's CSV), which it maps to a dump and a list of what it could not
// map. It holds no rule of the register: registry.Load checks and writes
// what it reads. Every record it reads carries where it was read (a line,
// a JSON path), so an error names it.
package interchange

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/registry"
)

// ErrInvalid marks a file that cannot be read: bad syntax, a wrong type,
// an unknown field. errors.Is(err, registry.ErrInvalid) holds too.
var ErrInvalid = fmt.Errorf("unreadable file: %w", registry.ErrInvalid)

// Format is a file format of the dump.
type Format string

// The formats of a dump.
const (
	JSON Format = "json"
	CSV  Format = "csv"
)

// ParseFormat checks a format's name.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case JSON, CSV:
		return Format(s), nil
	}
	return "", fmt.Errorf("format %q: must be json or csv: %w", s, registry.ErrInvalid)
}

// Write writes d in format f. The output depends only on d: writing a
// dump read back from it gives the same bytes.
func Write(w io.Writer, d registry.Dump, f Format) error {
	sw := NewWriter(w, f)
	if err := sw.Head(d); err != nil {
		return err
	}
	if err := sw.Assignments(d.Assignments); err != nil {
		return err
	}
	return sw.Close()
}

// Writer writes a dump as it comes, so that an export holds a page of
// assignments, not the register: Head writes every kind but the
// assignments, Assignments writes a page of them (called as often as
// needed), Close ends the file. The bytes are Write's for the same dump.
type Writer struct {
	bw *bufio.Writer
	f  Format
	cw *csv.Writer
	// n counts the assignments written.
	n   int
	row []string
	// page is a dump holding only the page being written, for the
	// assignment kind's accessors.
	page registry.Dump
	buf  []byte
}

// NewWriter starts a dump in format f on w.
func NewWriter(w io.Writer, f Format) *Writer {
	bw := bufio.NewWriterSize(w, 1<<16)
	sw := &Writer{bw: bw, f: f}
	if f == CSV {
		sw.cw = csv.NewWriter(bw)
	}
	return sw
}

// last is the kind written a page at a time: the assignments.
var last = kinds[len(kinds)-1]

// Head writes the file's head and every kind of d but the assignments
// (d.Assignments is not written: give it to Assignments), and opens the
// assignments' list.
func (w *Writer) Head(d registry.Dump) error {
	d.Assignments = nil
	if w.f == CSV {
		return w.csvHead(&d)
	}
	return w.jsonHead(&d)
}

// Assignments writes as after those written before.
func (w *Writer) Assignments(as []registry.AssignmentRecord) error {
	w.page.Assignments = as
	defer func() { w.page.Assignments = nil }()
	for i := range as {
		var err error
		if w.f == CSV {
			err = w.csvRecord(last, &w.page, i)
		} else {
			err = w.jsonRecord(last, &w.page, i, w.n)
		}
		if err != nil {
			return err
		}
		w.n++
	}
	return nil
}

// Count is how many assignments were written.
func (w *Writer) Count() int { return w.n }

// Close ends the file and flushes it; it does not close the underlying
// writer.
func (w *Writer) Close() error {
	if w.f == CSV {
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	} else {
		if w.n > 0 {
			w.bw.WriteString("\n  ")
		}
		w.bw.WriteString("]\n}\n")
	}
	return w.bw.Flush()
}

// Read reads a dump in either format: JSON when the first byte that is
// not blank is '{', else CSV.
func Read(data []byte) (registry.Dump, error) {
	// JSON would read a byte that is not UTF-8 as U+FFFD and write that
	// back, so the file would not round-trip: refused, with its line.
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return registry.Dump{}, fmt.Errorf("line %d: not UTF-8 text: %w", bytes.Count(data[:i], []byte{'\n'})+1, ErrInvalid)
	}
	r, err := NewReader(bytes.NewReader(data), 0)
	if err != nil {
		return registry.Dump{}, err
	}
	defer r.Close()
	return r.Head(), nil
}

// ---- JSON: one record a line, so that a line number names a record.

func (w *Writer) jsonHead(d *registry.Dump) error {
	fmt.Fprintf(w.bw, "{\n  \"format\": %q,\n  \"version\": %d", d.Format, d.Version)
	for _, k := range kinds[:len(kinds)-1] {
		fmt.Fprintf(w.bw, ",\n  %q: [", k.list)
		n := k.len(d)
		for i := range n {
			if err := w.jsonRecord(k, d, i, i); err != nil {
				return err
			}
		}
		if n > 0 {
			w.bw.WriteString("\n  ")
		}
		w.bw.WriteByte(']')
	}
	_, err := fmt.Fprintf(w.bw, ",\n  %q: [", last.list)
	return err
}

// jsonRecord writes record i of d, the nth of its list: one a line.
func (w *Writer) jsonRecord(k kind, d *registry.Dump, i, nth int) error {
	b, err := marshalRecord(w.buf, k.record(d, i))
	w.buf = b[:0]
	if err != nil {
		return fmt.Errorf("%s %d: %w", k.name, nth+1, err)
	}
	if nth > 0 {
		w.bw.WriteByte(',')
	}
	w.bw.WriteString("\n    ")
	_, err = w.bw.Write(b)
	return err
}

// lines turns byte offsets into line numbers, reading forward only.
type lines struct {
	data []byte
	off  int
	line int
}

func (l *lines) at(off int) int {
	if off > len(l.data) {
		off = len(l.data)
	}
	if off < l.off {
		return l.line + 1
	}
	l.line += bytes.Count(l.data[l.off:off], []byte{'\n'})
	l.off = off
	return l.line + 1
}

// start skips blanks and a comma after off: where the next value begins.
func start(data []byte, off int) int {
	for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n' || data[off] == ',') {
		off++
	}
	return off
}

// lineError is an error already placed at its line.
type lineError struct{ err error }

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

func unknownKind(key string) error {
	return fmt.Errorf("unknown key %q", key)
}

func checkHead(format string, version int) error {
	if format != registry.DumpFormat {
		return fmt.Errorf("format %q: not a cadastre register dump (want %q): %w", format, registry.DumpFormat, ErrInvalid)
	}
	if version < registry.MinDumpVersion || version > registry.DumpVersion {
		return fmt.Errorf("version %d: this cadastre reads versions %d to %d: %w", version, registry.MinDumpVersion, registry.DumpVersion, ErrInvalid)
	}
	return nil
}

// ---- CSV: a first record "cadastre-register,VERSION"; then, for each
// kind, a header "#KIND,COLUMN,..." and its records "KIND,VALUE,...".

func (w *Writer) csvHead(d *registry.Dump) error {
	if err := w.cw.Write([]string{d.Format, strconv.Itoa(d.Version)}); err != nil {
		return err
	}
	for _, k := range kinds {
		w.row = append(w.row[:0], "#"+k.name)
		for _, c := range k.columns(d, -1) {
			w.row = append(w.row, c.name)
		}
		if err := w.cw.Write(w.row); err != nil {
			return err
		}
		if k.name == last.name {
			return nil
		}
		for i := range k.len(d) {
			if err := w.csvRecord(k, d, i); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) csvRecord(k kind, d *registry.Dump, i int) error {
	w.row = append(w.row[:0], k.name)
	for _, c := range k.columns(d, i) {
		w.row = append(w.row, c.get())
	}
	return w.cw.Write(w.row)
}

func countSet(idx []int) int {
	n := 0
	for _, i := range idx {
		if i >= 0 {
			n++
		}
	}
	return n
}

func colNames(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.Line, pe.Err)
	}
	return err
}
