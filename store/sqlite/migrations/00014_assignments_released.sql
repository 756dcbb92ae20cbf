-- +goose Up
-- The web UI's region chart counts releases per day (Tx.Activity): an
-- index on the release time keeps that a range scan on a big register.
CREATE INDEX assignments_released ON assignments (pool_id, released_at) WHERE released_at IS NOT NULL;
-- A pool's assignments a page at a time, in id order (the UI's prefix tree,
-- /v1/assignments?pool): without it a pool of a million assignments is
-- read whole and sorted for every page.
CREATE INDEX assignments_pool_id ON assignments (pool_id, id);

-- +goose Down
DROP INDEX assignments_pool_id;
DROP INDEX assignments_released;
