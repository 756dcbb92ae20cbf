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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	bw := bufio.NewWriterSize(w, 1<<16)
	var err error
	if f == CSV {
		err = writeCSV(bw, &d)
	} else {
		err = writeJSON(bw, &d)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
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
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) > 0 && t[0] == '{' {
		return readJSON(data)
	}
	return readCSV(data)
}

// ---- JSON: one record a line, so that a line number names a record.

func writeJSON(w *bufio.Writer, d *registry.Dump) error {
	fmt.Fprintf(w, "{\n  \"format\": %q,\n  \"version\": %d", d.Format, d.Version)
	for _, k := range kinds {
		fmt.Fprintf(w, ",\n  %q: [", k.list)
		n := k.len(d)
		for i := range n {
			b, err := json.Marshal(k.record(d, i))
			if err != nil {
				return fmt.Errorf("%s %d: %w", k.name, i+1, err)
			}
			w.WriteString("\n    ")
			w.Write(b)
			if i < n-1 {
				w.WriteByte(',')
			}
		}
		if n > 0 {
			w.WriteString("\n  ")
		}
		w.WriteByte(']')
	}
	_, err := w.WriteString("\n}\n")
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

func readJSON(data []byte) (registry.Dump, error) {
	var d registry.Dump
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	ln := &lines{data: data}
	fail := func(path string, err error) error {
		off := int(dec.InputOffset())
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			off = int(te.Offset)
			err = fmt.Errorf("field %s: %s where %s is wanted", te.Field, te.Value, te.Type)
		}
		return fmt.Errorf("line %d (%s): %w: %w", ln.at(off), path, err, ErrInvalid)
	}
	tok, err := dec.Token()
	if err != nil {
		return d, fail("$", err)
	}
	if tok != json.Delim('{') {
		return d, fail("$", errors.New("a dump is a JSON object"))
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return d, fail("$", err)
		}
		key, _ := tok.(string)
		path := "$." + key
		if seen[key] {
			return d, fail(path, errors.New("key given twice"))
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
				return d, fail(path, unknownKind(key))
			}
			err = readList(dec, ln, data, kinds[i], &d, path)
		}
		if err != nil {
			var le *lineError
			if errors.As(err, &le) {
				return d, err
			}
			return d, fail(path, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return d, fail("$", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, fail("$", errors.New("text after the dump's closing brace"))
	}
	if err := checkHead(d.Format, d.Version); err != nil {
		return d, fmt.Errorf("line 1 ($.format): %w", err)
	}
	return d, nil
}

// lineError is an error already placed at its line.
type lineError struct{ err error }

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

func readList(dec *json.Decoder, ln *lines, data []byte, k kind, d *registry.Dump, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s: want a list", k.list)
	}
	for i := 0; dec.More(); i++ {
		off := start(data, int(dec.InputOffset()))
		at := fmt.Sprintf("line %d (%s[%d])", ln.at(off), path, i)
		if err := k.decode(dec, d, at); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				err = fmt.Errorf("field %s: %s where %s is wanted", te.Field, te.Value, te.Type)
			}
			return &lineError{fmt.Errorf("%s: %s: %w: %w", at, k.name, err, ErrInvalid)}
		}
	}
	_, err = dec.Token()
	return err
}

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

func writeCSV(w *bufio.Writer, d *registry.Dump) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{d.Format, strconv.Itoa(d.Version)}); err != nil {
		return err
	}
	row := []string{}
	for _, k := range kinds {
		row = append(row[:0], "#"+k.name)
		for _, c := range k.columns(d, -1) {
			row = append(row, c.name)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		for i := range k.len(d) {
			row = append(row[:0], k.name)
			for _, c := range k.columns(d, i) {
				row = append(row, c.get())
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func readCSV(data []byte) (registry.Dump, error) {
	var d registry.Dump
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	line := func() int { l, _ := cr.FieldPos(0); return l }
	rec, err := cr.Read()
	if err != nil {
		return d, fmt.Errorf("line 1: %w: %w", csvErr(err), ErrInvalid)
	}
	if len(rec) != 2 {
		return d, fmt.Errorf("line 1: a dump in CSV starts with %q: %w", registry.DumpFormat+","+strconv.Itoa(registry.DumpVersion), ErrInvalid)
	}
	d.Format = strings.TrimPrefix(rec[0], "\ufeff")
	if d.Version, err = strconv.Atoi(rec[1]); err != nil {
		return d, fmt.Errorf("line 1: version %q: not a number: %w", rec[1], ErrInvalid)
	}
	if err := checkHead(d.Format, d.Version); err != nil {
		return d, fmt.Errorf("line 1: %w", err)
	}
	headers := map[string][]int{} // kind -> column index of each field of the record
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return d, nil
		}
		if err != nil {
			return d, fmt.Errorf("%w: %w", csvErr(err), ErrInvalid)
		}
		at := fmt.Sprintf("line %d", line())
		name, isHeader := strings.CutPrefix(rec[0], "#")
		i := slices.IndexFunc(kinds, func(k kind) bool { return k.name == name })
		if i < 0 {
			return d, fmt.Errorf("%s: %w: %w", at, unknownKind(name), ErrInvalid)
		}
		k := kinds[i]
		if isHeader {
			if _, ok := headers[name]; ok {
				return d, fmt.Errorf("%s: header of %s given twice: %w", at, name, ErrInvalid)
			}
			cols := k.columns(&d, -1)
			idx := make([]int, len(cols))
			for j := range idx {
				idx[j] = -1
			}
			for j, h := range rec[1:] {
				c := slices.IndexFunc(cols, func(c column) bool { return c.name == h })
				if c < 0 {
					return d, fmt.Errorf("%s: %s has no column %q (it has %s): %w", at, name, h, colNames(cols), ErrInvalid)
				}
				if idx[c] >= 0 {
					return d, fmt.Errorf("%s: column %q given twice: %w", at, h, ErrInvalid)
				}
				idx[c] = j + 1
			}
			headers[name] = idx
			continue
		}
		idx, ok := headers[name]
		if !ok {
			return d, fmt.Errorf("%s: a %s record before the header #%s: %w", at, name, name, ErrInvalid)
		}
		if len(rec) > len(rec[:1])+countSet(idx) {
			return d, fmt.Errorf("%s: %d fields, the header #%s has %d: %w", at, len(rec), name, countSet(idx)+1, ErrInvalid)
		}
		n := k.add(&d)
		k.setAt(&d, n, at)
		for j, c := range k.columns(&d, n) {
			if idx[j] < 0 || idx[j] >= len(rec) || rec[idx[j]] == "" {
				continue
			}
			if err := c.set(rec[idx[j]]); err != nil {
				return d, fmt.Errorf("%s: %s: column %s: %w: %w", at, name, c.name, err, ErrInvalid)
			}
		}
	}
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
