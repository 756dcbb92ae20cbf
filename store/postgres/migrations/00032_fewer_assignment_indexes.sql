-- +goose Up
-- Storage per assignment (issue 16), 64 bytes an assignment at a million:
--
-- assignments_created (pool_id, created_at), 32 bytes, served Tx.Activity's
-- and Tx.CreatedSince's reads of the rows; both now count whole UTC days,
-- from the pools' day counters (pool_counts, 00020) alone.
DROP INDEX assignments_created;

-- assignments_family_id (family, id), 32 bytes, served only a page of one
-- family across the register (`?family=`): the planner reads it in ID
-- order from the table (pkey) or from assignments_all_first and sorts,
-- by the family's share in its statistics.
DROP INDEX assignments_family_id;

-- +goose Down
CREATE INDEX assignments_family_id ON assignments (family, id);
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
