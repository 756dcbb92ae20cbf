package server_test

import (
	"context"
	"os"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// What one poll of the event log costs the server (Registry.Position, as
// Server.due reads it) on a large register: the case for polling every
// 100 ms. Not in CI: it needs a register file, opened as the server opens
// it (give a copy: opening applies pending migrations).
//
//	CADASTRE_BENCH_DB=/tmp/r1m-copy.db go test -run '^$' -bench PositionPoll -benchtime 2000x ./authdns/server/
func BenchmarkPositionPoll(b *testing.B) {
	path := os.Getenv("CADASTRE_BENCH_DB")
	if path == "" {
		b.Skip("CADASTRE_BENCH_DB is not set (a copy of a register file)")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	b.ResetTimer()
	c0 := cpuTime(b)
	for b.Loop() {
		if _, err := reg.Position(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-c0).Microseconds())/float64(b.N), "cpu-µs/op")
}
