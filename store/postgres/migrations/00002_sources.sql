-- +goose Up
CREATE TABLE sources (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT   NOT NULL UNIQUE,
    kind        TEXT   NOT NULL CHECK (kind IN ('geofeed', 'mmdb')),
    origin      TEXT   NOT NULL DEFAULT '',
    entries     BIGINT NOT NULL DEFAULT 0,
    sha256      TEXT   NOT NULL DEFAULT '',
    imported_at BIGINT NOT NULL
);

CREATE TABLE source_entries (
    source_id   BIGINT   NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    family      SMALLINT NOT NULL,
    first       BYTEA    NOT NULL,
    bits        SMALLINT NOT NULL,
    country     TEXT     NOT NULL DEFAULT '',
    subdivision TEXT     NOT NULL DEFAULT '',
    city        TEXT     NOT NULL DEFAULT '',
    PRIMARY KEY (source_id, family, first, bits)
);

-- +goose Down
DROP TABLE source_entries;
DROP TABLE sources;
