-- +goose Up
-- Tenants (issue 10): the DNS name suffixes a tenant may use and its
-- quotas. used_ipv4 (addresses) and used_ipv6 (prefixes) count the
-- tenant's live and quarantined assignments; the registry keeps them in
-- the same transaction as every change of an assignment's state, so a
-- quota check is one indexed row, and that row (updated first) orders
-- concurrent allocations of one tenant on every replica.
CREATE TABLE tenants (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    names      TEXT   NOT NULL DEFAULT '[]', -- JSON list of suffixes, "." is every name
    max_ipv4   BIGINT CHECK (max_ipv4 >= 0),
    max_ipv6   BIGINT CHECK (max_ipv6 >= 0),
    used_ipv4  BIGINT NOT NULL DEFAULT 0 CHECK (used_ipv4 >= 0),
    used_ipv6  BIGINT NOT NULL DEFAULT 0 CHECK (used_ipv6 >= 0),
    note       TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

-- Every tenant an existing register names (in assignments or tokens)
-- becomes a tenant with no suffix limit and no quota, so that nothing that
-- worked before the upgrade breaks; each is logged.
INSERT INTO tenants (name, names, used_ipv4, used_ipv6, created_at)
SELECT t.name, '["."]',
    COALESCE((SELECT SUM(1::bigint << (32 - bits)) FROM assignments a WHERE a.tenant = t.name AND a.family = 4 AND a.state <> 'released'), 0),
    COALESCE((SELECT COUNT(*) FROM assignments a WHERE a.tenant = t.name AND a.family = 6 AND a.state <> 'released'), 0),
    (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
FROM (SELECT tenant AS name FROM assignments WHERE tenant <> '' UNION SELECT tenant FROM tokens WHERE tenant <> '') t
ORDER BY t.name;

INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, after)
SELECT created_at, 'migration', 'tenant.add', 'tenant', id, name,
    json_build_object('id', id, 'name', name, 'names', names::json, 'used_ipv4', used_ipv4, 'used_ipv6', used_ipv6,
        'created_at', to_char(to_timestamp(created_at / 1000000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
FROM tenants ORDER BY id;

-- Who holds a DNS name: live assignments by name, static records by owner.
CREATE INDEX assignments_name ON assignments (name, tenant) WHERE state <> 'released' AND name <> '';
CREATE INDEX dns_records_name ON dns_records (name);

-- +goose Down
DROP INDEX dns_records_name;
DROP INDEX assignments_name;
DROP TABLE tenants;
