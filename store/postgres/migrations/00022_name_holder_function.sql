-- +goose Up
-- Who holds a DNS name, with the name's lock, in one statement (issue 10:
-- a named allocation sent six statements for it under its region's lock,
-- the lock, the look-up and four settings around it, -29 % throughput).
-- The lock must come before the look-up's snapshot: under READ COMMITTED a
-- statement sees what committed before it began, so a statement that
-- waited for the lock inside itself would not see the assignment of the
-- writer it waited for. A VOLATILE function takes a fresh snapshot for
-- each statement it runs, so here the look-up after PERFORM sees it.
--
-- Locks (store/postgres/tenant.go): every name writer holds the fence
-- (728, 0) shared and its name's lock (727, hash); a bulk load holds the
-- fence exclusive instead, one lock for every name however many it
-- writes (issue 16: one lock per name ran out of shared memory past
-- ~6,400). lock_mode: 0 takes no lock (the transaction holds the fence
-- exclusive), 1 waits for both, 2 only tries them and answers NULL if
-- another writer holds one.
--
-- The settings: the look-up must use assignments_name whatever the
-- table's size when its plan was made (a plan made on a young table,
-- before autovacuum analysed it, scanned every assignment under the
-- region's lock); the cost that gives a plan would start JIT compilation.
-- +goose StatementBegin
CREATE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    code text;
BEGIN
    IF lock_mode = 1 THEN
        PERFORM pg_advisory_xact_lock_shared(728, 0);
        PERFORM pg_advisory_xact_lock(727, lock_key);
    ELSIF lock_mode = 2 THEN
        IF NOT pg_try_advisory_xact_lock_shared(728, 0) OR NOT pg_try_advisory_xact_lock(727, lock_key) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.name IN (p_dotted, p_bare) AND a.name <> '' AND a.state <> 'released' AND a.tenant <> p_tenant) THEN 'assignment'
        WHEN EXISTS (SELECT 1 FROM dns_zones z WHERE z.name = p_dotted) THEN 'apex'
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.type = 'NS' AND lower(r.data) IN (p_dotted, p_bare))
          OR EXISTS (SELECT 1 FROM dns_zones z, jsonb_array_elements_text(CASE WHEN jsonb_typeof(z.config::jsonb -> 'ns') = 'array' THEN z.config::jsonb -> 'ns' ELSE '[]'::jsonb END) j(v)
                     WHERE lower(j.v) IN (p_dotted, p_bare)) THEN 'ns'
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted AND r.type IN ('A', 'AAAA') AND EXISTS (
            SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
            WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
              AND (p_dotted = d.name OR right(p_dotted, length(d.name) + 1) = '.' || d.name))) THEN 'glue'
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted) THEN 'record'
        ELSE '' END
    INTO code;
    RETURN code;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION name_holder(integer, integer, text, text, text);
