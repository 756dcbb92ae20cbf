-- +goose Up
-- The IXFR journal (RFC 1995): each row is one step of a zone's serial,
-- written in the same transaction as the step by the replica whose
-- compare-and-set of the serial succeeded, so that any replica, or the
-- same one after a restart, answers IXFR from an older serial. removed
-- and added hold the records (signatures included) in uncompressed wire
-- form, one after another; removed starts with the old SOA, added with
-- the new one. Rows are pruned by depth and age.
CREATE TABLE dns_journal (
    id          BIGSERIAL PRIMARY KEY,
    zone_id     BIGINT NOT NULL REFERENCES dns_zones (id) ON DELETE CASCADE,
    from_serial BIGINT  NOT NULL,
    to_serial   BIGINT  NOT NULL,
    removed     BYTEA   NOT NULL,
    added       BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX dns_journal_from ON dns_journal (zone_id, from_serial, id);

-- Leases name the one replica that does a job all replicas could do
-- (DNSSEC key rollovers): the holder renews its lease before it expires;
-- another replica takes it only once it has expired. Times are
-- microseconds since the epoch, from the replicas' clocks.
CREATE TABLE dns_leases (
    name    TEXT   PRIMARY KEY,
    holder  TEXT   NOT NULL,
    expires BIGINT NOT NULL
);

-- +goose Down
DROP TABLE dns_leases;
DROP TABLE dns_journal;
