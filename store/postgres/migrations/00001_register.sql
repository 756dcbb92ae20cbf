-- +goose Up
-- The same register as the SQLite store. Prefixes are kept as cidr, so
-- the database itself refuses overlaps with exclusion constraints, and as
-- bytea first/last addresses for ordered range look-ups. Times are Unix
-- microseconds, UTC, as in the SQLite store.

CREATE TABLE regions (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT      NOT NULL UNIQUE,
    country       TEXT      NOT NULL,
    subdivision   TEXT      NOT NULL DEFAULT '',
    city          TEXT      NOT NULL DEFAULT '',
    borrow_policy TEXT      NOT NULL DEFAULT 'none',
    borrow_bits   INTEGER   NOT NULL DEFAULT 24 CHECK (borrow_bits BETWEEN 8 AND 32),
    created_at    BIGINT    NOT NULL
);

CREATE TABLE blocks (
    id                 BIGSERIAL PRIMARY KEY,
    prefix             CIDR     NOT NULL UNIQUE,
    family             SMALLINT NOT NULL CHECK (family IN (4, 6)),
    first              BYTEA    NOT NULL,
    last               BYTEA    NOT NULL,
    bits               SMALLINT NOT NULL,
    source             TEXT     NOT NULL CHECK (source IN ('rir', 'transfer', 'byoip', 'private')),
    registry           TEXT     NOT NULL DEFAULT '',
    registered_country TEXT     NOT NULL DEFAULT '',
    counterparty       TEXT     NOT NULL DEFAULT '',
    price_cents        BIGINT,
    currency           TEXT     NOT NULL DEFAULT '',
    acquired           TEXT     NOT NULL DEFAULT '',
    note               TEXT     NOT NULL DEFAULT '',
    created_at         BIGINT   NOT NULL,
    CONSTRAINT blocks_no_overlap EXCLUDE USING gist (prefix inet_ops WITH &&)
);
CREATE INDEX blocks_first ON blocks (family, first);

-- pools.prefix is not unique: a relocated unit may be the whole of its
-- lender's pool. The overlap rule below covers the pools that are not relocated.
CREATE TABLE pools (
    id            BIGSERIAL PRIMARY KEY,
    prefix        CIDR     NOT NULL,
    family        SMALLINT NOT NULL CHECK (family IN (4, 6)),
    first         BYTEA    NOT NULL,
    last          BYTEA    NOT NULL,
    bits          SMALLINT NOT NULL,
    block_id      BIGINT   NOT NULL REFERENCES blocks (id),
    region_id     BIGINT   NOT NULL REFERENCES regions (id),
    purpose       TEXT     NOT NULL DEFAULT '',
    relocation_id BIGINT,
    parent_id     BIGINT REFERENCES pools (id),
    created_at    BIGINT   NOT NULL,
    CHECK ((relocation_id IS NULL) = (parent_id IS NULL)),
    -- A relocated unit lies inside its lender's pool; other pools never overlap.
    CONSTRAINT pools_no_overlap EXCLUDE USING gist (prefix inet_ops WITH &&) WHERE (relocation_id IS NULL)
);
CREATE INDEX pools_first ON pools (family, first);
CREATE INDEX pools_region ON pools (region_id, family);

CREATE TABLE relocations (
    id             BIGSERIAL PRIMARY KEY,
    prefix         CIDR     NOT NULL UNIQUE,
    family         SMALLINT NOT NULL,
    first          BYTEA    NOT NULL,
    last           BYTEA    NOT NULL,
    bits           SMALLINT NOT NULL,
    from_pool_id   BIGINT   NOT NULL REFERENCES pools (id),
    from_region_id BIGINT   NOT NULL REFERENCES regions (id),
    to_region_id   BIGINT   NOT NULL REFERENCES regions (id),
    reason         TEXT     NOT NULL,
    created_at     BIGINT   NOT NULL,
    CONSTRAINT relocations_no_overlap EXCLUDE USING gist (prefix inet_ops WITH &&)
);
CREATE INDEX relocations_from_pool ON relocations (from_pool_id);
ALTER TABLE pools ADD CONSTRAINT pools_relocation_fk FOREIGN KEY (relocation_id) REFERENCES relocations (id);

CREATE TABLE free (
    region_id BIGINT   NOT NULL,
    family    SMALLINT NOT NULL,
    bits      SMALLINT NOT NULL,
    addr      BYTEA    NOT NULL,
    pool_id   BIGINT   NOT NULL REFERENCES pools (id),
    PRIMARY KEY (region_id, family, bits, addr)
);
CREATE INDEX free_pool ON free (pool_id, addr);

CREATE TABLE assignments (
    id               BIGSERIAL PRIMARY KEY,
    pool_id          BIGINT   NOT NULL REFERENCES pools (id),
    prefix           CIDR     NOT NULL,
    family           SMALLINT NOT NULL CHECK (family IN (4, 6)),
    first            BYTEA    NOT NULL,
    last             BYTEA    NOT NULL,
    bits             SMALLINT NOT NULL,
    state            TEXT     NOT NULL CHECK (state IN ('assigned', 'quarantined', 'released')),
    tenant           TEXT     NOT NULL DEFAULT '',
    resource         TEXT     NOT NULL DEFAULT '',
    name             TEXT     NOT NULL DEFAULT '',
    created_at       BIGINT   NOT NULL,
    released_at      BIGINT,
    quarantine_until BIGINT,
    CHECK (state <> 'quarantined' OR quarantine_until IS NOT NULL),
    -- No address is ever held twice: live assignments never overlap.
    CONSTRAINT assignments_no_overlap EXCLUDE USING gist (prefix inet_ops WITH &&) WHERE (state <> 'released')
);
CREATE INDEX assignments_live_first ON assignments (family, first) WHERE state <> 'released';
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until);
CREATE INDEX assignments_quarantine ON assignments (quarantine_until) WHERE state = 'quarantined';
CREATE INDEX assignments_created ON assignments (pool_id, created_at);
CREATE INDEX assignments_all_first ON assignments (family, first);
CREATE INDEX assignments_tenant ON assignments (tenant, id);

CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    subject_kind TEXT   NOT NULL,
    subject_id   BIGINT NOT NULL,
    subject      TEXT   NOT NULL,
    before       TEXT,
    after        TEXT
);
CREATE INDEX events_subject ON events (subject_kind, subject_id);
CREATE INDEX events_at ON events (at);

-- +goose StatementBegin
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE idempotency (
    tenant         TEXT   NOT NULL,
    key            TEXT   NOT NULL,
    request_hash   TEXT   NOT NULL,
    assignment_ids TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- +goose Down
DROP TABLE idempotency;
DROP TABLE events;
DROP FUNCTION events_append_only;
DROP TABLE assignments;
DROP TABLE free;
ALTER TABLE pools DROP CONSTRAINT pools_relocation_fk;
DROP TABLE relocations;
DROP TABLE pools;
DROP TABLE blocks;
DROP TABLE regions;
