-- +goose Up
-- API tokens. Only an HMAC of each secret is kept (keyed with a server-side
-- key that is not in the database), so a dump grants no access.
CREATE TABLE tokens (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL DEFAULT '',
    scope        TEXT    NOT NULL CHECK (scope IN ('read', 'allocate', 'admin')),
    tenant       TEXT    NOT NULL DEFAULT '',
    mac          BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) WITHOUT ROWID;

-- +goose Down
DROP TABLE tokens;
