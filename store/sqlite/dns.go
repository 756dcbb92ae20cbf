package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cadastre-ipam/cadastre/authdns"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

var _ authdns.Store = (*Store)(nil)

const zoneCols = `id, name, kind, prefix, synthesize, config, serial, serial_hash, created_at, prefix_set`

// InsertZone implements authdns.Store.
func (s *Store) InsertZone(ctx context.Context, z *authdns.Zone, e registry.Event) error {
	return s.InsertZones(ctx, []*authdns.Zone{z}, []registry.Event{e})
}

// InsertZones implements authdns.Store.
func (s *Store) InsertZones(ctx context.Context, zs []*authdns.Zone, es []registry.Event) error {
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
	err := s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		for i, z := range zs {
			res, err := x.q.exec(ctx, `INSERT INTO dns_zones (name, kind, prefix, synthesize, config, serial, serial_hash, created_at, prefix_set) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				z.Name, string(z.Kind), prefixText(z.Prefix), z.Synthesize, cfgs[i], int64(z.Serial), z.SerialHash, micros(z.CreatedAt), prefixText(z.Set))
			if err != nil {
				return fmt.Errorf("zone %s: %w", z.Name, mapErr(err))
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
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

// DeleteZones implements authdns.Store.
func (s *Store) DeleteZones(ctx context.Context, ids []int64, es []registry.Event) error {
	if len(ids) != len(es) {
		return fmt.Errorf("delete zones: %d zones, %d events", len(ids), len(es))
	}
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		for i, id := range ids {
			for _, q := range []string{`DELETE FROM dns_keys WHERE zone_id = ?`, `DELETE FROM dns_records WHERE zone_id = ?`} {
				if _, err := x.q.exec(ctx, q, id); err != nil {
					return mapErr(err)
				}
			}
			res, err := x.q.exec(ctx, `DELETE FROM dns_zones WHERE id = ?`, id)
			if err != nil {
				return mapErr(err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
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

// UpdateZone implements authdns.Store.
func (s *Store) UpdateZone(ctx context.Context, z authdns.Zone, e registry.Event) error {
	cfg, err := json.Marshal(z.Config)
	if err != nil {
		return err
	}
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `UPDATE dns_zones SET synthesize = ?, config = ? WHERE id = ?`, z.Synthesize, string(cfg), z.ID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("zone %s: %w", z.Name, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Zones implements authdns.Store.
func (s *Store) Zones(ctx context.Context) (out []authdns.Zone, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT `+zoneCols+` FROM dns_zones ORDER BY name`)
		out, err = collect(rows, err, scanZone)
		return err
	})
	return out, err
}

// SetZoneSerial implements authdns.Store.
func (s *Store) SetZoneSerial(ctx context.Context, zoneID int64, old, serial uint32, hash string, d *authdns.Diff) (ok bool, err error) {
	err = s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `UPDATE dns_zones SET serial = ?, serial_hash = ? WHERE id = ? AND serial = ?`, int64(serial), hash, zoneID, int64(old))
		if err != nil {
			return mapErr(err)
		}
		n, _ := res.RowsAffected()
		if n != 1 {
			return nil
		}
		ok = true
		if d == nil {
			return nil
		}
		_, err = x.q.exec(ctx, `INSERT INTO dns_journal (zone_id, from_serial, to_serial, removed, added, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			zoneID, int64(d.From), int64(d.To), d.Removed, d.Added, micros(d.At))
		return mapErr(err)
	})
	return ok && err == nil, err
}

// Journal implements authdns.Store.
func (s *Store) Journal(ctx context.Context, zoneID int64, from uint32) (out []authdns.Diff, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		rows, err := x.q.query(ctx, `SELECT zone_id, from_serial, to_serial, removed, added, created_at FROM dns_journal WHERE zone_id = ? AND id >= (SELECT max(id) FROM dns_journal WHERE zone_id = ? AND from_serial = ?) ORDER BY id`, zoneID, zoneID, int64(from))
		out, err = collect(rows, err, func(r rowscan.Scanner) (authdns.Diff, error) {
			var d authdns.Diff
			var f, t, at int64
			if err := r.Scan(&d.ZoneID, &f, &t, &d.Removed, &d.Added, &at); err != nil {
				return d, err
			}
			d.From, d.To, d.At = uint32(f), uint32(t), rowscan.FromMicros(at)
			return d, nil
		})
		return err
	})
	return out, err
}

// PruneJournal implements authdns.Store.
func (s *Store) PruneJournal(ctx context.Context, zoneID int64, keep int, before time.Time) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		_, err := x.q.exec(ctx, `DELETE FROM dns_journal WHERE zone_id = ? AND (created_at < ? OR id <= (SELECT id FROM dns_journal WHERE zone_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?))`,
			zoneID, micros(before), zoneID, int64(keep))
		return mapErr(err)
	})
}

// AcquireLease implements authdns.Store.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (ok bool, err error) {
	err = s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `INSERT INTO dns_leases (name, holder, expires) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires WHERE dns_leases.holder = excluded.holder OR dns_leases.expires < ?`,
			name, holder, micros(until), micros(now))
		if err != nil {
			return mapErr(err)
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, err
}

const recordCols = `id, zone_id, name, type, ttl, data, created_at`

// InsertRecord implements authdns.Store.
func (s *Store) InsertRecord(ctx context.Context, r *authdns.Record, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `INSERT INTO dns_records (zone_id, name, type, ttl, data, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.ZoneID, r.Name, r.Type, int64(r.TTL), r.Data, micros(r.CreatedAt))
		if err != nil {
			return mapErr(err)
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		e.SubjectID = r.ID
		return x.AppendEvent(ctx, &e)
	})
}

// DeleteRecord implements authdns.Store.
func (s *Store) DeleteRecord(ctx context.Context, id int64, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `DELETE FROM dns_records WHERE id = ?`, id)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("record %d: %w", id, registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Records implements authdns.Store.
func (s *Store) Records(ctx context.Context, zoneID int64) (out []authdns.Record, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT `+recordCols+` FROM dns_records WHERE ? = 0 OR zone_id = ? ORDER BY zone_id, name, type, id`, zoneID, zoneID)
		out, err = collect(rows, err, scanRecord)
		return err
	})
	return out, err
}

const keyCols = `id, zone_id, role, algorithm, tag, public, sealed, state, created_at, published_at, active_at, inactive_at, removed_at, ds_at`

// keyMicros and keyTime store the zero time as 0 (the event has not happened).
// InsertKey implements authdns.Store.
func (s *Store) InsertKey(ctx context.Context, k *authdns.Key, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `INSERT INTO dns_keys (zone_id, role, algorithm, tag, public, sealed, state, created_at, published_at, active_at, inactive_at, removed_at, ds_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ZoneID, string(k.Role), int64(k.Algorithm), int64(k.Tag), k.Public, k.Sealed, string(k.State), micros(k.CreatedAt),
			keyMicros(k.PublishedAt), keyMicros(k.ActiveAt), keyMicros(k.InactiveAt), keyMicros(k.RemovedAt), keyMicros(k.DSAt))
		if err != nil {
			return mapErr(err)
		}
		if k.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		e.SubjectID = k.ID
		return x.AppendEvent(ctx, &e)
	})
}

// UpdateKey implements authdns.Store.
func (s *Store) UpdateKey(ctx context.Context, k authdns.Key, prev authdns.KeyState, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `UPDATE dns_keys SET state = ?, published_at = ?, active_at = ?, inactive_at = ?, removed_at = ?, ds_at = ? WHERE id = ? AND state = ?`,
			string(k.State), keyMicros(k.PublishedAt), keyMicros(k.ActiveAt), keyMicros(k.InactiveAt), keyMicros(k.RemovedAt), keyMicros(k.DSAt), k.ID, string(prev))
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("key %d: not found in state %s: %w", k.ID, prev, registry.ErrState)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// Keys implements authdns.Store.
func (s *Store) Keys(ctx context.Context, zoneID int64) (out []authdns.Key, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT `+keyCols+` FROM dns_keys WHERE ? = 0 OR zone_id = ? ORDER BY zone_id, id`, zoneID, zoneID)
		out, err = collect(rows, err, scanKey)
		return err
	})
	return out, err
}

// InsertTSIGKey implements authdns.Store.
func (s *Store) InsertTSIGKey(ctx context.Context, k authdns.TSIGKey, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		if _, err := x.q.exec(ctx, `INSERT INTO tsig_keys (name, algorithm, sealed, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
			k.Name, k.Algorithm, k.Sealed, micros(k.CreatedAt), k.CreatedBy); err != nil {
			if err := mapErr(err); errors.Is(err, registry.ErrExists) {
				return fmt.Errorf("a key of this name exists already (remove it first): %w", registry.ErrExists)
			} else {
				return err
			}
		}
		return x.AppendEvent(ctx, &e)
	})
}

// DeleteTSIGKey implements authdns.Store.
func (s *Store) DeleteTSIGKey(ctx context.Context, name string, e registry.Event) error {
	return s.Update(ctx, func(rt registry.Tx) error {
		x := rt.(*tx)
		res, err := x.q.exec(ctx, `DELETE FROM tsig_keys WHERE name = ?`, name)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("no such TSIG key: %w", registry.ErrNotFound)
		}
		return x.AppendEvent(ctx, &e)
	})
}

// TSIGKeys implements authdns.Store.
func (s *Store) TSIGKeys(ctx context.Context) (out []authdns.TSIGKey, err error) {
	err = s.View(ctx, func(rt registry.Tx) error {
		rows, err := rt.(*tx).q.query(ctx, `SELECT name, algorithm, sealed, created_at, created_by FROM tsig_keys ORDER BY name`)
		out, err = collect(rows, err, func(r rowscan.Scanner) (authdns.TSIGKey, error) {
			var k authdns.TSIGKey
			var at int64
			err := r.Scan(&k.Name, &k.Algorithm, &k.Sealed, &at, &k.CreatedBy)
			k.CreatedAt = rowscan.FromMicros(at)
			return k, err
		})
		return err
	})
	return out, err
}
