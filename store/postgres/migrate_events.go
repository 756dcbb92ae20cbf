package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cadastre-ipam/cadastre/store/internal/evcodec"
	"github.com/pressly/goose/v3"
)

// compactEvents is migration 00027: events.before and events.after
// become BYTEA, and the payloads written before it (JSON) are rewritten
// in the compact encoding new events are written in
// (store/internal/evcodec), a page of seq at a time, in the migration's
// transaction with the append-only trigger set aside. A payload the
// codec declines keeps its JSON's bytes; readers (Tx.Events) get the
// same JSON as before. Store.migrate then runs VACUUM FULL events
// (outside any transaction, as PostgreSQL requires) to give the old
// rows' space back. A transaction of its own here would need a third
// connection (goose holds one, the migration lock another): a pool of
// two would wait forever.
//
// A later migration that writes an event in SQL writes its JSON as
// bytes: convert_to(json_text, 'UTF8').
//
// A new value for each provider: goose keeps state in it.
func compactEvents() *goose.Migration {
	return goose.NewGoMigration(27,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteEvents(ctx, tx, true) }},
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rewriteEvents(ctx, tx, false) }},
	)
}

// rewriteEvents encodes (compact) or decodes (!compact, back to TEXT
// JSON) every stored payload.
func rewriteEvents(ctx context.Context, tx *sql.Tx, compact bool) error {
	var typ string
	if err := tx.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'after'`).Scan(&typ); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if typ == "text" {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE events
			ALTER COLUMN before TYPE bytea USING convert_to(before, 'UTF8'),
			ALTER COLUMN after TYPE bytea USING convert_to(after, 'UTF8')`); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events DISABLE TRIGGER events_no_update`); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	// Rows whose payload is of the other kind: JSON to encode, an encoding to decode.
	cond := `(get_byte(before, 0) <> 1 OR get_byte(after, 0) <> 1)`
	if !compact {
		cond = `(get_byte(before, 0) = 1 OR get_byte(after, 0) = 1)`
	}
	var last int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT seq, subject_id, subject, before, after FROM events
			WHERE seq > $1 AND `+cond+` ORDER BY seq LIMIT 10000`, last)
		if err != nil {
			return err
		}
		var seqs []int64
		var befores, afters [][]byte
		for rows.Next() {
			var seq int64
			var s evcodec.Subject
			var before, after []byte
			if err := rows.Scan(&seq, &s.ID, &s.Text, &before, &after); err != nil {
				rows.Close()
				return err
			}
			if before, err = convert(before, s, compact); err != nil {
				rows.Close()
				return fmt.Errorf("event %d: before: %w", seq, err)
			}
			if after, err = convert(after, s, compact); err != nil {
				rows.Close()
				return fmt.Errorf("event %d: after: %w", seq, err)
			}
			seqs, befores, afters = append(seqs, seq), append(befores, before), append(afters, after)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			break
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events e SET before = v.b, after = v.a
			FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS v(seq, b, a) WHERE e.seq = v.seq`, seqs, befores, afters); err != nil {
			return fmt.Errorf("events after %d: %w", last, err)
		}
		last = seqs[len(seqs)-1]
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events ENABLE TRIGGER events_no_update`); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if !compact {
		if _, err := tx.ExecContext(ctx, `ALTER TABLE events
			ALTER COLUMN before TYPE text USING convert_from(before, 'UTF8'),
			ALTER COLUMN after TYPE text USING convert_from(after, 'UTF8')`); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}
	return nil
}

// compactedEvents is the version of compactEvents: Store.migrate
// vacuums the events table after applying it.
const compactedEvents = 27

// convert is a payload's stored bytes after the rewrite.
func convert(b []byte, s evcodec.Subject, compact bool) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	if compact {
		return evcodec.Stored(b, s), nil
	}
	return evcodec.Text(b, s)
}
