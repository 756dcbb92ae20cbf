-- +goose Up
-- A page of a tenant's past assignments (quarantined, released), in ID
-- order (issue 16, PostgreSQL; bench/README.md, session 11, pgapi). Through
-- assignments_tenant (tenant, id) the page walked the tenant's rows until
-- it was full: every row of the tenant for a rare state (66,235 rows read
-- for a page of a tenant's quarantined at ten million). Here each state
-- of a tenant is one ordered range, and a page of both states merges the
-- two (store/postgres/pages.go). Partial: past rows only, about one in
-- fifteen of a cloud register's (~3 bytes an assignment).
CREATE INDEX assignments_tenant_past ON assignments (tenant, state, id) WITH (fillfactor = 100) WHERE state <> 'assigned';

-- A register loaded at once (demo --scale, import into an empty register)
-- before this version was never analysed, nor is a copy of it made with
-- createdb -T (its counters start at zero, so autovacuum never does):
-- without statistics the planner takes every equality to hold 0.5 % of
-- the rows and a page by name, resource or tenant walked the primary key
-- through every assignment (10 s a page at ten million). Those get
-- statistics now, of every table of the register (with those of
-- assignments beside none of pool_counts, taken for one row, the
-- overview's counts became a nested loop that ran for minutes); a
-- register that has them, or no assignment, is left as it is.
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    IF EXISTS (SELECT 1 FROM assignments)
       AND NOT EXISTS (SELECT 1 FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'assignments') THEN
        FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
            EXECUTE format('ANALYZE %I', r.tablename);
        END LOOP;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX assignments_tenant_past;
