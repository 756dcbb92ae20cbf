package api

import (
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cadastre-ipam/cadastre/registry"
)

// pageBody is the body of a page of assignments. An alias, not a named
// type: the OpenAPI document describes the anonymous struct as before.
type pageBody = struct {
	Items []registry.Assignment `json:"items"`
	Next  string                `json:"next,omitempty" doc:"cursor of the next page; absent on the last"`
}

// appendPage appends b as huma's JSON format writes it (encoding/json, HTML
// not escaped, a newline at the end), byte for byte, without reflection:
// encoding/json's walk of 100 assignments (their prefixes and times through
// MarshalText and MarshalJSON, each an allocation) was a tenth of a list
// page's CPU (bench/README.md, "Session 10: list pages").
// TestPageJSONAsEncodingJSON holds the two equal.
func appendPage(buf []byte, b *pageBody) []byte {
	buf = append(buf, `{"items":`...)
	if b.Items == nil {
		buf = append(buf, "null"...)
	} else {
		buf = append(buf, '[')
		for i := range b.Items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendAssignment(buf, &b.Items[i])
		}
		buf = append(buf, ']')
	}
	if b.Next != "" {
		buf = append(buf, `,"next":`...)
		buf = appendString(buf, b.Next)
	}
	return append(buf, '}', '\n')
}

// appendAssignment appends a as encoding/json writes registry.Assignment
// (its fields in order, the json tags' names and omitempty).
func appendAssignment(buf []byte, a *registry.Assignment) []byte {
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendInt(buf, a.ID, 10)
	buf = append(buf, `,"prefix":`...)
	buf = appendText(buf, a.Prefix.AppendText)
	buf = append(buf, `,"pool_id":`...)
	buf = strconv.AppendInt(buf, a.PoolID, 10)
	buf = append(buf, `,"pool":`...)
	buf = appendText(buf, a.Pool.AppendText)
	buf = append(buf, `,"region":`...)
	buf = appendString(buf, a.Region)
	if a.Space != "" {
		buf = append(buf, `,"space":`...)
		buf = appendString(buf, a.Space)
	}
	buf = append(buf, `,"tenant":`...)
	buf = appendString(buf, a.Tenant)
	buf = append(buf, `,"resource":`...)
	buf = appendString(buf, a.Resource)
	buf = append(buf, `,"name":`...)
	buf = appendString(buf, a.Name)
	buf = append(buf, `,"state":`...)
	buf = appendString(buf, string(a.State))
	buf = append(buf, `,"borrowed":`...)
	buf = strconv.AppendBool(buf, a.Borrowed)
	if r := a.Relocation; r != nil {
		buf = append(buf, `,"relocation":{"id":`...)
		buf = strconv.AppendInt(buf, r.ID, 10)
		buf = append(buf, `,"prefix":`...)
		buf = appendText(buf, r.Prefix.AppendText)
		buf = append(buf, `,"from_region":`...)
		buf = appendString(buf, r.FromRegion)
		buf = append(buf, `,"to_region":`...)
		buf = appendString(buf, r.ToRegion)
		buf = append(buf, '}')
	}
	if len(a.Tags) > 0 {
		buf = append(buf, `,"tags":{`...)
		keys := make([]string, 0, len(a.Tags))
		for k := range a.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json writes a map's keys sorted
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendString(buf, a.Tags[k])
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `,"created_at":`...)
	buf = appendTime(buf, a.CreatedAt)
	if a.ReleasedAt != nil {
		buf = append(buf, `,"released_at":`...)
		buf = appendTime(buf, *a.ReleasedAt)
	}
	if a.QuarantineUntil != nil {
		buf = append(buf, `,"quarantine_until":`...)
		buf = appendTime(buf, *a.QuarantineUntil)
	}
	return append(buf, '}')
}

// appendText appends the quoted text of a value's AppendText (netip's
// text never needs escaping).
func appendText(buf []byte, text func([]byte) ([]byte, error)) []byte {
	buf = append(buf, '"')
	buf, _ = text(buf)
	return append(buf, '"')
}

// appendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped). A time MarshalJSON refuses (a
// year outside 0-9999) cannot come from the store's microseconds.
func appendTime(buf []byte, t time.Time) []byte {
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as encoding/json does with HTML escaping
// off: quote and backslash escaped, \b \f \n \r \t by name, other control
// characters as \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 as
// \u2028 and \u2029.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// pageBufs holds buffers of pages written, for the next ones: a page of
// 100 is 25-40 KB, a third of the bytes a list request allocated
// (bench/README.md, session 15, pglists2), and what the collector ran for.
var pageBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPage bounds the buffers kept: a page of 1,000 is ~400 KB.
const maxPooledPage = 1 << 20

// writePage writes b to w as appendPage formats it. w does not keep the
// bytes it is given (io.Writer), so the buffer serves the next page.
func writePage(w io.Writer, b *pageBody) error {
	bp := pageBufs.Get().(*[]byte)
	buf := appendPage(slices.Grow((*bp)[:0], 400*len(b.Items)+64), b)
	_, err := w.Write(buf)
	if cap(buf) <= maxPooledPage {
		*bp = buf[:0]
		pageBufs.Put(bp)
	}
	return err
}
