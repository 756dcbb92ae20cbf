// Package poolcount holds the per-pool counters both stores keep on write
// (table pool_counts, migration 00020), so that a report or a pool listing
// reads one row per pool, state and length instead of counting every
// assignment (issue 16: 8.5 s at ten million assignments).
//
// Two kinds of counter live in the table: the live assignments of a pool
// per state (assigned, quarantined) and prefix length, and the
// assignments made per UTC day and length (for the allocation rate). A
// transaction adds its changes up in Deltas and writes them once, at its
// COMMIT, one row per pool, kind, length and day it touched: a group
// commit of N allocations in one pool costs one upsert, not N.
//
// It holds no policy: the stores call it wherever an assignment row is
// written, and a recount (storetest) is its definition.
package poolcount

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Kind is what a counter counts. Its value is the pool_counts.kind text.
type Kind string

// The kinds of counter: live assignments in a state (day 0), and
// assignments made on a day (any state since).
const (
	Assigned    Kind = "assigned"
	Quarantined Kind = "quarantined"
	Created     Kind = "created"
)

// DayMicros is one UTC day in microseconds, the unit of created_at.
const DayMicros = int64(24 * time.Hour / time.Microsecond)

// Day is the UTC day number (days since 1970-01-01, rounded down) of a
// created_at in microseconds, as the migration's backfill computes it.
func Day(micros int64) int64 {
	d := micros / DayMicros
	if micros%DayMicros < 0 {
		d--
	}
	return d
}

// WholeDays is the days [lo, hi) that the interval [from, to) of
// microseconds touches, each whole: what registry.Tx.Activity counts.
// An empty interval touches none.
func WholeDays(from, to int64) (lo, hi int64) {
	if to <= from {
		return 0, 0
	}
	return Day(from), Day(to-1) + 1
}

// DaySQL is Day written in SQL over col (both stores' integer division
// truncates toward zero, as Go's does).
func DaySQL(col string) string {
	return `(CASE WHEN ` + col + ` >= 0 THEN ` + col + ` / 86400000000 ELSE -((-` + col + ` + 86399999999) / 86400000000) END)`
}

// Key names one counter.
type Key struct {
	Pool int64
	Kind Kind
	Bits int
	Day  int64 // the UTC day of a Created counter; 0 otherwise
}

// Deltas are a transaction's changes to the counters, not yet stored.
// The zero value is empty and ready to use; it is not safe for
// concurrent use (a transaction is one goroutine's).
type Deltas map[Key]int64

// live is the counter of a live state, false for released.
func live(state registry.State) (Kind, bool) {
	switch state {
	case registry.StateAssigned:
		return Assigned, true
	case registry.StateQuarantined:
		return Quarantined, true
	}
	return "", false
}

// Inserted counts a new assignment row: made on its day, and live in its
// state unless released.
func (d *Deltas) Inserted(pool int64, bits int, state registry.State, createdMicros int64) {
	d.add(Key{Pool: pool, Kind: Created, Bits: bits, Day: Day(createdMicros)}, 1)
	if k, ok := live(state); ok {
		d.add(Key{Pool: pool, Kind: k, Bits: bits}, 1)
	}
}

// Moved counts an assignment row whose state changed from old to new.
func (d *Deltas) Moved(pool int64, bits int, old, new registry.State) {
	if old == new {
		return
	}
	if k, ok := live(old); ok {
		d.add(Key{Pool: pool, Kind: k, Bits: bits}, -1)
	}
	if k, ok := live(new); ok {
		d.add(Key{Pool: pool, Kind: k, Bits: bits}, 1)
	}
}

func (d *Deltas) add(k Key, n int64) {
	if *d == nil {
		*d = Deltas{}
	}
	v := (*d)[k] + n
	if v == 0 {
		delete(*d, k)
		return
	}
	(*d)[k] = v
}

// DropPool forgets the changes to a pool's counters: the pool is being
// deleted, and its counters with it.
func (d Deltas) DropPool(pool int64) {
	maps.DeleteFunc(d, func(k Key, _ int64) bool { return k.Pool == pool })
}

// Clone copies d (nil stays nil).
func (d Deltas) Clone() Deltas { return maps.Clone(d) }

// Row is one counter's change.
type Row struct {
	Key
	N int64
}

// Rows lists d's changes in key order: every writer updates counter rows
// in that one order, so two PostgreSQL transactions never wait for each
// other's counter rows in a cycle.
func (d Deltas) Rows() []Row {
	out := make([]Row, 0, len(d))
	for k, n := range d {
		out = append(out, Row{k, n})
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Bits, b.Bits), cmp.Compare(a.Day, b.Day))
	})
	return out
}

// Columns splits rows into one slice per column, for PostgreSQL's unnest.
// The three int64 columns share one array: every allocation sends its
// counts, and growing five slices from nil was seven heap objects each
// time (issue 16).
func Columns(rows []Row) (pools []int64, kinds []string, bits []int32, days, ns []int64) {
	n := len(rows)
	ints := make([]int64, 3*n)
	pools, days, ns = ints[:n:n], ints[n:2*n:2*n], ints[2*n:]
	kinds, bits = make([]string, n), make([]int32, n)
	for i, r := range rows {
		pools[i], kinds[i], bits[i], days[i], ns[i] = r.Pool, string(r.Kind), int32(r.Bits), r.Day, r.N
	}
	return
}
