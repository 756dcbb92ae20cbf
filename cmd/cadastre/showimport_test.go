package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShowNamesTheLoad{SQLite,PostgreSQL}: `cadastre show ADDRESS` of an
// assignment a load wrote lists the load's batch event
// (assignments.import, naming the batch's ID range): a load writes one
// event per batch, none per assignment, and before this `show` listed no
// history at all for such an assignment. An assignment allocated after
// the load lists its own allocation and not the load's event.
func TestShowNamesTheLoadSQLite(t *testing.T)     { showNamesTheLoad(t, false) }
func TestShowNamesTheLoadPostgreSQL(t *testing.T) { showNamesTheLoad(t, true) }

func showNamesTheLoad(t *testing.T, postgres bool) {
	src := newNamesCLI(t, false)
	src.tenantVM()
	src.must("alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--count", "3")
	file := filepath.Join(t.TempDir(), "r.json")
	src.must("export", "-o", file)
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	c := newNamesCLI(t, postgres)
	c.must("import", file)
	out := c.must("show", "10.9.0.1/32")
	if !strings.Contains(out, "assignments.import") || !strings.Contains(out, "IDs ") {
		t.Errorf("show of a loaded assignment does not name its load:\n%s", out)
	}
	c.must("alloc", "--region", "east", "--family", "4", "--tenant", "acme", "--name", "vm9.acme.example.net")
	var addr string
	for _, l := range strings.Split(c.must("list", "--tenant", "acme"), "\n") {
		if strings.Contains(l, "vm9.acme.example.net") {
			for _, f := range strings.Fields(l) {
				if strings.HasPrefix(f, "10.9.") && strings.HasSuffix(f, "/32") {
					addr = f
				}
			}
		}
	}
	if addr == "" {
		t.Fatalf("list lacks vm9:\n%s", c.must("list", "--tenant", "acme"))
	}
	out = c.must("show", addr)
	if strings.Contains(out, "assignments.import") || !strings.Contains(out, "assignment.allocate") {
		t.Errorf("show of an allocated assignment (%s): want its allocation, not the load:\n%s", addr, out)
	}
}
