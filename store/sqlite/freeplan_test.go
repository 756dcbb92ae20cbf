package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestFreePlans: the statements of an allocation and of a pool's free
// space take the index meant for them (issue 16, one caller's durable
// allocation; bench/README.md, "Session 11"):
//   - the statement that folds an allocation (fold.go) and the DELETE of a
//     free prefix by its key build no ephemeral table: the DELETE goes by
//     the free table's key in one pass (free_pool no longer matches the
//     whole key: 00048), and no CHECK it evaluates holds an IN list of more than
//     two constants (00049), which SQLite would build a B-tree of, each run;
//   - a pool's free prefixes are read and deleted through the free table's
//     key, one range of the pool's addresses a prefix length and scope
//     (00053 dropped free_pool, which every allocation wrote), not by a
//     walk of the free table.
func TestFreePlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "plan.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The writer connection (the writer takes it at its first batch).
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, front, ok := setUpFold(ctx, conn)
	if !ok {
		t.Fatal("the fold's views and triggers were not created, or their statements not prepared")
	}
	defer conn.Raw(func(any) error { front.Close(); return st.Close() })
	for _, c := range []struct {
		name, q string
		args    int
	}{
		{"folded allocation", foldSQL, 25},
		{"folded frontier allocation", frontSQL, 25},
		{"free prefix by key", removeFreeSQL, 5},
		{"assignment", insertWithID, 14},
		{"a tag", insertTagSQL, 4},
	} {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+c.q, make([]any, c.args)...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			op, _ := vals[1].(string)
			ops = append(ops, op)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(ops) == 0 {
			t.Fatalf("%s: no program", c.name)
		}
		if n := countOf(ops, "OpenEphemeral"); n > 0 {
			t.Errorf("%s: %d ephemeral tables built each run", c.name, n)
		}
	}
	const byKey = "USING PRIMARY KEY (region_id=? AND family=? AND bits=? AND "
	for _, c := range []struct {
		name, q string
		args    []any
		want    []string
		sorts   bool // a pool's free prefixes in address order: a sort of that pool's
	}{
		{"free prefix by key", removeFreeSQL, make([]any, 5), []string{"USING PRIMARY KEY (region_id=? AND family=? AND bits=? AND addr=? AND pool_id=?)"}, false},
		{"a pool's free prefixes", freeOfPoolSQL, make([]any, 1), []string{"SEARCH f " + byKey + "addr>? AND addr<?)"}, true},
		{"free prefixes within a prefix", freeWithinSQL, make([]any, 3), []string{
			"SEARCH f " + byKey + "addr=? AND pool_id=?)", "SEARCH g " + byKey + "addr<?)", "SEARCH f " + byKey + "addr>? AND addr<?)"}, false},
		{"a pool's free prefixes deleted", poolFreeDeleteSQL, make([]any, 1), []string{"SEARCH f " + byKey + "addr>? AND addr<?)", "SEARCH free USING PRIMARY KEY (region_id=? AND family=? AND bits=? AND addr=? AND pool_id=?)"}, false},
	} {
		plan := queryPlan(ctx, t, conn, c.q, c.args...)
		got := strings.Join(plan, "\n  ")
		ok := true
		for _, w := range c.want {
			ok = ok && strings.Contains(got, w)
		}
		for _, step := range plan {
			// The CTEs s (two rows) and b (the lengths) are scanned; no
			// table is.
			if strings.HasPrefix(step, "SCAN ") && step != "SCAN s" && step != "SCAN b" && !strings.HasPrefix(step, "SCAN CONSTANT") {
				ok = false
			}
		}
		if strings.Contains(got, "TEMP B-TREE") && !c.sorts {
			ok = false
		}
		if !ok {
			t.Errorf("%s: plan\n  %s\nwant steps with %q, no scan of a table and no sort", c.name, got, c.want)
		}
	}
}

func countOf(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}
