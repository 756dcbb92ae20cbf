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
-- assignments builds the three in about a minute (the table is locked
-- against writes meanwhile).
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (hashtext(tenant), id) WITH (fillfactor = 100);
DROP INDEX assignments_resource;
CREATE INDEX assignments_resource ON assignments (hashtext(resource)) WITH (fillfactor = 100) WHERE resource <> '';
DROP INDEX assignments_pool_past;
CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) INCLUDE (quarantine_until, bits) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_pool_state;

-- +goose Down
CREATE INDEX assignments_pool_state ON assignments (pool_id, state, bits, quarantine_until) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_pool_past;
CREATE INDEX assignments_pool_past ON assignments (pool_id, state, id) WITH (fillfactor = 100) WHERE state <> 'assigned';
DROP INDEX assignments_resource;
CREATE INDEX assignments_resource ON assignments (resource) WITH (fillfactor = 100) WHERE resource <> '';
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (tenant, id) WITH (fillfactor = 100);
