package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/internal/evcodec"
	"github.com/cadastre-ipam/cadastre/store/internal/rowscan"
)

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, registry.ErrNotFound)
	}
	return err
}

func collect[T any](rows pgx.Rows, err error, scan func(rowscan.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

func one[T any](rows pgx.Rows, err error, scan func(rowscan.Scanner) (T, error)) (T, error) {
	var zero T
	if err != nil {
		return zero, mapErr(err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return zero, mapErr(err)
		}
		return zero, pgx.ErrNoRows
	}
	v, err := scan(rows)
	return v, err
}

// ---- regions

const regionCols = `id, name, country, subdivision, city, borrow_policy, borrow_bits, created_at`

func (t *tx) InsertRegion(ctx context.Context, r *registry.Region) error {
	return mapErr(t.row(ctx, `INSERT INTO regions (name, country, subdivision, city, borrow_policy, borrow_bits, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		r.Name, r.Location.Country, r.Location.Subdivision, r.Location.City, r.Borrow.String(), r.BorrowBits, micros(r.CreatedAt)).Scan(&r.ID))
}

func (t *tx) UpdateRegion(ctx context.Context, r registry.Region) error {
	t.ownRegions()
	delete(t.regions, r.Name)
	if t.s != nil {
		t.s.regions.Delete(r.Name) // read again under the next lock
		t.s.lockFirst.Delete(r.ID) // its lenders may have changed: learnt again
	}
	tag, err := t.exec(ctx, `UPDATE regions SET country = $1, subdivision = $2, city = $3, borrow_policy = $4, borrow_bits = $5 WHERE id = $6`,
		r.Location.Country, r.Location.Subdivision, r.Location.City, r.Borrow.String(), r.BorrowBits, r.ID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("region %s: %w", r.Name, registry.ErrNotFound)
	}
	return nil
}

// RegionByName, in a write transaction, also locks the region (see
// lockRegion): allocations in one region queue here, other regions go on.
func (t *tx) RegionByName(ctx context.Context, name string) (registry.Region, error) {
	q := `SELECT ` + regionCols + ` FROM regions WHERE name = $1`
	if !t.write {
		rows, err := t.query(ctx, q, name)
		r, err := one(rows, err, scanRegion)
		return r, notFound(err, "region "+name)
	}
	if err := t.lockHinted(ctx); err != nil {
		return registry.Region{}, err
	}
	if len(t.locked) == 0 && t.s != nil {
		if v, ok := t.s.regions.Load(name); ok {
			if err := t.lockLearned(ctx, v.(registry.Region).ID); err != nil {
				return registry.Region{}, err
			}
		}
	}
	// A region this transaction has locked cannot change under it: the
	// later callers of a shared transaction (group.go) need not read it.
	if r, ok := t.regions[name]; ok && slices.Contains(t.locked, r.ID) {
		return r, nil
	}
	if len(t.locked) == 0 {
		if r, ok := t.lockKnownRegion(name); ok {
			return r, nil
		}
		// The common case: the first lock, taken as the row is read.
		rows, err := t.query(ctx, q+` FOR NO KEY UPDATE`, name)
		r, err := one(rows, err, scanRegion)
		if err == nil {
			t.locked = append(t.locked, r.ID)
			t.remember(r)
			if t.s != nil {
				t.s.regions.Store(name, r)
			}
		}
		return r, notFound(err, "region "+name)
	}
	// Other regions are locked already: find the ID, then lock in order.
	rows, err := t.query(ctx, q, name)
	r, err := one(rows, err, scanRegion)
	if err != nil || slices.Contains(t.locked, r.ID) {
		if err == nil {
			t.remember(r)
		}
		return r, notFound(err, "region "+name)
	}
	id := r.ID // one returns a zero Region on error: the hint needs the ID
	clause := t.lockClause(id)
	rows, err = t.query(ctx, `SELECT `+regionCols+` FROM regions WHERE id = $1`+clause, id)
	if err != nil {
		return r, t.lockErr(err, id, clause)
	}
	// The lock's failure (NOWAIT) comes with the rows, not the query:
	// lockErr must see PostgreSQL's error itself, which one() would have
	// mapped to a storage error, and the caller would have answered 503
	// where the transaction was to run again alone (found in e2e's
	// replica proof: ~15 a second of 3 replicas' allocations).
	r, found, err := regionRow(rows)
	if err != nil {
		return registry.Region{}, t.lockErr(err, id, clause)
	}
	if !found {
		return r, notFound(pgx.ErrNoRows, "region "+name)
	}
	t.locked = append(t.locked, r.ID)
	t.remember(r)
	return r, nil
}

// lockKnownRegion takes a transaction's first lock, on a region this
// Store has read under its lock before, without waiting for the row: the
// lock and the read are queued (queueRead) and go out with the
// transaction's next statement, one round trip less for an allocation,
// whose next statement (the free prefix it takes) needs only the ID.
//
// The server runs the queued statements in order and, at READ
// COMMITTED, each with a snapshot taken when it starts: the next
// statement sees everything the lock's previous holder committed, as
// when the lock was a round trip of its own. The row as read under the
// lock must be the region handed out; if it is not (the region was
// changed since), the transaction fails with registry.ErrConflict, and
// Update runs it again with the row just read. Nothing reaches the
// COMMIT unread: run and the group commit send every queued statement
// first (runShared never carries a queued read to the next job). In a
// transaction alone the check is the server's (lockRegionExpected, which
// fails the transaction when the row is not the copy, and the copy is
// dropped: expect.go), so that the lock may go out with the COMMIT.
func (t *tx) lockKnownRegion(name string) (registry.Region, bool) {
	if t.s == nil || t.one {
		return registry.Region{}, false
	}
	v, ok := t.s.regions.Load(name)
	if !ok {
		return registry.Region{}, false
	}
	known := v.(registry.Region)
	if t.alone() && t.s.next.skipping(known.ID) {
		return registry.Region{}, false
	}
	if t.alone() {
		// Checked on the server: it may go out with the COMMIT (expect.go).
		t.lockExpected(name, known)
		t.locked = append(t.locked, known.ID)
		t.remember(known)
		return known, true
	}
	t.queueRead(func(rows pgx.Rows) error {
		r, found, err := regionRow(rows)
		if err != nil {
			return err // drain maps it (a lock_timeout, a lost connection)
		}
		if !found {
			// Removed since, or read where it was never committed (in
			// the transaction that added it, which rolled back).
			t.s.regions.Delete(name)
			return fmt.Errorf("region %s: not found under its lock: %w", name, registry.ErrConflict)
		}
		if !sameRegion(r, known) {
			t.s.regions.Store(name, r)
			return fmt.Errorf("region %s: changed since this replica read it: %w", name, registry.ErrConflict)
		}
		return nil
	}, `SELECT `+regionCols+` FROM regions WHERE name = $1 FOR NO KEY UPDATE`, name)
	t.locked = append(t.locked, known.ID)
	t.remember(known)
	return known, true
}

// regionRow reads the one row of a region's locking read and closes rows.
// Its error is PostgreSQL's own, unmapped: a lock's failure comes with the
// rows, not the query, and the caller tells a NOWAIT from the rest.
func regionRow(rows pgx.Rows) (r registry.Region, found bool, err error) {
	if found = rows.Next(); found {
		r, err = scanRegion(rows)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	return r, found, err
}

// sameRegion reports whether two regions read from the table are the
// same row, unchanged (scanRegion reads no tags).
func sameRegion(a, b registry.Region) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Location == b.Location && a.Borrow.Any == b.Borrow.Any &&
		slices.Equal(a.Borrow.From, b.Borrow.From) && a.BorrowBits == b.BorrowBits && a.CreatedAt.Equal(b.CreatedAt) &&
		len(a.Tags) == 0 && len(b.Tags) == 0
}

// remember keeps a region this write transaction holds locked.
func (t *tx) remember(r registry.Region) {
	if t.regions == nil {
		t.regions = map[string]registry.Region{}
		t.regionsShared = false
	}
	t.ownRegions()
	t.regions[r.Name] = r
}

// ownRegions copies t.regions if it is a group commit's shared map, before
// t changes it: the jobs before this one keep theirs (a job rolled back
// to its savepoint goes back to it).
func (t *tx) ownRegions() {
	if t.regionsShared {
		t.regions = maps.Clone(t.regions)
		t.regionsShared = false
	}
}

func (t *tx) RegionByID(ctx context.Context, id int64) (registry.Region, error) {
	rows, err := t.query(ctx, `SELECT `+regionCols+` FROM regions WHERE id = $1`, id)
	r, err := one(rows, err, scanRegion)
	return r, notFound(err, fmt.Sprintf("region %d", id))
}

func (t *tx) Regions(ctx context.Context) ([]registry.Region, error) {
	rows, err := t.query(ctx, `SELECT `+regionCols+` FROM regions ORDER BY name`)
	return collect(rows, err, scanRegion)
}

// ---- blocks

const blockCols = `id, prefix::text, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at, space`

func (t *tx) InsertBlock(ctx context.Context, b *registry.Block) error {
	fam, first, last, bits := span(b.Prefix)
	var price *int64
	cur := ""
	if b.Price != nil {
		price, cur = &b.Price.Cents, b.Price.Currency
	}
	return mapErr(t.row(ctx, `INSERT INTO blocks (prefix, family, first, last, bits, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at, space)
		VALUES ($1::cidr, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		b.Prefix.String(), fam, first, last, bits, string(b.Source), b.Registry, b.RegisteredCountry, b.From, price, cur, b.Date, b.Note, micros(b.CreatedAt), rowscan.BlockSpace(*b)).Scan(&b.ID))
}

func (t *tx) Blocks(ctx context.Context) ([]registry.Block, error) {
	rows, err := t.query(ctx, `SELECT `+blockCols+` FROM blocks ORDER BY family, first, space`)
	return collect(rows, err, scanBlock)
}

func (t *tx) BlocksOverlapping(ctx context.Context, p netip.Prefix) ([]registry.Block, error) {
	rows, err := t.query(ctx, `SELECT `+blockCols+` FROM blocks WHERE prefix && $1::cidr ORDER BY first, space`, p.String())
	return collect(rows, err, scanBlock)
}

// ---- pools

const poolSelect = `SELECT p.id, p.prefix::text, p.block_id, b.prefix::text, p.region_id, g.name, p.purpose, COALESCE(p.parent_id, p.child_of), p.created_at,
	r.id, r.prefix::text, fg.name, p.use_all, p.name, p.tenant, p.dissolved_at, p.space
	FROM pools p JOIN blocks b ON b.id = p.block_id JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id`

func (t *tx) InsertPool(ctx context.Context, p *registry.Pool) error {
	fam, first, last, bits := span(p.Prefix)
	var rel, parent, child *int64
	if p.Relocation != nil {
		rel, parent = &p.Relocation.ID, &p.ParentID
	} else if p.IsChild() {
		child = &p.ParentID
	}
	// A pool's space is its block's (pools_block_space_fk holds it so).
	err := mapErr(t.row(ctx, `INSERT INTO pools (prefix, family, first, last, bits, block_id, region_id, purpose, relocation_id, parent_id, created_at, use_all,
		name, tenant, child_of, space)
		VALUES ($1::cidr, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, (SELECT space FROM blocks WHERE id = $6)) RETURNING id, space`,
		p.Prefix.String(), fam, first, last, bits, p.BlockID, p.RegionID, p.Purpose, rel, parent, micros(p.CreatedAt), p.UseAll,
		p.Name, p.Tenant, child).Scan(&p.ID, &p.Space))
	if err == nil {
		t.inserted = append(t.inserted, p.ID)
	}
	return err
}

// PoolByID reads a pool once per Store: a pool's prefix, block and region
// never change (its purpose may: the registry reads a pool it changes or
// removes through Pools, never from this cache; a child pool, which is
// dissolved, is never cached). Only a pool
// this transaction did not insert itself is cached (an insert may still
// roll back).
func (t *tx) PoolByID(ctx context.Context, id int64) (registry.Pool, error) {
	if t.s != nil && !slices.Contains(t.inserted, id) {
		if p, ok := t.s.pools.Load(id); ok {
			return p.(registry.Pool), nil
		}
	}
	rows, err := t.query(ctx, poolSelect+` WHERE p.id = $1`, id)
	p, err := one(rows, err, scanPool)
	// A child pool changes once (dissolved): it is read every time.
	if err == nil && t.s != nil && !slices.Contains(t.inserted, id) && !p.IsChild() {
		t.s.pools.Store(id, p)
	}
	return p, notFound(err, fmt.Sprintf("pool %d", id))
}

func (t *tx) Pools(ctx context.Context, f registry.PoolFilter) ([]registry.Pool, error) {
	q, args := poolsQuery(f)
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, scanPool)
}

// poolsQuery is Pools' statement, with only the conditions f sets: one
// statement per combination (16 at most in pgx's cache), not one with
// `($1 = 0 OR p.region_id = $1)` for each filter. That statement's generic
// plan (pgx's prepared statement after its fifth run on a connection)
// estimated a single pool and joined the regions and relocations by a
// scan of each per pool: at the cloud demo's 1,280 pools, 86,000 region
// rows and 40 ms of a backend for every pool list, which the DNS server
// reads at each change of the register (TestPoolsPlanReadsRegionsOnce).
func poolsQuery(f registry.PoolFilter) (string, []any) {
	var where []string
	var args []any
	for _, c := range []struct {
		col string
		v   int64
	}{{"p.region_id", f.RegionID}, {"p.family", int64(f.Family)}, {"p.block_id", f.BlockID}, {"p.id", f.ID}} {
		if c.v != 0 {
			args = append(args, c.v)
			where = append(where, c.col+" = $"+strconv.Itoa(len(args)))
		}
	}
	q := poolSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY p.family, p.first, p.bits", args
}

func (t *tx) PoolsOverlapping(ctx context.Context, space string, p netip.Prefix) ([]registry.Pool, error) {
	rows, err := t.query(ctx, poolSelect+` WHERE p.prefix && $1::cidr AND p.dissolved_at IS NULL AND ($2 = '' OR p.space = $2)
		ORDER BY p.space, p.first, p.bits`, p.String(), space)
	return collect(rows, err, scanPool)
}

// ChildPool finds the live child pool called name.
func (t *tx) ChildPool(ctx context.Context, name string) (registry.Pool, error) {
	rows, err := t.query(ctx, poolSelect+` WHERE p.name = $1 AND p.child_of IS NOT NULL AND p.dissolved_at IS NULL`, name)
	p, err := one(rows, err, scanPool)
	return p, notFound(err, fmt.Sprintf("child pool %q", name))
}

// ChildPools lists the live child pools of parentID in address order.
func (t *tx) ChildPools(ctx context.Context, parentID int64) ([]registry.Pool, error) {
	rows, err := t.query(ctx, poolSelect+` WHERE p.child_of = $1 AND p.dissolved_at IS NULL ORDER BY p.first`, parentID)
	return collect(rows, err, scanPool)
}

// DissolvePool drops a child pool's free space and marks it dissolved.
func (t *tx) DissolvePool(ctx context.Context, id int64, at time.Time) error {
	if _, err := t.exec(ctx, poolFreeDeleteSQL, id); err != nil {
		return err
	}
	tag, err := t.exec(ctx, `UPDATE pools SET dissolved_at = $1 WHERE id = $2 AND child_of IS NOT NULL AND dissolved_at IS NULL`, micros(at), id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("child pool %d: %w", id, registry.ErrNotFound)
	}
	return nil
}

// ---- free space

func (t *tx) AddFree(ctx context.Context, f registry.FreePrefix) error {
	if err := t.lockRegion(ctx, f.RegionID); err != nil {
		return err
	}
	if t.deferring {
		if t.spec != nil {
			t.spec.leftOver(f)
		} else {
			t.freeWritten = true
		}
		t.laterFree(f)
		return nil
	}
	t.freeWrote()
	_, err := t.exec(ctx, insertFree, f.RegionID, prefix.Family(f.Prefix), f.Prefix.Bits(), addrBytes(f.Prefix.Addr()), f.PoolID)
	return err
}

// insertFree adds one free prefix; insertFrees several, one per element
// of its arrays (laterFree).
const (
	insertFree  = `INSERT INTO free (region_id, family, bits, addr, pool_id) VALUES ($1, $2, $3, $4, $5)`
	insertFrees = `INSERT INTO free (region_id, family, bits, addr, pool_id)
		SELECT * FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::bytea[], $5::bigint[])`
)

// laterFree queues the insert of a free prefix an allocation leaves over.
// A take splits one free prefix and leaves one to many over (a /64 taken
// for a /128 leaves 64): queued one after the other, they go as one
// statement (insertFrees), which fold can then fold with the
// allocation's other writes; two were two statements, and broke the fold
// (at most one write per table in a folded run). Only this job's own
// statements are extended: a group commit's carried writes, and a
// statement whose rows are read, stay as they are.
func (t *tx) laterFree(f registry.FreePrefix) {
	family, bits, addr := int16(prefix.Family(f.Prefix)), int16(f.Prefix.Bits()), addrBytes(f.Prefix.Addr())
	if b := t.pending; b != nil && b.Len() > t.carried && t.readers[b.Len()-1] == nil {
		last := b.QueuedQueries[b.Len()-1]
		switch last.SQL {
		case insertFree:
			a := last.Arguments
			last.SQL = insertFrees
			last.Arguments = []any{
				[]int64{a[0].(int64), f.RegionID}, []int16{int16(a[1].(int)), family}, []int16{int16(a[2].(int)), bits},
				[][]byte{a[3].([]byte), addr}, []int64{a[4].(int64), f.PoolID},
			}
			return
		case insertFrees:
			a := last.Arguments
			a[0], a[1], a[2] = append(a[0].([]int64), f.RegionID), append(a[1].([]int16), family), append(a[2].([]int16), bits)
			a[3], a[4] = append(a[3].([][]byte), addr), append(a[4].([]int64), f.PoolID)
			return
		}
	}
	t.later(insertFree, f.RegionID, prefix.Family(f.Prefix), f.Prefix.Bits(), addr, f.PoolID)
}

func (t *tx) RemoveFree(ctx context.Context, f registry.FreePrefix) (bool, error) {
	if err := t.lockRegion(ctx, f.RegionID); err != nil {
		return false, err
	}
	t.freeWrote()
	tag, err := t.exec(ctx, `DELETE FROM free WHERE region_id = $1 AND family = $2 AND bits = $3 AND addr = $4 AND pool_id = $5`,
		f.RegionID, prefix.Family(f.Prefix), f.Prefix.Bits(), addrBytes(f.Prefix.Addr()), f.PoolID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

func (t *tx) SmallestFree(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	if err := t.lockRegion(ctx, regionID); err != nil {
		return registry.FreePrefix{}, false, err
	}
	rows, err := t.query(ctx, `SELECT bits, addr, pool_id, region_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3 ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1`, regionID, family, maxBits)
	return scanFree(rows, err)
}

func (t *tx) SmallestFreeOf(ctx context.Context, regionID int64, poolIDs []int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	if len(poolIDs) == 0 {
		return registry.FreePrefix{}, false, nil
	}
	if err := t.lockRegion(ctx, regionID); err != nil {
		return registry.FreePrefix{}, false, err
	}
	rows, err := t.query(ctx, `SELECT bits, addr, pool_id, region_id FROM free WHERE region_id = $1 AND family = $2 AND pool_id = ANY($4)
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3 AND pool_id = ANY($4) ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1`, regionID, family, maxBits, poolIDs)
	return scanFree(rows, err)
}

// TakeSmallestFree implements registry.FreeTaker: SmallestFree and
// RemoveFree in one statement, under the region's lock.
func (t *tx) TakeSmallestFree(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	if err := t.lockRegion(ctx, regionID); err != nil {
		return registry.FreePrefix{}, false, err
	}
	if t.cand != nil {
		if f, ok := t.takeQueued(regionID, family, maxBits); ok {
			return f, true, nil
		}
		if t.probing() {
			return t.takeNoting(ctx, regionID, family, maxBits)
		}
	}
	if t.alone() {
		return t.takeAlone(ctx, regionID, family, maxBits)
	}
	return t.takePlain(ctx, regionID, family, maxBits)
}

// takePlain is TakeSmallestFree's statement.
func (t *tx) takePlain(ctx context.Context, regionID int64, family, maxBits int) (registry.FreePrefix, bool, error) {
	rows, err := t.query(ctx, takeSmallestFree, regionID, family, maxBits)
	return scanFree(rows, err)
}

// takeSmallestFree is TakeSmallestFree's statement without the probes of
// takeWithNext. The pool is part of the row's key: a region may hold
// pools of two spaces over the same addresses, whose free rows differ
// only in it, and only the one found is taken.
//
// The longest length that fits is `ORDER BY bits DESC LIMIT 1`, one
// backward descent of free's key, in every take statement (issue 16;
// bench/README.md "Session 18: pgdurable4"): written as MAX(bits),
// PostgreSQL 15 may plan an aggregate over an index-only scan of every
// free row of the region and family when its estimate of them is one row
// (free not analyzed since its rows came, as in BenchmarkDurablePostgres:
// 90 rows and 96 heap visits every take, 20-40 µs against 5), each row's
// heap page visited where the visibility map is not set, which it never
// is on a table that every allocation writes. The LIMIT leaves it no
// such choice.
const takeSmallestFree = `DELETE FROM free WHERE region_id = $1 AND family = $2 AND (bits, addr, pool_id) = (
		SELECT bits, addr, pool_id FROM free WHERE region_id = $1 AND family = $2
		AND bits = (SELECT bits FROM free WHERE region_id = $1 AND family = $2 AND bits <= $3 ORDER BY bits DESC LIMIT 1)
		ORDER BY addr, pool_id LIMIT 1) RETURNING bits, addr, pool_id, region_id`

func scanFree(rows pgx.Rows, err error) (registry.FreePrefix, bool, error) {
	f, err := one(rows, err, rowscan.Free)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, false, nil
	}
	return f, err == nil, err
}

func (t *tx) FreeOfPool(ctx context.Context, poolID int64) ([]netip.Prefix, error) {
	rows, err := t.query(ctx, freeOfPoolSQL, poolID)
	return collect(rows, err, func(rows rowscan.Scanner) (netip.Prefix, error) {
		var addr []byte
		var bits int
		if err := rows.Scan(&addr, &bits); err != nil {
			return netip.Prefix{}, err
		}
		a, _ := netip.AddrFromSlice(addr)
		return netip.PrefixFrom(a, bits), nil
	})
}

// ---- assignments

const assignmentSelect = `SELECT a.id, a.prefix::text, a.pool_id, p.prefix::text, p.region_id, g.name, a.tenant, a.resource, a.name, a.state,
	a.created_at, a.released_at, a.quarantine_until, r.id, r.prefix::text, fg.name, p.space
	FROM assignments a JOIN pools p ON p.id = a.pool_id JOIN regions g ON g.id = p.region_id
	LEFT JOIN relocations r ON r.id = p.relocation_id LEFT JOIN regions fg ON fg.id = r.from_region_id`

// The statements of InsertAssignment, made once. The row's space is its
// pool's (00078): the space parameter, the caller's reading of it, only
// names it in the overlap's error.
var (
	// insertQueued is an allocation's row, sent with its other writes.
	insertQueued = `INSERT INTO assignments (id, pool_id, prefix, state, tenant, resource, name, created_at, released_at, quarantine_until)
		SELECT $1, $2, $3::cidr, $4::assignment_state, $5, $6, $7, $8, $9, $10 WHERE ` + overlapCheck(3, 12, 2, 11, 4)
	// insertReturning is any other writer's. The pool's ID is given its
	// type: the column is an INTEGER (00064) and pools.id a BIGINT, and
	// a parameter without one takes one from each ("inconsistent types
	// deduced").
	insertReturning = `INSERT INTO assignments (pool_id, prefix, state, tenant, resource, name, created_at, released_at, quarantine_until)
		SELECT $1::bigint, $2::cidr, $3::assignment_state, $4, $5, $6, $7, $8, $9 WHERE ` + overlapCheck(2, 11, 1, 10, 3) + ` RETURNING id`
)

func (t *tx) InsertAssignment(ctx context.Context, a *registry.Assignment) error {
	// The overlap rule (00074) is checked by the INSERT itself, under the
	// lock of the pool's region taken by an earlier statement: the
	// allocator holds it already (it took the free prefix under it); any
	// other writer takes it here.
	if err := t.lockPool(ctx, a); err != nil {
		return err
	}
	lo, hi := withinPrefixes(a.Prefix)
	if t.deferring && t.s != nil {
		// An allocation: take the ID from this replica's reserve and send
		// the row with the allocation's other writes, one round trip less.
		id, err := t.s.assignmentID(ctx, t)
		if err != nil {
			return err
		}
		a.ID = id
		t.later(insertQueued,
			a.ID, a.PoolID, lo, string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), a.Space, hi)
		// A failure of the queued row fails the transaction (or the job's
		// savepoint), and its counts with it.
		t.countInserted(*a)
		return nil
	}
	err := mapErr(t.row(ctx, insertReturning,
		a.PoolID, lo, string(a.State), a.Tenant, a.Resource, a.Name, micros(a.CreatedAt), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), a.Space, hi).Scan(&a.ID))
	if err == nil {
		t.countInserted(*a)
	}
	return err
}

// lockPool takes, once per transaction, the lock of the region of a's
// pool, which every writer of the pool's assignments holds while it
// checks and writes one (the overlap rule, 00074), and sets a.Space to
// the pool's where the caller did not. The allocator's assignment names
// its region, locked already when it took the free prefix: no statement.
// Two live assignments of a space that overlap are in one pool, or in
// a pool and a child pool of it (one region): a relocated unit's space
// is taken out of its lender's free space, so that allocations from free
// space in the lender never reach it, and a specific address goes to the
// innermost pool that holds it (registry holdingPool).
func (t *tx) lockPool(ctx context.Context, a *registry.Assignment) error {
	if !t.write {
		return nil
	}
	if a.Space != "" && a.RegionID > 0 && slices.Contains(t.locked, a.RegionID) {
		return nil
	}
	var region int64
	var space string
	if err := t.row(ctx, `SELECT region_id, space FROM pools WHERE id = $1`, a.PoolID).Scan(&region, &space); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("assignment %s: pool %d: %w", a.Prefix, a.PoolID, registry.ErrNotFound)
		}
		return mapErr(err)
	}
	a.Space = space
	return t.lockRegion(ctx, region)
}

// overlapCheck is the WHERE of an assignment's INSERT ... SELECT: true
// when the row (prefix parameter p, the last address of its range as a
// host prefix hi, pool pool, its space's name sp, state st) is released
// or overlaps no live row of its space; otherwise assignments_overlap() raises the
// exclusion_violation the constraint raised (00074). Of the live rows of
// the space, the next one in address order is within the prefix (a range
// of assignments_prefix) or the one before it holds the prefix (one step
// back on the same index), if any row overlaps it: the rows between a
// prefix and one it holds all lie within it, and the live rows of a space
// do not overlap each other already.
//
// The space is compared by a function (cadastre_same_space, 00087; it was
// texteq() of two subqueries), which the planner estimates to keep a
// third of the rows, where it takes "space = $n" on a table without
// statistics (a new register, until autovacuum analyses it) to keep one
// row in as many as the table holds: the step back then cost a scan of
// the whole table and a sort, planned once per connection and kept
// (alloc-compare.sh on a new register: +200-300 µs of backend CPU an
// allocation). With statistics both are read on assignments_prefix.
//
// A row's space is its pool's (00078): a neighbour of the same pool
// (nearly every one) is of the same space without a look-up; another's
// pool is read (sameSpace).
func overlapCheck(p, hi, pool, sp, st int) string {
	same := sameSpace("o.pool_id", fmt.Sprintf("$%d", pool))
	return fmt.Sprintf(`CASE WHEN $%[4]d::assignment_state = 'released' THEN true
		WHEN EXISTS (SELECT 1 FROM assignments o WHERE o.prefix >= $%[1]d::cidr AND o.prefix <= $%[2]d::cidr AND o.state <> 'released' AND %[5]s)
			OR EXISTS (SELECT 1 FROM (SELECT o.prefix FROM assignments o WHERE o.prefix < $%[1]d::cidr AND o.state <> 'released' AND %[5]s
				ORDER BY o.prefix DESC LIMIT 1) n WHERE n.prefix >> $%[1]d::cidr)
		THEN assignments_overlap($%[1]d::cidr, $%[3]d) ELSE true END`, p, hi, sp, st, same)
}

// sameSpace is the condition that the pools whose IDs are the
// expressions a and b are of one space: equal IDs, or equal spaces read
// from pools (00078: an assignment's space is its pool's) by
// cadastre_same_space (00087), called only for IDs that differ. As two
// scalar subqueries that comparison was four subplans that every INSERT
// of an assignment set up and nearly never ran (issue 16). A function
// keeps the planner's estimate as texteq() kept it (see overlapCheck).
func sameSpace(a, b string) string {
	return "(" + a + " = " + b + " OR cadastre_same_space(" + a + ", " + b + "))"
}

// UpdateAssignment implements registry.Tx. The row's state before the
// change is read back in the same statement, from the row as locked
// (FOR UPDATE waits for a concurrent change and reads its outcome), to
// count the change of state (counters.go).
func (t *tx) UpdateAssignment(ctx context.Context, a registry.Assignment) error {
	rows, err := t.query(ctx, `UPDATE assignments a SET state = $1::assignment_state, released_at = $2, quarantine_until = $3, name = $4, resource = $5
		FROM (SELECT id, state FROM assignments WHERE id = $6 FOR UPDATE) old WHERE a.id = old.id
			AND CASE WHEN old.state = 'released' AND $1 <> 'released' THEN assignments_revived(old.id) ELSE true END
		RETURNING a.pool_id, masklen(a.prefix), old.state`,
		string(a.State), optMicros(a.ReleasedAt), optMicros(a.QuarantineUntil), a.Name, a.Resource, a.ID)
	type before struct {
		pool  int64
		bits  int
		state string
	}
	b, err := one(rows, err, func(rows rowscan.Scanner) (before, error) {
		var b before
		return b, rows.Scan(&b.pool, &b.bits, &b.state)
	})
	if err != nil {
		return notFound(err, fmt.Sprintf("assignment %d", a.ID))
	}
	t.counts.Moved(b.pool, b.bits, registry.State(b.state), a.State)
	return nil
}

// forUpdate locks the assignments a write transaction reads to change.
func (t *tx) forUpdate() string {
	if t.write {
		return ` FOR UPDATE OF a`
	}
	return ``
}

func (t *tx) AssignmentByID(ctx context.Context, id int64) (registry.Assignment, error) {
	rows, err := t.query(ctx, assignmentSelect+` WHERE a.id = $1`+t.forUpdate(), id)
	a, err := one(rows, err, scanAssignment)
	return a, notFound(err, fmt.Sprintf("assignment %d", id))
}

// liveOverlapping finds the live assignment of space $3 that overlaps the
// prefix $1 (whose last address, as a host prefix, is $2), if one does:
// the first live row of the space within it (a range of
// assignments_prefix), or the one before it in address order if that
// holds it (see overlapCheck).
const liveOverlapping = `(SELECT o.id FROM assignments o WHERE o.prefix >= $1::cidr AND o.prefix <= $2::cidr AND o.state <> 'released' AND ` + ofSpace + ` LIMIT 1)
	UNION ALL (SELECT n.id FROM (SELECT o.id, o.prefix FROM assignments o WHERE o.prefix < $1::cidr AND o.state <> 'released' AND ` + ofSpace + `
		ORDER BY o.prefix DESC LIMIT 1) n WHERE n.prefix >> $1::cidr)`

// ofSpace is liveOverlapping's condition that the row o is of space $3:
// its pool's (00078), one look-up of the pool per row compared.
const ofSpace = `texteq((SELECT sp.space FROM pools sp WHERE sp.id = o.pool_id), $3)`

func (t *tx) LiveAssignment(ctx context.Context, space string, p netip.Prefix) (registry.Assignment, bool, error) {
	lo, hi := withinRange(p)
	rows, err := t.query(ctx, assignmentSelect+` WHERE a.id = ANY(ARRAY(`+liveOverlapping+`)) AND a.state <> 'released' AND p.space = $3 LIMIT 1`+t.forUpdate(), lo, hi, space)
	a, err := one(rows, err, scanAssignment)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, nil
	}
	return a, err == nil, err
}

func (t *tx) AssignmentsAt(ctx context.Context, space string, p netip.Prefix) ([]registry.Assignment, error) {
	q, args := assignmentsAtQuery(space, p)
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, scanAssignment)
}

// assignmentsAtQuery is AssignmentsAt's statement: the assignments within
// p (a range of assignments_prefix, as a page within a prefix reads) and
// the ones holding it (one look-up per supernet, as a page holding an
// address does). `prefix && p` alone is served by no index of every state
// (the exclusion constraints' SP-GiST indexes hold live rows of one space
// each): a parallel scan of the whole table, 5 s at ten million
// assignments, for each address page, DNS change and import row that
// asked.
func assignmentsAtQuery(space string, p netip.Prefix) (string, []any) {
	p = p.Masked()
	lo, hi := withinRange(p)
	sup := supernets(p)[1:] // p itself is in the range
	return assignmentSelect + ` WHERE a.id = ANY(ARRAY(
		SELECT id FROM assignments WHERE prefix >= $1::cidr AND prefix <= $2::cidr AND prefix <<= $3::cidr
		UNION ALL SELECT id FROM assignments WHERE prefix = ANY($4::cidr[]) AND prefix >>= $3::cidr))
		AND p.space = $5 ORDER BY a.id`, []any{lo, hi, p.String(), sup, space}
}

// QuarantineEnded, in a write transaction, claims what it returns: rows
// another transaction holds are skipped, and a row another one changed
// meanwhile is returned only if it is still quarantined (READ COMMITTED
// re-checks the condition on the newest version of a locked row).
// It always answers: when to skip the look is the registry's rule.
func (t *tx) QuarantineEnded(ctx context.Context, now time.Time, limit int) ([]registry.Assignment, error) {
	q := assignmentSelect + ` WHERE a.state = 'quarantined' AND a.quarantine_until <= $1 ORDER BY a.quarantine_until, a.id LIMIT $2`
	if t.write {
		q += ` FOR UPDATE OF a SKIP LOCKED`
	}
	rows, err := t.query(ctx, q, micros(now), limit)
	out, err := collect(rows, err, scanAssignment)
	if err != nil {
		return nil, err
	}
	// Belt and braces: keep only what is quarantined as read under the lock.
	kept := out[:0]
	for _, a := range out {
		if a.State == registry.StateQuarantined && a.QuarantineUntil != nil && !a.QuarantineUntil.After(now) {
			kept = append(kept, a)
		}
	}
	return kept, nil
}

// ---- relocations

func (t *tx) InsertRelocation(ctx context.Context, r *registry.Relocation) error {
	fam, first, last, bits := span(r.Prefix)
	return mapErr(t.row(ctx, `INSERT INTO relocations (prefix, family, first, last, bits, from_pool_id, from_region_id, to_region_id, reason, created_at, space)
		VALUES ($1::cidr, $2, $3, $4, $5, $6, (SELECT id FROM regions WHERE name = $7), (SELECT id FROM regions WHERE name = $8), $9, $10,
			(SELECT space FROM pools WHERE id = $6)) RETURNING id`,
		r.Prefix.String(), fam, first, last, bits, r.FromPoolID, r.FromRegion, r.ToRegion, r.Reason, micros(r.CreatedAt)).Scan(&r.ID))
}

func (t *tx) Relocations(ctx context.Context) ([]registry.Relocation, error) {
	rows, err := t.query(ctx, `SELECT r.id, r.prefix::text, r.from_pool_id, f.name, g.name, COALESCE(p.id, 0), r.reason, r.created_at
		FROM relocations r JOIN regions f ON f.id = r.from_region_id JOIN regions g ON g.id = r.to_region_id
		LEFT JOIN pools p ON p.relocation_id = r.id ORDER BY r.id`)
	return collect(rows, err, func(rows rowscan.Scanner) (registry.Relocation, error) {
		var r registry.Relocation
		var p string
		var created int64
		if err := rows.Scan(&r.ID, &p, &r.FromPoolID, &r.FromRegion, &r.ToRegion, &r.PoolID, &r.Reason, &created); err != nil {
			return r, err
		}
		var err error
		r.Prefix, err = parsePrefix(p)
		r.CreatedAt = fromMicros(created)
		return r, err
	})
}

// ---- events

// payload is the stored form (BYTEA since migration 00027) of an
// event's before or after: NULL, the compact encoding
// (store/internal/evcodec), or the JSON's bytes when the codec declines
// it. Events written before 00027 hold their JSON's bytes and are read
// as they are.
func payload(b json.RawMessage, e *registry.Event) []byte {
	if len(b) == 0 {
		return nil
	}
	return evcodec.Stored(b, evcodec.Subject{ID: e.SubjectID, Text: e.Subject})
}

func (t *tx) AppendEvent(ctx context.Context, e *registry.Event) error {
	if t.deferring {
		// An allocation: nobody reads e.Seq, so the insert goes out with
		// the transaction's next statement batch (see tx.later).
		t.later(`INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, micros(e.At), e.Actor, e.Action, e.SubjectKind, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e))
		return nil
	}
	return mapErr(t.row(ctx, `INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
		micros(e.At), e.Actor, e.Action, e.SubjectKind, e.SubjectID, e.Subject, payload(e.Before, e), payload(e.After, e)).Scan(&e.Seq))
}

// horizon is the followers' bound, a query of one row and column x that
// each statement evaluates once (Position: a subquery in FROM that OFFSET
// 0 keeps from being inlined in both its uses; EventsAfter: an
// uncorrelated subquery, computed once before the scan): every event
// whose transaction ID is below it is committed and visible to the
// statement's snapshot, or was rolled back, and no event below it can
// appear later. Position and
// EventsAfter read the log only below it.
//
// Until issue 16 it was the snapshot's xmin, the oldest transaction in
// flight on the whole cluster, every database included: any long
// transaction anywhere on the server (a bulk import in another database,
// an idle-in-transaction session of another application) stopped every
// follower (DNS, webhooks, log -f) until it ended. Now it is
//
//	min( the snapshot's in-progress xids (pg_snapshot_xip) except those
//	     known to belong to another database, this transaction's own xid,
//	     the snapshot's xmax )
//
// Why no event is ever skipped. Let S be the statement's snapshot, taken
// before the statement runs (its xmin, xip and xmax: pg_current_snapshot
// reads the active snapshot, the one the same statement reads events
// with), and X < horizon the xid of a transaction T that inserted events.
//   - X < xmax, so T had an xid when S was taken: either T had ended (X
//     not in xip: its events are visible to S if it committed, never if it
//     rolled back), or X is in xip. Any transaction that gets an xid later
//     gets one >= the next xid at S >= xmax >= horizon: it can never add an
//     event below the horizon, so a cursor below it is final.
//   - X in xip and below the horizon means X was seen, by the status read
//     R that this statement makes after S, as the xid of a backend of
//     another database (pg_stat_activity.backend_xid with datid other than
//     ours) or of a transaction prepared in another database
//     (pg_prepared_xact). A backend is connected to one database for life,
//     a prepared transaction keeps its database, and an xid names one
//     transaction (the 32-bit backend_xid is compared with the 64-bit xip
//     entry's low half: two transactions in flight are never 2^32 apart).
//     A transaction of another database cannot insert into this
//     database's tables: T is not X's transaction. So no such T exists.
//   - Everything else in xip counts, conservatively: an xid whose
//     transaction ended between S and R (it is no longer any backend's
//     backend_xid: it may have been ours, committed after S), one of a
//     backend without a database, one of this database (other schemas'
//     included), a transaction prepared here.
//   - R must follow S. pg_stat_activity's data is read once per
//     transaction and kept until its end, so a second statement of a READ
//     COMMITTED transaction would compare a new snapshot with an older
//     read; and PostgreSQL copies a backend's status (its database) and
//     then its xid from its process slot, so a slot freed and reused by a
//     new backend in between pairs the new backend's xid with the old
//     one's database. Both are harmless only when R follows S: the xid a
//     new backend took after the copy, hence after S, is >= xmax and not
//     in xip. So the statement calls pg_stat_clear_snapshot() in the
//     argument of pg_stat_get_activity (evaluated before the function
//     runs): R is always this statement's, after its snapshot.
//   - A snapshot taken on a hot standby lists no xid in xip (recovery
//     keeps them all in its subxip, which pg_current_snapshot leaves out). On a primary,
//     xmin = min(xip, own xid, xmax) exactly; when it is not, the xip list
//     is not complete and the horizon is xmin, as before.
//   - Own xid: pg_current_snapshot leaves this transaction's xid out of
//     xip (its xmin counts it), so it is in the minimum by itself: a
//     transaction never reads its own uncommitted events as followed.
//
// Order: EventsAfter delivers (xid, seq) > cursor and below the horizon,
// in (xid, seq) order. Everything at or below the cursor was below an
// earlier horizon, hence final then: nothing can be inserted before a
// cursor, so every event is read once, and the order is the log's.
//
// What still holds followers back: a transaction of this database (any
// schema) in flight, the register's own long imports first of all, and
// transactions prepared in it. Transactions of other schemas of the same
// database cannot be told apart safely: what a transaction holds now
// (pg_locks) says nothing of the tables its next statement writes.
//
// The position can step back for one read, never below xmin: if a
// transaction of another database that an earlier read passed ends in the
// microseconds between a statement's snapshot and its status read, that
// statement counts it. The next read passes it again. Cursors are not
// affected (they only move forward from events already final).
//
// Cost: when nothing is in flight (xmin = xmax) or on a standby, none
// (about 4 µs of CPU against 1 for xmin alone); otherwise one read of the
// server's backend status array (pg_stat_get_activity copies every
// connected backend's entry): about 40 µs of CPU plus 0.8 µs per
// connected backend, 130 µs at 100 against 15 µs for the whole statement
// before. Skipping it when no visible event is at or above xmin would
// look cheap but is not: finding that out in the (xid, seq) index walks
// the uncommitted entries of a large transaction in flight, one heap
// fetch each. bench/README.md, "Session 9: follower position".
const horizon = `SELECT CASE
	WHEN pg_snapshot_xmin(c.s) = pg_snapshot_xmax(c.s) THEN pg_snapshot_xmax(c.s)
	WHEN pg_snapshot_xmin(c.s) <> LEAST((SELECT min(i) FROM pg_snapshot_xip(c.s) i), pg_current_xact_id_if_assigned(), pg_snapshot_xmax(c.s))
		THEN pg_snapshot_xmin(c.s)
	ELSE LEAST(pg_snapshot_xmax(c.s), pg_current_xact_id_if_assigned(), (SELECT min(i) FROM pg_snapshot_xip(c.s) i
		WHERE NOT EXISTS (SELECT FROM pg_stat_get_activity(CASE WHEN pg_stat_clear_snapshot() IS NULL THEN 0 END) a
			WHERE a.backend_xid = xid(i) AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
		AND NOT EXISTS (SELECT FROM pg_prepared_xact() p
			WHERE p.transaction = xid(i) AND p.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database()))))
	END AS x
	FROM (SELECT pg_current_snapshot() AS s) c`

// Position implements registry.Tx: the last event, in (xid, seq) order,
// below the followers' horizon (see horizon: below it, every transaction
// that could have written to this database has ended), and the latest
// event time below it. One statement, so that ViewOne can run it.
//
// The latest time is not read from the index on at: its newest entries
// are those of a large transaction in flight (an import), and reading
// down to the first one below the horizon fetched each of them from the
// heap only to find it invisible: 0.45-0.60 s and ~20,000 buffers for
// every poll of every follower with a million uncommitted events
// (bench/README.md, "Session 10: ... follower's position"). Instead the
// store keeps the last horizon it read and the latest time below it
// (positionMark): below that horizon the log is final (see horizon), so
// the latest time below the new horizon is the mark's or that of an
// event between the two horizons, read in the (xid, seq) index, whose
// range is what committed since the last read and never holds an
// uncommitted event. The first read of a Store, or one whose horizon
// stepped back (see horizon), reads the index on at as before.
func (t *tx) Position(ctx context.Context) (registry.Position, error) {
	var m positionMark
	if t.s != nil {
		m = t.s.positionMark()
	}
	var p registry.Position
	var x string
	var at int64
	err := t.row(ctx, positionSQL, strconv.FormatUint(m.xid, 10), m.at).Scan(&x, &p.Seq, &at)
	if err != nil {
		return p, mapErr(err)
	}
	if t.s != nil {
		if h, err := strconv.ParseUint(x, 10, 64); err == nil {
			t.s.advanceMark(positionMark{xid: h, at: at})
		}
	}
	if p.Seq != 0 {
		p.At = fromMicros(at)
	}
	return p, nil
}

// positionSQL is Position's statement: the horizon, the last event below
// it, and the latest event time below it from the mark ($1 its horizon,
// '0' for none; $2 its time). MAX(at + 0) is an aggregate of the rows of
// the xid range, not the index on at read backwards until one is in the
// range.
const positionSQL = `SELECT h.x::text, COALESCE((SELECT seq FROM events WHERE xid < h.x ORDER BY xid DESC, seq DESC LIMIT 1), 0),
	CASE WHEN $1::xid8 > '0' AND h.x >= $1::xid8
		THEN GREATEST($2::bigint, (SELECT MAX(at + 0) FROM events WHERE xid >= $1::xid8 AND xid < h.x))
		ELSE COALESCE((SELECT MAX(at) FROM events WHERE xid < h.x), 0) END
	FROM (` + horizon + ` OFFSET 0) h`

// positionMark is a followers' horizon a Position read (xid) and the
// latest event time below it (at, 0 for none). Every event below a
// horizon is final (see horizon), and the log is append-only (the
// events_no_update trigger): the latest time below it never changes.
type positionMark struct {
	xid uint64
	at  int64
}

// positionMark returns the Store's mark (zero: none yet).
func (s *Store) positionMark() positionMark {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	return s.mark
}

// advanceMark keeps n if its horizon is past the mark's: Positions read
// concurrently may come back in any order, and an older mark is still
// true, only less useful.
func (s *Store) advanceMark(n positionMark) {
	s.markMu.Lock()
	defer s.markMu.Unlock()
	if n.xid > s.mark.xid {
		s.mark = n
	}
}

// EventsAfter implements registry.Tx: the log in (xid, seq) order after
// the cursor's event, below the followers' horizon (see horizon).
func (t *tx) EventsAfter(ctx context.Context, f registry.EventFilter) ([]registry.Event, error) {
	where := []string{"xid < (" + horizon + ")"}
	var args []any
	if f.AfterSeq != 0 {
		var xid string
		err := t.row(ctx, `SELECT xid::text FROM events WHERE seq = $1`, f.AfterSeq).Scan(&xid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, noCursor(f.AfterSeq)
		}
		if err != nil {
			return nil, mapErr(err)
		}
		args = append(args, xid, f.AfterSeq)
		where = append(where, "(xid, seq) > ($1::xid8, $2)")
	}
	return t.events(ctx, f, where, args, "xid, seq")
}

// noCursor refuses a cursor that names no event.
func noCursor(seq int64) error {
	return fmt.Errorf("after %d: no event has this sequence number (pass the seq of the last event read, or 0 from the start): %w", seq, registry.ErrInvalid)
}

// Events implements registry.Tx: every committed event f selects, in seq
// order.
func (t *tx) Events(ctx context.Context, f registry.EventFilter) ([]registry.Event, error) {
	return t.events(ctx, f, nil, nil, "seq")
}

// LoadEventOf implements registry.Tx: the index on subject_id read
// backwards from id.
func (t *tx) LoadEventOf(ctx context.Context, id int64) (registry.Event, bool, error) {
	es, err := t.events(ctx, registry.EventFilter{SubjectKind: registry.SubjectImport, Limit: 1}, []string{"subject_id <= $1"}, []any{id}, "subject_id DESC")
	if err != nil || len(es) == 0 {
		return registry.Event{}, false, err
	}
	return es[0], true, nil
}

// events reads the events matching where and f's time and subject
// filters, in the given order, at most f.Limit.
func (t *tx) events(ctx context.Context, f registry.EventFilter, where []string, args []any, order string) ([]registry.Event, error) {
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.Since.IsZero() {
		where = append(where, "at >= "+arg(micros(f.Since)))
	}
	if f.SubjectKind != "" {
		where = append(where, "subject_kind = "+arg(f.SubjectKind))
	}
	if len(f.SubjectIDs) > 0 {
		where = append(where, "subject_id = ANY("+arg(f.SubjectIDs)+")")
	}
	q := `SELECT seq, at, actor, action, subject_kind, subject_id, subject, before, after FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := t.query(ctx, q, args...)
	return collect(rows, err, func(rows rowscan.Scanner) (registry.Event, error) {
		var e registry.Event
		var at int64
		var before, after []byte
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.SubjectKind, &e.SubjectID, &e.Subject, &before, &after); err != nil {
			return e, err
		}
		e.At = fromMicros(at)
		s := evcodec.Subject{ID: e.SubjectID, Text: e.Subject}
		var err error
		if e.Before, err = evcodec.Read(before, s); err != nil {
			return e, fmt.Errorf("event %d: before: %w", e.Seq, err)
		}
		if e.After, err = evcodec.Read(after, s); err != nil {
			return e, fmt.Errorf("event %d: after: %w", e.Seq, err)
		}
		return e, nil
	})
}

// ---- idempotency

func (t *tx) Idempotent(ctx context.Context, tenant, key string) (registry.Idempotent, bool, error) {
	r := registry.Idempotent{Tenant: tenant, Key: key}
	var ids string
	var created int64
	err := t.row(ctx, `SELECT request_hash, assignment_ids, created_at FROM idempotency WHERE tenant = $1 AND key = $2`, tenant, key).Scan(&r.RequestHash, &ids, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		if t.write {
			t.missed = append(t.missed, [2]string{tenant, key})
		}
		return r, false, nil
	}
	if err != nil {
		return r, false, mapErr(err)
	}
	r.CreatedAt = fromMicros(created)
	return r, true, json.Unmarshal([]byte(ids), &r.AssignmentIDs)
}

func (t *tx) PutIdempotent(ctx context.Context, r registry.Idempotent) error {
	ids, err := json.Marshal(r.AssignmentIDs)
	if err != nil {
		return err
	}
	const q = `INSERT INTO idempotency (tenant, key, request_hash, assignment_ids, created_at) VALUES ($1, $2, $3, $4, $5)`
	if t.deferring {
		t.later(q, r.Tenant, r.Key, r.RequestHash, string(ids), micros(r.CreatedAt))
		return nil
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	if ctx, err = t.bctx(ctx); err != nil {
		return err
	}
	t.forget()
	_, err = t.raw.Exec(ctx, q, r.Tenant, r.Key, r.RequestHash, string(ids), micros(r.CreatedAt))
	return t.idempotencyErr(err)
}

// DeferWrites implements registry.WriteDeferrer: from now on, writes
// whose results nobody reads are sent together (see tx.later). In a
// read-only transaction it changes nothing.
func (t *tx) DeferWrites() {
	if t.write {
		t.deferring = true
	}
}

// AssumeAbsent implements registry.IdempotencyAssumer: the key was looked
// up just before this transaction and not found.
func (t *tx) AssumeAbsent(tenant, key string) {
	t.missed = append(t.missed, [2]string{tenant, key})
}

// idempotencyErr maps the failure of an idempotency insert.
func (t *tx) idempotencyErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "idempotency" && len(t.missed) > 0 {
		// The key was not there when this transaction looked: a
		// concurrent request with the same key committed since. Run
		// again, and the retry finds and returns its answer.
		return fmt.Errorf("idempotency key used concurrently: %w", registry.ErrConflict)
	}
	return mapErr(err)
}
