-- +goose Up
-- One seek and one pass for a DELETE of a free prefix by its key (issue
-- 16, one caller's durable allocation; bench/README.md, "Session 11").
-- free_pool (pool_id, addr) holds the key's other columns too, so the
-- planner found all five equalities of a DELETE by the whole key in it as
-- well as in the primary key, and took free_pool: a two-pass DELETE (an
-- ephemeral table of the keys found, then a second seek of each in the
-- table), in every allocation's take. INDEXED BY is not allowed in the
-- trigger that folds an allocation into one statement (fold.go), so the
-- index is now partial on a condition every row meets (bits is 0-128)
-- but that no DELETE by key implies: the key is then the only way in.
-- A pool's reads name the condition (bits >= 0) and use it as before.
DROP INDEX free_pool;
CREATE INDEX free_pool ON free (pool_id, addr) WHERE bits >= 0;

-- +goose Down
DROP INDEX free_pool;
CREATE INDEX free_pool ON free (pool_id, addr);
