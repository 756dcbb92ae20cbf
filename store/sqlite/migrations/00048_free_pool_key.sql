-- +goose Up
-- One seek and one pass for a DELETE of a free prefix by its key (issue
-- 16, one caller's durable allocation; bench/README.md, "Session 11").
-- free_pool (pool_id, addr) holds the key's other columns after its own
-- (region_id, family, bits), so the planner found all five equalities of
-- a DELETE by the whole key in it as well as in the primary key, and took
-- free_pool: a two-pass DELETE (an ephemeral table of the keys found,
-- then a second seek of each in the table) in every allocation's take.
-- INDEXED BY is not allowed in the trigger that folds an allocation into
-- one statement (fold.go). A third column that no statement names, the
-- expression bits + 0, ends the index's usable equalities at (pool_id,
-- addr): the key is then the only full match. A pool's reads (pool_id =
-- ?, by addr) and the foreign key's look-up of a pool's rows use it as
-- before.
DROP INDEX free_pool;
CREATE INDEX free_pool ON free (pool_id, addr, bits + 0);

-- +goose Down
DROP INDEX free_pool;
CREATE INDEX free_pool ON free (pool_id, addr);
