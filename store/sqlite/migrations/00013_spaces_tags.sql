-- +goose Up
-- Spaces (VRFs): routing domains. Public space is the one space named
-- 'global'; private blocks belong to a named space ('private' unless the
-- operator names another), and blocks overlap only across spaces. Blocks
-- name their space (not its id) so a row reads on its own; a space with
-- blocks cannot be deleted (the foreign key refuses it).
CREATE TABLE spaces (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
INSERT INTO spaces (name, note, created_at) VALUES
    ('global', 'public space: the one global routing domain', CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
    ('private', 'private blocks recorded without --space', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);

ALTER TABLE blocks ADD COLUMN space TEXT NOT NULL DEFAULT 'global' REFERENCES spaces (name);
UPDATE blocks SET space = 'private' WHERE source = 'private';
CREATE INDEX blocks_space_first ON blocks (space, family, first);

-- Overlap is refused within a space only: the candidate is the block of
-- the same space starting last at or before the new end.
DROP TRIGGER blocks_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER blocks_no_overlap BEFORE INSERT ON blocks
WHEN (SELECT last FROM blocks WHERE space = NEW.space AND family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'block overlaps an existing block');
END;
-- +goose StatementEnd

-- Tags: KEY=VALUE pairs on regions, blocks, pools and assignments, one row
-- a pair, so that "every assignment tagged env=prod" is an index seek
-- (tags_match) rather than a scan of every object.
CREATE TABLE tags (
    kind      TEXT    NOT NULL CHECK (kind IN ('region', 'block', 'pool', 'assignment')),
    object_id INTEGER NOT NULL,
    key       TEXT    NOT NULL,
    value     TEXT    NOT NULL,
    PRIMARY KEY (kind, object_id, key)
) WITHOUT ROWID;
CREATE INDEX tags_match ON tags (kind, key, value, object_id);

-- +goose Down
DROP TABLE tags;
DROP TRIGGER blocks_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER blocks_no_overlap BEFORE INSERT ON blocks
WHEN (SELECT last FROM blocks WHERE family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'block overlaps an existing block');
END;
-- +goose StatementEnd
DROP INDEX blocks_space_first;
ALTER TABLE blocks DROP COLUMN space;
DROP TABLE spaces;
