-- +goose Up
-- name_holder() answers for a name at or below a delegation (issue 10,
-- audit11): an NS record of the deepest zone holding the name, other than
-- at that zone's apex, at the name ('cut') or above it ('delegated'). The
-- zone answers there with a referral: a tenant's record or an
-- assignment's A/AAAA written there is never served. Same locks, lock
-- order and snapshots as 00054's; the answers before it are unchanged
-- but for a name with a record below a delegation that is not an
-- address (glue): 'record' before, 'delegated' now. The new look-up runs
-- only where zones exist and the name is held by nothing before it: one
-- probe of dns_zones and one of dns_records by name, for the ancestors
-- of the name.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off AS $$
DECLARE
    code text;
    has_record boolean;
    anc text[];
    s text;
    i integer;
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
        END
    INTO code;
    IF code IS NOT NULL THEN
        RETURN code;
    END IF;
    -- A record at the name: glue if it is an address under a delegation
    -- of its zone.
    has_record := EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted);
    IF has_record AND EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted AND r.type IN ('A', 'AAAA') AND EXISTS (
            SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
            WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
              AND (p_dotted = d.name OR right(p_dotted, length(d.name) + 1) = '.' || d.name))) THEN
        RETURN 'glue';
    END IF;
    -- The name and its ancestors, for the delegation: an NS record of the
    -- deepest zone holding the name, at the name ('cut') or above it
    -- ('delegated'), other than that zone's apex. The zone answers there
    -- with a referral, whatever else is written at or below it.
    anc := ARRAY[p_dotted];
    s := p_dotted;
    LOOP
        i := strpos(s, '.');
        EXIT WHEN i = 0 OR i = length(s);
        s := substr(s, i + 1);
        anc := anc || s;
    END LOOP;
    SELECT CASE WHEN d.name = p_dotted THEN 'cut' ELSE 'delegated' END
    INTO code
    FROM dns_records d
    JOIN (SELECT z.id, z.name FROM dns_zones z WHERE z.name = ANY (anc) ORDER BY length(z.name) DESC LIMIT 1) dz ON d.zone_id = dz.id
    WHERE d.type = 'NS' AND d.name = ANY (anc) AND d.name <> dz.name
    ORDER BY d.name = p_dotted
    LIMIT 1;
    IF code IS NOT NULL THEN
        RETURN code;
    END IF;
    RETURN CASE WHEN has_record THEN 'record' ELSE '' END;
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
