-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL: 250 bytes at a million;
-- bench/README.md, "Session 17: pgbytes3"). Two columns of every row
-- shrink or go, 125.9 -> 114.1 bytes of heap an assignment at a million
-- (the database 262.5 -> 249.1):
--
-- - space goes: it is the pool's. assignments_pool_space_fk (pool_id,
--   space) -> pools (id, space) made them equal, and a pool's space
--   never changes (no statement writes it; the key refused it while the
--   pool held rows). The foreign key is (pool_id) -> pools (id) now (or,
--   when 00086 came first, its trigger assignments_pool without the
--   space: 00086 drops the key in its turn); the
--   statements read the space of a row from its pool (pools.space): the
--   overlap checks compare a live neighbour's pool with the new row's,
--   and read both pools' spaces (primary key probes) only when the two
--   differ (tx.go sameSpace); a page takes it from the store's pools
--   (pagePools). 'global' was 7 bytes a row.
-- - state is an ENUM, assignment_state: 4 bytes where 'assigned' took 9,
--   set after pool_id so that its alignment costs nothing. Its labels
--   sort as the text did (assigned < quarantined < released), so the
--   indexes keyed by state keep their order, and a literal ('released')
--   is read as the label. A text compared with it is an error, not a
--   silent mismatch: the statements that pass a state as a parameter
--   say assignment_state. The state's CHECK goes (the type is the check).
--   The past indexes (state in the key) shrink with it: 8.9 -> 7.2 bytes.
--
-- The table is rebuilt as 00064 rebuilt it (a dropped column keeps its
-- bytes in every row until the row is written again; a changed type
-- rewrites the table anyway): rows copied in ID order, then the
-- constraints, indexes, extended statistics and grants it had, made
-- again from the catalog (the state literals of their conditions lose
-- their ::text), but for the two constraints named above. An index or
-- constraint an operator made on space fails this migration, which then
-- changes nothing. The table is locked against writes from the start and
-- against reads from the old table's drop (after the copy) to the commit:
-- bench/README.md gives the time at one and ten million.
CREATE TYPE assignment_state AS ENUM ('assigned', 'quarantined', 'released');
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
    SELECT array_agg(regexp_replace(d, '''(assigned|quarantined|released)''::text', '''\1''', 'g') ORDER BY o, n) INTO builds FROM (
        -- the primary key first, then the other constraints, then indexes
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               -- as 00064: the storage parameters of a constraint's index
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname,
                   CASE WHEN ci.reloptions IS NULL THEN pg_get_constraintdef(c.oid)
                        WHEN c.contype = 'x' AND pg_get_constraintdef(c.oid) ~ ' WHERE '
                            THEN regexp_replace(pg_get_constraintdef(c.oid), ' WHERE ', ' WITH (' || array_to_string(ci.reloptions, ', ') || ') WHERE ')
                        ELSE pg_get_constraintdef(c.oid) || ' WITH (' || array_to_string(ci.reloptions, ', ') || ')' END) AS d
        FROM pg_constraint c LEFT JOIN pg_class ci ON ci.oid = c.conindid WHERE c.conrelid = 'assignments'::regclass
            AND c.conname NOT IN ('assignments_pool_space_fk', 'assignments_state_check')
        UNION ALL
        SELECT 2, ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
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
        state            assignment_state NOT NULL,
        prefix           CIDR    NOT NULL,
        tenant           TEXT    NOT NULL DEFAULT '',
        resource         TEXT    NOT NULL DEFAULT '',
        name             TEXT    NOT NULL DEFAULT ''
    );
    INSERT INTO assignments_rebuilt (id, created_at, released_at, quarantine_until, pool_id, state, prefix, tenant, resource, name)
        SELECT id, created_at, released_at, quarantine_until, pool_id, state::assignment_state, prefix, tenant, resource, name
        FROM assignments ORDER BY id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    IF to_regproc('assignments_pool') IS NULL THEN
        ALTER TABLE assignments ADD CONSTRAINT assignments_pool_fk FOREIGN KEY (pool_id) REFERENCES pools (id);
    ELSE
        -- 00086 came first (a register migrated by a binary with 00086 and
        -- not this one): its trigger went with the old table, and its
        -- function read the space; the pool holding the row is the rule.
        EXECUTE $f$
CREATE OR REPLACE FUNCTION assignments_pool() RETURNS trigger LANGUAGE plpgsql AS $b$
BEGIN
    PERFORM FROM pools p WHERE p.id = NEW.pool_id AND p.prefix >>= NEW.prefix FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assignment %: pool % is missing or does not hold it', NEW.prefix, NEW.pool_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assignments_pool', TABLE = 'assignments';
    END IF;
    RETURN NEW;
END;
$b$
$f$;
        CREATE TRIGGER assignments_pool BEFORE INSERT OR UPDATE OF pool_id, prefix ON assignments FOR EACH ROW EXECUTE FUNCTION assignments_pool();
    END IF;
    -- The rebuilt table has no statistics: a register's are taken now;
    -- an empty one (a new register) stays as never analysed (00076).
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
    LOCK TABLE assignments IN EXCLUSIVE MODE;
    SELECT array_agg(regexp_replace(d, '''(assigned|quarantined|released)''::assignment_state', '''\1''', 'g') ORDER BY o, n) INTO builds FROM (
        SELECT CASE c.contype WHEN 'p' THEN 0 ELSE 1 END AS o, c.conname AS n,
               format('ALTER TABLE assignments ADD CONSTRAINT %I %s', c.conname,
                   CASE WHEN ci.reloptions IS NULL THEN pg_get_constraintdef(c.oid)
                        WHEN c.contype = 'x' AND pg_get_constraintdef(c.oid) ~ ' WHERE '
                            THEN regexp_replace(pg_get_constraintdef(c.oid), ' WHERE ', ' WITH (' || array_to_string(ci.reloptions, ', ') || ') WHERE ')
                        ELSE pg_get_constraintdef(c.oid) || ' WITH (' || array_to_string(ci.reloptions, ', ') || ')' END) AS d
        FROM pg_constraint c LEFT JOIN pg_class ci ON ci.oid = c.conindid WHERE c.conrelid = 'assignments'::regclass
            AND c.conname <> 'assignments_pool_fk'
        UNION ALL
        SELECT 2, ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = 'assignments'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        UNION ALL
        SELECT 3, s.stxname, pg_get_statisticsobjdef(s.oid)
        FROM pg_statistic_ext s WHERE s.stxrelid = 'assignments'::regclass
    ) s;
    SELECT builds || coalesce(array_agg(format('GRANT %s ON assignments TO %s%s', a.privilege_type,
               CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
               CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)), '{}') INTO builds
    FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'assignments'::regclass AND a.grantee <> c.relowner;

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
        SELECT a.id, a.created_at, a.released_at, a.quarantine_until, a.pool_id, a.prefix, a.state::text, a.tenant, a.resource, a.name, p.space
        FROM assignments a JOIN pools p ON p.id = a.pool_id ORDER BY a.id;
    ALTER SEQUENCE assignments_id_seq OWNED BY NONE;
    DROP TABLE assignments;
    ALTER TABLE assignments_rebuilt RENAME TO assignments;
    ALTER SEQUENCE assignments_id_seq OWNED BY assignments.id;
    FOREACH b IN ARRAY builds LOOP
        EXECUTE b;
    END LOOP;
    ALTER TABLE assignments ADD CONSTRAINT assignments_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools (id, space);
    ALTER TABLE assignments ADD CONSTRAINT assignments_state_check CHECK (state IN ('assigned', 'quarantined', 'released'));
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd
DROP TYPE assignment_state;
