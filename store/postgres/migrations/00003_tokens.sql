-- +goose Up
-- API tokens: only an HMAC of each secret, keyed outside the database.
CREATE TABLE tokens (
    id           TEXT   PRIMARY KEY,
    name         TEXT   NOT NULL DEFAULT '',
    scope        TEXT   NOT NULL CHECK (scope IN ('read', 'allocate', 'admin')),
    tenant       TEXT   NOT NULL DEFAULT '',
    mac          BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT   NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

-- +goose Down
DROP TABLE tokens;
