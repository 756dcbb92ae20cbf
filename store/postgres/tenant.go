package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/poolcount"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

// ---- tenants (registry.TenantTx)

// Lock order. Region locks are taken in ID order (postgres.go); tenants'
// rows and names come before them. A transaction that holds no region
// lock yet (an allocation alone, or the first job of a group commit)
// waits for a tenant's row or a name; one that holds a region lock (a
// later job of a group commit) only tries (NOWAIT), and if another writer
// holds it, fails with registry.ErrConflict and runs again alone, where
// it takes them first. So no two writers wait for each other in a cycle
// (PostgreSQL would find the cycle only after deadlock_timeout, a second).
// tenantLockFirst reports whether this transaction may wait for a
// tenant's row or a name: it holds no region lock and no other of them.
func (t *tx) tenantLockFirst() bool {
	return len(t.locked) == 0 && t.tenantLocks == 0
}

// queueTenantLock queues a NOWAIT lock on a tenant's row when this
// transaction may not wait for it (see tenantLockFirst) and does not hold
// it already: in a group commit, the jobs after the first that counted a
// tenant's use find its row locked by the shared transaction, and count
// without a statement of their own for the lock.
func (t *tx) queueTenantLock(name string) {
	if _, ok := t.use[name]; ok {
		return
	}
	if t.write && !t.tenantLockFirst() {
		t.queueRead(func(rows pgx.Rows) error {
			for rows.Next() {
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
					// Not wrapped: mapErr would take it for a lock_timeout.
					return fmt.Errorf("tenant %s: row held by another writer: %w", name, registry.ErrConflict)
				}
				return err
			}
			return nil
		}, `SELECT 1 FROM tenants WHERE name = $1 FOR UPDATE NOWAIT`, name)
	}
	t.tenantLocks++
}

// queueRead queues a statement whose rows read reads as the batch's
// results are read (see drain).
func (t *tx) queueRead(read func(pgx.Rows) error, q string, args ...any) {
	if t.pending == nil {
		t.pending = &pgx.Batch{}
	}
	if t.readers == nil {
		t.readers = map[int]func(pgx.Rows) error{}
	}
	t.readers[t.pending.Len()] = read
	t.pending.Queue(q, args...)
}

// suffixLockClass is the first key of the advisory lock on tenants'
// name suffixes (LockTenantSuffixes); the second is 0. Advisory locks are
// the database's, not a schema's: a value nothing else here uses (the
// migration lock's one-key form is (0, 7271878), names use 727 and 728).
const suffixLockClass = 7271879

const tenantCols = rowscan.TenantCols

// LockTenantSuffixes implements registry.TenantTx with a transaction-
// scoped advisory lock: two transactions changing suffixes run one after
// the other, and under READ COMMITTED the reads of the second, which
// start after it got the lock, see what the first committed (two new
// tenants' rows, unlike an existing row, have nothing to lock FOR UPDATE).
// Like a name's lock, it is waited for only by a transaction that holds no
// other (tenantLockFirst); otherwise only tried, and held elsewhere it is
// a conflict, so that the transaction runs again alone.
func (t *tx) LockTenantSuffixes(ctx context.Context) error {
	if !t.write {
		return nil
	}
	if t.tenantLockFirst() {
		t.tenantLocks++
		_, err := t.exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, suffixLockClass, t.s.schemaKey)
		return err
	}
	t.tenantLocks++
	var ok bool
	if err := t.row(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, suffixLockClass, t.s.schemaKey).Scan(&ok); err != nil {
		return mapErr(err)
	}
	if !ok {
		return fmt.Errorf("tenants' name suffixes: being changed by another writer: %w", registry.ErrConflict)
	}
	return nil
}

func (t *tx) InsertTenant(ctx context.Context, x *registry.Tenant) error {
	if err := t.storeUse(ctx, true); err != nil {
		return err
	}
	if err := mapErr(t.row(ctx, `INSERT INTO tenants (name, names, max_ipv4, max_ipv6, note, created_at, may_delegate) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		x.Name, rowscan.TenantNames(*x), x.MaxIPv4, x.MaxIPv6, x.Note, micros(x.CreatedAt), x.MayDelegate).Scan(&x.ID)); err != nil {
		return err
	}
	return t.indexSuffixes(ctx, *x, false)
}

// indexSuffixes keeps tenant_suffixes (migration 00034) as x's names, in
// one statement: the rows of its former names go first when replace.
func (t *tx) indexSuffixes(ctx context.Context, x registry.Tenant, replace bool) error {
	keys := make([]string, len(x.Names))
	for i, n := range x.Names {
		keys[i] = registry.SuffixKey(n)
	}
	q := `INSERT INTO tenant_suffixes (key, tenant_id) SELECT DISTINCT k, $2::bigint FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING`
	if replace {
		q = `WITH gone AS (DELETE FROM tenant_suffixes WHERE tenant_id = $2 AND key <> ALL($1::text[]))
			INSERT INTO tenant_suffixes (key, tenant_id) SELECT DISTINCT k, $2::bigint FROM unnest($1::text[]) AS k ON CONFLICT DO NOTHING`
	}
	if len(keys) == 0 && !replace {
		return nil
	}
	_, err := t.exec(ctx, q, keys, x.ID)
	return mapErr(err)
}

// suffixHolders is SuffixHolders in one statement: each ancestor's key a
// limited seek of the primary key (LATERAL), the key's own and those under
// it a limited range of it, the two merged in index order.
const suffixHolders = `SELECT h.key, h.tenant_id, t.name FROM (
	SELECT s.key, s.tenant_id FROM unnest($1::text[]) AS a(k) CROSS JOIN LATERAL (
		SELECT key, tenant_id FROM tenant_suffixes
		WHERE key = a.k AND (key, tenant_id) > ($3::text COLLATE "C", $4::bigint)
		ORDER BY key, tenant_id LIMIT $5) s
	UNION ALL
	(SELECT key, tenant_id FROM tenant_suffixes
		WHERE key >= $2::text COLLATE "C" AND key < $6::text COLLATE "C" AND (key, tenant_id) > ($3::text COLLATE "C", $4::bigint)
		ORDER BY key, tenant_id LIMIT $5)
) h JOIN tenants t ON t.id = h.tenant_id
ORDER BY h.key, h.tenant_id LIMIT $5`

// SuffixHolders implements registry.TenantTx.
func (t *tx) SuffixHolders(ctx context.Context, key string, after registry.SuffixHolder, limit int) ([]registry.SuffixHolder, error) {
	if err := t.storeUse(ctx, false); err != nil {
		return nil, err
	}
	anc := registry.SuffixAncestors(key)
	if anc == nil {
		anc = []string{}
	}
	rows, err := t.query(ctx, suffixHolders, anc, key, after.Key, after.TenantID, limit, registry.SuffixKeyEnd(key))
	return collect(rows, err, func(rows rowscan.Scanner) (registry.SuffixHolder, error) {
		var h registry.SuffixHolder
		return h, rows.Scan(&h.Key, &h.TenantID, &h.Tenant)
	})
}

func (t *tx) UpdateTenant(ctx context.Context, x registry.Tenant) error {
	if err := t.storeUse(ctx, true); err != nil {
		return err
	}
	tag, err := t.exec(ctx, `UPDATE tenants SET names = $1, max_ipv4 = $2, max_ipv6 = $3, note = $4, may_delegate = $5 WHERE id = $6`,
		rowscan.TenantNames(x), x.MaxIPv4, x.MaxIPv6, x.Note, x.MayDelegate, x.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("tenant %s: %w", x.Name, registry.ErrNotFound)
	}
	return t.indexSuffixes(ctx, x, true)
}

func (t *tx) DeleteTenant(ctx context.Context, id int64) error {
	if err := t.storeUse(ctx, true); err != nil {
		return err
	}
	tag, err := t.exec(ctx, `DELETE FROM tenants WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("tenant %d: %w", id, registry.ErrNotFound)
	}
	return nil
}

// TenantByName, in a write transaction, locks the tenant's row (FOR
// UPDATE): a change of its quotas and an allocation counting against them
// happen one after the other.
func (t *tx) TenantByName(ctx context.Context, name string) (registry.Tenant, error) {
	if err := t.storeUse(ctx, false); err != nil {
		return registry.Tenant{}, err
	}
	q := `SELECT ` + tenantCols + ` FROM tenants WHERE name = $1`
	if t.write {
		q += ` FOR UPDATE`
	}
	rows, err := t.query(ctx, q, name)
	x, err := one(rows, err, rowscan.Tenant)
	return x, notFound(err, "tenant "+name)
}

func (t *tx) Tenants(ctx context.Context) ([]registry.Tenant, error) {
	if err := t.storeUse(ctx, false); err != nil {
		return nil, err
	}
	rows, err := t.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	return collect(rows, err, rowscan.Tenant)
}

// AddTenantUse is one UPDATE: READ COMMITTED makes a concurrent one wait
// for this transaction and then add to what it committed, so counts never
// interleave, on one replica or many.
func (t *tx) AddTenantUse(ctx context.Context, name string, d4, d6 int64) (registry.Tenant, error) {
	if x, ok := t.countHeld(name, d4, d6); ok {
		return x, nil
	}
	q := t.countUse()
	t.queueTenantLock(name)
	rows, err := t.query(ctx, q, d4, d6, name)
	x, err := one(rows, err, rowscan.Tenant)
	if err == nil {
		t.holds(x)
	}
	return x, notFound(err, "tenant "+name)
}

// countUse is the UPDATE that counts a tenant's use. As the
// transaction's first lock (tenantLockFirst) it first waits for the names'
// fence, shared (see nameFenceClass), in the same statement: a named
// allocation's name lock comes after its tenant's row and only tries, so
// during a bulk load that holds every name it would conflict and run again
// until it gave up; waiting for the fence before anything else, it waits
// for the load instead, holding nothing the load could wait for. The
// fence costs no statement, and PostgreSQL evaluates the volatile
// condition once, on the tenant's row.
func (t *tx) countUse() string {
	q := `UPDATE tenants SET used_ipv4 = GREATEST(used_ipv4 + $1, 0), used_ipv6 = GREATEST(used_ipv6 + $2, 0) WHERE name = $3`
	if t.write && t.tenantLockFirst() {
		q += t.s.fenceShared
	}
	return q + ` RETURNING ` + tenantCols
}

// usedRow is a tenant whose row a group commit's transaction holds, as
// the transaction sees it, and the use its row stores so far. The
// transaction has held the row's lock since it read it (an UPDATE that
// counted a use), so nothing else has changed the row since: the jobs
// after that count against it in memory, exactly, and storeUse or
// commitUse store the counts before anything else reads them.
//
// The map of them (tx.use) holds pointers to rows never changed once in
// it (a change puts a changed copy in its place): a group commit copies
// the map for each job (group.go), and a copy of pointers is a few bytes
// where one of the rows was ~1.5 KB per allocation.
type usedRow struct {
	t                registry.Tenant
	stored4, stored6 int64
}

// holds records, in a group commit, that the transaction holds x's row,
// locked by the UPDATE that counted its use and read it back.
func (t *tx) holds(x registry.Tenant) {
	if !t.batched {
		return
	}
	if t.use == nil {
		t.use = map[string]*usedRow{}
	}
	t.use[x.Name] = &usedRow{t: x, stored4: x.UsedIPv4, stored6: x.UsedIPv6}
}

// countHeld counts a use in memory if the transaction holds the tenant's
// row (holds), as the row's GREATEST(used + d, 0) would.
func (t *tx) countHeld(name string, d4, d6 int64) (registry.Tenant, bool) {
	held, ok := t.use[name]
	if !ok {
		return registry.Tenant{}, false
	}
	r := *held
	r.t.UsedIPv4 = max(r.t.UsedIPv4+d4, 0)
	r.t.UsedIPv6 = max(r.t.UsedIPv6+d6, 0)
	t.use[name] = &r
	t.countedHeld = true
	return r.t, true
}

// storeUse stores the counts made in memory, before a statement that
// reads or writes tenants otherwise; forget also forgets the rows (their
// names or quotas may change), so that the next count reads them again.
func (t *tx) storeUse(ctx context.Context, forget bool) error {
	for name, held := range t.use {
		if held.t.UsedIPv4 == held.stored4 && held.t.UsedIPv6 == held.stored6 {
			continue
		}
		if _, err := t.exec(ctx, `UPDATE tenants SET used_ipv4 = $1, used_ipv6 = $2 WHERE id = $3`, held.t.UsedIPv4, held.t.UsedIPv6, held.t.ID); err != nil {
			return fmt.Errorf("tenant %s: store its use: %w", name, err)
		}
		r := *held
		r.stored4, r.stored6 = r.t.UsedIPv4, r.t.UsedIPv6
		t.use[name] = &r
	}
	if forget {
		t.use = nil
	}
	return nil
}

// commitUse stores a group commit's counts made in memory (tenants' use,
// and the pool counters' changes, counters.go) and commits, in one round
// trip; it returns COMMIT's tag (ROLLBACK if a statement failed: the
// transaction then stores nothing).
func commitUse(ctx context.Context, c *pgxpool.Conn, use map[string]*usedRow, counts poolcount.Deltas) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	for _, r := range use {
		if r.t.UsedIPv4 != r.stored4 || r.t.UsedIPv6 != r.stored6 {
			b.Queue(`UPDATE tenants SET used_ipv4 = $1, used_ipv6 = $2 WHERE id = $3`, r.t.UsedIPv4, r.t.UsedIPv6, r.t.ID)
		}
	}
	n := b.Len()
	counted := queueCounts(b, counts)
	if b.Len() == 0 {
		return c.Exec(ctx, "COMMIT")
	}
	b.Queue("COMMIT")
	br := c.SendBatch(ctx, b)
	defer br.Close()
	for range n {
		tag, err := br.Exec()
		if err != nil {
			return tag, fmt.Errorf("store tenants' use: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return tag, fmt.Errorf("store tenants' use: a tenant's row is gone")
		}
	}
	if counted {
		if tag, err := br.Exec(); err != nil {
			return tag, fmt.Errorf("store pool counts: %w", err)
		}
	}
	return br.Exec()
}

// The locks on DNS names. Every writer of a name holds the fence
// (nameFenceClass, schemaKey) shared and the name's own lock
// (nameLockClass, a hash of the name and the schema), both transaction-scoped and taken in that order; a
// bulk load (LockAllNames) holds the fence exclusive, which keeps every
// name writer out at the cost of one lock, and then takes no name's lock.
// The migration lock uses the one-key form, which never meets these.
const (
	nameLockClass  = 727
	nameFenceClass = 728
)

// The lock_mode of the name_holder function (migration 00022).
const (
	lockNone = 0 // the transaction holds the fence exclusive
	lockWait = 1
	lockTry  = 2
)

// DNSNames implements registry.TenantTx.
func (t *tx) DNSNames(ctx context.Context) ([]string, error) {
	rows, err := t.query(ctx, `SELECT lower(name) FROM dns_zones
	UNION SELECT lower(data) FROM dns_records WHERE type = 'NS'
	UNION SELECT lower(name) FROM dns_records
	UNION SELECT lower(j.v) FROM dns_zones z, jsonb_array_elements_text(CASE WHEN jsonb_typeof(z.config::jsonb -> 'ns') = 'array' THEN z.config::jsonb -> 'ns' ELSE '[]'::jsonb END) j(v)`)
	return collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
}

// ZoneCuts implements registry.TenantTx.
func (t *tx) ZoneCuts(ctx context.Context) ([]string, []registry.ZoneCut, error) {
	rows, err := t.query(ctx, `SELECT lower(name) FROM dns_zones`)
	zones, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = t.query(ctx, `SELECT DISTINCT lower(z.name), lower(d.name) FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
	WHERE d.type = 'NS' AND d.name <> z.name`)
	cuts, err := collect(rows, err, func(r rowscan.Scanner) (registry.ZoneCut, error) {
		var c registry.ZoneCut
		return c, r.Scan(&c.Zone, &c.Name)
	})
	if err != nil {
		return nil, nil, err
	}
	return zones, cuts, nil
}

// TemplateNames implements registry.TenantTx: a pattern narrows the
// rows, rowscan.TemplateShaped decides.
func (t *tx) TemplateNames(ctx context.Context, before, rest string, limit int) ([]string, error) {
	rows, err := t.query(ctx, `SELECT name FROM assignments WHERE lower(name) LIKE $1 AND state <> 'released' AND tenant <> ''`, rowscan.LikePattern(before, rest))
	names, err := collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
	if err != nil {
		return nil, err
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
// fqdn, the name itself apart, over every named assignment (a delegation
// is added rarely, by an operator).
func (t *tx) NamesBelow(ctx context.Context, fqdn string, limit int) ([]string, error) {
	apex := strings.TrimSuffix(fqdn, ".")
	rows, err := t.query(ctx, `SELECT DISTINCT name FROM assignments WHERE state <> 'released' AND name <> ''
	AND (rtrim(lower(name), '.') = $1 OR rtrim(lower(name), '.') LIKE $2) ORDER BY name LIMIT $3`, apex, rowscan.BelowPattern(apex), limit)
	return collect(rows, err, func(r rowscan.Scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
}

// NameHolder, in a write transaction, first takes a transaction-scoped
// advisory lock on the name, in the same statement: under READ COMMITTED
// the look-up after it sees what committed before it, so a transaction
// naming the same name waits for this one and then finds its assignment,
// and two tenants never both find a name free.
func (t *tx) NameHolder(ctx context.Context, fqdn, tenant string) (registry.HolderKind, bool, error) {
	return t.QueueNameHolder(ctx, fqdn, tenant)()
}

// QueueNameHolder implements registry.NameHolderQueuer: the name's locks
// and the look-up of its holder are one statement (name_holder, migration
// 00022, whose look-up takes its snapshot after the locks; since 00061 it
// is given the names' fence key, schemaKey, rather than hashing the
// schema's name on every call), sent with the
// transaction's next statement (an allocation's first look at free
// space). Only the first lock of a transaction waits (tenantLockFirst);
// later ones only try, and a name another writer holds is a conflict.
func (t *tx) QueueNameHolder(ctx context.Context, fqdn, tenant string) func() (registry.HolderKind, bool, error) {
	dotted, bare := rowscan.NameArgs(fqdn)
	mode, key := lockNone, int32(0)
	if t.write && !t.namesFenced {
		// The schema's key mixed in: another register's name, in another
		// schema of the database, is another lock (see Store.schemaKey).
		key, mode = int32(fnv32a(dotted))^t.s.schemaKey, lockTry
		if t.tenantLockFirst() {
			mode = lockWait
		}
		t.tenantLocks++
	}
	// code is the answer, NULL when the name's lock was not had. Scanned
	// into a pgtype.Text: a *string is made by reflection, per call.
	var code pgtype.Text
	done := false
	t.queueRead(func(rows pgx.Rows) error {
		var err error
		code, err = one(rows, nil, func(r rowscan.Scanner) (pgtype.Text, error) {
			var s pgtype.Text
			return s, r.Scan(&s)
		})
		done = true
		return err
	}, `SELECT name_holder($1, $2, $3, $4, $5, $6)`, t.s.schemaKey, key, mode, dotted, bare, tenant)
	return func() (registry.HolderKind, bool, error) {
		if !done {
			if err := t.flush(ctx); err != nil {
				return "", false, err
			}
			if !done {
				return "", false, fmt.Errorf("name %s: the queued look-up was never answered", fqdn)
			}
		}
		if !code.Valid {
			return "", false, fmt.Errorf("name %s: held by another writer: %w", fqdn, registry.ErrConflict)
		}
		k, ok := rowscan.HolderKind(code.String)
		return k, ok, nil
	}
}

// fnv32a is hash/fnv's 32-bit FNV-1a of s, without its two heap objects
// (the hash and s's bytes) per named allocation.
func fnv32a(s string) uint32 {
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= prime
	}
	return h
}

// LockAllNames implements registry.NameLocker: the fence exclusive, one
// lock whatever the number of names the transaction then writes. It waits
// only as a transaction's first lock (tenantLockFirst); later, as in a
// group commit that holds regions, it only tries, and a fence held by
// another writer is a conflict that runs the transaction again alone.
func (t *tx) LockAllNames(ctx context.Context) error {
	if !t.write || t.namesFenced {
		return nil
	}
	if t.tenantLockFirst() {
		if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, nameFenceClass, t.s.schemaKey); err != nil {
			return fmt.Errorf("lock every DNS name: %w", err)
		}
	} else {
		var ok bool
		if err := t.row(ctx, `SELECT pg_try_advisory_xact_lock($1, $2)`, nameFenceClass, t.s.schemaKey).Scan(&ok); err != nil {
			return fmt.Errorf("lock every DNS name: %w", mapErr(err))
		}
		if !ok {
			return fmt.Errorf("lock every DNS name: held by another writer: %w", registry.ErrConflict)
		}
	}
	t.namesFenced = true
	t.tenantLocks++
	return nil
}

// QueueTenantUse implements registry.TenantUseQueuer: the UPDATE goes out
// with the transaction's next statement (an allocation's first look at
// free space), so counting a tenant's use costs no round trip of its own;
// its row is read as the batch's results are.
func (t *tx) QueueTenantUse(ctx context.Context, name string, d4, d6 int64) func() (registry.Tenant, error) {
	if x, ok := t.countHeld(name, d4, d6); ok {
		return func() (registry.Tenant, error) { return x, nil }
	}
	var got registry.Tenant
	var gotErr error
	done := false
	q := t.countUse()
	t.queueTenantLock(name)
	t.queueRead(func(rows pgx.Rows) error {
		got, gotErr = one(rows, nil, rowscan.Tenant)
		if gotErr == nil {
			t.holds(got)
		}
		if gotErr != nil {
			gotErr = notFound(gotErr, "tenant "+name)
		}
		done = true
		if errors.Is(gotErr, registry.ErrNotFound) {
			return nil // an answer, not a failure of the batch
		}
		return gotErr
	}, q, d4, d6, name)
	return func() (registry.Tenant, error) {
		if !done {
			if err := t.flush(ctx); err != nil {
				return registry.Tenant{}, err
			}
			if !done {
				return registry.Tenant{}, fmt.Errorf("tenant %s: the queued count was never answered", name)
			}
		}
		return got, gotErr
	}
}

var (
	_ registry.TenantUseQueuer  = (*tx)(nil)
	_ registry.NameHolderQueuer = (*tx)(nil)
	_ registry.NameLocker       = (*tx)(nil)
)

// NamesAt implements registry.NameCounter in one statement: a pattern
// for the names below the zone, its apex apart.
func (t *tx) NamesAt(ctx context.Context, zone string, spaces []string) (int, error) {
	apex := strings.TrimSuffix(zone, ".")
	rows, err := t.query(ctx, `SELECT count(*) FROM assignments WHERE state = 'assigned' AND name <> '' AND (SELECT space FROM pools p WHERE p.id = pool_id) = ANY($1)
	AND (rtrim(lower(name), '.') = $2 OR rtrim(lower(name), '.') LIKE $3)`, spaces, apex, rowscan.BelowPattern(apex))
	n, err := collect(rows, err, func(r rowscan.Scanner) (int64, error) {
		var n int64
		return n, r.Scan(&n)
	})
	if err != nil {
		return 0, err
	}
	return int(n[0]), nil
}
