-- +goose Up
-- Who holds a DNS name, cheaper (issue 10, bench/README.md "pgalloc"). The
-- look-up of 00022 was one statement of six EXISTS, every one of them set
-- up (executor start, an lseek per bitmap heap scan) on every named
-- allocation, though only one of them can find a holder in a register
-- without DNS zones: a perf profile of the backends under a named load put
-- name_holder() at 9 % of their CPU, about as much as the DELETE that takes
-- the free prefix. Now the assignment is looked up first, and the other
-- holders only if a zone exists: every other holder is a zone's (its apex,
-- the name servers of its configuration, its records, NS or not;
-- dns_records.zone_id references dns_zones), so with no zone there is none.
-- Same snapshot rule as before: both statements run after the locks, each
-- with a fresh snapshot.
--
-- With zones, two look-ups that read every row are now index look-ups: NS
-- records by target (lower(data)) and zones by the name servers of their
-- configuration (dns_zone_ns, a GIN index), which parsed every zone's JSON
-- on every named allocation.
-- +goose StatementBegin
CREATE FUNCTION dns_zone_ns(config text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(lower(j.v)), '{}')
    FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(config::jsonb -> 'ns') = 'array' THEN config::jsonb -> 'ns' ELSE '[]'::jsonb END) j(v)
$$;
-- +goose StatementEnd
CREATE INDEX dns_zones_ns ON dns_zones USING gin (dns_zone_ns(config));
CREATE INDEX dns_records_ns_target ON dns_records (lower(data)) WHERE type = 'NS';

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
DROP INDEX dns_records_ns_target;
DROP INDEX dns_zones_ns;
DROP FUNCTION dns_zone_ns(text);
