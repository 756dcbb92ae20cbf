-- +goose Up
-- name_holder() cheaper per call (issue 10, bench/README.md, session 12,
-- pgnamed2). Every named allocation calls it once; callgrind of one
-- backend put it at ~101k instructions a call (try mode) and ~111k
-- (wait mode) over an empty statement, in a register without zones. Same
-- answers, locks, lock order and snapshots as 00041's; what changed:
--
-- - The wait mode (a transaction's first lock) takes its two locks in an
--   IF condition, as the try mode always did, not with two PERFORMs: a
--   PERFORM is a query of its own (SPI, executor start and end, ~6k
--   instructions each); a condition is a plpgsql simple expression. The
--   look-up after it still takes its own snapshot (a VOLATILE function's
--   statement does), so it sees what committed before the locks.
-- - With zones, a name with a record is looked up once for "glue or
--   record" (glue only if a record is there), not twice; a name without
--   one (a fresh name: the usual case) costs one probe of dns_records by
--   name instead of two.
--
-- The settings stay: without enable_seqscan = off a plan made while
-- assignments holds a row reads every row later
-- (TestNameHolderPlanKeepsTheIndex).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    code text;
BEGIN
    IF lock_mode = 1 THEN
        -- Both functions return void, never NULL: the condition only
        -- takes the locks, in this order, without a query of its own.
        IF pg_advisory_xact_lock_shared(728, hashtext(current_schema())) IS NULL
           OR pg_advisory_xact_lock(727, lock_key) IS NULL THEN
            RETURN NULL;
        END IF;
    ELSIF lock_mode = 2 THEN
        IF NOT pg_try_advisory_xact_lock_shared(728, hashtext(current_schema())) OR NOT pg_try_advisory_xact_lock(727, lock_key) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.name IN (p_dotted, p_bare) AND a.name <> '' AND a.state <> 'released' AND a.tenant <> p_tenant) THEN 'assignment'
        WHEN NOT EXISTS (SELECT 1 FROM dns_zones) THEN ''
        END
    INTO code;
    IF code IS NOT NULL THEN
        RETURN code;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM dns_zones z WHERE z.name = p_dotted) THEN 'apex'
        WHEN EXISTS (SELECT 1 FROM (SELECT left(z.synthesize, strpos(z.synthesize, '{addr}') - 1) AS b,
                                           substr(z.synthesize, strpos(z.synthesize, '{addr}') + 6) AS r
                                    FROM dns_zones z WHERE z.synthesize <> '') t
            WHERE length(p_dotted) > length(t.b) + length(t.r) AND left(p_dotted, length(t.b)) = t.b AND right(p_dotted, length(t.r)) = t.r
              AND strpos(substr(p_dotted, length(t.b) + 1, length(p_dotted) - length(t.b) - length(t.r)), '.') = 0) THEN 'synthesis'
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.type = 'NS' AND lower(r.data) IN (p_dotted, p_bare))
          OR EXISTS (SELECT 1 FROM dns_zones z WHERE dns_zone_ns(z.config) && ARRAY[p_dotted, p_bare]) THEN 'ns'
        WHEN NOT EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted) THEN ''
        END
    INTO code;
    IF code IS NOT NULL THEN
        RETURN code;
    END IF;
    -- A record is at the name: glue if it is an address under a
    -- delegation of its zone, a record otherwise.
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted AND r.type IN ('A', 'AAAA') AND EXISTS (
            SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
            WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
              AND (p_dotted = d.name OR right(p_dotted, length(d.name) + 1) = '.' || d.name))) THEN 'glue'
        ELSE 'record' END
    INTO code;
    RETURN code;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    code text;
BEGIN
    IF lock_mode = 1 THEN
        PERFORM pg_advisory_xact_lock_shared(728, hashtext(current_schema()));
        PERFORM pg_advisory_xact_lock(727, lock_key);
    ELSIF lock_mode = 2 THEN
        IF NOT pg_try_advisory_xact_lock_shared(728, hashtext(current_schema())) OR NOT pg_try_advisory_xact_lock(727, lock_key) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.name IN (p_dotted, p_bare) AND a.name <> '' AND a.state <> 'released' AND a.tenant <> p_tenant) THEN 'assignment'
        WHEN NOT EXISTS (SELECT 1 FROM dns_zones) THEN ''
        END
    INTO code;
    IF code IS NOT NULL THEN
        RETURN code;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM dns_zones z WHERE z.name = p_dotted) THEN 'apex'
        WHEN EXISTS (SELECT 1 FROM (SELECT left(z.synthesize, strpos(z.synthesize, '{addr}') - 1) AS b,
                                           substr(z.synthesize, strpos(z.synthesize, '{addr}') + 6) AS r
                                    FROM dns_zones z WHERE z.synthesize <> '') t
            WHERE length(p_dotted) > length(t.b) + length(t.r) AND left(p_dotted, length(t.b)) = t.b AND right(p_dotted, length(t.r)) = t.r
              AND strpos(substr(p_dotted, length(t.b) + 1, length(p_dotted) - length(t.b) - length(t.r)), '.') = 0) THEN 'synthesis'
        WHEN EXISTS (SELECT 1 FROM dns_records r WHERE r.type = 'NS' AND lower(r.data) IN (p_dotted, p_bare))
          OR EXISTS (SELECT 1 FROM dns_zones z WHERE dns_zone_ns(z.config) && ARRAY[p_dotted, p_bare]) THEN 'ns'
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
