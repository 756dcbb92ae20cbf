-- +goose Up
-- Storage per assignment and one B-tree fewer in every allocation (issue
-- 16; bench/README.md, "Session 13: PostgreSQL storage"). Every take of a
-- free prefix deleted its entry from free_pool (pool_id, addr) as well as
-- from the free table and its key, and every remainder of a split inserted
-- one: 6.2 bytes an assignment at a million (4.3 at ten million). A pool's
-- free prefixes are read and deleted through the free table's own key: for
-- each prefix length from the pool's to the family's longest, one range of
-- the pool's addresses, in the pool's region and in its child scope
-- (store/postgres freescope.go, TestFreePlans), as SQLite's 00053 does.
-- Deleting a pool (rare, by an operator) checks the foreign key
-- free.pool_id by a walk of the free table.
DROP INDEX free_pool;

-- +goose Down
CREATE INDEX free_pool ON free (pool_id, addr);
