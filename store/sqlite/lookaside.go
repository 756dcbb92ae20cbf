package sqlite

import (
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// Every connection's lookaside, SQLite's allocator of small short-lived
// objects, holds lookasideSlots slots of lookasideSize bytes instead of
// SQLite's default 40 of 1,200 (issue 16; bench/README.md, "Session 19:
// sqlitedurable8"). With the default the writer's lookaside is always
// full: the statements it keeps prepared hold every slot, and each cursor
// and record buffer of a trigger program (the folded allocation runs
// three: its own and two of assignments, ~33 of them an allocation) went
// to malloc and free through libc instead, ~12k instructions an
// allocation. SQLite splits the memory between slots of that size and of
// 128 bytes: 1 MB a connection, ~1,700 slots (with 1,200-byte slots the
// writer's prepared statements held ~800 of ~1,500 in the durable
// benchmark). One object an allocation is larger (the fold's trigger
// frame) and still goes to malloc. A lookaside that fills again (many
// more statements prepared) only sends the rest to malloc, as before.
const (
	lookasideSize  = 2048
	lookasideSlots = 500
)

// SQLITE_CONFIG_LOOKASIDE sets the default of every connection opened
// after it, and is refused once SQLite is initialized, which its first
// connection does: so it is set when this package is initialized, before
// any Open. If something in the process opened a connection before (a
// package initialized earlier), SQLite refuses it and keeps its default:
// slower, not wrong. TestWriterLookaside checks that it took.
func init() {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.Xmalloc(tls, 16)
	if va == 0 {
		return
	}
	defer libc.Xfree(tls, va)
	sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_LOOKASIDE, libc.VaList(va, int32(lookasideSize), int32(lookasideSlots)))
}
