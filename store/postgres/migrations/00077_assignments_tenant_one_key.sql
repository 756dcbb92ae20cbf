-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL: 250 bytes; bench/README.md,
-- "Session 16: the name index by hash"). assignments_tenant held
-- (hashtext(tenant), id) (00060): an int4 and an int8, 24 bytes an entry
-- with the alignment, 28.5 bytes an assignment; every key is unique (the
-- ID), so B-tree deduplication compresses nothing. It holds one int8 now,
-- the tenant's hash and the ID in one number: the hash's top 24 bits
-- above the ID's 39,
--
--     ((hashtext(tenant) >> 8)::bigint << 39) + id
--
-- 16 bytes an entry, 20.3 bytes an assignment. In this key's order a
-- tenant's rows are in ID order (their hash's bits are equal and the ID
-- is below 2^39), so a tenant's page is still one ordered range of the
-- index from its cursor (pages.go, tenantKey); tenants whose 24 bits are
-- equal share a range, and the row's tenant is compared as before (with
-- 1,000 tenants, one pair in ~30 registers; with 10,000, ~3 pairs: a page
-- of either reads past the other's rows in its ID range).
--
-- The key holds the ID only below 2^39 (549,755,813,888 assignments
-- created): assignments_id_below checks it, so an allocation beyond it
-- fails instead of a tenant's page missing the row. Adding it reads the
-- table once (the table is locked meanwhile); the index is built anew
-- (the table is locked against writes): at one million ~1 s in all.
ALTER TABLE assignments ADD CONSTRAINT assignments_id_below CHECK (id < 549755813888);
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments ((((hashtext(tenant) >> 8)::bigint << 39) + id)) WITH (fillfactor = 100);
-- +goose StatementBegin
DO $$
BEGIN
    -- As 00076's Up: a register with rows only.
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX assignments_tenant;
CREATE INDEX assignments_tenant ON assignments (hashtext(tenant), id) WITH (fillfactor = 100);
ALTER TABLE assignments DROP CONSTRAINT assignments_id_below;
-- +goose StatementBegin
DO $$
BEGIN
    -- As 00076's Up: a register with rows only.
    IF EXISTS (SELECT 1 FROM assignments) THEN
        ANALYZE assignments;
    END IF;
END;
$$;
-- +goose StatementEnd
