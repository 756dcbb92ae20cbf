package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cadastre-ipam/cadastre/registry"
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
	if t.write && slices.Contains(t.tenants, name) {
		return
	}
	if t.write && !t.tenantLockFirst() {
		t.queueRead(func(rows pgx.Rows) error {
			for rows.Next() {
			}
			rows.Close()
			var pe *pgconn.PgError
			if err := rows.Err(); errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				// Not wrapped: mapErr would take it for a lock_timeout.
				return fmt.Errorf("tenant %s: row held by another writer: %w", name, registry.ErrConflict)
			} else if err != nil {
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

// nameLockClass is the first key of the advisory locks on DNS names (the
// second is a hash of the name); the migration lock uses the one-key form
// with a value below 2^32, whose first half is 0.
const nameLockClass = 727

const tenantCols = rowscan.TenantCols

func (t *tx) InsertTenant(ctx context.Context, x *registry.Tenant) error {
	return mapErr(t.row(ctx, `INSERT INTO tenants (name, names, max_ipv4, max_ipv6, note, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		x.Name, rowscan.TenantNames(*x), x.MaxIPv4, x.MaxIPv6, x.Note, micros(x.CreatedAt)).Scan(&x.ID))
}

func (t *tx) UpdateTenant(ctx context.Context, x registry.Tenant) error {
	tag, err := t.exec(ctx, `UPDATE tenants SET names = $1, max_ipv4 = $2, max_ipv6 = $3, note = $4 WHERE id = $5`,
		rowscan.TenantNames(x), x.MaxIPv4, x.MaxIPv6, x.Note, x.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("tenant %s: %w", x.Name, registry.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteTenant(ctx context.Context, id int64) error {
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
	q := `SELECT ` + tenantCols + ` FROM tenants WHERE name = $1`
	if t.write {
		q += ` FOR UPDATE`
	}
	rows, err := t.query(ctx, q, name)
	x, err := one(rows, err, rowscan.Tenant)
	return x, notFound(err, "tenant "+name)
}

func (t *tx) Tenants(ctx context.Context) ([]registry.Tenant, error) {
	rows, err := t.query(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	return collect(rows, err, rowscan.Tenant)
}

// AddTenantUse is one UPDATE: READ COMMITTED makes a concurrent one wait
// for this transaction and then add to what it committed, so counts never
// interleave, on one replica or many.
func (t *tx) AddTenantUse(ctx context.Context, name string, d4, d6 int64) (registry.Tenant, error) {
	t.queueTenantLock(name)
	rows, err := t.query(ctx, `UPDATE tenants SET used_ipv4 = GREATEST(used_ipv4 + $1, 0), used_ipv6 = GREATEST(used_ipv6 + $2, 0) WHERE name = $3 RETURNING `+tenantCols, d4, d6, name)
	x, err := one(rows, err, rowscan.Tenant)
	if err == nil {
		t.holds(name)
	}
	return x, notFound(err, "tenant "+name)
}

// holds records that this transaction holds the tenant's row, locked by
// the UPDATE that counted its use.
func (t *tx) holds(name string) {
	if t.write && !slices.Contains(t.tenants, name) {
		t.tenants = append(t.tenants, name)
	}
}

// nameHolder: see the SQLite store's; the same answer in one statement.
const nameHolder = `SELECT CASE
	WHEN EXISTS (SELECT 1 FROM assignments WHERE name IN ($1, $2) AND name <> '' AND state <> 'released' AND tenant <> $3) THEN 'assignment'
	WHEN EXISTS (SELECT 1 FROM dns_zones WHERE name = $1) THEN 'apex'
	WHEN EXISTS (SELECT 1 FROM dns_records WHERE type = 'NS' AND lower(data) IN ($1, $2))
	  OR EXISTS (SELECT 1 FROM dns_zones z, jsonb_array_elements_text(CASE WHEN jsonb_typeof(z.config::jsonb -> 'ns') = 'array' THEN z.config::jsonb -> 'ns' ELSE '[]'::jsonb END) j(v)
	             WHERE lower(j.v) IN ($1, $2)) THEN 'ns'
	WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.name = $1 AND r.type IN ('A', 'AAAA') AND EXISTS (
		SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
		WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
		  AND ($1 = d.name OR right($1, length(d.name) + 1) = '.' || d.name))) THEN 'glue'
	WHEN EXISTS (SELECT 1 FROM dns_records WHERE name = $1) THEN 'record'
	ELSE '' END`

// NameHolder, in a write transaction, first takes a transaction-scoped
// advisory lock on the name, queued in the same round trip: under READ
// COMMITTED each statement sees what committed before it began, so a
// transaction naming the same name waits for this one and then finds its
// assignment, and two tenants never both find a name free.
func (t *tx) NameHolder(ctx context.Context, fqdn, tenant string) (registry.HolderKind, bool, error) {
	return t.QueueNameHolder(ctx, fqdn, tenant)()
}

// QueueNameHolder implements registry.NameHolderQueuer: the name's
// advisory lock and the look-up of its holder go out with the
// transaction's next statement (an allocation's first look at free space),
// in this order, so the look-up sees what a writer that held the lock
// committed. Only the first lock of a transaction waits (tenantLockFirst);
// later ones only try, and a name another writer holds is a conflict.
func (t *tx) QueueNameHolder(ctx context.Context, fqdn, tenant string) func() (registry.HolderKind, bool, error) {
	dotted, bare := rowscan.NameArgs(fqdn)
	locked := true
	if t.write {
		h := fnv.New32a()
		h.Write([]byte(dotted))
		if t.tenantLockFirst() {
			t.later(`SELECT pg_advisory_xact_lock($1, $2)`, nameLockClass, int32(h.Sum32()))
		} else {
			t.queueRead(func(rows pgx.Rows) error {
				var err error
				locked, err = one(rows, nil, func(r rowscan.Scanner) (bool, error) {
					var ok bool
					return ok, r.Scan(&ok)
				})
				return err
			}, `SELECT pg_try_advisory_xact_lock($1, $2)`, nameLockClass, int32(h.Sum32()))
		}
		t.tenantLocks++
	}
	var code string
	done := false
	// The look-up must use assignments_name whatever the table's size
	// when its plan was made: the connection's cached generic plan, made
	// on a young table (no statistics until autovacuum analyses it,
	// minutes later), scanned every assignment, under the region's lock
	// (bench/README.md: -64 % for named allocations). The cost that
	// setting gives a plan would start JIT compilation (over a second):
	// off too. Queued, the settings cost no round trip; they end with the
	// statement.
	t.later(`SET LOCAL enable_seqscan = off`)
	t.later(`SET LOCAL jit = off`)
	t.queueRead(func(rows pgx.Rows) error {
		var err error
		code, err = one(rows, nil, func(r rowscan.Scanner) (string, error) {
			var s string
			return s, r.Scan(&s)
		})
		done = true
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	}, nameHolder, dotted, bare, tenant)
	t.later(`SET LOCAL enable_seqscan TO DEFAULT`)
	t.later(`SET LOCAL jit TO DEFAULT`)
	return func() (registry.HolderKind, bool, error) {
		if !done {
			if err := t.flush(ctx); err != nil {
				return "", false, err
			}
			if !done {
				return "", false, fmt.Errorf("name %s: the queued look-up was never answered", fqdn)
			}
		}
		if !locked {
			return "", false, fmt.Errorf("name %s: held by another writer: %w", fqdn, registry.ErrConflict)
		}
		k, ok := rowscan.HolderKind(code)
		return k, ok, nil
	}
}

// QueueTenantUse implements registry.TenantUseQueuer: the UPDATE goes out
// with the transaction's next statement (an allocation's first look at
// free space), so counting a tenant's use costs no round trip of its own;
// its row is read as the batch's results are.
func (t *tx) QueueTenantUse(ctx context.Context, name string, d4, d6 int64) func() (registry.Tenant, error) {
	var got registry.Tenant
	var gotErr error
	done := false
	t.queueTenantLock(name)
	t.queueRead(func(rows pgx.Rows) error {
		got, gotErr = one(rows, nil, rowscan.Tenant)
		if gotErr == nil {
			t.holds(name)
		}
		gotErr, done = notFound(gotErr, "tenant "+name), true
		if errors.Is(gotErr, registry.ErrNotFound) {
			return nil // an answer, not a failure of the batch
		}
		return gotErr
	}, `UPDATE tenants SET used_ipv4 = GREATEST(used_ipv4 + $1, 0), used_ipv6 = GREATEST(used_ipv6 + $2, 0) WHERE name = $3 RETURNING `+tenantCols, d4, d6, name)
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
)
