-- +goose Up
-- Storage per assignment (issue 16): assignments_created (pool_id,
-- created_at), 20 bytes an assignment at a million, served only the
-- partial first and last day of Tx.CreatedSince and Tx.Activity; both
-- now count whole UTC days, from the pools' day counters (pool_counts,
-- 00020) alone.
DROP INDEX assignments_created;

-- +goose Down
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
