package postgres

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Folding queued writes into one statement.
//
// An allocation's writes (tx.later: the free prefixes left over, the
// assignment, its event, the pool counters' upsert, an idempotency
// record) go out together with its COMMIT. Each was a statement of its
// own: a Bind and an Execute, an executor started and ended, a snapshot,
// on the server, for rows nobody reads. fold sends each run of them as
// one statement, the others as data-modifying WITH queries of the last
// (issue 16: fewer statements per allocation).
//
// What stays the same: every row is written, checked by its constraints
// as it is written and by its foreign keys at the end of the statement,
// and a failure fails the transaction (or the job, in a group commit)
// with the same error (the table and constraint are the failed row's).
// What WITH changes, and why it does not matter here: its queries share
// one snapshot and run in no promised order. The writes folded read
// nothing another of them writes, and a run holds at most one write per
// table, so that rows of one table (an event's sequence number above
// all) are still numbered in the order they were queued.

// maxFold bounds the writes folded into one statement, so that the
// statements' texts (each prepared once per connection) stay few.
const maxFold = 6

// dollar finds a statement's parameters ($1, $2, ...).
var dollar = regexp.MustCompile(`\$([0-9]+)`)

// foldTable is the table a queued statement writes if it may be folded
// (an INSERT that returns nothing, or an expected take), else "".
func foldTable(q string) string {
	if q == takeExpected {
		// A DELETE of one row of free that returns nothing (expect.go),
		// folded with the inserts of the prefixes the take leaves over:
		// other rows of the table, whose order does not matter.
		return "free (take)"
	}
	rest, ok := strings.CutPrefix(q, "INSERT INTO ")
	if !ok || strings.Contains(q, "RETURNING") {
		return ""
	}
	name, _, _ := strings.Cut(rest, " ")
	return name
}

// fold rewrites b, about to be sent, folding each run of two or more
// foldable writes into one statement. Runs never cross the first
// t.carried statements' end (another job's writes in a group commit:
// their failure is that job's), nor a statement whose rows are read
// (t.readers); both are renumbered to the statements' new positions.
func (t *tx) fold(b *pgx.Batch) {
	qs := b.QueuedQueries
	if len(qs) < 2 {
		return
	}
	out := make([]*pgx.QueuedQuery, 0, len(qs))
	var readers map[int]func(pgx.Rows) error
	carried := t.carried
	for i := 0; i < len(qs); {
		if i == t.carried {
			carried = len(out)
		}
		end := len(qs)
		if i < t.carried {
			end = t.carried
		}
		j := i
		var tables [maxFold]string
	run:
		for ; j < end && j-i < maxFold; j++ {
			table := foldTable(qs[j].SQL)
			if table == "" || t.readers[j] != nil {
				break
			}
			for _, seen := range tables[:j-i] {
				if seen == table {
					break run
				}
			}
			tables[j-i] = table
		}
		if j-i >= 2 {
			out = append(out, t.folded(qs[i:j]))
			i = j
			continue
		}
		if rd := t.readers[i]; rd != nil {
			if readers == nil {
				readers = map[int]func(pgx.Rows) error{}
			}
			readers[len(out)] = rd
		}
		out = append(out, qs[i])
		i++
	}
	if len(out) == len(qs) {
		return
	}
	if t.carried >= len(qs) {
		carried = len(out)
	}
	b.QueuedQueries, t.carried, t.readers = out, carried, readers
}

// folded is qs as one statement: WITH w0 AS (qs[0]), ... qs[last], the
// parameters of each numbered after those of the ones before. The
// Store keeps the texts it made (a few shapes, made once).
func (t *tx) folded(qs []*pgx.QueuedQuery) *pgx.QueuedQuery {
	n := 0
	for _, q := range qs {
		n += len(q.Arguments)
	}
	args := make([]any, 0, n)
	for _, q := range qs {
		args = append(args, q.Arguments...)
	}
	if t.s == nil {
		return &pgx.QueuedQuery{SQL: foldSQL(qs), Arguments: args}
	}
	return &pgx.QueuedQuery{SQL: t.s.folds.text(qs), Arguments: args}
}

// foldCache keeps the texts folded made, by the texts folded (at most
// maxFold of them, the rest empty). Its key is an array of the texts, not
// their concatenation: a look-up then copies and allocates nothing (the
// concatenation was ~1.5 KB made and hashed for every allocation).
type foldCache struct {
	mu sync.RWMutex
	m  map[[maxFold]string]string
}

// text is the folded text of qs, made once.
func (c *foldCache) text(qs []*pgx.QueuedQuery) string {
	var key [maxFold]string
	for k, q := range qs {
		key[k] = q.SQL
	}
	c.mu.RLock()
	sql, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return sql
	}
	sql = foldSQL(qs)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[[maxFold]string]string{}
	}
	c.m[key] = sql
	c.mu.Unlock()
	return sql
}

// foldSQL is the text of qs folded (folded).
func foldSQL(qs []*pgx.QueuedQuery) string {
	var sb strings.Builder
	off := 0
	for k, q := range qs {
		switch {
		case k == 0:
			sb.WriteString("WITH ")
		case k < len(qs)-1:
			sb.WriteString(", ")
		default:
			sb.WriteString(" ")
		}
		sql := dollar.ReplaceAllStringFunc(q.SQL, func(p string) string {
			n, _ := strconv.Atoi(p[1:])
			return "$" + strconv.Itoa(n+off)
		})
		if k < len(qs)-1 {
			sb.WriteString("w" + strconv.Itoa(k) + " AS (" + sql + ")")
		} else {
			sb.WriteString(sql)
		}
		off += len(q.Arguments)
	}
	return sb.String()
}
