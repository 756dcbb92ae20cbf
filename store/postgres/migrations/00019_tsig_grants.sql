-- +goose Up
-- RFC 2136 UPDATE (issue 14): a TSIG key may be granted the names it may
-- change, as canonical suffixes separated by spaces ('' for none: a key
-- made for zone transfers changes nothing).
ALTER TABLE tsig_keys ADD COLUMN grants TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tsig_keys DROP COLUMN grants;
