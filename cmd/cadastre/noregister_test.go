package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyVerbsNeedARegister: a verb that only reads refuses a SQLite
// file that does not exist (exit 7, naming the path) and creates nothing;
// a dry-run import checks against an empty register and leaves no file; a
// verb that writes still creates the register (found by an operator's
// walk-through, session 24: `--db typo.db report` printed an empty report
// with exit 0 and left typo.db behind, and so did `import --dry-run`).
func TestReadOnlyVerbsNeedARegister(t *testing.T) {
	root := newRoot(&app{})
	for _, v := range readOnlyVerbs {
		c, _, err := root.Find(strings.Fields(v))
		if err != nil || c.CommandPath() != "cadastre "+v {
			t.Errorf("readOnlyVerbs names %q, which is not a command (found %v, %v)", v, c.CommandPath(), err)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	mustCLI(t, src, "region", "add", "east", "--country", "US")
	export := filepath.Join(dir, "export.json")
	mustCLI(t, src, "export", "-o", export)

	for _, args := range [][]string{
		{"report"},
		{"region", "list", "--json"},
		{"assignments", "--json"},
		{"show", "192.0.2.1"},
		{"log"},
		{"export", "-o", filepath.Join(dir, "out.json")},
		{"zone", "list"},
		{"geofeed", "export"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "typo.db")
			r := cli(t, db, args...)
			if r.code != exitDatabase || !strings.Contains(r.stderr, "no register at "+db) {
				t.Errorf("on a file that does not exist: want exit %d naming it\n%s", exitDatabase, r)
			}
			if _, err := os.Stat(db); err == nil {
				t.Errorf("%s created %s", strings.Join(args, " "), db)
			}
		})
	}
	t.Run("import --dry-run", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "new.db")
		r := cli(t, db, "import", export, "--dry-run")
		if r.code != 0 || !strings.Contains(r.stdout, "would import") || !strings.Contains(r.stdout, "1 regions") {
			t.Fatalf("dry run against a register that does not exist yet: want the check of an empty one\n%s", r)
		}
		entries, err := os.ReadDir(filepath.Dir(db))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Errorf("a dry run left %v behind", entries)
		}
		mustCLI(t, db, "import", export)
		if _, err := os.Stat(db); err != nil {
			t.Errorf("the import proper: %v", err)
		}
	})
	t.Run("a verb that writes creates the register", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "fresh.db")
		mustCLI(t, db, "region", "add", "west", "--country", "US")
		if out := mustCLI(t, db, "region", "list"); !strings.Contains(out, "west") {
			t.Errorf("region list after the add:\n%s", out)
		}
	})
}
