-- +goose NO TRANSACTION
-- +goose Up
-- Spaces (VRFs): routing domains. Public space is the one space named
-- 'global'; private blocks belong to a named space ('private' unless the
-- operator names another), and blocks overlap only within a space. Blocks
-- name their space (not its id) so a row reads on its own; a space with
-- blocks cannot be deleted (the foreign key refuses it).
--
-- blocks.prefix was UNIQUE, which SQLite cannot drop: the table is rebuilt
-- (SQLite's documented twelve steps), with foreign keys off for the
-- connection while it runs, so pools keep pointing at their blocks.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE spaces (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
INSERT INTO spaces (name, note, created_at) VALUES
    ('global', 'public space: the one global routing domain', CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
    ('private', 'private blocks recorded without --space', CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
CREATE TABLE blocks_new (
    id                 INTEGER PRIMARY KEY,
    prefix             TEXT    NOT NULL,
    family             INTEGER NOT NULL CHECK (family IN (4, 6)),
    first              BLOB    NOT NULL,
    last               BLOB    NOT NULL,
    bits               INTEGER NOT NULL,
    source             TEXT    NOT NULL CHECK (source IN ('rir', 'transfer', 'byoip', 'private')),
    registry           TEXT    NOT NULL DEFAULT '',
    registered_country TEXT    NOT NULL DEFAULT '',
    counterparty       TEXT    NOT NULL DEFAULT '',
    price_cents        INTEGER,
    currency           TEXT    NOT NULL DEFAULT '',
    acquired           TEXT    NOT NULL DEFAULT '',
    note               TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    space              TEXT    NOT NULL DEFAULT 'global' REFERENCES spaces (name),
    UNIQUE (space, prefix)
);
INSERT INTO blocks_new (id, prefix, family, first, last, bits, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at, space)
    SELECT id, prefix, family, first, last, bits, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at,
           CASE source WHEN 'private' THEN 'private' ELSE 'global' END FROM blocks;
DROP TABLE blocks;
ALTER TABLE blocks_new RENAME TO blocks;
CREATE INDEX blocks_first ON blocks (family, first);
CREATE INDEX blocks_space_first ON blocks (space, family, first);
-- Overlap is refused within a space only: the candidate is the block of
-- the same space starting last at or before the new end.
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
COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE tags;
CREATE TABLE blocks_old (
    id                 INTEGER PRIMARY KEY,
    prefix             TEXT    NOT NULL UNIQUE,
    family             INTEGER NOT NULL CHECK (family IN (4, 6)),
    first              BLOB    NOT NULL,
    last               BLOB    NOT NULL,
    bits               INTEGER NOT NULL,
    source             TEXT    NOT NULL CHECK (source IN ('rir', 'transfer', 'byoip', 'private')),
    registry           TEXT    NOT NULL DEFAULT '',
    registered_country TEXT    NOT NULL DEFAULT '',
    counterparty       TEXT    NOT NULL DEFAULT '',
    price_cents        INTEGER,
    currency           TEXT    NOT NULL DEFAULT '',
    acquired           TEXT    NOT NULL DEFAULT '',
    note               TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL
);
INSERT INTO blocks_old SELECT id, prefix, family, first, last, bits, source, registry, registered_country, counterparty, price_cents, currency, acquired, note, created_at FROM blocks;
DROP TABLE blocks;
ALTER TABLE blocks_old RENAME TO blocks;
CREATE INDEX blocks_first ON blocks (family, first);
-- +goose StatementBegin
CREATE TRIGGER blocks_no_overlap BEFORE INSERT ON blocks
WHEN (SELECT last FROM blocks WHERE family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'block overlaps an existing block');
END;
-- +goose StatementEnd
DROP TABLE spaces;
COMMIT;
PRAGMA foreign_keys = ON;
