-- +goose Up
-- The address policy of pools (issue 12): a pool keeps back its IPv4
-- network and broadcast addresses and the IPv6 subnet-router anycast
-- addresses unless use_all. Pools made before it hand out every address,
-- as they did (their free space and assignments may hold those addresses).
ALTER TABLE pools ADD COLUMN use_all INTEGER NOT NULL DEFAULT 1;

-- Reservations: space never handed out, inside one pool, whose free
-- space no longer holds it. until (Unix microseconds) ends one.
CREATE TABLE reservations (
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
CREATE INDEX reservations_first ON reservations (family, first);

-- Reservations never overlap: the only candidate is the one starting last
-- at or before the new end.
-- +goose StatementBegin
CREATE TRIGGER reservations_no_overlap BEFORE INSERT ON reservations
WHEN (SELECT last FROM reservations WHERE family = NEW.family AND first <= NEW.last ORDER BY first DESC LIMIT 1) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'reservation overlaps an existing reservation');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE reservations;
ALTER TABLE pools DROP COLUMN use_all;
