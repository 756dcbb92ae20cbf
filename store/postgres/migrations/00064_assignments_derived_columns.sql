-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL; bench/README.md, "Session
-- 14: PostgreSQL heap"): the table's rows lose what the prefix already
-- holds and a pool's ID shrinks, 134.0 -> 126.0 bytes a row at a million.
--
-- - family and bits (two SMALLINTs) are the prefix's own: family(prefix)
--   and masklen(prefix). An IPv6 row of 87 bytes of values after its
--   32-byte header (the NULL bitmap of thirteen columns takes it past
--   24) fills 120 bytes with or without them (rows are aligned to 8): the
--   two alone saved 3.5 bytes a row, the two with pool_id as an INTEGER
--   8.1. Kept, bits alone would cost 4 of those (129.97).
-- - pool_id INTEGER: pools are numbered by a sequence, and two thousand
--   million of them is far beyond a register (a pool's ID past it fails
--   the insert with "integer out of range", nothing is written). The
--   foreign key (pool_id, space) -> pools (id, space) compares INTEGER
--   with BIGINT through the integer operator family, as an index would.
-- - assignments_state_family_past (state, family, id) becomes one index
--   a family, (state, id) WHERE family(prefix) = 4 (and 6): the same
--   bytes, and read index only as before. An index of family(prefix) is
--   read index only by no query, since PostgreSQL takes an index only
--   scan only when every column a query names (here prefix) is in the
--   index: the past pages read 6-14 % more buffers at ten million, and
--   with the family's statistics a page of a state took the quarantine
--   index and a sort (TestAssignmentPagePlans). pages.go writes the
--   family as a constant, which a generic plan needs to prove the
--   index's condition.
-- - assignments_pool_past (pool_id, state, id) INCLUDE (quarantine_until,
--   bits) loses bits (an expression cannot be included): the count of
--   ended quarantines (counters.go usageQuery) reads masklen(prefix) on
--   the row of each ended one, found through assignments_quarantine or
--   this index's quarantine_until.
-- - assignments_family_check goes: a cidr is of family 4 or 6; the
--   statistics object assignments_family gives the planner what the
--   column's statistics gave.
--
-- The table is rebuilt, as 00044 did (a dropped column keeps its bytes
-- in every row until the row is written again): rows copied in ID order,
-- then the constraints, indexes, extended statistics and grants it had,
-- made again from the catalog as they were (whatever an earlier
-- migration or an operator added), but for the ones named above. An
-- index an operator made on family or bits fails this migration, which
-- then changes nothing. The table is locked against writes and reads
-- for the rebuild (writers from its start, readers from the old table's
-- drop, after the copy): a register of ten million assignments takes
-- minutes (bench/README.md gives the time measured).
-- +goose StatementBegin
DO $$
DECLARE
    builds text[];
    b text;
BEGIN
    -- No writer from here on (another replica serving while this one
    -- migrates): a row written after the copy's snapshot would be lost
    -- with the old table. Readers wait from the DROP on.
    LOCK TABLE assignments IN EXCLUSIVE MODE;
    SELECT array_agg(d ORDER BY o, n) INTO builds FROM (
        -- the primary key first, then the other constraints, then indexes
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               -- pg_get_constraintdef leaves out the storage parameters
               -- of the constraint's index (the primary key's fillfactor
               -- 100, 00044); WITH goes before an exclusion's WHERE.
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname,
                   CASE WHEN ci.reloptions IS NULL THEN pg_get_constraintdef(c.oid)
                        WHEN c.contype = 'x' AND pg_get_constraintdef(c.oid) ~ ' WHERE '
                            THEN regexp_replace(pg_get_constraintdef(c.oid), ' WHERE ', ' WITH (' || array_to_string(ci.reloptions, ', ') || ') WHERE ')
                        ELSE pg_get_constraintdef(c.oid) || ' WITH (' || array_to_string(ci.reloptions, ', ') || ')' END) AS d
        FROM pg_constraint c LEFT JOIN pg_class ci ON ci.oid = c.conindid WHERE c.conrelid = 'assignments'::regclass AND c.conname <> 'assignments_family_check'
        UNION ALL
        SELECT 2, ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
          AND ic.relname NOT IN ('assignments_state_family_past', 'assignments_pool_past')
        UNION ALL
        SELECT 3, s.stxname, pg_get_statisticsobjdef(s.oid)
        FROM pg_statistic_ext s WHERE s.stxrelid = 'assignments'::regclass
    ) s;
    -- and the grants on the table to other roles than its owner
    SELECT builds || coalesce(array_agg(format('GRANT %s ON assignments TO %s%s', a.privilege_type,
               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)), '{}') INTO builds
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'assignments'::regclass AND a.grantee <> c.relowner;

    -- The fixed-width columns first, widest first: no byte of padding.
    CREATE TABLE assignments_rebuilt (
        id               BIGINT  NOT NULL DEFAULT nextval('assignments_id_seq'),
        created_at       BIGINT  NOT NULL,
        released_at      BIGINT,
        quarantine_until BIGINT,
        pool_id          INTEGER NOT NULL,
        prefix           CIDR    NOT NULL,
        state            TEXT    NOT NULL,
        tenant           TEXT    NOT NULL DEFAULT '',
        resource         TEXT    NOT NULL DEFAULT '',
        name             TEXT    NOT NULL DEFAULT '',
        space            TEXT    NOT NULL DEFAULT 'global'
    );
    INSERT INTO assignments_rebuilt (id, created_at, released_at, quarantine_until, pool_id, prefix, state, tenant, resource, name, space)
        SELECT id, created_at, released_at, quarantine_until, pool_id, prefix, state, tenant, resource, name, space
        FROM assignments ORDER BY id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    CREATE INDEX assignments_state_past4 ON assignments (state, id) WITH (fillfactor = 100) WHERE state <> 'assigned' AND family(prefix) = 4;
    CREATE INDEX assignments_state_past6 ON assignments (state, id) WITH (fillfactor = 100) WHERE state <> 'assigned' AND family(prefix) = 6;
    CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) INCLUDE (quarantine_until) WITH (fillfactor = 100) WHERE state <> 'assigned';
    -- The planner's statistics of family(prefix), which the column had:
    -- with the default selectivity of an equality (0.5 %) it read a
    -- tenant's past IPv4 through an index of the family's past,
    -- filtering the tenant on 6,400 rows (TestAssignmentPagePlans), not
    -- through assignments_tenant_past.
    CREATE STATISTICS assignments_family ON (family(prefix)) FROM assignments;
    -- The rebuilt table has no statistics: a register's are taken now;
    -- an empty one (a new register) stays as never analysed, as before.
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    builds text[];
    b text;
BEGIN
    -- No writer from here on (another replica serving while this one
    -- migrates): a row written after the copy's snapshot would be lost
    -- with the old table. Readers wait from the DROP on.
    LOCK TABLE assignments IN EXCLUSIVE MODE;
    SELECT array_agg(d ORDER BY o, n) INTO builds FROM (
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               -- pg_get_constraintdef leaves out the storage parameters
               -- of the constraint's index (the primary key's fillfactor
               -- 100, 00044); WITH goes before an exclusion's WHERE.
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname,
                   CASE WHEN ci.reloptions IS NULL THEN pg_get_constraintdef(c.oid)
                        WHEN c.contype = 'x' AND pg_get_constraintdef(c.oid) ~ ' WHERE '
                            THEN regexp_replace(pg_get_constraintdef(c.oid), ' WHERE ', ' WITH (' || array_to_string(ci.reloptions, ', ') || ') WHERE ')
                        ELSE pg_get_constraintdef(c.oid) || ' WITH (' || array_to_string(ci.reloptions, ', ') || ')' END) AS d
        FROM pg_constraint c LEFT JOIN pg_class ci ON ci.oid = c.conindid WHERE c.conrelid = 'assignments'::regclass
        UNION ALL
        SELECT 2, ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
          AND ic.relname NOT IN ('assignments_state_past4', 'assignments_state_past6', 'assignments_pool_past')
        UNION ALL
        SELECT 3, s.stxname, pg_get_statisticsobjdef(s.oid)
        FROM pg_statistic_ext s WHERE s.stxrelid = 'assignments'::regclass AND s.stxname <> 'assignments_family'
    ) s;
    SELECT builds || coalesce(array_agg(format('GRANT %s ON assignments TO %s%s', a.privilege_type,
               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)), '{}') INTO builds
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'assignments'::regclass AND a.grantee <> c.relowner;

    CREATE TABLE assignments_rebuilt (
        id               BIGINT   NOT NULL DEFAULT nextval('assignments_id_seq'),
        pool_id          BIGINT   NOT NULL,
        created_at       BIGINT   NOT NULL,
        released_at      BIGINT,
        quarantine_until BIGINT,
        family           SMALLINT NOT NULL,
        bits             SMALLINT NOT NULL,
        prefix           CIDR     NOT NULL,
        state            TEXT     NOT NULL,
        tenant           TEXT     NOT NULL DEFAULT '',
        resource         TEXT     NOT NULL DEFAULT '',
        name             TEXT     NOT NULL DEFAULT '',
        space            TEXT     NOT NULL DEFAULT 'global'
    );
    INSERT INTO assignments_rebuilt (id, pool_id, created_at, released_at, quarantine_until, family, bits, prefix, state, tenant, resource, name, space)
        SELECT id, pool_id, created_at, released_at, quarantine_until, family(prefix), masklen(prefix), prefix, state, tenant, resource, name, space
        FROM assignments ORDER BY id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    ALTER TABLE assignments ADD CONSTRAINT assignments_family_check CHECK (family IN (4, 6));
    CREATE INDEX assignments_state_family_past ON assignments (state, family, id) WITH (fillfactor = 100) WHERE state <> 'assigned';
    CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) INCLUDE (quarantine_until, bits) WITH (fillfactor = 100) WHERE state <> 'assigned';
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd
