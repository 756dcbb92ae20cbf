-- +goose Up
-- A token bound to a tenant writes NS, DS and DNAME records (which hand a
-- name, and everything under it, to other servers or another tree) only
-- when an admin allowed the tenant (tenant update --may-delegate): the
-- operator's zone keeps control of its names unless it says otherwise.
ALTER TABLE tenants ADD COLUMN may_delegate INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE tenants DROP COLUMN may_delegate;
