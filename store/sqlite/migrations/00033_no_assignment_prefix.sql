-- +goose Up
-- Storage per assignment (issue 16): an assignment's prefix text is not
-- stored; its first address and length say it (17 bytes an assignment:
-- 124 -> 107 bytes a row). Statements return it with cadastre_prefix(first,
-- bits), a function the store registers with the driver. SQLite rewrites
-- the table (about 5 s of CPU at a million assignments: bench/README.md,
-- storage250).
ALTER TABLE assignments DROP COLUMN prefix;

-- +goose Down
ALTER TABLE assignments ADD COLUMN prefix TEXT NOT NULL DEFAULT '';
UPDATE assignments SET prefix = cadastre_prefix(first, bits);
