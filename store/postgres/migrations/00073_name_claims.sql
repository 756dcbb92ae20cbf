-- +goose Up
-- The names no tenant may take, in one table (issue 10, bench/README.md
-- "Session 15: PostgreSQL named allocation with a zone"). With a zone in
-- the register, name_holder() ran its zone path on every named
-- allocation: the apex, the synthesis templates, the NS targets of
-- records and of the zones' configurations, the records, the glue and the
-- delegation above the name, four or five statements whose executor set-
-- up (a dozen scans, a GIN bitmap scan, a sort, a limit) was most of a
-- call's 35-45 µs of CPU against 6 µs without zones. Now the zone and
-- record writers keep dns_name_claims (triggers, in the writer's
-- transaction, so every replica and every writer of the tables keeps it,
-- under the same locks and snapshots as the rows it comes from), and the
-- zone path is one index probe over the name and its ancestors that ORs
-- the bits of the rows it finds:
--   own    the bits a row gives the name it is keyed on
--   above  the bits it gives every name below that name
--   bare   the bits it gives the name written without its final dot
-- 1 apex (a zone's name), 4 name server (an NS record's target, a name
-- server of a zone's configuration), 16 record (a record's name) are
-- answers; 2 (a synthesis template whose suffix, after its first dot, is
-- the name or an ancestor: keyed on that suffix, '' for a template
-- without a dot) and 8 (an NS record other than at its zone's apex: a cut
-- at its name, and everything below) only say that the exact look-up of
-- 00071 (the template's shape; the glue and the delegation in the deepest
-- zone) must run, as it did. A bit set where 00071 would have found
-- nothing only costs that look-up: every answer is 00071's, in its order.
-- Same locks, lock order and snapshot (one statement after the locks, as
-- each of 00071's was).
CREATE TABLE dns_name_claims (
    name      TEXT     NOT NULL,
    kind      "char"   NOT NULL CHECK (kind IN ('a', 'n', 's', 'r', 'c')),
    zone_id   BIGINT   NOT NULL,
    record_id BIGINT   NOT NULL DEFAULT 0,
    own       SMALLINT NOT NULL,
    above     SMALLINT NOT NULL DEFAULT 0,
    bare      SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX dns_name_claims_name ON dns_name_claims (name);
CREATE INDEX dns_name_claims_source ON dns_name_claims (zone_id, record_id);

-- dns_template_key is where a template's claim is kept: what follows the
-- first dot after {addr} ('' if none). A name the template answers is
-- b X r with X free of dots (00041), so that text is the name's ancestor
-- after as many labels as b X r holds before it, or '' when r ends there.
-- +goose StatementBegin
CREATE FUNCTION dns_template_key(synthesize text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(r, '.') = 0 THEN '' ELSE substr(r, strpos(r, '.') + 1) END
    FROM (SELECT substr(synthesize, strpos(synthesize, '{addr}') + 6) AS r) t
$$;
-- +goose StatementEnd
-- dns_zone_claim_rows and dns_record_claim_rows are the claims of one
-- zone (its apex, its configuration's name servers, its template) and of
-- one record: what the triggers insert, what the migration fills the
-- table with, and what the tests compare it to.
-- +goose StatementBegin
CREATE FUNCTION dns_zone_claim_rows(z_name text, z_config text, z_synthesize text)
RETURNS TABLE (name text, kind "char", own smallint, above smallint, bare smallint)
LANGUAGE sql STABLE AS $$
    SELECT z_name, 'a'::"char", 1::smallint, 0::smallint, 0::smallint
    UNION ALL
    SELECT DISTINCT n, 'n'::"char", 4::smallint, 0::smallint, 4::smallint FROM unnest(dns_zone_ns(z_config)) n
    UNION ALL
    SELECT dns_template_key(z_synthesize), 's'::"char", 2::smallint, 2::smallint, 0::smallint WHERE z_synthesize <> ''
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION dns_record_claim_rows(r_zone_id bigint, r_name text, r_type text, r_data text)
RETURNS TABLE (name text, kind "char", own smallint, above smallint, bare smallint)
LANGUAGE sql STABLE AS $$
    SELECT r_name, 'r'::"char", 16::smallint, 0::smallint, 0::smallint
    UNION ALL
    SELECT lower(r_data), 'n'::"char", 4::smallint, 0::smallint, 4::smallint WHERE r_type = 'NS'
    UNION ALL
    SELECT r_name, 'c'::"char", 8::smallint, 8::smallint, 0::smallint
    FROM dns_zones z WHERE r_type = 'NS' AND z.id = r_zone_id AND z.name <> r_name
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION dns_zones_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        -- The zone's records' own claims too, whichever goes first.
        DELETE FROM dns_name_claims WHERE zone_id = OLD.id;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM dns_name_claims WHERE zone_id = OLD.id AND record_id = 0;
        IF NEW.name IS DISTINCT FROM OLD.name THEN
            -- A cut is an NS record other than at its zone's apex.
            DELETE FROM dns_name_claims WHERE zone_id = OLD.id AND kind = 'c';
            INSERT INTO dns_name_claims (name, kind, zone_id, record_id, own, above, bare)
                SELECT c.name, c.kind, r.zone_id, r.id, c.own, c.above, c.bare
                FROM dns_records r, dns_record_claim_rows(r.zone_id, r.name, r.type, r.data) c WHERE r.zone_id = NEW.id AND c.kind = 'c';
        END IF;
    END IF;
    INSERT INTO dns_name_claims (name, kind, zone_id, own, above, bare)
        SELECT c.name, c.kind, NEW.id, c.own, c.above, c.bare FROM dns_zone_claim_rows(NEW.name, NEW.config, NEW.synthesize) c;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER dns_zones_claim AFTER INSERT OR DELETE OR UPDATE OF name, synthesize, config ON dns_zones
    FOR EACH ROW EXECUTE FUNCTION dns_zones_claim();

-- +goose StatementBegin
CREATE FUNCTION dns_records_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM dns_name_claims WHERE zone_id = OLD.zone_id AND record_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO dns_name_claims (name, kind, zone_id, record_id, own, above, bare)
            SELECT c.name, c.kind, NEW.zone_id, NEW.id, c.own, c.above, c.bare FROM dns_record_claim_rows(NEW.zone_id, NEW.name, NEW.type, NEW.data) c;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER dns_records_claim AFTER INSERT OR DELETE OR UPDATE ON dns_records
    FOR EACH ROW EXECUTE FUNCTION dns_records_claim();

INSERT INTO dns_name_claims (name, kind, zone_id, own, above, bare)
    SELECT c.name, c.kind, z.id, c.own, c.above, c.bare FROM dns_zones z, dns_zone_claim_rows(z.name, z.config, z.synthesize) c;
INSERT INTO dns_name_claims (name, kind, zone_id, record_id, own, above, bare)
    SELECT c.name, c.kind, r.zone_id, r.id, c.own, c.above, c.bare FROM dns_records r, dns_record_claim_rows(r.zone_id, r.name, r.type, r.data) c;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(fence_key integer, lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    code text;
    anc text[];
    s text;
    i integer;
    f integer;
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
    -- The name and its ancestors (00071's), the name without its dot, and
    -- '' (a template's suffix without a dot).
    anc := ARRAY[p_dotted];
    s := p_dotted;
    LOOP
        i := strpos(s, '.');
        EXIT WHEN i = 0 OR i = length(s);
        s := substr(s, i + 1);
        anc := anc || s;
    END LOOP;
    SELECT bit_or((CASE WHEN c.name = p_dotted THEN c.own ELSE c.above END) | (CASE WHEN c.name = p_bare THEN c.bare ELSE 0 END))
    INTO f
    FROM dns_name_claims c WHERE c.name = ANY (anc || ARRAY[p_bare, '']);
    IF f IS NULL OR f = 0 THEN
        RETURN '';
    END IF;
    IF f & 1 <> 0 THEN
        RETURN 'apex';
    END IF;
    IF f & 2 <> 0 THEN
        IF EXISTS (SELECT 1 FROM (SELECT left(z.synthesize, strpos(z.synthesize, '{addr}') - 1) AS b,
                                         substr(z.synthesize, strpos(z.synthesize, '{addr}') + 6) AS r
                                  FROM dns_zones z WHERE z.synthesize <> '') t
            WHERE length(p_dotted) > length(t.b) + length(t.r) AND left(p_dotted, length(t.b)) = t.b AND right(p_dotted, length(t.r)) = t.r
              AND strpos(substr(p_dotted, length(t.b) + 1, length(p_dotted) - length(t.b) - length(t.r)), '.') = 0) THEN
            RETURN 'synthesis';
        END IF;
    END IF;
    IF f & 4 <> 0 THEN
        RETURN 'ns';
    END IF;
    IF f & 8 <> 0 THEN
        -- A record at the name: glue if it is an address under a
        -- delegation of its zone.
        IF f & 16 <> 0 AND EXISTS (SELECT 1 FROM dns_records r WHERE r.name = p_dotted AND r.type IN ('A', 'AAAA') AND EXISTS (
                SELECT 1 FROM dns_records d JOIN dns_zones z ON z.id = d.zone_id
                WHERE d.type = 'NS' AND d.name <> z.name AND d.zone_id = r.zone_id
                  AND (p_dotted = d.name OR right(p_dotted, length(d.name) + 1) = '.' || d.name))) THEN
            RETURN 'glue';
        END IF;
        -- An NS record of the deepest zone holding the name, at the name
        -- ('cut') or above it ('delegated'), other than that zone's apex.
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
    END IF;
    RETURN CASE WHEN f & 16 <> 0 THEN 'record' ELSE '' END;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER dns_records_claim ON dns_records;
DROP TRIGGER dns_zones_claim ON dns_zones;
DROP FUNCTION dns_records_claim();
DROP FUNCTION dns_zones_claim();
DROP FUNCTION dns_record_claim_rows(bigint, text, text, text);
DROP FUNCTION dns_zone_claim_rows(text, text, text);
DROP FUNCTION dns_template_key(text);
DROP TABLE dns_name_claims;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION name_holder(fence_key integer, lock_key integer, lock_mode integer, p_dotted text, p_bare text, p_tenant text)
RETURNS text LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off SET jit = off SET plan_cache_mode = force_generic_plan AS $$
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
