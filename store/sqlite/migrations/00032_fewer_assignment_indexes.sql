-- +goose Up
-- Storage per assignment (issue 16), 34 bytes an assignment at a million:
--
-- assignments_created (pool_id, created_at), 20 bytes, served only the
-- partial first and last day of Tx.CreatedSince and Tx.Activity; both
-- now count whole UTC days, from the pools' day counters (pool_counts,
-- 00020) alone.
DROP INDEX assignments_created;

-- assignments_family_id (family, id), 14 bytes, served only a page of
-- one family across the register (`?family=`); it is read in ID order
-- from the table or from assignments_all_first and sorted, whichever
-- reads fewer rows by the family's live count (Tx.Assignments).
DROP INDEX assignments_family_id;

-- +goose Down
CREATE INDEX assignments_family_id ON assignments (family, id);
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
