-- +goose Up
-- The tenants' name suffixes indexed by registry.SuffixKey (issue 16):
-- "." then the suffix byte-reversed with its trailing dot in front
-- ("a.cloud.example." is ".elpmaxe.duolc.a.", "." is "."), so the suffixes
-- under one are a range of keys and those above it a few point look-ups:
-- a tenant's overlaps are found without reading every tenant. Kept by the
-- store with tenants.names (InsertTenant, UpdateTenant; deleted with the
-- tenant).
CREATE TABLE tenant_suffixes (
    key       TEXT    NOT NULL,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (key, tenant_id)
) WITHOUT ROWID;
CREATE INDEX tenant_suffixes_tenant ON tenant_suffixes (tenant_id);

WITH RECURSIVE
    s(tenant_id, src) AS (
        SELECT t.id, CASE WHEN j.value = '.' THEN '' ELSE '.' || rtrim(j.value, '.') END
        FROM tenants t, json_each(t.names) j),
    r(tenant_id, rest, acc) AS (
        SELECT tenant_id, src, '' FROM s
        UNION ALL
        SELECT tenant_id, substr(rest, 1, length(rest) - 1), acc || substr(rest, -1) FROM r WHERE rest <> '')
INSERT OR IGNORE INTO tenant_suffixes (key, tenant_id)
SELECT '.' || acc, tenant_id FROM r WHERE rest = '';

-- +goose Down
DROP TABLE tenant_suffixes;
