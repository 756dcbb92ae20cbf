-- +goose Up
-- Addresses are kept as BLOBs (4 bytes for IPv4, 16 for IPv6) so that range
-- comparisons are byte comparisons within a family; the text form is kept
-- beside them for people. Times are Unix microseconds, UTC.

CREATE TABLE regions (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    country       TEXT    NOT NULL,
    subdivision   TEXT    NOT NULL DEFAULT '',
    city          TEXT    NOT NULL DEFAULT '',
    borrow_policy TEXT    NOT NULL DEFAULT 'none',
    borrow_bits   INTEGER NOT NULL DEFAULT 24 CHECK (borrow_bits BETWEEN 8 AND 32),
    created_at    INTEGER NOT NULL
);

CREATE TABLE blocks (
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
CREATE INDEX blocks_first ON blocks (family, first);

-- The database itself refuses overlapping blocks. Blocks never overlap, so
-- the only candidate is the block starting last at or before the new end.
-- +goose StatementBegin
CREATE TRIGGER blocks_no_overlap BEFORE INSERT ON blocks
WHEN (SELECT last FROM blocks WHERE family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'block overlaps an existing block');
END;
-- +goose StatementEnd

CREATE TABLE relocations (
    id             INTEGER PRIMARY KEY,
    prefix         TEXT    NOT NULL UNIQUE,
    family         INTEGER NOT NULL,
    first          BLOB    NOT NULL,
    last           BLOB    NOT NULL,
    bits           INTEGER NOT NULL,
    from_pool_id   INTEGER NOT NULL REFERENCES pools (id),
    from_region_id INTEGER NOT NULL REFERENCES regions (id),
    to_region_id   INTEGER NOT NULL REFERENCES regions (id),
    reason         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX relocations_from_pool ON relocations (from_pool_id);

-- pools.prefix is not unique: a relocated unit may be the whole of its
-- lender's pool. The overlap rule below covers the pools that are not relocated.
CREATE TABLE pools (
    id             INTEGER PRIMARY KEY,
    prefix         TEXT    NOT NULL,
    family         INTEGER NOT NULL CHECK (family IN (4, 6)),
    first          BLOB    NOT NULL,
    last           BLOB    NOT NULL,
    bits           INTEGER NOT NULL,
    block_id       INTEGER NOT NULL REFERENCES blocks (id),
    region_id      INTEGER NOT NULL REFERENCES regions (id),
    purpose        TEXT    NOT NULL DEFAULT '',
    -- Set on a pool made of a relocated unit; such a pool lies inside its
    -- lender's pool (parent_id), whose free space no longer holds it.
    relocation_id  INTEGER REFERENCES relocations (id),
    parent_id      INTEGER REFERENCES pools (id),
    created_at     INTEGER NOT NULL,
    CHECK ((relocation_id IS NULL) = (parent_id IS NULL))
);
CREATE INDEX pools_first ON pools (family, first) WHERE relocation_id IS NULL;
CREATE INDEX pools_region ON pools (region_id, family);
CREATE INDEX pools_all_first ON pools (family, first);

-- +goose StatementBegin
CREATE TRIGGER pools_no_overlap BEFORE INSERT ON pools
WHEN NEW.relocation_id IS NULL AND
     (SELECT last FROM pools WHERE family = NEW.family AND relocation_id IS NULL AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd

-- Free space as maximal aligned free prefixes (buddy style). Keyed so that
-- "the longest free prefix of at most /n in this region, lowest address
-- first" is two index seeks.
CREATE TABLE free (
    region_id INTEGER NOT NULL,
    family    INTEGER NOT NULL,
    bits      INTEGER NOT NULL,
    addr      BLOB    NOT NULL,
    pool_id   INTEGER NOT NULL REFERENCES pools (id),
    PRIMARY KEY (region_id, family, bits, addr)
) WITHOUT ROWID;
CREATE INDEX free_pool ON free (pool_id, addr);

CREATE TABLE assignments (
    id               INTEGER PRIMARY KEY,
    pool_id          INTEGER NOT NULL REFERENCES pools (id),
    prefix           TEXT    NOT NULL,
    family           INTEGER NOT NULL CHECK (family IN (4, 6)),
    first            BLOB    NOT NULL,
    last             BLOB    NOT NULL,
    bits             INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('assigned', 'quarantined', 'released')),
    tenant           TEXT    NOT NULL DEFAULT '',
    resource         TEXT    NOT NULL DEFAULT '',
    name             TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    released_at      INTEGER,
    quarantine_until INTEGER,
    CHECK (state <> 'quarantined' OR quarantine_until IS NOT NULL)
);
CREATE UNIQUE INDEX assignments_live ON assignments (family, first) WHERE state <> 'released';
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until);
CREATE INDEX assignments_quarantine ON assignments (quarantine_until) WHERE state = 'quarantined';
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
CREATE INDEX assignments_all_first ON assignments (family, first);
CREATE INDEX assignments_tenant ON assignments (tenant, id);

-- No two live assignments overlap: live ones never overlap each other, so
-- the only candidate is the live one starting last at or before the new end.
-- It is found by id in assignments_live, the partial index of live ones:
-- asked for `last` directly, SQLite walks assignments_all_first instead and
-- steps over every released assignment below the new end, a cost that grows
-- with the history of the space rather than with what is live.
-- +goose StatementBegin
CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
WHEN NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE family = NEW.family AND state <> 'released' AND first <= NEW.last ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd

-- The change log is append-only: the database refuses to rewrite history.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    subject_kind TEXT    NOT NULL,
    subject_id   INTEGER NOT NULL,
    subject      TEXT    NOT NULL,
    before       TEXT,
    after        TEXT
);
CREATE INDEX events_subject ON events (subject_kind, subject_id);
CREATE INDEX events_at ON events (at);
-- +goose StatementBegin
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only');
END;
-- +goose StatementEnd

CREATE TABLE idempotency (
    tenant         TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    request_hash   TEXT    NOT NULL,
    assignment_ids TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE idempotency;
DROP TABLE events;
DROP TABLE assignments;
DROP TABLE free;
DROP TABLE pools;
DROP TABLE relocations;
DROP TABLE blocks;
DROP TABLE regions;
