-- +goose Up
-- A journal step's records in parts (issue 16, bench/README.md "Session
-- 14: IXFR streamed"): a step was one row whose removed and added
-- records were read whole, so an IXFR could send nothing before the whole
-- step was in memory and unpacked (the parent's step of a split at 10M:
-- 1.49M records, 174 MB, ~5 s before the first message, longer than
-- Knot's default 5 s I/O timeout). The records (removed, then added: the
-- same bytes, uncompressed wire form, one after another) are now cut
-- into parts of a few hundred KiB, read a window at a time; a record may
-- straddle two parts. A step's row says how many parts each side has.
CREATE TABLE dns_journal_parts (
    journal_id BIGINT  NOT NULL REFERENCES dns_journal (id) ON DELETE CASCADE,
    part       INTEGER NOT NULL,
    data       BYTEA   NOT NULL,
    PRIMARY KEY (journal_id, part)
);
ALTER TABLE dns_journal ADD COLUMN removed_parts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dns_journal ADD COLUMN added_parts INTEGER NOT NULL DEFAULT 0;
-- The steps already written keep their records, each side as one part.
INSERT INTO dns_journal_parts (journal_id, part, data)
    SELECT id, 0, removed FROM dns_journal WHERE length(removed) > 0;
INSERT INTO dns_journal_parts (journal_id, part, data)
    SELECT id, CASE WHEN length(removed) > 0 THEN 1 ELSE 0 END, added FROM dns_journal WHERE length(added) > 0;
UPDATE dns_journal SET
    removed_parts = CASE WHEN length(removed) > 0 THEN 1 ELSE 0 END,
    added_parts = CASE WHEN length(added) > 0 THEN 1 ELSE 0 END;
ALTER TABLE dns_journal DROP COLUMN removed;
ALTER TABLE dns_journal DROP COLUMN added;

-- +goose Down
-- The parts are not joined back: the journal is emptied, and a secondary
-- behind takes an AXFR (RFC 1995 §4) once.
DELETE FROM dns_journal;
ALTER TABLE dns_journal ADD COLUMN removed BYTEA NOT NULL DEFAULT '\x'::bytea;
ALTER TABLE dns_journal ADD COLUMN added BYTEA NOT NULL DEFAULT '\x'::bytea;
ALTER TABLE dns_journal DROP COLUMN removed_parts;
ALTER TABLE dns_journal DROP COLUMN added_parts;
DROP TABLE dns_journal_parts;
