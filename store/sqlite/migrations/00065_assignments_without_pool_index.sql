-- +goose Up
-- One B-tree fewer in every allocation (issue 16: one caller's durable
-- allocation at 80 % of an empty commit; bench/README.md, "Session 15:
-- a pool's page by address"). assignments_pool_id (pool_id, id) served a
-- pool's and a region's pages in ID order; they are now in address order,
-- a range of assignments_at (space, family, first, state) over each
-- pool's prefix filtered by the pool (byaddress.go), and a pool's past
-- is read from assignments_pool_past. Deleting a pool (rare, by an
-- operator, once its rows are released) checks the foreign key
-- assignments.pool_id by a walk of the table.
DROP INDEX assignments_pool_id;

-- +goose Down
CREATE INDEX assignments_pool_id ON assignments (pool_id, id);
