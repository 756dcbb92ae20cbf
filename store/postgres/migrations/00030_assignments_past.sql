-- +goose Up
-- Pages of past assignments (quarantined, released) in ID order, issue 16.
-- A page of a region's or pool's released ones was found through
-- assignments_pool_state and sorted: every past row of the pool for one
-- page (a twelfth of a cloud register is released). A page of one state
-- without a region or tenant walked every assignment in ID order (the
-- quarantined ones are the newest). Partial: live assignments, the most,
-- cost nothing.
CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) WHERE state <> 'assigned';
CREATE INDEX assignments_state_past ON assignments (state, id) WHERE state <> 'assigned';

-- +goose Down
DROP INDEX assignments_state_past;
DROP INDEX assignments_pool_past;
