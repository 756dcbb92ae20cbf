package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/interchange"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// An import into an empty register builds the assignments' indexes after
// the rows (IndexDeferrer): an overlap across chunks, which their trigger
// would have refused row by row, is still refused with the line of the
// assignment, and whatever the outcome (refused, dry run, loaded) the
// schema is what the migrations made.
func TestImportBuildsIndexesAfter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st)
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := func() string {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT type || ' ' || name || ': ' || sql FROM sqlite_master WHERE tbl_name = 'assignments' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		return b.String()
	}
	count := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := schema()
	if !strings.Contains(before, "assignments_no_overlap") || !strings.Contains(before, "assignments_at") {
		t.Fatalf("schema without its trigger or its index by address:\n%s", before)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	yes := true
	mp := netip.MustParsePrefix
	pool := mp("10.1.0.0/24")
	as := func(ps ...string) []registry.AssignmentRecord {
		var out []registry.AssignmentRecord
		for _, p := range ps {
			out = append(out, registry.AssignmentRecord{Prefix: mp(p), Pool: pool, Region: "east", State: registry.StateAssigned, CreatedAt: t0})
		}
		return out
	}
	file := func(ps ...string) []byte {
		d := registry.Dump{Format: registry.DumpFormat, Version: registry.DumpVersion,
			Regions:     []registry.RegionRecord{{Name: "east", Location: location.Location{Country: "US"}, BorrowBits: 24, CreatedAt: t0}},
			Blocks:      []registry.BlockRecord{{Prefix: mp("10.0.0.0/8"), Source: registry.SourcePrivate, Space: "private", CreatedAt: t0}},
			Pools:       []registry.PoolRecord{{Prefix: pool, Region: "east", Space: "private", UseAll: &yes, CreatedAt: t0}},
			Assignments: as(ps...)}
		var b bytes.Buffer
		if err := interchange.Write(&b, d, interchange.JSON); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	load := func(f []byte, opt registry.LoadOptions) (registry.LoadReport, error) {
		rd, err := interchange.NewReader(bytes.NewReader(f), 1)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		return reg.LoadFrom(ctx, rd.Head(), rd, opt)
	}

	// The third assignment (line 21 of the file) overlaps the first.
	bad := file("10.1.0.0/30", "10.1.0.8/32", "10.1.0.2/32")
	_, err = load(bad, registry.LoadOptions{})
	if !errors.Is(err, registry.ErrOverlap) || !strings.Contains(err.Error(), "line 21: assignment 10.1.0.2/32: overlaps assignment 10.1.0.0/30 (line 19)") {
		t.Fatalf("overlap across chunks: %v\n%s", err, bad)
	}
	if got := schema(); got != before || count() != 0 {
		t.Fatalf("after a refused import: %d rows, schema\n%s\nwant\n%s", count(), got, before)
	}
	good := file("10.1.0.0/30", "10.1.0.8/32", "10.1.0.4/32")
	if rep, err := load(good, registry.LoadOptions{DryRun: true}); err != nil || rep.Assignments != 3 {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	if got := schema(); got != before || count() != 0 {
		t.Fatalf("after a dry run: %d rows, schema\n%s\nwant\n%s", count(), got, before)
	}
	if rep, err := load(good, registry.LoadOptions{}); err != nil || rep.Assignments != 3 {
		t.Fatalf("load: %+v, %v", rep, err)
	}
	if got := schema(); got != before || count() != 3 {
		t.Fatalf("after a load: %d rows, schema\n%s\nwant\n%s", count(), got, before)
	}
	// The trigger is back: an overlapping allocation is refused by it.
	if _, err := reg.Allocate(ctx, registry.Request{Region: "east", Family: 4, Bits: 32}); err != nil {
		t.Fatalf("allocate after the load: %v", err)
	}
}
