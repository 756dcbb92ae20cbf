-- +goose Up
-- The address policy of pools (issue 12): a pool keeps back its IPv4
-- network and broadcast addresses and the IPv6 subnet-router anycast
-- addresses unless use_all. Pools made before it hand out every address,
-- as they did (their free space and assignments may hold those addresses).
ALTER TABLE pools ADD COLUMN use_all BOOLEAN NOT NULL DEFAULT TRUE;

-- Reservations: space never handed out, inside one pool, whose free
-- space no longer holds it. until (Unix microseconds) ends one.
CREATE TABLE reservations (
    id         BIGSERIAL PRIMARY KEY,
    prefix     CIDR     NOT NULL UNIQUE,
    family     SMALLINT NOT NULL CHECK (family IN (4, 6)),
    first      BYTEA    NOT NULL,
    last       BYTEA    NOT NULL,
    bits       SMALLINT NOT NULL,
    pool_id    BIGINT   NOT NULL REFERENCES pools (id),
    reason     TEXT     NOT NULL,
    until      BIGINT,
    created_at BIGINT   NOT NULL,
    CONSTRAINT reservations_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&)
);
CREATE INDEX reservations_first ON reservations (family, first);

-- +goose Down
DROP TABLE reservations;
ALTER TABLE pools DROP COLUMN use_all;
