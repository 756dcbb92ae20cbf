-- +goose Up
-- Authoritative DNS (package dns): zones, static records and DNSSEC keys.
-- Private keys are sealed with AES-256-GCM under a key that is not in the
-- database ($CADASTRE_DNS_KEY, or derived from the token key), so a dump
-- signs nothing.
CREATE TABLE dns_zones (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('forward', 'reverse')),
    prefix      TEXT    NOT NULL DEFAULT '',
    synthesize  TEXT    NOT NULL DEFAULT '',
    config      TEXT    NOT NULL,
    serial      INTEGER NOT NULL DEFAULT 0,
    serial_hash TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE dns_records (
    id         INTEGER PRIMARY KEY,
    zone_id    INTEGER NOT NULL REFERENCES dns_zones (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    ttl        INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (zone_id, name, type, data)
);

CREATE TABLE dns_keys (
    id         INTEGER PRIMARY KEY,
    zone_id    INTEGER NOT NULL REFERENCES dns_zones (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('csk', 'ksk', 'zsk')),
    algorithm  INTEGER NOT NULL,
    tag        INTEGER NOT NULL,
    public     TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('active', 'published', 'retired')),
    created_at INTEGER NOT NULL,
    -- Validators try every key with a signature's tag: keep them unique.
    UNIQUE (zone_id, tag)
);

-- +goose Down
DROP TABLE dns_keys;
DROP TABLE dns_records;
DROP TABLE dns_zones;
