-- +goose Up
-- Storage per assignment (issue 16): assignments_created (pool_id,
-- created_at), 32 bytes an assignment at a million, served Tx.Activity's
-- and Tx.CreatedSince's reads of the rows; both now count whole UTC days,
-- from the pools' day counters (pool_counts, 00020) alone.
DROP INDEX assignments_created;

-- +goose Down
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
