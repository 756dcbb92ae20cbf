-- +goose Up
-- Names a synthesis template answers are held (issue 10, session 9,
-- audit10): name_holder answers 'synthesis' for a name of the shape of a
-- reverse zone's template (ip-{addr}.dyn.example.net.: one label under
-- the template's suffix, the template's text around something without a
-- dot), after the apex and before the name servers, so that no tenant
-- names an assignment or writes a static record the forward zone also
-- synthesises. Otherwise the function is 00029's. The synthesising zones
-- are found through a partial index: the look-up runs for every named
-- allocation, and reads no whole table (TestNameHolderReadsNoWholeTable).
CREATE INDEX dns_zones_synthesize ON dns_zones (id) WHERE synthesize <> '';
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
DROP INDEX dns_zones_synthesize;
