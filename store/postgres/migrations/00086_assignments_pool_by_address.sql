-- +goose Up
-- Deleting a pool costs what the pool's prefix holds, not the register
-- (issue 16; bench/README.md, "Session 17: scalechores"). The foreign key
-- assignments_pool_space_fk (pool_id, space) checked a pool's deletion by
-- a sequential scan of assignments: no index leads with the pool since
-- 00075 (28.5 bytes an assignment), 0.09-0.12 s at 1M and 0.7-0.9 s at
-- 10M with the table cached, for an operator's `pool remove`; now 2-6 ms
-- at both. Two triggers keep what it kept:
--
-- - assignments_pool (BEFORE INSERT, or UPDATE of the pool, the space or
--   the prefix): the row's pool exists, is of the row's space, and holds
--   the row's prefix (new: what makes the probe below complete). It locks
--   the pool's row FOR KEY SHARE, as the foreign key's check did: a
--   pool's deletion waits for the transaction that writes a row of it,
--   then sees the row; a row written after the deletion finds no pool.
-- - pools_assignments (AFTER DELETE, or UPDATE of the ID, the space or
--   the prefix): no assignment is left of the pool, by a range of
--   assignments_prefix over the pool's prefix filtered by the pool (the
--   rows of the units it lent, of its child pools and of other spaces'
--   pools with the same prefix are read and passed over).
--
-- Both raise foreign_key_violation, as the constraint did. The probe sees
-- rows committed meanwhile under READ COMMITTED (cadastre's writes) and
-- SERIALIZABLE (a read-write conflict); a REPEATABLE READ transaction's
-- snapshot would miss one, so a pool is not deleted in one (the foreign
-- key checked against a second snapshot there). An import into an empty
-- register (bulk.go DeferIndexes) disables assignments_pool and checks
-- every row at once at the end, as building the constraint again did.
-- +goose StatementBegin
-- A register migrated by a binary with 00078 has no assignments.space (a
-- row's space is its pool's): the row's pool holding it is the rule then
-- (00078 makes the same function when it comes after this one).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'assignments'::regclass AND attname = 'space' AND NOT attisdropped) THEN
        EXECUTE $f$
CREATE FUNCTION assignments_pool() RETURNS trigger LANGUAGE plpgsql AS $b$
BEGIN
    PERFORM FROM pools p WHERE p.id = NEW.pool_id AND p.space = NEW.space AND p.prefix >>= NEW.prefix FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'assignment % of space %: pool % is missing, of another space, or does not hold it', NEW.prefix, NEW.space, NEW.pool_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assignments_pool', TABLE = 'assignments';
    END IF;
    RETURN NEW;
END;
$b$
$f$;
        EXECUTE 'CREATE TRIGGER assignments_pool BEFORE INSERT OR UPDATE OF pool_id, space, prefix ON assignments FOR EACH ROW EXECUTE FUNCTION assignments_pool()';
    ELSE
        EXECUTE $f$
CREATE FUNCTION assignments_pool() RETURNS trigger LANGUAGE plpgsql AS $b$
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
        EXECUTE 'CREATE TRIGGER assignments_pool BEFORE INSERT OR UPDATE OF pool_id, prefix ON assignments FOR EACH ROW EXECUTE FUNCTION assignments_pool()';
    END IF;
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION pools_assignments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (NEW.id, NEW.space, NEW.prefix) IS NOT DISTINCT FROM (OLD.id, OLD.space, OLD.prefix) THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'pool % (%): deleted or re-keyed in a REPEATABLE READ transaction, whose snapshot may miss its assignments; use READ COMMITTED', OLD.id, OLD.prefix
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assignments_pool', TABLE = 'pools';
    END IF;
    PERFORM FROM assignments a
        WHERE a.prefix >= OLD.prefix AND a.prefix <= set_masklen(broadcast(OLD.prefix), CASE family(OLD.prefix) WHEN 4 THEN 32 ELSE 128 END)::cidr
            AND a.pool_id = OLD.id
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pool % (%) still holds assignments', OLD.id, OLD.prefix
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'assignments_pool', TABLE = 'pools';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
-- the foreign key as 00078 left it, or as it was before
ALTER TABLE assignments DROP CONSTRAINT IF EXISTS assignments_pool_space_fk;
ALTER TABLE assignments DROP CONSTRAINT IF EXISTS assignments_pool_fk;
CREATE TRIGGER pools_assignments AFTER DELETE OR UPDATE OF id, space, prefix ON pools
    FOR EACH ROW EXECUTE FUNCTION pools_assignments();

-- +goose Down
DROP TRIGGER pools_assignments ON pools;
DROP TRIGGER assignments_pool ON assignments;
DROP FUNCTION pools_assignments();
DROP FUNCTION assignments_pool();
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'assignments'::regclass AND attname = 'space' AND NOT attisdropped) THEN
        ALTER TABLE assignments ADD CONSTRAINT assignments_pool_space_fk FOREIGN KEY (pool_id, space) REFERENCES pools (id, space);
    ELSE -- 00078's
        ALTER TABLE assignments ADD CONSTRAINT assignments_pool_fk FOREIGN KEY (pool_id) REFERENCES pools (id);
    END IF;
END;
$$;
-- +goose StatementEnd
