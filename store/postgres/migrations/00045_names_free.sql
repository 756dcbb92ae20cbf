-- +goose Up
-- The name checks of a group commit's jobs in one statement (issue 10,
-- session 11, pgnamed). A job of a group commit that runs without
-- savepoints and would only try its name's lock (it already holds a
-- region, a tenant's row or another name) no longer sends
-- name_holder() as a statement of its own: its name is checked here,
-- with every other such name of the batch, just before the COMMIT.
-- names_free tries each name's lock (never waits, so the lock order of
-- tenant.go holds: a try adds no edge to any wait), then looks every name
-- up in one statement whose snapshot is taken after the locks, as
-- name_holder's is. It answers true only when every lock was got and no
-- name is held by anyone but its own tenant; otherwise it raises SQLSTATE
-- CA001, which aborts the transaction (the COMMIT sent behind it in the
-- same round trip does not run) and makes the batch roll back and run again with a savepoint and name_holder() per job (group.go),
-- which then answers each job exactly as before. The look-up sees the
-- batch's own rows, so two jobs of one batch naming one name for two
-- tenants also answer false. With zones in the register, each name is
-- also asked of name_holder() (no lock: held here already).
-- = ANY (ARRAY[...]), not IN (...): one bitmap index scan per name, not a
-- BitmapOr of two (callgrind, 7 names: 367k instructions against 512k).
-- The settings are name_holder's: the plan of the look-up keeps its
-- index whatever the tables held when it was made.
-- +goose StatementBegin
CREATE FUNCTION names_free(lock_keys integer[], p_dotted text[], p_bare text[], p_tenant text[])
RETURNS boolean LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    i integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(728, hashtext(current_schema())) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = 'names_free: every DNS name is held by another writer';
    END IF;
    FOR i IN 1 .. coalesce(array_length(lock_keys, 1), 0) LOOP
        IF NOT pg_try_advisory_xact_lock(727, lock_keys[i]) THEN
            RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = format('names_free: name %s is locked by another writer', p_dotted[i]);
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM unnest(p_dotted, p_bare, p_tenant) AS n(dotted, bare, tenant)
               JOIN assignments a ON a.name = ANY (ARRAY[n.dotted, n.bare])
               WHERE a.name <> '' AND a.state <> 'released' AND a.tenant <> n.tenant) THEN
        RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = 'names_free: a name is held by another tenant''s assignment';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM dns_zones) THEN
        RETURN true;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_dotted, 1), 0) LOOP
        IF name_holder(0, 0, p_dotted[i], p_bare[i], p_tenant[i]) <> '' THEN
            RAISE EXCEPTION USING ERRCODE = 'CA001', MESSAGE = format('names_free: name %s is held', p_dotted[i]);
        END IF;
    END LOOP;
    RETURN true;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION names_free(integer[], text[], text[], text[]);
