-- +goose Up
-- Child pools (issue 12, hierarchy): an assignment-sized part of a pool
-- carved out of its parent's free space and named, so that its tenant
-- takes children inside it (`alloc --as-pool site1`, then `alloc --pool
-- site1`). Its free space is kept under a scope of its own (free.region_id
-- is minus the child pool's id), so region-wide searches never draw on it.
-- A released child pool is dissolved: dissolved_at is set and its space is
-- its parent's again; the row stays for the assignments it once held.
ALTER TABLE pools ADD COLUMN name TEXT NOT NULL DEFAULT '',
    ADD COLUMN tenant TEXT NOT NULL DEFAULT '',
    ADD COLUMN child_of BIGINT REFERENCES pools (id),
    ADD COLUMN dissolved_at BIGINT;
CREATE UNIQUE INDEX pools_child_name ON pools (name) WHERE child_of IS NOT NULL AND dissolved_at IS NULL;
CREATE INDEX pools_child_of ON pools (child_of) WHERE child_of IS NOT NULL;
-- A child pool lies inside its parent on purpose: the overlap rule covers
-- top-level pools only; live child pools never overlap each other.
ALTER TABLE pools DROP CONSTRAINT pools_no_overlap,
    ADD CONSTRAINT pools_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (relocation_id IS NULL AND child_of IS NULL),
    ADD CONSTRAINT pools_child_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (child_of IS NOT NULL AND dissolved_at IS NULL);

-- +goose Down
ALTER TABLE pools DROP CONSTRAINT pools_child_no_overlap,
    DROP CONSTRAINT pools_no_overlap;
DROP INDEX pools_child_of;
DROP INDEX pools_child_name;
ALTER TABLE pools DROP COLUMN dissolved_at, DROP COLUMN child_of, DROP COLUMN tenant, DROP COLUMN name;
ALTER TABLE pools ADD CONSTRAINT pools_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (relocation_id IS NULL);
