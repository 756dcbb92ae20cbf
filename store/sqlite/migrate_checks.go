package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/pressly/goose/v3"
)

// checksWithoutLists is migration 00049: the CHECK constraints that every
// allocation evaluates, state IN (three values) on assignments and kind
// IN (three values) on pool_counts, and kind IN (four values) on tags (a
// tagged allocation's), are written as the same test with OR.
// SQLite evaluates an IN list of more than two constants by building an
// ephemeral B-tree of the list, once per statement: three times in the
// statement that folds an allocation (fold.go: the assignment and two
// counters), each a B-tree opened, filled, searched and closed (issue 16,
// one caller's durable allocation; bench/README.md, "Session 11"). A
// list of OR'ed equalities is compared in place.
//
// The constraint's text changes and nothing stored does (every row meets
// both forms), so the schema's text is edited where it is kept, as
// SQLite documents for such changes (lang_altertable.html, "Making Other
// Kinds Of Table Schema Changes"): writable_schema on, the table's CREATE
// text rewritten, schema_version one higher so every connection reads the
// schema again. A table whose text does not hold the old form (edited by
// hand) is left as it is: its CHECK is still right, only slower.
func checksWithoutLists() *goose.Migration {
	return goose.NewGoMigration(49,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteChecks(ctx, tx, true) }},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteChecks(ctx, tx, false) }},
	)
}

// assignmentsPoolByAddress is migration 00068: the foreign key from
// assignments.pool_id to pools goes from the table's text. Deleting a pool
// checked it by a walk of every assignment (no index leads with the pool
// since 00065): 0.1 s of CPU at 1M, 0.4 s at 10M, for an operator's `pool
// remove` (issue 16; bench/README.md, "Session 17: scalechores"). 00069
// puts triggers in its place that check a pool's range of assignments_at
// instead. Nothing stored changes (SQLite keeps a foreign key in the
// text alone), so the text is edited as checksWithoutLists does; down
// writes the clause back (rows written meanwhile are not checked against
// it: `PRAGMA foreign_key_check` would name any).
func assignmentsPoolByAddress() *goose.Migration {
	return goose.NewGoMigration(68,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteTables(ctx, tx, poolKeyForms, true) }},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteTables(ctx, tx, poolKeyForms, false) }},
	)
}

// goMigrations are the migrations written in Go, for goose.WithGoMigrations
// (a new value for each provider: goose keeps state in them).
func goMigrations() []*goose.Migration {
	return []*goose.Migration{compactEvents(), checksWithoutLists(), assignmentsPoolByAddress(), poolFrontier()}
}

// schemaEdit is a change of a table's CREATE text: the text before (a
// migration's down side) and after (its up side).
type schemaEdit struct{ table, from, to string }

// checkForms are the CHECK constraints 00049 rewrites: the table, the
// constraint with an IN list, and the same with OR.
var checkForms = []schemaEdit{
	{"assignments", `CHECK (state IN ('assigned', 'quarantined', 'released'))`, `CHECK (state = 'assigned' OR state = 'quarantined' OR state = 'released')`},
	{"pool_counts", `CHECK (kind IN ('assigned', 'quarantined', 'created'))`, `CHECK (kind = 'assigned' OR kind = 'quarantined' OR kind = 'created')`},
	{"tags", `CHECK (kind IN ('region', 'block', 'pool', 'assignment'))`, `CHECK (kind = 'region' OR kind = 'block' OR kind = 'pool' OR kind = 'assignment')`},
}

// poolKeyForms is 00068's edit: the column pool_id of assignments with
// its foreign key, and without.
var poolKeyForms = []schemaEdit{
	{"assignments", `pool_id          INTEGER NOT NULL REFERENCES pools (id),`, `pool_id          INTEGER NOT NULL,`},
}

// rewriteChecks writes the OR form (up) or the IN form (down) of each of
// checkForms into the schema's text.
func rewriteChecks(ctx context.Context, tx *sql.Tx, up bool) error {
	return rewriteTables(ctx, tx, checkForms, up)
}

// rewriteTables writes the to form (up) or the from form (down) of each
// of edits into the schema's text, where the table's text holds the
// other form once.
func rewriteTables(ctx context.Context, tx *sql.Tx, edits []schemaEdit, up bool) (err error) {
	var version int64
	if err := tx.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA writable_schema = ON`); err != nil {
		return fmt.Errorf("writable schema: %w", err)
	}
	defer func() {
		if _, werr := tx.ExecContext(ctx, `PRAGMA writable_schema = OFF`); werr != nil && err == nil {
			err = fmt.Errorf("writable schema off: %w", werr)
		}
	}()
	changed := false
	for _, c := range edits {
		from, to := c.from, c.to
		if !up {
			from, to = to, from
		}
		var text string
		if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`, c.table).Scan(&text); err != nil {
			return fmt.Errorf("schema of %s: %w", c.table, err)
		}
		if strings.Count(text, from) != 1 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = ?`, strings.Replace(text, from, to, 1), c.table); err != nil {
			return fmt.Errorf("schema of %s: %w", c.table, err)
		}
		changed = true
	}
	if changed {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA schema_version = %d`, version+1)); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
	}
	return nil
}
