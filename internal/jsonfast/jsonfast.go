// Package jsonfast writes the JSON that encoding/json writes for the
// strings and times of the records written by the million (an export's
// assignments, an import's events), without reflection or the time
// layout interpreter. Callers fall back to encoding/json where Plain or
// PlainTime says no; the tests hold the two together.
package jsonfast

import "time"

// AppendTime appends t as t.AppendFormat(b, time.RFC3339Nano) does,
// and for a time in UTC (every time of an export or an event) without
// the layout interpreter, which cost a tenth of an export. Other offsets
// and years outside 0-9999 go to AppendFormat; TestAppendTime holds the
// two together.
func AppendTime(b []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	if _, off := t.Zone(); off != 0 || y < 0 || y > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	h, mi, s := t.Clock()
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
	if ns := t.Nanosecond(); ns != 0 {
		var f [10]byte
		f[0] = '.'
		for i := 9; i > 0; i-- {
			f[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for f[n-1] == '0' {
			n--
		}
		b = append(b, f[:n]...)
	}
	return append(b, 'Z')
}

// Plain says whether json.Marshal writes s as it is, between quotes:
// printable ASCII other than the quote, the backslash and the characters
// it escapes for HTML.
func Plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// PlainTime says whether time.Time's MarshalJSON is RFC 3339 with
// nanoseconds as AppendFormat writes it (it refuses other years).
func PlainTime(t time.Time) bool {
	y := t.Year()
	if y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0
}
