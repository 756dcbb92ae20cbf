package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A register whose tenants all share one suffix (the cloud demo's 1,000:
// 499,500 pairs) logs a bounded number of lines at start, and the count.
func TestOverlapWarningsAreBounded(t *testing.T) {
	for _, n := range []int{1, maxOverlapWarnings, maxOverlapWarnings + 1, 499_500} {
		pairs := make([][2]string, n)
		for i := range pairs {
			pairs[i] = [2]string{fmt.Sprintf("t%d", i), "other"}
		}
		var buf bytes.Buffer
		warnOverlaps(slog.New(slog.NewTextHandler(&buf, nil)), pairs)
		lines := strings.Count(buf.String(), "\n")
		want := n
		if n > maxOverlapWarnings {
			want = maxOverlapWarnings + 1
			if !strings.Contains(buf.String(), "more pairs not logged") {
				t.Errorf("%d pairs: no summary line says more pairs were not logged:\n%s", n, buf.String())
			}
		}
		if lines != want {
			t.Errorf("%d pairs: %d lines logged, want %d", n, lines, want)
		}
	}
}
