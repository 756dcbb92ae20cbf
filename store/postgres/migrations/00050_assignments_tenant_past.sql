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

-- +goose Down
DROP INDEX assignments_tenant_past;
