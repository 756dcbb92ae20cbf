package postgres

// A pool's free prefixes are read and deleted through the free table's
// key (region_id, family, bits, addr, pool_id): migration 00059 dropped
// free_pool (pool_id, addr), which every take of a free prefix and every
// remainder of a split wrote, one B-tree more an allocation and 6 bytes an
// assignment at a million (issue 16, storage; SQLite did the same in its
// 00053). freeScopes names, for the pool $1, where its free prefixes can
// be: its region and its child scope (the registry files a child pool's
// free space under the pool's negated ID), with the pool's address range
// and the prefix lengths from the pool's own to the family's longest.
// Each (scope, length) is one range of the key (TestFreePlans): at most
// 2 x 97 IPv4 or 2 x 129 IPv6 short descents, for reads an operator
// makes (a pool's free list, a reservation, a pool's deletion), never an
// allocation's.
const freeScopes = `WITH s(r, fam, id, first, last, n) AS MATERIALIZED (
		SELECT sc.r, p.family, p.id, p.first, p.last, b.n FROM pools p
		CROSS JOIN LATERAL (VALUES (p.region_id), (-p.id)) sc(r)
		CROSS JOIN LATERAL generate_series(p.bits::int, CASE p.family WHEN 4 THEN 32 ELSE 128 END) b(n)
		WHERE p.id = $1)
	`

const (
	// freeOfPoolSQL is the pool's free prefixes in address order.
	freeOfPoolSQL = freeScopes + `SELECT f.addr, f.bits FROM s JOIN LATERAL (SELECT f.addr, f.bits FROM free f
		WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = s.n AND f.addr >= s.first AND f.addr <= s.last AND f.pool_id = s.id) f ON true
		ORDER BY f.addr`
	// freeWithinSQL is the pool's free prefixes that may overlap the
	// range [$2, $3]: a pool's free prefixes never overlap, so of each
	// length the one starting last at or before the range may hold it,
	// and the others overlapping it start inside it.
	freeWithinSQL = freeScopes + `SELECT f.bits, f.addr, f.pool_id, f.region_id FROM s JOIN LATERAL (
		(SELECT f.bits, f.addr, f.pool_id, f.region_id FROM free f
			WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = s.n AND f.addr >= s.first AND f.addr <= $2 AND f.pool_id = s.id
			ORDER BY f.addr DESC LIMIT 1)
		UNION ALL
		SELECT f.bits, f.addr, f.pool_id, f.region_id FROM free f
			WHERE f.region_id = s.r AND f.family = s.fam AND f.bits = s.n AND f.addr > $2 AND f.addr <= $3 AND f.addr <= s.last AND f.pool_id = s.id) f ON true`
	// poolFreeDeleteSQL deletes the pool's free prefixes.
	poolFreeDeleteSQL = freeScopes + `DELETE FROM free d USING s
		WHERE d.region_id = s.r AND d.family = s.fam AND d.bits = s.n AND d.addr >= s.first AND d.addr <= s.last AND d.pool_id = s.id`
)
