-- +goose Up
-- Tenants (issue 10): the DNS name suffixes a tenant may use and its
-- quotas. used_ipv4 (addresses) and used_ipv6 (prefixes) count the
-- tenant's live and quarantined assignments; the registry keeps them in
-- the same transaction as every change of an assignment's state, so a
-- quota check is one indexed row, and that row orders concurrent
-- allocations of one tenant.
CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    names      TEXT    NOT NULL DEFAULT '[]', -- JSON list of suffixes, "." is every name
    max_ipv4   INTEGER CHECK (max_ipv4 >= 0),
    max_ipv6   INTEGER CHECK (max_ipv6 >= 0),
    used_ipv4  INTEGER NOT NULL DEFAULT 0 CHECK (used_ipv4 >= 0),
    used_ipv6  INTEGER NOT NULL DEFAULT 0 CHECK (used_ipv6 >= 0),
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Every tenant an existing register names (in assignments or tokens)
-- becomes a tenant with no suffix limit and no quota, so that nothing that
-- worked before the upgrade breaks; each is logged.
INSERT INTO tenants (name, names, used_ipv4, used_ipv6, created_at)
SELECT t.name, '["."]',
    COALESCE((SELECT SUM(1 << (32 - bits)) FROM assignments a WHERE a.tenant = t.name AND a.family = 4 AND a.state <> 'released'), 0),
    COALESCE((SELECT COUNT(*) FROM assignments a WHERE a.tenant = t.name AND a.family = 6 AND a.state <> 'released'), 0),
    CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
FROM (SELECT tenant AS name FROM assignments WHERE tenant <> '' UNION SELECT tenant FROM tokens WHERE tenant <> '') t
ORDER BY t.name;

INSERT INTO events (at, actor, action, subject_kind, subject_id, subject, after)
SELECT created_at, 'migration', 'tenant.add', 'tenant', id, name,
    json_object('id', id, 'name', name, 'names', json(names), 'used_ipv4', used_ipv4, 'used_ipv6', used_ipv6,
        'created_at', strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000000.0, 'unixepoch'))
FROM tenants ORDER BY id;

-- Who holds a DNS name: live assignments by name, static records by owner.
CREATE INDEX assignments_name ON assignments (name, tenant) WHERE state <> 'released' AND name <> '';
CREATE INDEX dns_records_name ON dns_records (name);

-- +goose Down
DROP INDEX dns_records_name;
DROP INDEX assignments_name;
DROP TABLE tenants;
