-- +goose Up
-- Child pools (issue 12, hierarchy): an assignment-sized part of a pool
-- carved out of its parent's free space and named, so that its tenant
-- takes children inside it (`alloc --as-pool site1`, then `alloc --pool
-- site1`). Its free space is kept under a scope of its own (free.region_id
-- is minus the child pool's id), so region-wide searches never draw on it.
-- A released child pool is dissolved: dissolved_at is set and its space is
-- its parent's again; the row stays for the assignments it once held.
ALTER TABLE pools ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE pools ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE pools ADD COLUMN child_of INTEGER REFERENCES pools (id);
ALTER TABLE pools ADD COLUMN dissolved_at INTEGER;
CREATE UNIQUE INDEX pools_child_name ON pools (name) WHERE child_of IS NOT NULL AND dissolved_at IS NULL;
CREATE INDEX pools_child_of ON pools (child_of) WHERE child_of IS NOT NULL;
-- PoolsOverlapping seeks, per kind, the one pool starting last before a
-- prefix that may hold it: a top-level pool, a lent unit, a live child.
CREATE INDEX pools_top_first ON pools (family, first) WHERE relocation_id IS NULL AND child_of IS NULL;
CREATE INDEX pools_lent_first ON pools (family, first) WHERE relocation_id IS NOT NULL;
CREATE INDEX pools_child_first ON pools (family, first) WHERE child_of IS NOT NULL AND dissolved_at IS NULL;

-- A child pool lies inside its parent on purpose: the overlap rule covers
-- top-level pools only. Live child pools never overlap each other (one
-- level deep, so the one starting last at or before the new end is the
-- only candidate).
DROP TRIGGER pools_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER pools_no_overlap BEFORE INSERT ON pools
WHEN NEW.relocation_id IS NULL AND NEW.child_of IS NULL AND
     (SELECT last FROM pools WHERE family = NEW.family AND relocation_id IS NULL AND child_of IS NULL AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER pools_child_no_overlap BEFORE INSERT ON pools
WHEN NEW.child_of IS NOT NULL AND
     (SELECT last FROM pools WHERE family = NEW.family AND child_of IS NOT NULL AND dissolved_at IS NULL AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER pools_child_no_overlap;
DROP TRIGGER pools_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER pools_no_overlap BEFORE INSERT ON pools
WHEN NEW.relocation_id IS NULL AND
     (SELECT last FROM pools WHERE family = NEW.family AND relocation_id IS NULL AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd
DROP INDEX pools_child_first;
DROP INDEX pools_lent_first;
DROP INDEX pools_top_first;
DROP INDEX pools_child_of;
DROP INDEX pools_child_name;
ALTER TABLE pools DROP COLUMN dissolved_at;
ALTER TABLE pools DROP COLUMN child_of;
ALTER TABLE pools DROP COLUMN tenant;
ALTER TABLE pools DROP COLUMN name;
