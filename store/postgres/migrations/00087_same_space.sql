-- +goose Up
-- One caller's durable allocation (issue 16, bench/README.md "Session 19:
-- pgdurable5"). The overlap rule's two probes (00074, store/postgres
-- overlapCheck) compare a neighbour's space with the new row's only when
-- the neighbour is of another pool: o.pool_id = pool OR the spaces of the
-- two pools are equal. That comparison was two scalar subqueries on pools,
-- four in the statement, each a subplan with an index scan that the
-- executor set up (and took the index's lock for) at every INSERT, though
-- nearly every neighbour is of the same pool and none of them ran. A
-- function is called only when the condition before it is false, and
-- sets up nothing otherwise. STABLE: it reads pools with the calling
-- statement's snapshot, as the subqueries did; NULL when a pool is
-- missing, as texteq() of a missing row was. Not inlined (it reads a
-- table): the planner estimates it to keep a third of the rows, as it
-- did texteq() (overlapCheck: the plan on a register without statistics).
CREATE FUNCTION cadastre_same_space(a bigint, b bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT x.space = y.space FROM pools x, pools y WHERE x.id = a AND y.id = b
$$;

-- +goose Down
DROP FUNCTION cadastre_same_space(bigint, bigint);
