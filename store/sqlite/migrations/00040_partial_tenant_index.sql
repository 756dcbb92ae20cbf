-- +goose Up
-- One B-tree fewer per untenanted allocation (issue 16, one caller's
-- durable allocation): assignments_tenant (tenant, id) held every
-- assignment, the untenanted ones (tenant '') included, so every
-- allocation wrote a page of it (a WAL frame at each commit) for entries
-- only a page of untenanted assignments (`assignments --tenant ''`)
-- would read. It now holds the tenanted ones; a page of one tenant names
-- the index's condition (Tx.Assignments: tenant = ? AND tenant <> ''),
-- and the untenanted page reads the table in ID order until it is full.
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (tenant, id) WHERE tenant <> '';

-- +goose Down
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (tenant, id);
