-- +goose NO TRANSACTION
-- +goose Up
-- Overlap is refused within a space only (issue 12, spaces): two VPCs may
-- both hold 10.0.0.0/8, and each may put a pool on 10.1.0.0/16, hand out
-- 10.1.0.0/24 and reserve 10.1.0.1/32. Pools, assignments, reservations
-- and relocations name their space, copied from their block (or pool):
-- the store writes it so, and a trigger refuses a row whose space is not
-- its block's (pool's), so the overlap triggers below can trust it.
--
-- reservations.prefix and relocations.prefix were UNIQUE and free's key
-- had no pool, which SQLite cannot alter: those tables are rebuilt
-- (SQLite's twelve steps), with foreign keys off for the connection while
-- it runs, so pools keep pointing at their relocations.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

ALTER TABLE pools ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE pools SET space = (SELECT space FROM blocks WHERE blocks.id = pools.block_id)
    WHERE block_id IN (SELECT id FROM blocks WHERE space <> 'global');
ALTER TABLE assignments ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE assignments SET space = (SELECT space FROM pools WHERE pools.id = assignments.pool_id)
    WHERE pool_id IN (SELECT id FROM pools WHERE space <> 'global');

CREATE TABLE reservations_new (
    id         INTEGER PRIMARY KEY,
    prefix     TEXT    NOT NULL,
    family     INTEGER NOT NULL CHECK (family IN (4, 6)),
    first      BLOB    NOT NULL,
    last       BLOB    NOT NULL,
    bits       INTEGER NOT NULL,
    pool_id    INTEGER NOT NULL REFERENCES pools (id),
    reason     TEXT    NOT NULL,
    until      INTEGER,
    created_at INTEGER NOT NULL,
    space      TEXT    NOT NULL DEFAULT 'global',
    UNIQUE (space, prefix)
);
INSERT INTO reservations_new (id, prefix, family, first, last, bits, pool_id, reason, until, created_at, space)
    SELECT v.id, v.prefix, v.family, v.first, v.last, v.bits, v.pool_id, v.reason, v.until, v.created_at, p.space
    FROM reservations v JOIN pools p ON p.id = v.pool_id;
DROP TABLE reservations;
ALTER TABLE reservations_new RENAME TO reservations;
CREATE INDEX reservations_first ON reservations (space, family, first);

CREATE TABLE relocations_new (
    id             INTEGER PRIMARY KEY,
    prefix         TEXT    NOT NULL,
    family         INTEGER NOT NULL,
    first          BLOB    NOT NULL,
    last           BLOB    NOT NULL,
    bits           INTEGER NOT NULL,
    from_pool_id   INTEGER NOT NULL REFERENCES pools (id),
    from_region_id INTEGER NOT NULL REFERENCES regions (id),
    to_region_id   INTEGER NOT NULL REFERENCES regions (id),
    reason         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    space          TEXT    NOT NULL DEFAULT 'global',
    UNIQUE (space, prefix)
);
INSERT INTO relocations_new (id, prefix, family, first, last, bits, from_pool_id, from_region_id, to_region_id, reason, created_at, space)
    SELECT r.id, r.prefix, r.family, r.first, r.last, r.bits, r.from_pool_id, r.from_region_id, r.to_region_id, r.reason, r.created_at, p.space
    FROM relocations r JOIN pools p ON p.id = r.from_pool_id;
DROP TABLE relocations;
ALTER TABLE relocations_new RENAME TO relocations;
CREATE INDEX relocations_from_pool ON relocations (from_pool_id);

-- One region may hold pools of two spaces over the same addresses, so a
-- free prefix is one pool's.
CREATE TABLE free_new (
    region_id INTEGER NOT NULL,
    family    INTEGER NOT NULL,
    bits      INTEGER NOT NULL,
    addr      BLOB    NOT NULL,
    pool_id   INTEGER NOT NULL REFERENCES pools (id),
    PRIMARY KEY (region_id, family, bits, addr, pool_id)
) WITHOUT ROWID;
INSERT INTO free_new SELECT region_id, family, bits, addr, pool_id FROM free;
DROP TABLE free;
ALTER TABLE free_new RENAME TO free;
CREATE INDEX free_pool ON free (pool_id, addr);

-- A row's space is its block's (pool's).
-- +goose StatementBegin
CREATE TRIGGER pools_space BEFORE INSERT ON pools
WHEN NEW.space IS NOT (SELECT space FROM blocks WHERE id = NEW.block_id)
BEGIN
    SELECT RAISE(ABORT, 'pool space differs from its block''s');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER assignments_space BEFORE INSERT ON assignments
WHEN NEW.space IS NOT (SELECT space FROM pools WHERE id = NEW.pool_id)
BEGIN
    SELECT RAISE(ABORT, 'assignment space differs from its pool''s');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER reservations_space BEFORE INSERT ON reservations
WHEN NEW.space IS NOT (SELECT space FROM pools WHERE id = NEW.pool_id)
BEGIN
    SELECT RAISE(ABORT, 'reservation space differs from its pool''s');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER relocations_space BEFORE INSERT ON relocations
WHEN NEW.space IS NOT (SELECT space FROM pools WHERE id = NEW.from_pool_id)
BEGIN
    SELECT RAISE(ABORT, 'relocation space differs from its pool''s');
END;
-- +goose StatementEnd

-- The overlap checks of 00001, 00012 and 00016, within the new row's
-- space: the candidate is still the one row of the same kind starting
-- last at or before the new end, now sought in (space, family, first).
DROP INDEX pools_top_first;
DROP INDEX pools_lent_first;
DROP INDEX pools_child_first;
CREATE INDEX pools_top_first ON pools (space, family, first) WHERE relocation_id IS NULL AND child_of IS NULL;
CREATE INDEX pools_lent_first ON pools (space, family, first) WHERE relocation_id IS NOT NULL;
CREATE INDEX pools_child_first ON pools (space, family, first) WHERE child_of IS NOT NULL AND dissolved_at IS NULL;
CREATE INDEX pools_space_first ON pools (space, family, first);
DROP TRIGGER pools_no_overlap;
DROP TRIGGER pools_child_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER pools_no_overlap BEFORE INSERT ON pools
WHEN NEW.relocation_id IS NULL AND NEW.child_of IS NULL AND
     (SELECT last FROM pools WHERE space = NEW.space AND family = NEW.family AND relocation_id IS NULL AND child_of IS NULL AND first <= NEW.last
      ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER pools_child_no_overlap BEFORE INSERT ON pools
WHEN NEW.child_of IS NOT NULL AND
     (SELECT last FROM pools WHERE space = NEW.space AND family = NEW.family AND child_of IS NOT NULL AND dissolved_at IS NULL AND first <= NEW.last
      ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'pool overlaps an existing pool');
END;
-- +goose StatementEnd

DROP INDEX assignments_live;
CREATE UNIQUE INDEX assignments_live ON assignments (space, family, first) WHERE state <> 'released';
DROP TRIGGER assignments_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
WHEN NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE space = NEW.space AND family = NEW.family AND state <> 'released' AND first <= NEW.last
          ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER reservations_no_overlap BEFORE INSERT ON reservations
WHEN (SELECT last FROM reservations WHERE space = NEW.space AND family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'reservation overlaps an existing reservation');
END;
-- +goose StatementEnd

COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TRIGGER reservations_no_overlap;
DROP TRIGGER assignments_no_overlap;
DROP INDEX assignments_live;
DROP TRIGGER pools_child_no_overlap;
DROP TRIGGER pools_no_overlap;
DROP TRIGGER relocations_space;
DROP TRIGGER reservations_space;
DROP TRIGGER assignments_space;
DROP TRIGGER pools_space;
DROP INDEX pools_space_first;
DROP INDEX pools_child_first;
DROP INDEX pools_lent_first;
DROP INDEX pools_top_first;
CREATE INDEX pools_top_first ON pools (family, first) WHERE relocation_id IS NULL AND child_of IS NULL;
CREATE INDEX pools_lent_first ON pools (family, first) WHERE relocation_id IS NOT NULL;
CREATE INDEX pools_child_first ON pools (family, first) WHERE child_of IS NOT NULL AND dissolved_at IS NULL;

CREATE TABLE free_old (
    region_id INTEGER NOT NULL,
    family    INTEGER NOT NULL,
    bits      INTEGER NOT NULL,
    addr      BLOB    NOT NULL,
    pool_id   INTEGER NOT NULL REFERENCES pools (id),
    PRIMARY KEY (region_id, family, bits, addr)
) WITHOUT ROWID;
INSERT INTO free_old SELECT region_id, family, bits, addr, pool_id FROM free;
DROP TABLE free;
ALTER TABLE free_old RENAME TO free;
CREATE INDEX free_pool ON free (pool_id, addr);

CREATE TABLE relocations_old (
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
INSERT INTO relocations_old SELECT id, prefix, family, first, last, bits, from_pool_id, from_region_id, to_region_id, reason, created_at FROM relocations;
DROP TABLE relocations;
ALTER TABLE relocations_old RENAME TO relocations;
CREATE INDEX relocations_from_pool ON relocations (from_pool_id);

CREATE TABLE reservations_old (
    id         INTEGER PRIMARY KEY,
    prefix     TEXT    NOT NULL UNIQUE,
    family     INTEGER NOT NULL CHECK (family IN (4, 6)),
    first      BLOB    NOT NULL,
    last       BLOB    NOT NULL,
    bits       INTEGER NOT NULL,
    pool_id    INTEGER NOT NULL REFERENCES pools (id),
    reason     TEXT    NOT NULL,
    until      INTEGER,
    created_at INTEGER NOT NULL
);
INSERT INTO reservations_old SELECT id, prefix, family, first, last, bits, pool_id, reason, until, created_at FROM reservations;
DROP TABLE reservations;
ALTER TABLE reservations_old RENAME TO reservations;
CREATE INDEX reservations_first ON reservations (family, first);
-- +goose StatementBegin
CREATE TRIGGER reservations_no_overlap BEFORE INSERT ON reservations
WHEN (SELECT last FROM reservations WHERE family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'reservation overlaps an existing reservation');
END;
-- +goose StatementEnd

CREATE UNIQUE INDEX assignments_live ON assignments (family, first) WHERE state <> 'released';
-- +goose StatementBegin
CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
WHEN NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE family = NEW.family AND state <> 'released' AND first <= NEW.last ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd
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
ALTER TABLE assignments DROP COLUMN space;
ALTER TABLE pools DROP COLUMN space;
COMMIT;
PRAGMA foreign_keys = ON;
