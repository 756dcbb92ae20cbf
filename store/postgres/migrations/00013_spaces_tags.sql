-- +goose Up
-- Spaces (VRFs): routing domains. Public space is the one space named
-- 'global'; private blocks belong to a named space ('private' unless the
-- operator names another), and blocks overlap only within a space. Blocks
-- name their space (not its id) so a row reads on its own; a space with
-- blocks cannot be deleted (the foreign key refuses it).
CREATE TABLE spaces (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    note       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
INSERT INTO spaces (name, note, created_at) VALUES
    ('global', 'public space: the one global routing domain', (extract(epoch FROM now()) * 1000000)::bigint),
    ('private', 'private blocks recorded without --space', (extract(epoch FROM now()) * 1000000)::bigint);

ALTER TABLE blocks ADD COLUMN space TEXT NOT NULL DEFAULT 'global' REFERENCES spaces (name);
UPDATE blocks SET space = 'private' WHERE source = 'private';
CREATE INDEX blocks_space_first ON blocks (space, family, first);
-- One prefix may be recorded once in each space.
ALTER TABLE blocks DROP CONSTRAINT blocks_prefix_key, ADD CONSTRAINT blocks_space_prefix_key UNIQUE (space, prefix);

-- The global space keeps the database's exclusion constraint. Private
-- spaces may overlap each other, which an SP-GiST exclusion over one
-- column cannot say; a trigger checks them under a transaction-scoped
-- advisory lock, so two concurrent inserts into one space are ordered and
-- the second sees the first (READ COMMITTED takes a snapshot per statement).
ALTER TABLE blocks DROP CONSTRAINT blocks_no_overlap,
    ADD CONSTRAINT blocks_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (space = 'global');
-- +goose StatementBegin
CREATE FUNCTION blocks_space_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7271879, hashtext(NEW.space));
    IF EXISTS (SELECT 1 FROM blocks WHERE space = NEW.space AND prefix && NEW.prefix AND id <> NEW.id) THEN
        RAISE EXCEPTION 'block % overlaps an existing block of space %', NEW.prefix, NEW.space
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'blocks_no_overlap';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER blocks_space_no_overlap BEFORE INSERT OR UPDATE OF prefix, space ON blocks
    FOR EACH ROW WHEN (NEW.space <> 'global') EXECUTE FUNCTION blocks_space_no_overlap();

-- Tags: KEY=VALUE pairs on regions, blocks, pools and assignments, one row
-- a pair, so that "every assignment tagged env=prod" is an index seek
-- (tags_match) rather than a scan of every object.
CREATE TABLE tags (
    kind      TEXT   NOT NULL CHECK (kind IN ('region', 'block', 'pool', 'assignment')),
    object_id BIGINT NOT NULL,
    key       TEXT   NOT NULL,
    value     TEXT   NOT NULL,
    PRIMARY KEY (kind, object_id, key)
);
CREATE INDEX tags_match ON tags (kind, key, value, object_id);

-- +goose Down
DROP TABLE tags;
DROP TRIGGER blocks_space_no_overlap ON blocks;
DROP FUNCTION blocks_space_no_overlap;
ALTER TABLE blocks DROP CONSTRAINT blocks_no_overlap,
    ADD CONSTRAINT blocks_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&);
ALTER TABLE blocks DROP CONSTRAINT blocks_space_prefix_key, ADD CONSTRAINT blocks_prefix_key UNIQUE (prefix);
DROP INDEX blocks_space_first;
ALTER TABLE blocks DROP COLUMN space;
DROP TABLE spaces;
