-- +goose Up
-- Overlap is refused within a space only (issue 12, spaces): two VPCs may
-- both hold 10.0.0.0/8, and each may put a pool on 10.1.0.0/16, hand out
-- 10.1.0.0/24 and reserve 10.1.0.1/32. Pools, assignments, reservations
-- and relocations name their space, copied from their block (or pool)
-- and held equal to it by composite foreign keys, so the database itself
-- knows which rows may not overlap.
ALTER TABLE blocks ADD CONSTRAINT blocks_id_space_key UNIQUE (id, space);

ALTER TABLE pools ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE pools p SET space = b.space FROM blocks b WHERE b.id = p.block_id AND b.space <> 'global';
ALTER TABLE pools ADD CONSTRAINT pools_block_space_fk FOREIGN KEY (block_id, space) REFERENCES blocks (id, space),
    ADD CONSTRAINT pools_id_space_key UNIQUE (id, space);

ALTER TABLE assignments ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE assignments a SET space = p.space FROM pools p WHERE p.id = a.pool_id AND p.space <> 'global';
-- The composite key implies the old one (same check, one index look-up).
ALTER TABLE assignments DROP CONSTRAINT assignments_pool_id_fkey,
    ADD CONSTRAINT assignments_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools (id, space);

ALTER TABLE reservations ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE reservations v SET space = p.space FROM pools p WHERE p.id = v.pool_id AND p.space <> 'global';
ALTER TABLE reservations DROP CONSTRAINT reservations_pool_id_fkey,
    ADD CONSTRAINT reservations_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools (id, space),
    DROP CONSTRAINT reservations_prefix_key,
    ADD CONSTRAINT reservations_space_prefix_key UNIQUE (space, prefix);

ALTER TABLE relocations ADD COLUMN space TEXT NOT NULL DEFAULT 'global';
UPDATE relocations r SET space = p.space FROM pools p WHERE p.id = r.from_pool_id AND p.space <> 'global';
ALTER TABLE relocations DROP CONSTRAINT relocations_from_pool_id_fkey,
    ADD CONSTRAINT relocations_pool_space_fk FOREIGN KEY (from_pool_id, space) REFERENCES pools (id, space),
    DROP CONSTRAINT relocations_prefix_key,
    ADD CONSTRAINT relocations_space_prefix_key UNIQUE (space, prefix);

-- The global space, where nearly every allocation happens, keeps the
-- SP-GiST exclusion constraints (a multi-column exclusion would need GiST
-- and btree_gist: about twenty times the cost of an insert, bench/README.md).
ALTER TABLE pools DROP CONSTRAINT pools_no_overlap,
    DROP CONSTRAINT pools_child_no_overlap,
    ADD CONSTRAINT pools_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&)
        WHERE (relocation_id IS NULL AND child_of IS NULL AND space = 'global'),
    ADD CONSTRAINT pools_child_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&)
        WHERE (child_of IS NOT NULL AND dissolved_at IS NULL AND space = 'global');
ALTER TABLE assignments DROP CONSTRAINT assignments_no_overlap,
    ADD CONSTRAINT assignments_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released' AND space = 'global');
ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap,
    ADD CONSTRAINT reservations_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (space = 'global');
ALTER TABLE relocations DROP CONSTRAINT relocations_no_overlap,
    ADD CONSTRAINT relocations_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (space = 'global');

-- Named spaces are checked by triggers, as blocks are (00013): under one
-- transaction-scoped advisory lock per space, so two concurrent writers
-- into one space are ordered and the second, whose statements each take a
-- new snapshot (READ COMMITTED), sees what the first committed. One lock
-- for every table of a space, so no two writers take them in opposite
-- orders. The indexes serve the triggers' look-ups.
CREATE INDEX pools_space_prefix ON pools USING spgist (prefix inet_ops) WHERE space <> 'global';
CREATE INDEX assignments_space_live ON assignments USING spgist (prefix inet_ops) WHERE space <> 'global' AND state <> 'released';
-- +goose StatementBegin
CREATE FUNCTION space_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER pools_space_no_overlap BEFORE INSERT OR UPDATE OF prefix, space, dissolved_at ON pools
    FOR EACH ROW WHEN (NEW.space <> 'global') EXECUTE FUNCTION space_no_overlap();
-- Assignments, the hot path (the built-in private space is a named space:
-- every RFC 1918 allocation is one), are not checked by the trigger: its
-- lock per space, taken at the insert under a region's lock, serialised
-- every writer of the space across regions and replicas, and a group
-- commit spanning two regions deadlocked against another (seen in CI: 3
-- requests/s on three replicas). An exclusion constraint over (space,
-- prefix) waits only for an overlapping row's writer. btree_gist gives
-- GiST the equality on text; it lives in public, which no test schema is,
-- so that dropping a schema never drops it.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;
ALTER TABLE assignments ADD CONSTRAINT assignments_space_no_overlap
    EXCLUDE USING gist (space WITH =, prefix inet_ops WITH &&) WHERE (state <> 'released' AND space <> 'global');
CREATE TRIGGER reservations_space_no_overlap BEFORE INSERT OR UPDATE OF prefix, space ON reservations
    FOR EACH ROW WHEN (NEW.space <> 'global') EXECUTE FUNCTION space_no_overlap();
CREATE TRIGGER relocations_space_no_overlap BEFORE INSERT OR UPDATE OF prefix, space ON relocations
    FOR EACH ROW WHEN (NEW.space <> 'global') EXECUTE FUNCTION space_no_overlap();

-- Free space: one region may hold pools of two spaces over the same
-- addresses, so a free prefix is one pool's.
ALTER TABLE free DROP CONSTRAINT free_pkey, ADD PRIMARY KEY (region_id, family, bits, addr, pool_id);

-- +goose Down
ALTER TABLE free DROP CONSTRAINT free_pkey, ADD PRIMARY KEY (region_id, family, bits, addr);
DROP TRIGGER relocations_space_no_overlap ON relocations;
DROP TRIGGER reservations_space_no_overlap ON reservations;
ALTER TABLE assignments DROP CONSTRAINT assignments_space_no_overlap;
DROP TRIGGER pools_space_no_overlap ON pools;
DROP FUNCTION space_no_overlap;
DROP INDEX assignments_space_live;
DROP INDEX pools_space_prefix;
ALTER TABLE relocations DROP CONSTRAINT relocations_no_overlap,
    ADD CONSTRAINT relocations_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&);
ALTER TABLE reservations DROP CONSTRAINT reservations_no_overlap,
    ADD CONSTRAINT reservations_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&);
ALTER TABLE assignments DROP CONSTRAINT assignments_no_overlap,
    ADD CONSTRAINT assignments_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released');
ALTER TABLE pools DROP CONSTRAINT pools_child_no_overlap,
    DROP CONSTRAINT pools_no_overlap,
    ADD CONSTRAINT pools_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (relocation_id IS NULL AND child_of IS NULL),
    ADD CONSTRAINT pools_child_no_overlap EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (child_of IS NOT NULL AND dissolved_at IS NULL);
ALTER TABLE relocations DROP CONSTRAINT relocations_space_prefix_key, ADD CONSTRAINT relocations_prefix_key UNIQUE (prefix),
    DROP CONSTRAINT relocations_pool_space_fk, ADD CONSTRAINT relocations_from_pool_id_fkey FOREIGN KEY (from_pool_id) REFERENCES pools (id),
    DROP COLUMN space;
ALTER TABLE reservations DROP CONSTRAINT reservations_space_prefix_key, ADD CONSTRAINT reservations_prefix_key UNIQUE (prefix),
    DROP CONSTRAINT reservations_pool_space_fk, ADD CONSTRAINT reservations_pool_id_fkey FOREIGN KEY (pool_id) REFERENCES pools (id),
    DROP COLUMN space;
ALTER TABLE assignments DROP CONSTRAINT assignments_pool_space_fk, ADD CONSTRAINT assignments_pool_id_fkey FOREIGN KEY (pool_id) REFERENCES pools (id),
    DROP COLUMN space;
ALTER TABLE pools DROP CONSTRAINT pools_id_space_key, DROP CONSTRAINT pools_block_space_fk, DROP COLUMN space;
ALTER TABLE blocks DROP CONSTRAINT blocks_id_space_key;
