-- +goose Up
-- A page of past assignments (quarantined, released) of one family, in ID
-- order (issue 16, PostgreSQL). With assignments_state_past (state, id) the
-- family was a filter on the heap, so the planner combined the index of
-- every assignment by family with it in a bitmap and sorted what both
-- found: 176,000 rows read for a page of released IPv4 at a million. Here
-- the family is in the index: each state and family is one ordered range,
-- read index only, and a page of a state alone merges its two families
-- (store/postgres/pages.go). It replaces assignments_state_past, which
-- nothing else reads on this store (SQLite keeps its own). Partial: past
-- rows only, as before.
CREATE INDEX assignments_state_family_past ON assignments (state, family, id) WHERE state <> 'assigned';
DROP INDEX assignments_state_past;

-- +goose Down
CREATE INDEX assignments_state_past ON assignments (state, id) WHERE state <> 'assigned';
DROP INDEX assignments_state_family_past;
