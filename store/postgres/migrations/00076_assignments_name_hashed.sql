-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL: 250 bytes; bench/README.md,
-- "Session 16: the name index by hash"). assignments_name held the name
-- (rtrim(name, '.'), 00061) and the tenant, 18.9 bytes an assignment at
-- one million (63 bytes a named live row); it holds the name's hash now,
-- hashtext(rtrim(name, '.')), 5.7 bytes an assignment. Every reader of the
-- index is an equality of one name: name_holder()'s look-up and the list
-- of a name's assignments (pages.go), which compare the hash (the index's
-- key), then the name and the tenant on the row, as assignments_tenant
-- and assignments_resource do (00060). The searches of names (a template's
-- names, the names below a delegation: tenant.go) compare lower(name) by a
-- pattern and never read this index.
--
-- name_holder() is 00073's with its look-up keyed by the hash; the
-- statistics on rtrim(name, '.') (00061) stay: they estimate the name's
-- equality on the row. At one million the index is built in ~1 s (the
-- table is locked against writes meanwhile); ten million, ~10 s.
DROP INDEX assignments_name;
CREATE INDEX assignments_name ON assignments (hashtext(rtrim(name, '.'))) WITH (fillfactor = 100) WHERE state <> 'released' AND name <> '';
-- +goose StatementBegin
DO $$
DECLARE
    def text := pg_get_functiondef('name_holder(integer, integer, integer, text, text, text)'::regprocedure);
    old text := 'WHERE rtrim(a.name, ''.'') = p_bare AND';
    new text := 'WHERE hashtext(rtrim(a.name, ''.'')) = hashtext(p_bare) AND rtrim(a.name, ''.'') = p_bare AND';
BEGIN
    IF strpos(def, old) = 0 THEN
        RAISE EXCEPTION 'name_holder() has no look-up %', old;
    END IF;
    EXECUTE replace(def, old, new);
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    -- Statistics for the new key, on a register with rows only: on an
    -- empty table ANALYZE records zero rows, and the planner then takes
    -- the table's size as it grows (not at least ten pages, as for a
    -- table never analysed) and read it sequentially in allocation's
    -- statements until autovacuum analysed it (+130 us of server CPU an
    -- allocation in BenchmarkDurablePostgres).
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX assignments_name;
CREATE INDEX assignments_name ON assignments (rtrim(name, '.'), tenant) WITH (fillfactor = 100) WHERE state <> 'released' AND name <> '';
-- +goose StatementBegin
DO $$
DECLARE
    def text := pg_get_functiondef('name_holder(integer, integer, integer, text, text, text)'::regprocedure);
    old text := 'WHERE hashtext(rtrim(a.name, ''.'')) = hashtext(p_bare) AND rtrim(a.name, ''.'') = p_bare AND';
    new text := 'WHERE rtrim(a.name, ''.'') = p_bare AND';
BEGIN
    IF strpos(def, old) = 0 THEN
        RAISE EXCEPTION 'name_holder() has no look-up %', old;
    END IF;
    EXECUTE replace(def, old, new);
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
DO $$
BEGIN
    -- As Up's: a register with rows only.
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd
