// Package dnssql holds the DNS store (zone.Store) that SQLite and
// PostgreSQL share: the statements are the same but for their placeholders
// and the way an insert hands back its id, so they are written once here,
// with ? placeholders, and each store supplies a Tx that binds them in its
// own dialect. What differs in more than that stays in the store.
package dnssql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// Tx is one store transaction as the DNS statements use it. Its errors are
// already mapped to the registry's sentinel errors (registry.ErrExists, ...)
// as the store maps every other statement's.
type Tx interface {
	// Exec runs a statement and reports how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (rows int64, err error)
	// Insert runs an INSERT into a table with an id column and returns
	// the new row's id.
	Insert(ctx context.Context, query string, args ...any) (id int64, err error)
	// Query runs a SELECT and calls each for every row, in order.
	Query(ctx context.Context, query string, args []any, each func(rowscan.Scanner) error) error
	// AppendEvent appends e to the event log in this transaction.
	AppendEvent(ctx context.Context, e *registry.Event) error
}

// DB runs transactions: both stores' *Store are one.
type DB interface {
	Update(ctx context.Context, fn func(registry.Tx) error) error
	View(ctx context.Context, fn func(registry.Tx) error) error
}

// DNS implements zone.Store over a DB. A store embeds it, so that the
// methods are the store's own.
type DNS struct {
	db   DB
	tx   func(registry.Tx) Tx
	bind func(string) string
}

var _ zone.Store = DNS{}

// New returns the DNS store of db: tx gives a transaction of db its DNS
// view, bind turns a statement's ? placeholders into the dialect's (nil:
// keep them, as SQLite does; Dollars for PostgreSQL). Each statement is
// bound once and remembered.
func New(db DB, tx func(registry.Tx) Tx, bind func(string) string) DNS {
	if bind == nil {
		return DNS{db: db, tx: tx, bind: func(q string) string { return q }}
	}
	var bound sync.Map // statement -> bound statement
	return DNS{db: db, tx: tx, bind: func(q string) string {
		if b, ok := bound.Load(q); ok {
			return b.(string)
		}
		b := bind(q)
		bound.Store(q, b)
		return b
	}}
}

// Dollars numbers a statement's ? placeholders as PostgreSQL's $1, $2, ...
// (the statements here hold no ? in a string literal).
func Dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// update and view run fn in a write or read transaction.
func (s DNS) update(ctx context.Context, fn func(Tx) error) error {
	return s.db.Update(ctx, func(rt registry.Tx) error { return fn(s.tx(rt)) })
}

func (s DNS) view(ctx context.Context, fn func(Tx) error) error {
	return s.db.View(ctx, func(rt registry.Tx) error { return fn(s.tx(rt)) })
}

// collect scans every row of query with scan.
func collect[T any](ctx context.Context, x Tx, query string, args []any, scan func(rowscan.Scanner) (T, error)) ([]T, error) {
	var out []T
	err := x.Query(ctx, query, args, func(r rowscan.Scanner) error {
		v, err := scan(r)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var (
	micros     = rowscan.Micros
	prefixText = rowscan.PrefixText
	keyMicros  = rowscan.KeyMicros
)

const zoneCols = `id, name, kind, prefix, synthesize, config, serial, serial_hash, created_at, prefix_set`

// InsertZone implements zone.Store.
func (s DNS) InsertZone(ctx context.Context, z *zone.Zone, e registry.Event) error {
	return s.InsertZones(ctx, []*zone.Zone{z}, []registry.Event{e}, nil)
}

// InsertZones implements zone.Store.
func (s DNS) InsertZones(ctx context.Context, zs []*zone.Zone, es []registry.Event, check zone.ZoneCheck) error {
	if len(zs) != len(es) {
		return fmt.Errorf("insert zones: %d zones, %d events", len(zs), len(es))
	}
	cfgs := make([]string, len(zs))
	for i, z := range zs {
		cfg, err := json.Marshal(z.Config)
		if err != nil {
			return err
		}
		cfgs[i] = string(cfg)
	}
	ids := make([]int64, len(zs))
	err := s.db.Update(ctx, func(rt registry.Tx) error {
		if check != nil {
			for _, z := range zs {
				if err := check(ctx, rt, *z); err != nil {
					return err
				}
			}
		}
		x := s.tx(rt)
		for i, z := range zs {
			id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_zones (name, kind, prefix, synthesize, config, serial, serial_hash, created_at, prefix_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				z.Name, string(z.Kind), prefixText(z.Prefix), z.Synthesize, cfgs[i], int64(z.Serial), z.SerialHash, micros(z.CreatedAt), prefixText(z.Set))
			if err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, err)
			}
			ids[i] = id
			e := es[i]
			e.SubjectID = ids[i]
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, z := range zs {
		z.ID = ids[i]
	}
	return nil
}

// DeleteZones implements zone.Store.
func (s DNS) DeleteZones(ctx context.Context, ids []int64, es []registry.Event) error {
	if len(ids) != len(es) {
		return fmt.Errorf("delete zones: %d zones, %d events", len(ids), len(es))
	}
	return s.update(ctx, func(x Tx) error {
		for i, id := range ids {
			for _, q := range []string{`DELETE FROM dns_keys WHERE zone_id = ?`, `DELETE FROM dns_records WHERE zone_id = ?`} {
				if _, err := x.Exec(ctx, s.bind(q), id); err != nil {
					return err
				}
			}
			n, err := x.Exec(ctx, s.bind(`DELETE FROM dns_zones WHERE id = ?`), id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("zone %d: %w", id, registry.ErrNotFound)
			}
			e := es[i]
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateZone implements zone.Store.
func (s DNS) UpdateZone(ctx context.Context, z zone.Zone, e registry.Event, check zone.ZoneCheck) error {
	cfg, err := json.Marshal(z.Config)
	if err != nil {
		return err
	}
	return s.db.Update(ctx, func(rt registry.Tx) error {
		if check != nil {
			if err := check(ctx, rt, z); err != nil {
				return err
			}
		}
		x := s.tx(rt)
		n, err := x.Exec(ctx, s.bind(`UPDATE dns_zones SET synthesize = ?, config = ? WHERE id = ?`), z.Synthesize, string(cfg), z.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("zone %s: %w", z.Name, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Zones implements zone.Store.
func (s DNS) Zones(ctx context.Context) (out []zone.Zone, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = collect(ctx, x, `SELECT `+zoneCols+` FROM dns_zones ORDER BY name`, nil, rowscan.Zone)
		return err
	})
	return out, err
}

// SetZoneSerial implements zone.Store.
func (s DNS) SetZoneSerial(ctx context.Context, zoneID int64, old, serial uint32, hash string, d *zone.Diff) (ok bool, err error) {
	err = s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`UPDATE dns_zones SET serial = ?, serial_hash = ? WHERE id = ? AND serial = ?`), int64(serial), hash, zoneID, int64(old))
		if err != nil {
			return err
		}
		if n != 1 {
			return nil
		}
		ok = true
		if d == nil {
			return nil
		}
		rem, add := cutParts(d.Removed), cutParts(d.Added)
		id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed_parts, added_parts, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			zoneID, int64(d.From), int64(d.To), len(rem), len(add), micros(d.At))
		if err != nil {
			return err
		}
		for i, p := range append(rem, add...) {
			if _, err := x.Exec(ctx, s.bind(`INSERT INTO dns_journal_parts (journal_id, part, data) VALUES (?, ?, ?)`), id, i, p); err != nil {
				return err
			}
		}
		return nil
	})
	return ok && err == nil, err
}

// journalPart is the size of the parts a journal step's records are cut
// into: a transfer reads a few at a time (zone.Data.IncrementalTransfer),
// so it is what a transfer holds of the journal, a few times over, not
// the step (the split's step at 10M: 174 MB).
const journalPart = 256 << 10

// cutParts cuts b into parts of journalPart bytes, the last shorter;
// none if b is empty. The parts share b's memory.
func cutParts(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), journalPart)
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

// Journal implements zone.Store.
func (s DNS) Journal(ctx context.Context, zoneID int64, from uint32) (out []zone.Diff, err error) {
	err = s.view(ctx, func(x Tx) error {
		steps, err := s.journalSteps(ctx, x, zoneID, from, func(st zone.Step, zoneID int64, at time.Time) {
			out = append(out, zone.Diff{ZoneID: zoneID, From: st.From, To: st.To, At: at})
		})
		if err != nil {
			return err
		}
		for i, st := range steps {
			parts, err := s.journalParts(ctx, x, st.ID, 0, st.RemovedParts+st.AddedParts)
			if err != nil {
				return err
			}
			for j, p := range parts {
				if j < st.RemovedParts {
					out[i].Removed = append(out[i].Removed, p...)
				} else {
					out[i].Added = append(out[i].Added, p...)
				}
			}
		}
		return nil
	})
	return out, err
}

// JournalSteps implements zone.Store.
func (s DNS) JournalSteps(ctx context.Context, zoneID int64, from uint32) (out []zone.Step, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = s.journalSteps(ctx, x, zoneID, from, nil)
		return err
	})
	return out, err
}

// journalSteps lists the steps of zoneID from the newest that starts at
// from, oldest first, calling each (if not nil) with every step's zone
// and time as well.
func (s DNS) journalSteps(ctx context.Context, x Tx, zoneID int64, from uint32, each func(zone.Step, int64, time.Time)) ([]zone.Step, error) {
	return collect(ctx, x, s.bind(`SELECT id, zone_id, from_serial, to_serial, removed_parts, added_parts, created_at FROM dns_journal WHERE zone_id = ? AND id >= (SELECT max(id) FROM dns_journal WHERE zone_id = ? AND from_serial = ?) ORDER BY id`),
		[]any{zoneID, zoneID, int64(from)}, func(r rowscan.Scanner) (zone.Step, error) {
			var st zone.Step
			var zid, f, t, at int64
			if err := r.Scan(&st.ID, &zid, &f, &t, &st.RemovedParts, &st.AddedParts, &at); err != nil {
				return st, err
			}
			st.From, st.To = uint32(f), uint32(t)
			if each != nil {
				each(st, zid, rowscan.FromMicros(at))
			}
			return st, nil
		})
}

// JournalParts implements zone.Store.
func (s DNS) JournalParts(ctx context.Context, id int64, from, to int) (out [][]byte, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = s.journalParts(ctx, x, id, from, to)
		return err
	})
	return out, err
}

func (s DNS) journalParts(ctx context.Context, x Tx, id int64, from, to int) ([][]byte, error) {
	if to <= from {
		return nil, nil
	}
	out, err := collect(ctx, x, s.bind(`SELECT data FROM dns_journal_parts WHERE journal_id = ? AND part >= ? AND part < ? ORDER BY part`),
		[]any{id, from, to}, func(r rowscan.Scanner) (b []byte, err error) {
			err = r.Scan(&b)
			return b, err
		})
	if err != nil {
		return nil, err
	}
	if len(out) != to-from {
		return nil, fmt.Errorf("journal step %d: parts %d-%d: %d found (pruned?): %w", id, from, to-1, len(out), registry.ErrNotFound)
	}
	return out, nil
}

// PruneJournal implements zone.Store.
func (s DNS) PruneJournal(ctx context.Context, zoneID int64, keep int, before time.Time) error {
	return s.update(ctx, func(x Tx) error {
		_, err := x.Exec(ctx, s.bind(`DELETE FROM dns_journal WHERE zone_id = ? AND (created_at < ? OR id <= (SELECT id FROM dns_journal WHERE zone_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?))`),
			zoneID, micros(before), zoneID, int64(keep))
		return err
	})
}

// AcquireLease implements zone.Store.
func (s DNS) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (ok bool, err error) {
	err = s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`INSERT INTO dns_leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires WHERE dns_leases.holder = excluded.holder OR dns_leases.expires < ?`),
			name, holder, micros(until), micros(now))
		if err != nil {
			return err
		}
		ok = n == 1
		return nil
	})
	return ok, err
}

const recordCols = `id, zone_id, name, type, ttl, data, created_at`

// InsertRecord implements zone.Store.
func (s DNS) InsertRecord(ctx context.Context, r *zone.Record, e registry.Event, check zone.RecordCheck) error {
	return s.db.Update(ctx, func(rt registry.Tx) error {
		if check != nil {
			if err := check(ctx, rt, *r); err != nil {
				return err
			}
		}
		x := s.tx(rt)
		id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			r.ZoneID, r.Name, r.Type, int64(r.TTL), r.Data, micros(r.CreatedAt))
		if err != nil {
			return err
		}
		r.ID = id
		e.SubjectID = r.ID
		return x.AppendEvent(ctx, &e)
	})
}

// InsertRecords implements zone.Store: a change that deletes nothing.
func (s DNS) InsertRecords(ctx context.Context, rs []*zone.Record, es []registry.Event, check zone.RecordCheck) error {
	if len(rs) != len(es) {
		return fmt.Errorf("insert records: %d records, %d events", len(rs), len(es))
	}
	return s.ChangeRecords(ctx, nil, rs, es, check)
}

// DeleteRecord implements zone.Store.
func (s DNS) DeleteRecord(ctx context.Context, id int64, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`DELETE FROM dns_records WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// ChangeRecords implements zone.Store.
func (s DNS) ChangeRecords(ctx context.Context, del []int64, add []*zone.Record, es []registry.Event, check zone.RecordCheck) error {
	if len(del)+len(add) != len(es) {
		return fmt.Errorf("change records: %d deletions and %d insertions, %d events", len(del), len(add), len(es))
	}
	ids := make([]int64, len(add))
	err := s.db.Update(ctx, func(rt registry.Tx) error {
		if check != nil {
			// Once per name and type: the rules of a name depend on the
			// record's type (a delegation's own NS and DS belong at it,
			// nothing else), so a TXT after an NS at one name is checked
			// too (audit12: it was not, and was written hidden).
			seen := map[string]bool{}
			for _, r := range add {
				k := r.Name + " " + strings.ToUpper(r.Type)
				if seen[k] {
					continue
				}
				seen[k] = true
				if err := check(ctx, rt, *r); err != nil {
					return err
				}
			}
		}
		x := s.tx(rt)
		for i, id := range del {
			n, err := x.Exec(ctx, s.bind(`DELETE FROM dns_records WHERE id = ?`), id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
			}
			e := es[i]
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		for i, r := range add {
			id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
				r.ZoneID, r.Name, r.Type, int64(r.TTL), r.Data, micros(r.CreatedAt))
			if err != nil {
				return fmt.Errorf("record %s %s %s: %w", r.Name, r.Type, r.Data, err)
			}
			ids[i] = id
			e := es[len(del)+i]
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, r := range add {
		r.ID = ids[i]
	}
	return nil
}

// Records implements zone.Store.
func (s DNS) Records(ctx context.Context, zoneID int64) (out []zone.Record, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = collect(ctx, x, s.bind(`SELECT `+recordCols+` FROM dns_records WHERE ? = 0 OR zone_id = ? ORDER BY zone_id, name, type, id`), []any{zoneID, zoneID}, rowscan.Record)
		return err
	})
	return out, err
}

const keyCols = `id, zone_id, role, algorithm, tag, public, sealed, state, created_at, published_at, active_at, inactive_at, removed_at, ds_at`

// InsertKey implements zone.Store. Key times store the zero time as 0
// (the event has not happened): rowscan.KeyMicros.
func (s DNS) InsertKey(ctx context.Context, k *zone.Key, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_keys (zone_id, role, algorithm, tag, public, sealed, state, created_at, published_at, active_at, inactive_at, removed_at, ds_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			k.ZoneID, string(k.Role), int64(k.Algorithm), int64(k.Tag), k.Public, k.Sealed, string(k.State), micros(k.CreatedAt),
			keyMicros(k.PublishedAt), keyMicros(k.ActiveAt), keyMicros(k.InactiveAt), keyMicros(k.RemovedAt), keyMicros(k.DSAt))
		if err != nil {
			return err
		}
		k.ID = id
		e.SubjectID = k.ID
		return x.AppendEvent(ctx, &e)
	})
}

// UpdateKey implements zone.Store.
func (s DNS) UpdateKey(ctx context.Context, k zone.Key, prev zone.KeyState, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`UPDATE dns_keys SET state = ?, published_at = ?, active_at = ?, inactive_at = ?, removed_at = ?, ds_at = ? WHERE id = ? AND state = ?`),
			string(k.State), keyMicros(k.PublishedAt), keyMicros(k.ActiveAt), keyMicros(k.InactiveAt), keyMicros(k.RemovedAt), keyMicros(k.DSAt), k.ID, string(prev))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("key %d: not found in state %s: %w", k.ID, prev, registry.ErrState)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Keys implements zone.Store.
func (s DNS) Keys(ctx context.Context, zoneID int64) (out []zone.Key, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = collect(ctx, x, s.bind(`SELECT `+keyCols+` FROM dns_keys WHERE ? = 0 OR zone_id = ? ORDER BY zone_id, id`), []any{zoneID, zoneID}, rowscan.Key)
		return err
	})
	return out, err
}

// InsertTSIGKey implements zone.Store.
func (s DNS) InsertTSIGKey(ctx context.Context, k zone.TSIGKey, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		if _, err := x.Exec(ctx, s.bind(`INSERT INTO tsig_keys (name, algorithm, sealed, created_at, created_by, grants) VALUES (?, ?, ?, ?, ?, ?)`),
			k.Name, k.Algorithm, k.Sealed, micros(k.CreatedAt), k.CreatedBy, strings.Join(k.Grants, " ")); err != nil {
			if errors.Is(err, registry.ErrExists) {
				return fmt.Errorf("a key of this name exists already (remove it first): %w", registry.ErrExists)
			}
			return err
		}
		return x.AppendEvent(ctx, &e)
	})
}

// UpdateTSIGKey implements zone.Store.
func (s DNS) UpdateTSIGKey(ctx context.Context, k zone.TSIGKey, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`UPDATE tsig_keys SET algorithm = ?, sealed = ?, grants = ? WHERE name = ?`),
			k.Algorithm, k.Sealed, strings.Join(k.Grants, " "), k.Name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no such TSIG key: %w", registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// DeleteTSIGKey implements zone.Store.
func (s DNS) DeleteTSIGKey(ctx context.Context, name string, e registry.Event) error {
	return s.update(ctx, func(x Tx) error {
		n, err := x.Exec(ctx, s.bind(`DELETE FROM tsig_keys WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no such TSIG key: %w", registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// TSIGKeys implements zone.Store.
func (s DNS) TSIGKeys(ctx context.Context) (out []zone.TSIGKey, err error) {
	err = s.view(ctx, func(x Tx) error {
		out, err = collect(ctx, x, `SELECT name, algorithm, sealed, created_at, created_by, grants FROM tsig_keys ORDER BY name`, nil, func(r rowscan.Scanner) (zone.TSIGKey, error) {
			var k zone.TSIGKey
			var at int64
			var grants string
			err := r.Scan(&k.Name, &k.Algorithm, &k.Sealed, &at, &k.CreatedBy, &grants)
			k.CreatedAt = rowscan.FromMicros(at)
			k.Grants = strings.Fields(grants)
			return k, err
		})
		return err
	})
	return out, err
}

// MoveCut implements zone.Store: the statements of DeleteRecord,
// DeleteZones, InsertZones, InsertKey and ChangeRecords, in one
// transaction.
func (s DNS) MoveCut(ctx context.Context, c *zone.Cut, check zone.ZoneCheck) error {
	if len(c.DeleteRecords) != len(c.DeleteEvents) || len(c.RemoveZones) != len(c.RemoveEvents) || len(c.AddRecords) != len(c.AddEvents) || len(c.Update) != len(c.UpdateEvents) {
		return fmt.Errorf("move cut: events do not match the changes")
	}
	ucfgs := make([]string, len(c.Update))
	for i, z := range c.Update {
		cfg, err := json.Marshal(z.Config)
		if err != nil {
			return err
		}
		ucfgs[i] = string(cfg)
	}
	for _, a := range c.Add {
		if len(a.Keys) != len(a.KeyEvents) || len(a.Records) != len(a.RecordEvents) {
			return fmt.Errorf("move cut: zone %s: events do not match the keys and records", a.Zone.Name)
		}
	}
	cfgs := make([]string, len(c.Add))
	for i, a := range c.Add {
		cfg, err := json.Marshal(a.Zone.Config)
		if err != nil {
			return err
		}
		cfgs[i] = string(cfg)
	}
	// IDs are set on the caller's values only once the transaction
	// commits (a retried or failed one leaves them as they were).
	zoneIDs := make([]int64, len(c.Add))
	keyIDs := make([][]int64, len(c.Add))
	recIDs := make([][]int64, len(c.Add))
	addIDs := make([]int64, len(c.AddRecords))
	insertRecord := func(x Tx, r *zone.Record, zoneID int64, e registry.Event) (int64, error) {
		id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			zoneID, r.Name, r.Type, int64(r.TTL), r.Data, micros(r.CreatedAt))
		if err != nil {
			return 0, fmt.Errorf("record %s %s %s: %w", r.Name, r.Type, r.Data, err)
		}
		e.SubjectID = id
		return id, x.AppendEvent(ctx, &e)
	}
	err := s.db.Update(ctx, func(rt registry.Tx) error {
		if check != nil {
			for _, a := range c.Add {
				if err := check(ctx, rt, *a.Zone); err != nil {
					return err
				}
			}
			for _, z := range c.Update {
				if err := check(ctx, rt, z); err != nil {
					return err
				}
			}
		}
		x := s.tx(rt)
		for i, id := range c.DeleteRecords {
			n, err := x.Exec(ctx, s.bind(`DELETE FROM dns_records WHERE id = ?`), id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
			}
			e := c.DeleteEvents[i]
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		for i, id := range c.RemoveZones {
			for _, q := range []string{`DELETE FROM dns_keys WHERE zone_id = ?`, `DELETE FROM dns_records WHERE zone_id = ?`} {
				if _, err := x.Exec(ctx, s.bind(q), id); err != nil {
					return err
				}
			}
			n, err := x.Exec(ctx, s.bind(`DELETE FROM dns_zones WHERE id = ?`), id)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("zone %d: %w", id, registry.ErrNotFound)
			}
			e := c.RemoveEvents[i]
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		for i, a := range c.Add {
			z := a.Zone
			id, err := x.Insert(ctx, s.bind(`INSERT INTO dns_zones (name, kind, prefix, synthesize, config, serial, serial_hash, created_at, prefix_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
				z.Name, string(z.Kind), prefixText(z.Prefix), z.Synthesize, cfgs[i], int64(z.Serial), z.SerialHash, micros(z.CreatedAt), prefixText(z.Set))
			if err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, err)
			}
			zoneIDs[i] = id
			e := a.Event
			e.SubjectID = id
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
			keyIDs[i] = make([]int64, len(a.Keys))
			for j, k := range a.Keys {
				kid, err := x.Insert(ctx, s.bind(`INSERT INTO dns_keys (zone_id, role, algorithm, tag, public, sealed, state, created_at, published_at, active_at, inactive_at, removed_at, ds_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
					id, string(k.Role), int64(k.Algorithm), int64(k.Tag), k.Public, k.Sealed, string(k.State), micros(k.CreatedAt),
					keyMicros(k.PublishedAt), keyMicros(k.ActiveAt), keyMicros(k.InactiveAt), keyMicros(k.RemovedAt), keyMicros(k.DSAt))
				if err != nil {
					return fmt.Errorf("zone %s: key %d: %w", z.Name, k.Tag, err)
				}
				keyIDs[i][j] = kid
				e := a.KeyEvents[j]
				e.SubjectID = kid
				if err := x.AppendEvent(ctx, &e); err != nil {
					return err
				}
			}
			recIDs[i] = make([]int64, len(a.Records))
			for j, r := range a.Records {
				if recIDs[i][j], err = insertRecord(x, r, id, a.RecordEvents[j]); err != nil {
					return err
				}
			}
		}
		for i, r := range c.AddRecords {
			var err error
			if addIDs[i], err = insertRecord(x, r, r.ZoneID, c.AddEvents[i]); err != nil {
				return err
			}
		}
		for i, z := range c.Update {
			n, err := x.Exec(ctx, s.bind(`UPDATE dns_zones SET config = ? WHERE id = ?`), ucfgs[i], z.ID)
			if err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, err)
			}
			if n == 0 {
				return fmt.Errorf("zone %s: %w", z.Name, registry.ErrNotFound)
			}
			e := c.UpdateEvents[i]
			e.SubjectID = z.ID
			if err := x.AppendEvent(ctx, &e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, a := range c.Add {
		a.Zone.ID = zoneIDs[i]
		for j, k := range a.Keys {
			k.ID, k.ZoneID = keyIDs[i][j], zoneIDs[i]
		}
		for j, r := range a.Records {
			r.ID, r.ZoneID = recIDs[i][j], zoneIDs[i]
		}
	}
	for i, r := range c.AddRecords {
		r.ID = addIDs[i]
	}
	return nil
}
