-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL; bench/README.md, session
-- 10, pgstorage): 479 bytes an assignment at a million as imported, of
-- which the table's rows 161 and its B-trees of addresses 64.
--
-- - The columns first and last (the prefix's first and last addresses
--   as bytes, 5 + 5 bytes an IPv4 row and 17 + 17 an IPv6 one) held what
--   the prefix holds: the B-tree of prefixes (assignments_prefix) orders
--   the rows by address as (family, first) did, since cidr's order is
--   the family, then the network, a prefix before the ones it holds, and
--   the queries that read ranges of first addresses read ranges of
--   prefixes (store/postgres pages.go, bulk.go).
-- - The fixed-width columns come first, widest first: no byte of padding
--   between a SMALLINT and a BIGINT (8 bytes an IPv6 row before).
-- - assignments_live_first (family, first) WHERE state <> 'released', 31
--   bytes an assignment, served the import's free lists (LivePrefixes)
--   and the overlap query of a refused import: both read
--   assignments_prefix and skip the released rows (about one in sixteen)
--   on the table.
-- - assignments_resource (resource, id) becomes (resource): a resource
--   names a handful of assignments (a machine's addresses), sorted by ID
--   for a page; without the ID the index holds one entry per resource
--   and the row pointers after it (36.6 -> 28.5 bytes an assignment at a
--   million, where every assignment has its own resource).
-- - The B-trees are built full (fillfactor 100 instead of 90): the
--   primary key and (pool_id, id) grow at their right end, where a split
--   leaves the left page as full as the fillfactor says; the others are
--   packed by a build (an import, this migration) and split to half pages
--   as rows go in anywhere, as before. The SP-GiST exclusion indexes keep
--   their 80: the room is for inner tuples that grow as rows go in (100
--   saved 2 bytes an assignment).
--
-- The table is rebuilt (a dropped column keeps its bytes in every row
-- until the row is written again): rows are copied in ID order, then the
-- constraints and indexes the table had are made again from the catalog,
-- as they were (whatever migrations before this one or an operator
-- added), but for the two (family, first) indexes, and so are the grants
-- on it. An upgrade of a register of 10,000,000 assignments rewrites it
-- once (minutes, the table locked meanwhile).
-- +goose StatementBegin
DO $$
DECLARE
    builds text[];
    b text;
BEGIN
    SELECT array_agg(d ORDER BY o, n) INTO builds FROM (
        -- the primary key first, then the other constraints, then indexes
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname, pg_get_constraintdef(c.oid))
               || CASE c.contype WHEN 'p' THEN ' WITH (fillfactor = 100)' ELSE '' END AS d
        FROM pg_constraint c WHERE c.conrelid = 'assignments'::regclass
        UNION ALL
        SELECT 2, ic.relname,
               CASE WHEN pg_get_indexdef(i.indexrelid) ~ ' USING btree \([^()]*\)' AND pg_get_indexdef(i.indexrelid) !~ ' WITH \('
                    THEN regexp_replace(pg_get_indexdef(i.indexrelid), '( USING btree \([^()]*\))', '\1 WITH (fillfactor = 100)')
                    ELSE pg_get_indexdef(i.indexrelid) END
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
          AND ic.relname NOT IN ('assignments_all_first', 'assignments_live_first', 'assignments_resource')
    ) s;
    -- and the grants on the table to other roles than its owner
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
        SELECT id, pool_id, created_at, released_at, quarantine_until, family, bits, prefix, state, tenant, resource, name, space
        FROM assignments ORDER BY id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    CREATE INDEX assignments_prefix ON assignments (prefix) WITH (fillfactor = 100);
    CREATE INDEX assignments_resource ON assignments (resource) WITH (fillfactor = 100) WHERE resource <> '';
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
    SELECT array_agg(d ORDER BY o, n) INTO builds FROM (
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname, regexp_replace(pg_get_constraintdef(c.oid), ' WITH \(fillfactor=''?100''?\)', '')) AS d
        FROM pg_constraint c WHERE c.conrelid = 'assignments'::regclass
        UNION ALL
        SELECT 2, ic.relname, regexp_replace(pg_get_indexdef(i.indexrelid), ' WITH \(fillfactor=''?100''?\)', '')
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
          AND ic.relname NOT IN ('assignments_prefix', 'assignments_resource')
    ) s;
    -- and the grants on the table to other roles than its owner
    SELECT builds || coalesce(array_agg(format('GRANT %s ON assignments TO %s%s', a.privilege_type,
               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)), '{}') INTO builds
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'assignments'::regclass AND a.grantee <> c.relowner;

    CREATE TABLE assignments_rebuilt (
        id               BIGINT   NOT NULL DEFAULT nextval('assignments_id_seq'),
        pool_id          BIGINT   NOT NULL,
        prefix           CIDR     NOT NULL,
        family           SMALLINT NOT NULL,
        first            BYTEA    NOT NULL,
        last             BYTEA    NOT NULL,
        bits             SMALLINT NOT NULL,
        state            TEXT     NOT NULL,
        tenant           TEXT     NOT NULL DEFAULT '',
        resource         TEXT     NOT NULL DEFAULT '',
        name             TEXT     NOT NULL DEFAULT '',
        created_at       BIGINT   NOT NULL,
        released_at      BIGINT,
        quarantine_until BIGINT,
        space            TEXT     NOT NULL DEFAULT 'global'
    );
    -- inet_send is the address's wire form: family, bits, is_cidr, length, then the bytes.
    INSERT INTO assignments_rebuilt (id, pool_id, prefix, family, first, last, bits, state, tenant, resource, name, created_at, released_at, quarantine_until, space)
        SELECT id, pool_id, prefix, family, substr(inet_send(network(prefix)), 5), substr(inet_send(broadcast(prefix)), 5), bits,
               state, tenant, resource, name, created_at, released_at, quarantine_until, space
        FROM assignments ORDER BY id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    CREATE INDEX assignments_live_first ON assignments (family, first) WHERE state <> 'released';
    CREATE INDEX assignments_all_first ON assignments (family, first);
    CREATE INDEX assignments_resource ON assignments (resource, id) WHERE resource <> '';
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd
