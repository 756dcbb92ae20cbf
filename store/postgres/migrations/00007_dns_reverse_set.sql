-- +goose Up
-- A reverse prefix that does not end on an octet (IPv4) or a nibble (IPv6)
-- is served as the aligned zones that cover it (RFC 2317 §1); prefix_set
-- is that prefix on each of them, '' for a zone added on its own.
ALTER TABLE dns_zones ADD COLUMN prefix_set TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE dns_zones DROP COLUMN prefix_set;
