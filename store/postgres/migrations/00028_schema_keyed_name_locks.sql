-- +goose Up
-- The names' fence is the register's, not the database's (issue 10):
-- advisory locks belong to the database, so with the fence at (728, 0) two
-- registers in two schemas of one database shared it, and a bulk load in
-- one (the fence exclusive) held every named allocation of the other for
-- up to lock_timeout. The fence's second key is now the schema's
-- hashtext, as store/postgres computes it once at Open (Store.schemaKey,
-- also mixed into each name's lock key, which the caller passes).
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
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
