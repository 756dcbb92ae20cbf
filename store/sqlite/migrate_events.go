package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cadastre-ipam/cadastre/store/internal/evcodec"
	"github.com/pressly/goose/v3"
)

// compactEvents is migration 00027: the payloads (before, after) of the
// events written before it, JSON TEXT, are rewritten in the compact
// encoding new events are written in (store/internal/evcodec), a page
// of seq at a time, in the migration's one transaction. A payload the
// codec declines stays as it was. The append-only trigger is set aside
// for the rewrite only; what every reader reads (Tx.Events) is the same
// JSON before and after.
//
// The pages the rewrite frees are reused by later writes; `VACUUM`
// (sqlite3 FILE VACUUM, with the register stopped) gives them back to
// the file system.
//
// A new value for each provider: goose keeps state in it.
func compactEvents() *goose.Migration {
	return goose.NewGoMigration(27,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteEvents(ctx, tx, true) }},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteEvents(ctx, tx, false) }},
	)
}

// rewriteEvents encodes (compact) or decodes (!compact) every stored
// payload.
func rewriteEvents(ctx context.Context, tx *sql.Tx, compact bool) error {
	if _, err := tx.ExecContext(ctx, `DROP TRIGGER events_no_update`); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	// Only rows with a payload of the other kind: TEXT to encode, BLOB to decode.
	kind := "text"
	if !compact {
		kind = "blob"
	}
	sel, err := tx.PrepareContext(ctx, `SELECT seq, subject_id, subject, before, after FROM events
		WHERE seq > ? AND (typeof(before) = '`+kind+`' OR typeof(after) = '`+kind+`') ORDER BY seq LIMIT 10000`)
	if err != nil {
		return err
	}
	defer sel.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE events SET before = ?, after = ? WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	type row struct {
		seq           int64
		before, after any
	}
	var last int64
	for {
		rows, err := sel.QueryContext(ctx, last)
		if err != nil {
			return err
		}
		var page []row
		for rows.Next() {
			var r row
			var s evcodec.Subject
			var before, after []byte
			if err := rows.Scan(&r.seq, &s.ID, &s.Text, &before, &after); err != nil {
				rows.Close()
				return err
			}
			if r.before, err = convert(before, s, compact); err != nil {
				rows.Close()
				return fmt.Errorf("event %d: before: %w", r.seq, err)
			}
			if r.after, err = convert(after, s, compact); err != nil {
				rows.Close()
				return fmt.Errorf("event %d: after: %w", r.seq, err)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if _, err := upd.ExecContext(ctx, r.before, r.after, r.seq); err != nil {
				return fmt.Errorf("event %d: %w", r.seq, err)
			}
		}
		last = page[len(page)-1].seq
	}
	_, err = tx.ExecContext(ctx, `CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END`)
	return err
}

// convert is a payload's stored value after the rewrite: NULL, the
// encoding (BLOB) or JSON (TEXT).
func convert(b []byte, s evcodec.Subject, compact bool) (any, error) {
	if b == nil {
		return nil, nil
	}
	if compact {
		if enc := evcodec.Encode(b, s); enc != nil {
			return enc, nil
		}
		return string(b), nil
	}
	js, err := evcodec.Text(b, s)
	return string(js), err
}
