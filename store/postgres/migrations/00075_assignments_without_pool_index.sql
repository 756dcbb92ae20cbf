-- +goose Up
-- One page index fewer (issue 16: 250 bytes an assignment; one B-tree
-- fewer written by every allocation; bench/README.md, "Session 15: a
-- pool's page by address"). assignments_pool_id (pool_id, id), 28.5 bytes
-- an assignment, served a pool's and a region's pages in ID order; they
-- are now in address order, a range of assignments_prefix over each
-- pool's prefix filtered by the pool (pages.go, byAddressQuery), and a
-- pool's past is read from assignments_pool_past. Deleting a pool (rare,
-- by an operator, once its rows are released) checks the foreign key
-- (pool_id, space) by a sequential scan of the table.
DROP INDEX assignments_pool_id;

-- +goose Down
CREATE INDEX assignments_pool_id ON assignments (pool_id, id) WITH (fillfactor = 100);
