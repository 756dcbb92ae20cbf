-- +goose Up
-- A child pool counts against its tenant's quotas as an assignment of its
-- length does (issue 12): its IPv4 addresses, or one IPv6 prefix. Child
-- pools carved before this counted nothing; their use is added now, so
-- that dissolving one later does not take away use it never added.
UPDATE tenants SET
    used_ipv4 = used_ipv4 + (SELECT coalesce(sum(1::bigint << (32 - bits)), 0) FROM pools
        WHERE child_of IS NOT NULL AND dissolved_at IS NULL AND family = 4 AND tenant = tenants.name),
    used_ipv6 = used_ipv6 + (SELECT count(*) FROM pools
        WHERE child_of IS NOT NULL AND dissolved_at IS NULL AND family = 6 AND tenant = tenants.name);

-- +goose Down
UPDATE tenants SET
    used_ipv4 = greatest(0, used_ipv4 - (SELECT coalesce(sum(1::bigint << (32 - bits)), 0) FROM pools
        WHERE child_of IS NOT NULL AND dissolved_at IS NULL AND family = 4 AND tenant = tenants.name)),
    used_ipv6 = greatest(0, used_ipv6 - (SELECT count(*) FROM pools
        WHERE child_of IS NOT NULL AND dissolved_at IS NULL AND family = 6 AND tenant = tenants.name));
