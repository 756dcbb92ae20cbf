-- +goose Up
-- Storage per assignment (issue 16; bench/README.md, "Session 13:
-- PostgreSQL storage"): the B-trees that find assignments by a text
-- column of every row hold the text's hash instead of the text, and the
-- statements compare the text on the row (store/postgres pages.go,
-- assignmentWhere). hashtext is the hash operator class's own function
-- for text: immutable, and the same across PostgreSQL versions (hash
-- indexes survive pg_upgrade). A collision costs a row read and dropped.
--
-- - assignments_tenant (tenant, id) -> (hashtext(tenant), id): a
--   tenant's page in ID order, as before; an entry of 28 bytes instead of
--   36 (the text, 12 bytes with its header, aligned to 16 before the ID).
-- - assignments_resource (resource) -> (hashtext(resource)): a
--   resource's page; 20 bytes an entry instead of 28.
-- - assignments_pool_state (pool_id, state, bits, quarantine_until) is
--   folded into assignments_pool_past (pool_id, state, id), which carries
--   bits and quarantine_until after its key: the expired quarantines'
--   count (counters.go, usageQuery) read every quarantined entry of its
--   pools in either (its bits are grouped, not a range), now index only
--   in this one; one B-tree fewer to write on a release.
--
-- The names stay, so what reads the catalog (bulk.go's deferred indexes)
-- and what an operator knows still hold. A register of ten million
-- assignments builds the three and is analysed in about a minute (the
-- table is locked against writes meanwhile; bench/README.md).
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (hashtext(tenant), id) WITH (fillfactor = 100);
DROP INDEX assignments_resource;
CREATE INDEX assignments_resource ON assignments (hashtext(resource)) WITH (fillfactor = 100) WHERE resource <> '';
DROP INDEX assignments_pool_past;
CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) INCLUDE (quarantine_until, bits) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_pool_state;
-- A statement's two conditions, on the hash and on the text, select the
-- same rows: without these the planner multiplied their selectivities
-- (a tenant's thousand rows estimated at one) and read a tenant's page
-- by a bitmap of all its rows and a sort, or combined
-- assignments_tenant_past with assignments_tenant (bench/pgplans at a
-- million). Functional dependencies tell it that one decides the other.
CREATE STATISTICS assignments_tenant_hash (dependencies) ON (hashtext(tenant)), tenant FROM assignments;
CREATE STATISTICS assignments_resource_hash (dependencies) ON (hashtext(resource)), resource FROM assignments;
-- Those, and the estimates of a tenant's or a resource's rows (the
-- statistics of the index expressions), a register has once analysed:
-- a register's are taken now (seconds at ten million); an empty one (a
-- new register) stays as never analysed.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP STATISTICS assignments_resource_hash;
DROP STATISTICS assignments_tenant_hash;
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_pool_past;
CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_resource;
CREATE INDEX assignments_resource ON assignments (resource) WITH (fillfactor = 100) WHERE resource <> '';
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (tenant, id) WITH (fillfactor = 100);
