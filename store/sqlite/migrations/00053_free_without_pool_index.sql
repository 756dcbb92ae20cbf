-- +goose Up
-- One B-tree fewer in every allocation (issue 16, one caller's durable
-- allocation; bench/README.md, "Session 12"). Every take of a free prefix
-- deleted its entry from free_pool as well as from the free table, and
-- every remainder of a split inserted one: a B-tree write in the VM and a
-- WAL frame at each commit. A pool's free prefixes are now read and deleted
-- through the free table's own key: for each prefix length from the pool's
-- to the family's longest, one range of the pool's addresses, in the
-- pool's region and in its child scope (freecache.go, TestFreePlans).
-- Deleting a pool (rare, by an operator) checks the foreign key
-- free.pool_id by a walk of the free table.
DROP INDEX free_pool;

-- +goose Down
CREATE INDEX free_pool ON free (pool_id, addr, bits + 0);
