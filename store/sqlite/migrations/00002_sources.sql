-- +goose Up
-- Geolocation sources: imported geofeeds (and later MMDB files), with their
-- entries, so that look-ups and the audit can compare them with the register.
CREATE TABLE sources (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('geofeed', 'mmdb')),
    origin      TEXT    NOT NULL DEFAULT '',
    entries     INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT    NOT NULL DEFAULT '',
    imported_at INTEGER NOT NULL
);

CREATE TABLE source_entries (
    source_id   INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    family      INTEGER NOT NULL,
    first       BLOB    NOT NULL,
    bits        INTEGER NOT NULL,
    country     TEXT    NOT NULL DEFAULT '',
    subdivision TEXT    NOT NULL DEFAULT '',
    city        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (source_id, family, first, bits)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE source_entries;
DROP TABLE sources;
