-- +goose Up
-- The tenants' name suffixes indexed by registry.SuffixKey (issue 16):
-- "." then the suffix byte-reversed with its trailing dot in front
-- ("a.cloud.example." is ".elpmaxe.duolc.a.", "." is "."), so the suffixes
-- under one are a range of keys and those above it a few point look-ups:
-- a tenant's overlaps are found without reading every tenant. COLLATE "C":
-- the ranges are of bytes. Kept by the store with tenants.names
-- (InsertTenant, UpdateTenant; deleted with the tenant).
CREATE TABLE tenant_suffixes (
    key       TEXT   COLLATE "C" NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (key, tenant_id)
);
CREATE INDEX tenant_suffixes_tenant ON tenant_suffixes (tenant_id);

INSERT INTO tenant_suffixes (key, tenant_id)
SELECT DISTINCT CASE WHEN j.v = '.' THEN '.' ELSE '.' || reverse('.' || rtrim(j.v, '.')) END, t.id
FROM tenants t, json_array_elements_text(t.names::json) AS j(v);

-- +goose Down
DROP TABLE tenant_suffixes;
