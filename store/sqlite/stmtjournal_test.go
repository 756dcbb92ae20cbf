package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"unsafe"

	lib "modernc.org/sqlite/lib"
)

// TestFoldWithoutStatementJournal: SQLite prepares the folded allocation
// (fold.go) as a statement that needs no statement journal (issue 16;
// bench/README.md, "Session 19: sqlitedurable8"). Inside a transaction
// SQLite copies every page a statement changes first when the statement
// may write several rows and may abort (Parse's isMultiWrite and
// mayAbort, kept as Vdbe.usesStmtJournal): ~18k instructions an
// allocation. Anything in the trigger program that may abort marks it: a
// RAISE(ABORT) (the fold's own or that of a trigger of assignments, 00070),
// a constraint checked with ABORT (the INSERT's OR FAIL), a function call
// (changes() did), an explicit INTEGER PRIMARY KEY value (its type check).
//
// The flag is read from the prepared statement's Vdbe, on a connection
// of its own that holds the fold's TEMP view and trigger; two statements
// of known kind check the reading first.
func TestFoldWithoutStatementJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	s, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	c := openC(t, path, lib.SQLITE_OPEN_READWRITE)
	defer c.close()
	for _, q := range []string{"PRAGMA foreign_keys = ON", foldView, foldTrigger} {
		c.exec(q)
	}
	stmtJournal := func(q string) bool {
		t.Helper()
		st := c.prepare(q)
		defer lib.Xsqlite3_finalize(c.tls, st)
		// Vdbe's bit-fields: expired:2, explain:2, changeCntOn:1,
		// usesStmtJournal:1, readOnly:1, bIsReader:1, haveEqpOps:1.
		bits := *(*uint16)(unsafe.Add(unsafe.Pointer(nil), st+unsafe.Offsetof(lib.TVdbe{}.F__ccgo200)))
		return bits&(1<<5) != 0
	}
	// A free row inserted alone cannot need one; rows inserted by a
	// SELECT, each checked against a foreign key that may abort, do.
	if stmtJournal(addFreeSQL) || !stmtJournal(addFrees[1]) {
		t.Fatalf("Vdbe.usesStmtJournal not where this test reads it (addFreeSQL %v, addFrees[1] %v): the modernc.org/sqlite build changed its layout",
			stmtJournal(addFreeSQL), stmtJournal(addFrees[1]))
	}
	if stmtJournal(foldSQL) {
		t.Error("the folded allocation is prepared with a statement journal: something in its trigger program may abort")
	}
}
