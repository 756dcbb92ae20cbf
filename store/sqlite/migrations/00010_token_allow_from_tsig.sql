-- +goose Up
-- A token may be limited to client networks: prefixes separated by spaces,
-- '' for any address.
ALTER TABLE tokens ADD COLUMN allow_from TEXT NOT NULL DEFAULT '';

-- TSIG keys for zone transfers, kept in the register so that no secret is
-- on a command line. The secret is sealed (AES-256-GCM) like DNSSEC private
-- keys, bound to the key's name and algorithm.
CREATE TABLE tsig_keys (
    name       TEXT    PRIMARY KEY,
    algorithm  TEXT    NOT NULL,
    sealed     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE tsig_keys;
ALTER TABLE tokens DROP COLUMN allow_from;
