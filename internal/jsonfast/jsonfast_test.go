package jsonfast

import (
	"bytes"
	"testing"
	"time"
)

// AppendTime writes what AppendFormat with RFC 3339 and nanoseconds
// writes, for every offset, fraction and year.
func TestAppendTime(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("UTC", 0)),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local),
		time.UnixMicro(1764547200123456),
		time.UnixMicro(1764547200123456).UTC(),
	}
	for i := range 2000 {
		times = append(times, time.UnixMicro(int64(i)*7919*1e9+int64(i)*104729).UTC())
	}
	for _, tm := range times {
		want := tm.AppendFormat(nil, time.RFC3339Nano)
		if got := AppendTime(nil, tm); !bytes.Equal(got, want) {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
