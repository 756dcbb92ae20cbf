-- +goose Up
-- The web UI's region chart counts releases per day (Tx.Activity): an
-- index on the release time keeps that a range scan on a big register.
CREATE INDEX assignments_released ON assignments (pool_id, released_at) WHERE released_at IS NOT NULL;

-- +goose Down
DROP INDEX assignments_released;
