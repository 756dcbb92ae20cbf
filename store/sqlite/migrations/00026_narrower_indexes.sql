-- +goose Up
-- Storage per assignment (issue 16): indexes that cost every assignment
-- for what only some need.
--
-- assignments_pool_state serves pages and counts of quarantined and
-- released assignments of a pool (Tx.Assignments of a region by state,
-- Tx.PoolUsage's expired quarantines, removing a pool's released rows):
-- live assignments ('assigned', about nine in ten) are counted in
-- pool_counts (00020) and paged by assignments_pool_id, so the index
-- keeps the others only (27 -> 3 bytes per assignment at a million). The
-- queries that use it say `state <> 'assigned'`, the index's condition.
DROP INDEX assignments_pool_state;
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until) WHERE state <> 'assigned';

-- events_subject: the events of given subjects (`show`, the audit of an
-- object) are found by subject ID alone and their kind checked on the
-- row: an object has a handful of events, and the kind's text in every
-- entry cost 10 bytes an event.
DROP INDEX events_subject;
CREATE INDEX events_subject ON events (subject_id);

-- +goose Down
DROP INDEX events_subject;
CREATE INDEX events_subject ON events (subject_kind, subject_id);
DROP INDEX assignments_pool_state;
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until);
