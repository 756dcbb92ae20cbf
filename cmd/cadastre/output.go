package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	// encoding/json escapes C0 controls but not C1 ones or bidi
	// overrides; outside strings JSON holds none, so escaping every one
	// keeps the document valid and the terminal safe.
	_, err := io.WriteString(w, escapeUnsafe(b.String(), false))
	return err
}

// escapeUnsafe writes every character registry.Unsafe reports (control
// characters, bidi overrides, bytes that are not UTF-8) as a visible
// \uXXXX (or \xNN) escape, so that text stored before such input was
// refused cannot rewrite the terminal of whoever lists it. With keepLines
// newlines and tabs stay (the structure of the output itself).
func escapeUnsafe(s string, escapeLines bool) string {
	clean := true
	for _, r := range s {
		if registry.Unsafe(r) && (escapeLines || r != '\n' && r != '\t') {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case registry.Unsafe(r) && (escapeLines || r != '\n' && r != '\t') && !(r == utf8.RuneError && n == 3):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// safe is one line of stored text, escaped for the terminal.
func safe(s string) string { return escapeUnsafe(s, true) }

// table writes aligned columns; the header is upper case like kubectl's.
// Every cell is escaped (see safe).
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = safe(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// count prints an address count exactly while it is readable, and as a
// power of two beyond that (an IPv6 /32 holds 2^96 addresses).
func count(c prefix.Count) string {
	if v, ok := c.Uint64(); ok && v < 1<<40 {
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprintf("2^%.1f", math.Log2(c.Float64()))
}

// inUnit prints an IPv6 count in prefixes of /unit ("65535 /64") when it
// holds at least one, so that IPv6 never reads as 2^80 addresses; IPv4
// and smaller counts print as count does.
func inUnit(c prefix.Count, family, unit int) string {
	if family == 4 || unit <= 0 || unit >= 128 {
		return count(c)
	}
	n := c.Rsh(128 - unit)
	if n.IsZero() {
		return count(c)
	}
	return count(n) + " /" + strconv.Itoa(unit)
}

// handedOut prints what is handed out in the prefixes it was handed out
// as: IPv6 "1234 /64 + 56 /128", so a /128 never reads as a /64 and a
// /48 never as 65536 of them; IPv4 (and nothing handed out) as the count
// of addresses c.
func handedOut(c prefix.Count, family int, by []registry.LengthCount) string {
	if family == 4 || len(by) == 0 {
		return count(c)
	}
	parts := make([]string, len(by))
	for i, l := range by {
		parts[i] = strconv.FormatInt(l.Count, 10) + " /" + strconv.Itoa(l.Bits)
	}
	return strings.Join(parts, " + ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

func assignmentRows(as []registry.Assignment) [][]string {
	rows := make([][]string, 0, len(as))
	for _, a := range as {
		borrowed := "-"
		if a.Relocation != nil {
			borrowed = "from " + a.Relocation.FromRegion + " (" + a.Relocation.Prefix.String() + ")"
		}
		state := string(a.State)
		if a.QuarantineUntil != nil && a.State == registry.StateQuarantined {
			state += " until " + day(*a.QuarantineUntil)
		}
		rows = append(rows, []string{strconv.FormatInt(a.ID, 10), a.Prefix.String(), a.Region, a.Pool.String(),
			dash(a.Tenant), dash(a.Resource), dash(a.Name), state, borrowed})
	}
	return rows
}

const assignmentHeader = "ID\tPREFIX\tREGION\tPOOL\tTENANT\tRESOURCE\tNAME\tSTATE\tBORROWED"

// lineEscaper buffers text and writes it with escapeUnsafe, keeping
// newlines: for outputs made of many Fprintf calls, where a stored LF in a
// field would forge a line, each field is printed through fields.
type lineEscaper struct {
	w   io.Writer
	buf bytes.Buffer
}

func (l *lineEscaper) Write(p []byte) (int, error) { return l.buf.Write(p) }

// Flush writes what was buffered, escaped.
func (l *lineEscaper) Flush() error {
	_, err := io.WriteString(l.w, escapeUnsafe(l.buf.String(), false))
	l.buf.Reset()
	return err
}
