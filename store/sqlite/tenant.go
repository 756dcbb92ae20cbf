package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// ---- tenants (registry.TenantTx)

// flushUse stores the batch's pending use counts (usecache.go) before a
// statement that reads or writes tenants otherwise.
func (t *tx) flushUse(ctx context.Context) error {
	if w, ok := t.q.(*wtx); ok {
		return w.use.flush(ctx, w)
	}
	return nil
}

const tenantCols = rowscan.TenantCols

func (t *tx) InsertTenant(ctx context.Context, x *registry.Tenant) error {
	if err := t.flushUse(ctx); err != nil {
		return err
	}
	res, err := t.q.exec(ctx, `INSERT INTO tenants (name, names, max_ipv4, max_ipv6, note, created_at, may_delegate) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		x.Name, rowscan.TenantNames(*x), x.MaxIPv4, x.MaxIPv6, x.Note, micros(x.CreatedAt), x.MayDelegate)
	if err != nil {
		return mapErr(err)
	}
	if x.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return t.indexSuffixes(ctx, *x, false)
}

// indexSuffixes keeps tenant_suffixes (migration 00034) as x's names:
// the rows of its former names first when replace.
func (t *tx) indexSuffixes(ctx context.Context, x registry.Tenant, replace bool) error {
	if replace {
		if _, err := t.q.exec(ctx, `DELETE FROM tenant_suffixes WHERE tenant_id = ?`, x.ID); err != nil {
			return mapErr(err)
		}
	}
	for _, n := range x.Names {
		if _, err := t.q.exec(ctx, `INSERT OR IGNORE INTO tenant_suffixes (key, tenant_id) VALUES (?, ?)`, registry.SuffixKey(n), x.ID); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// SuffixHolders implements registry.TenantTx: each ancestor's key is a
// seek of the primary key (key, tenant_id), the key's own and those under
// it a range of it; a page stops at limit.
func (t *tx) SuffixHolders(ctx context.Context, key string, after registry.SuffixHolder, limit int) ([]registry.SuffixHolder, error) {
	var out []registry.SuffixHolder
	scan := func(rows rowscan.Scanner) (registry.SuffixHolder, error) {
		var h registry.SuffixHolder
		return h, rows.Scan(&h.Key, &h.TenantID, &h.Tenant)
	}
	for _, a := range registry.SuffixAncestors(key) {
		if a < after.Key || len(out) == limit {
			continue
		}
		from := int64(0)
		if a == after.Key {
			from = after.TenantID
		}
		rows, err := t.q.query(ctx, `SELECT s.key, s.tenant_id, t.name FROM tenant_suffixes s JOIN tenants t ON t.id = s.tenant_id
			WHERE s.key = ? AND s.tenant_id > ? ORDER BY s.tenant_id LIMIT ?`, a, from, limit-len(out))
		hs, err := collect(rows, err, scan)
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, hs...)
	}
	if len(out) == limit {
		return out, nil
	}
	lo, id := key, int64(0)
	if after.Key >= key {
		lo, id = after.Key, after.TenantID
	}
	rows, err := t.q.query(ctx, `SELECT s.key, s.tenant_id, t.name FROM tenant_suffixes s JOIN tenants t ON t.id = s.tenant_id
		WHERE s.key < ? AND (s.key, s.tenant_id) > (?, ?) ORDER BY s.key, s.tenant_id LIMIT ?`, registry.SuffixKeyEnd(key), lo, id, limit-len(out))
	hs, err := collect(rows, err, scan)
	if err != nil {
		return nil, mapErr(err)
	}
	return append(out, hs...), nil
}

func (t *tx) UpdateTenant(ctx context.Context, x registry.Tenant) error {
	if err := t.flushUse(ctx); err != nil {
		return err
	}
	res, err := t.q.exec(ctx, `UPDATE tenants SET names = ?, max_ipv4 = ?, max_ipv6 = ?, note = ?, may_delegate = ? WHERE id = ?`,
		rowscan.TenantNames(x), x.MaxIPv4, x.MaxIPv6, x.Note, x.MayDelegate, x.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("tenant %s: %w", x.Name, registry.ErrNotFound)
	}
	return t.indexSuffixes(ctx, x, true)
}

func (t *tx) DeleteTenant(ctx context.Context, id int64) error {
	if err := t.flushUse(ctx); err != nil {
		return err
	}
	if _, err := t.q.exec(ctx, `DELETE FROM tenant_suffixes WHERE tenant_id = ?`, id); err != nil {
		return mapErr(err)
	}
	res, err := t.q.exec(ctx, `DELETE FROM tenants WHERE id = ?`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("tenant %d: %w", id, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) TenantByName(ctx context.Context, name string) (registry.Tenant, error) {
	if err := t.flushUse(ctx); err != nil {
		return registry.Tenant{}, err
	}
	rows, err := t.q.query(ctx, `SELECT `+tenantCols+` FROM tenants WHERE name = ?`, name)
	x, err := one(rows, err, rowscan.Tenant)
	return x, notFound(err, "tenant "+name)
}

// LockTenantSuffixes implements registry.TenantTx: SQLite runs one
// writer at a time, so a writer that checks tenants' suffixes sees every
// change committed before it and none can come in between.
func (t *tx) LockTenantSuffixes(ctx context.Context) error { return nil }

func (t *tx) Tenants(ctx context.Context) ([]registry.Tenant, error) {
	if err := t.flushUse(ctx); err != nil {
		return nil, err
	}
	rows, err := t.q.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	return collect(rows, err, rowscan.Tenant)
}

func (t *tx) AddTenantUse(ctx context.Context, name string, d4, d6 int64) (registry.Tenant, error) {
	// Writers are serialised: the row needs no lock of its own. In the
	// writer the count is kept for the batch and stored once (usecache.go).
	if w, ok := t.q.(*wtx); ok {
		return w.use.add(ctx, w, name, d4, d6)
	}
	rows, err := t.q.query(ctx, `UPDATE tenants SET used_ipv4 = MAX(used_ipv4 + ?, 0), used_ipv6 = MAX(used_ipv6 + ?, 0) WHERE name = ? RETURNING `+tenantCols, d4, d6, name)
	x, err := one(rows, err, rowscan.Tenant)
	return x, notFound(mapErr(err), "tenant "+name)
}

// nameHolder is one statement: a live assignment of another tenant
// (through assignments_name), a zone's apex, a name of a synthesis
// template's shape (registry.HolderSynthesis), an NS target (a zone's
// configured name servers or an NS record's data), an address record at
// or below a delegation (an NS record's owner other than its zone's
// apex), a name below a delegation ('delegated') or at one ('cut'): an NS
// record of the deepest zone holding the name, other than at its apex,
// at one of the name's ancestors (anc) or at the name (dz is the deepest
// zone: SQLite gives a bare column the values of the max() row, and no
// temporary B-tree is built as for ORDER BY ... LIMIT 1); any static
// record (through dns_records_name).
//
// The tenant is compared as "?3 <> tenant", not "tenant <> ?3": SQLite
// matches a term of the shape "column <> value" against a partial index's
// condition of that shape (assignments_tenant's "tenant <> ”", 00040)
// by the parameter's bound value, and then marks the statement to be
// parsed and planned again whenever ?3 is bound: every name check was a
// fresh prepare of this whole statement, ~35 % of a named allocation's
// CPU (bench/README.md, "Session 12: SQLite named allocation").
// TestNameHolderPreparedOnce holds it.
const nameHolder = `SELECT CASE
	WHEN EXISTS (SELECT 1 FROM assignments WHERE name IN (?1, ?2) AND name <> '' AND state <> 'released' AND ?3 <> tenant) THEN 'assignment'
	WHEN NOT EXISTS (SELECT 1 FROM dns_zones) THEN ''
	WHEN EXISTS (SELECT 1 FROM dns_zones WHERE name = ?1) THEN 'apex'
	WHEN EXISTS (SELECT 1 FROM (SELECT substr(synthesize, 1, instr(synthesize, '{addr}') - 1) AS b,
	                                   substr(synthesize, instr(synthesize, '{addr}') + 6) AS r
	                            FROM dns_zones INDEXED BY dns_zones_synthesize WHERE synthesize <> '') t
	  WHERE length(?1) > length(t.b) + length(t.r) AND substr(?1, 1, length(t.b)) = t.b AND substr(?1, -length(t.r)) = t.r
	    AND instr(substr(?1, length(t.b) + 1, length(?1) - length(t.b) - length(t.r)), '.') = 0) THEN 'synthesis'
	WHEN EXISTS (SELECT 1 FROM dns_records INDEXED BY dns_records_ns WHERE type = 'NS' AND lower(data) IN (?1, ?2))
	  OR EXISTS (SELECT 1 FROM dns_zone_ns WHERE name IN (?1, ?2)) THEN 'ns'
	WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.name = ?1 AND r.type IN ('A', 'AAAA') AND EXISTS (
		SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
		WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
		  AND (?1 = d.name OR substr(?1, -length(d.name) - 1) = '.' || d.name))) THEN 'glue'
	WHEN EXISTS (SELECT 1 FROM dns_records WHERE name = ?1) THEN 'record'
	ELSE '' END, EXISTS (SELECT 1 FROM dns_records d INDEXED BY dns_records_ns JOIN dns_zones z ON z.id = d.zone_id WHERE d.type = 'NS' AND d.name <> z.name)`

// nameDelegation answers 'delegated' or 'cut' for a name nameHolder found
// free or held by a record only, where the register has a delegation at
// all (nameHolder's second column). It is a statement of its own: with
// its recursive CTEs in nameHolder every named allocation paid for them,
// zones or not (+90 µs of CPU each over HTTP, SQLite named 0.69 of
// 364d89d; bench/README.md, session 14 lead).
const nameDelegation = `WITH RECURSIVE anc(n) AS (SELECT ?1 UNION ALL SELECT substr(n, instr(n, '.') + 1) FROM anc WHERE instr(n, '.') BETWEEN 1 AND length(n) - 1),
	dz(id, name, l) AS (SELECT id, name, max(length(name)) FROM dns_zones WHERE name IN (SELECT n FROM anc))
	SELECT CASE
	WHEN EXISTS (SELECT 1 FROM dns_records d, dz WHERE d.zone_id = dz.id AND d.type = 'NS' AND d.name <> dz.name
		AND d.name <> ?1 AND d.name IN (SELECT n FROM anc)) THEN 'delegated'
	WHEN EXISTS (SELECT 1 FROM dns_records d, dz WHERE d.zone_id = dz.id AND d.type = 'NS' AND d.name <> dz.name AND d.name = ?1) THEN 'cut'
	ELSE '' END`

// DNSNames implements registry.TenantTx.
func (t *tx) DNSNames(ctx context.Context) ([]string, error) {
	rows, err := t.q.query(ctx, `SELECT lower(name) FROM dns_zones
	UNION SELECT lower(data) FROM dns_records WHERE type = 'NS'
	UNION SELECT lower(name) FROM dns_records
	UNION SELECT lower(j.value) FROM dns_zones z, json_each(z.config, '$.ns') j`)
	return collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
}

// ZoneCuts implements registry.TenantTx.
func (t *tx) ZoneCuts(ctx context.Context) ([]string, []registry.ZoneCut, error) {
	rows, err := t.q.query(ctx, `SELECT lower(name) FROM dns_zones`)
	zones, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
	if err != nil {
		return nil, nil, mapErr(err)
	}
	rows, err = t.q.query(ctx, `SELECT DISTINCT lower(z.name), lower(d.name) FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
	WHERE d.type = 'NS' AND d.name <> z.name`)
	cuts, err := collect(rows, err, func(r rowscan.Scanner) (registry.ZoneCut, error) {
		var c registry.ZoneCut
		return c, r.Scan(&c.Zone, &c.Name)
	})
	if err != nil {
		return nil, nil, mapErr(err)
	}
	return zones, cuts, nil
}

// TemplateNames implements registry.TenantTx: a pattern narrows the
// rows, rowscan.TemplateShaped decides.
func (t *tx) TemplateNames(ctx context.Context, before, rest string, limit int) ([]string, error) {
	rows, err := t.q.query(ctx, `SELECT name FROM assignments WHERE name LIKE ? ESCAPE '\' AND state <> 'released' AND tenant <> ''`, rowscan.LikePattern(before, rest))
	names, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
	if err != nil {
		return nil, mapErr(err)
	}
	out := names[:0]
	for _, n := range names {
		if rowscan.TemplateShaped(strings.ToLower(n), before, rest) && len(out) < limit {
			out = append(out, n)
		}
	}
	return out, nil
}

// NamesBelow implements registry.TenantTx: a pattern for the names below
// fqdn (LIKE is case-blind for ASCII, as DNS names are), the name itself
// apart.
func (t *tx) NamesBelow(ctx context.Context, fqdn string, limit int) ([]string, error) {
	apex := strings.TrimSuffix(fqdn, ".")
	rows, err := t.q.query(ctx, `SELECT DISTINCT name FROM assignments WHERE state <> 'released' AND name <> ''
	AND (rtrim(name, '.') = ? COLLATE NOCASE OR rtrim(name, '.') LIKE ? ESCAPE '\') ORDER BY name LIMIT ?`, apex, rowscan.BelowPattern(apex), limit)
	names, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
	return names, mapErr(err)
}

func (t *tx) NameHolder(ctx context.Context, fqdn, tenant string) (registry.HolderKind, bool, error) {
	dotted, bare := rowscan.NameArgs(fqdn)
	type answer struct {
		code       string
		delegation bool
	}
	rows, err := t.q.query(ctx, nameHolder, dotted, bare, tenant)
	a, err := one(rows, err, func(rows rowscan.Scanner) (answer, error) {
		var a answer
		return a, rows.Scan(&a.code, &a.delegation)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	code := a.code
	if a.delegation && (code == "" || code == "record") {
		// Below or at a delegation comes before a record of its own.
		rows, err := t.q.query(ctx, nameDelegation, dotted)
		d, err := one(rows, err, func(rows rowscan.Scanner) (string, error) {
			var s string
			return s, rows.Scan(&s)
		})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", false, mapErr(err)
		}
		if d != "" {
			code = d
		}
	}
	k, ok := rowscan.HolderKind(code)
	return k, ok, nil
}

// NamesAt implements registry.NameCounter in one statement: a pattern
// for the names below the zone (LIKE is case-blind for ASCII, as DNS
// names are), its apex apart.
func (t *tx) NamesAt(ctx context.Context, zone string, spaces []string) (int, error) {
	apex := strings.TrimSuffix(zone, ".")
	// `+space`: a walk of the table, not of the spaces' rows of
	// assignments_at (00058) with a look-up of each row.
	q := `SELECT count(*) FROM assignments WHERE state = 'assigned' AND name <> '' AND +space IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(spaces)), ", ") + `)
	AND (rtrim(name, '.') = ? COLLATE NOCASE OR rtrim(name, '.') LIKE ? ESCAPE '\')`
	args := make([]any, 0, len(spaces)+2)
	for _, s := range spaces {
		args = append(args, s)
	}
	args = append(args, apex, rowscan.BelowPattern(apex))
	rows, err := t.q.query(ctx, q, args...)
	n, err := collect(rows, err, func(r rowscan.Scanner) (int64, error) {
		var n int64
		return n, r.Scan(&n)
	})
	if err != nil {
		return 0, mapErr(err)
	}
	return int(n[0]), nil
}
