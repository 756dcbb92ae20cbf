package postgres

import (
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
)

// fold's rules, on the batches a transaction sends: which writes become
// one statement, how their parameters are numbered, and where the
// previous job's writes (carried) and the read statements end up.
func TestFold(t *testing.T) {
	const (
		free   = `INSERT INTO free (a, b) VALUES ($1, $2)`
		assign = `INSERT INTO assignments (a, b) VALUES ($1, (SELECT x FROM pools WHERE id = $2 AND $1 > 0))`
		event  = `INSERT INTO events (a) VALUES ($1)`
		counts = `INSERT INTO pool_counts (a) SELECT * FROM unnest($1::bigint[]) ORDER BY 1 ON CONFLICT (a) DO UPDATE SET n = pool_counts.n + excluded.n`
		begin  = `BEGIN ISOLATION LEVEL READ COMMITTED`
		lock   = `SELECT 1 FROM regions WHERE name = $1 FOR NO KEY UPDATE`
		take   = `DELETE FROM free WHERE a = $1 RETURNING a`
		rel    = `RELEASE SAVEPOINT job`
	)
	type stmt struct {
		sql  string
		args []any
	}
	for _, c := range []struct {
		name        string
		in          []stmt
		carried     int
		readers     []int
		want        []stmt
		wantCarried int
		wantReaders []int
	}{
		{
			name: "an allocation's writes and counters: one statement, parameters numbered after the ones before",
			in:   []stmt{{free, []any{1, 2}}, {assign, []any{3, 4}}, {event, []any{5}}, {counts, []any{6}}, {"COMMIT", nil}},
			want: []stmt{{`WITH w0 AS (INSERT INTO free (a, b) VALUES ($1, $2)), ` +
				`w1 AS (INSERT INTO assignments (a, b) VALUES ($3, (SELECT x FROM pools WHERE id = $4 AND $3 > 0))), ` +
				`w2 AS (INSERT INTO events (a) VALUES ($5)) ` +
				`INSERT INTO pool_counts (a) SELECT * FROM unnest($6::bigint[]) ORDER BY 1 ON CONFLICT (a) DO UPDATE SET n = pool_counts.n + excluded.n`,
				[]any{1, 2, 3, 4, 5, 6}}, {"COMMIT", nil}},
		},
		{
			name: "two writes to one table stay apart, so that they are numbered in order",
			in:   []stmt{{free, []any{1, 2}}, {free, []any{3, 4}}, {event, []any{5}}, {event, []any{6}}},
			want: []stmt{{free, []any{1, 2}}, {`WITH w0 AS (INSERT INTO free (a, b) VALUES ($1, $2)) INSERT INTO events (a) VALUES ($3)`, []any{3, 4, 5}}, {event, []any{6}}},
		},
		{
			name:    "the previous job's writes fold apart from this job's; carried counts the folded statement",
			in:      []stmt{{assign, []any{1, 2}}, {event, []any{3}}, {rel, nil}, {free, []any{4, 5}}, {event, []any{6}}, {take, []any{7}}},
			carried: 3,
			want: []stmt{{`WITH w0 AS (INSERT INTO assignments (a, b) VALUES ($1, (SELECT x FROM pools WHERE id = $2 AND $1 > 0))) INSERT INTO events (a) VALUES ($3)`, []any{1, 2, 3}},
				{rel, nil}, {`WITH w0 AS (INSERT INTO free (a, b) VALUES ($1, $2)) INSERT INTO events (a) VALUES ($3)`, []any{4, 5, 6}}, {take, []any{7}}},
			wantCarried: 2,
		},
		{
			name:        "a read keeps its place, renumbered; BEGIN and statements that are not plain INSERTs are never folded",
			in:          []stmt{{begin, nil}, {free, []any{1, 2}}, {event, []any{3}}, {lock, []any{"east"}}, {take, []any{4}}},
			readers:     []int{3},
			want:        []stmt{{begin, nil}, {`WITH w0 AS (INSERT INTO free (a, b) VALUES ($1, $2)) INSERT INTO events (a) VALUES ($3)`, []any{1, 2, 3}}, {lock, []any{"east"}}, {take, []any{4}}},
			wantReaders: []int{2},
		},
		{
			name: "nothing to fold: the batch unchanged",
			in:   []stmt{{begin, nil}, {lock, []any{"east"}}, {take, []any{4}}},
			want: []stmt{{begin, nil}, {lock, []any{"east"}}, {take, []any{4}}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &pgx.Batch{}
			for _, s := range c.in {
				b.Queue(s.sql, s.args...)
			}
			x := &tx{carried: c.carried}
			for _, k := range c.readers {
				if x.readers == nil {
					x.readers = map[int]func(pgx.Rows) error{}
				}
				x.readers[k] = func(pgx.Rows) error { return nil }
			}
			x.fold(b)
			var got []stmt
			for _, q := range b.QueuedQueries {
				got = append(got, stmt{q.SQL, q.Arguments})
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("folded:\n%q\nwant\n%q", got, c.want)
			}
			if x.carried != c.wantCarried {
				t.Errorf("carried %d, want %d", x.carried, c.wantCarried)
			}
			var readers []int
			for k := range x.readers {
				readers = append(readers, k)
			}
			slices.Sort(readers)
			if !slices.Equal(readers, c.wantReaders) {
				t.Errorf("readers at %v, want %v", readers, c.wantReaders)
			}
		})
	}
}
