-- +goose Up
-- DNSSEC key rollover (RFC 7583): when each key was published, began and
-- stopped signing, was removed, and when the parent's DS for it was
-- confirmed; microseconds since the epoch, 0 until it happens.
ALTER TABLE dns_keys ADD COLUMN published_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dns_keys ADD COLUMN active_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dns_keys ADD COLUMN inactive_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dns_keys ADD COLUMN removed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dns_keys ADD COLUMN ds_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE dns_keys DROP COLUMN ds_at;
ALTER TABLE dns_keys DROP COLUMN removed_at;
ALTER TABLE dns_keys DROP COLUMN inactive_at;
ALTER TABLE dns_keys DROP COLUMN active_at;
ALTER TABLE dns_keys DROP COLUMN published_at;
