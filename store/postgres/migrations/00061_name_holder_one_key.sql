-- +goose Up
-- A named allocation's name check, cheaper (issue 10: PostgreSQL named
-- allocation within 10 % of 364d89d; bench/README.md, session 14,
-- pgnamed4). callgrind of one backend, a transaction of one check in try
-- mode (no zone): 154.0k instructions with 00054's name_holder(), 137.7k
-- with this one (the transaction alone, BEGIN and COMMIT around a SELECT
-- of the two strings: 53.5k). The rules, locks, lock order and snapshots
-- are 00054's; what changed:
--
-- - One key, not two: an assignment's name is stored with or without its
--   trailing dot (ValidateFQDN allows one), so the look-up was `name IN
--   (dotted, bare)`, a bitmap scan of two keys (~15k instructions more
--   than one). assignments_name now holds rtrim(name, '.'), the name in
--   one form whichever was stored, and the look-up is one equality
--   (-15k). The index keeps its name, predicate and tenant column; the
--   list of a name's assignments (pages.go) compares the same expression,
--   then the stored text.
-- - The names' fence key (hashtext(current_schema()), the store's
--   schemaKey) is passed in, not hashed on every call (-3k): the new
--   signature takes it first. The old one stays for a binary before this
--   migration and calls the new one with the hash, so its look-up reads
--   the new index too.
-- - plan_cache_mode = force_generic_plan beside the other settings (+3k):
--   a look-up whose custom plans PostgreSQL estimates cheaper than the
--   generic one (a table of one tenant: its own name filtered out) was
--   planned again on every call, ~240k instructions; the generic plan
--   with enable_seqscan off reads the index whatever the table held when
--   it was made (TestNameHolderPlanKeepsTheIndex).
-- - Statistics on the expression: without them PostgreSQL takes a name to
--   match 0.5 % of the rows (an expression of a partial index has no
--   statistics of its own) and reads the index through a bitmap (+3.4k).
--
-- A register of ten million assignments rebuilds the index and samples
-- the statistics once (the table is locked against writes meanwhile).
DROP INDEX assignments_name;
CREATE INDEX assignments_name ON assignments (rtrim(name, '.'), tenant) WITH (fillfactor = 100) WHERE state <> 'released' AND name <> '';
CREATE STATISTICS assignments_name_bare ON (rtrim(name, '.')) FROM assignments;
ANALYZE assignments;

-- +goose StatementBegin
CREATE FUNCTION name_holder(fence_key integer, lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    code text;
BEGIN
    IF lock_mode = 1 THEN
        -- Both functions return void, never NULL: the condition only
        -- takes the locks, in this order, without a query of its own.
        IF pg_advisory_xact_lock_shared(728, fence_key) IS NULL
           OR pg_advisory_xact_lock(727, lock_key) IS NULL THEN
            RETURN NULL;
        END IF;
    ELSIF lock_mode = 2 THEN
        IF NOT pg_try_advisory_xact_lock_shared(728, fence_key) OR NOT pg_try_advisory_xact_lock(727, lock_key) THEN
            RETURN NULL;
        END IF;
    END IF;
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE rtrim(a.name, '.') = p_bare AND a.name <> '' AND a.state <> 'released' AND a.tenant <> p_tenant) THEN 'assignment'
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT name_holder(hashtext(current_schema()), lock_key, lock_mode, p_dotted, p_bare, p_tenant)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION name_holder(integer, integer, integer, text, text, text);
DROP STATISTICS assignments_name_bare;
DROP INDEX assignments_name;
CREATE INDEX assignments_name ON assignments (name, tenant) WITH (fillfactor = 100) WHERE state <> 'released' AND name <> '';
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    code text;
BEGIN
    IF lock_mode = 1 THEN
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
