-- +goose Up
-- Cleanup after 00018 (issue 12): assignments in named spaces are kept
-- apart by the exclusion constraint assignments_space_no_overlap (GiST over
-- (space, prefix)), not by the trigger, so space_no_overlap() loses its
-- assignments branch (no trigger on assignments calls it) and the
-- SP-GiST index assignments_space_live goes: the constraint's index holds
-- the same rows (live, named space) and serves the same look-ups
-- (space = $n AND space <> 'global' AND prefix && $m), one index less to
-- write per private allocation.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION space_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hit TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(7271880, hashtext(NEW.space));
    IF TG_TABLE_NAME = 'pools' THEN
        IF NEW.relocation_id IS NOT NULL OR NEW.dissolved_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        SELECT prefix::text INTO hit FROM pools WHERE space = NEW.space AND space <> 'global' AND prefix && NEW.prefix AND id <> NEW.id
            AND relocation_id IS NULL AND dissolved_at IS NULL AND (child_of IS NULL) = (NEW.child_of IS NULL) LIMIT 1;
    ELSIF TG_TABLE_NAME = 'reservations' THEN
        SELECT prefix::text INTO hit FROM reservations WHERE space = NEW.space AND prefix && NEW.prefix AND id <> NEW.id LIMIT 1;
    ELSIF TG_TABLE_NAME = 'relocations' THEN
        SELECT prefix::text INTO hit FROM relocations WHERE space = NEW.space AND prefix && NEW.prefix AND id <> NEW.id LIMIT 1;
    ELSE
        RAISE EXCEPTION 'space_no_overlap: no check for table % (assignments use the exclusion constraint assignments_space_no_overlap)', TG_TABLE_NAME;
    END IF;
    IF hit IS NOT NULL THEN
        RAISE EXCEPTION '% % overlaps % in space %', TG_TABLE_NAME, NEW.prefix, hit, NEW.space
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = TG_TABLE_NAME || '_no_overlap';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
DROP INDEX IF EXISTS assignments_space_live;

-- +goose Down
CREATE INDEX assignments_space_live ON assignments USING spgist (prefix inet_ops) WHERE space <> 'global' AND state <> 'released';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION space_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hit TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(7271880, hashtext(NEW.space));
    IF TG_TABLE_NAME = 'pools' THEN
        IF NEW.relocation_id IS NOT NULL OR NEW.dissolved_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        SELECT prefix::text INTO hit FROM pools WHERE space = NEW.space AND space <> 'global' AND prefix && NEW.prefix AND id <> NEW.id
            AND relocation_id IS NULL AND dissolved_at IS NULL AND (child_of IS NULL) = (NEW.child_of IS NULL) LIMIT 1;
    ELSIF TG_TABLE_NAME = 'assignments' THEN
        IF NEW.state = 'released' THEN
            RETURN NEW;
        END IF;
        SELECT prefix::text INTO hit FROM assignments WHERE space = NEW.space AND space <> 'global' AND state <> 'released'
            AND prefix && NEW.prefix AND id <> NEW.id LIMIT 1;
    ELSIF TG_TABLE_NAME = 'reservations' THEN
        SELECT prefix::text INTO hit FROM reservations WHERE space = NEW.space AND prefix && NEW.prefix AND id <> NEW.id LIMIT 1;
    ELSE
        SELECT prefix::text INTO hit FROM relocations WHERE space = NEW.space AND prefix && NEW.prefix AND id <> NEW.id LIMIT 1;
    END IF;
    IF hit IS NOT NULL THEN
        RAISE EXCEPTION '% % overlaps % in space %', TG_TABLE_NAME, NEW.prefix, hit, NEW.space
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = TG_TABLE_NAME || '_no_overlap';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
