-- +goose Up
-- The name check of a named allocation (nameHolder, store/sqlite
-- tenant.go) made index probes of its DNS look-ups (issue 10, audit12):
-- it read every NS record (no index by type: a scan of dns_records for
-- an NS target, and again to learn whether the register has a
-- delegation at all), every synthesising zone and every zone's JSON
-- configuration (json_each, for its name servers), on every named
-- allocation: with 100 zones of 20 records 0.39 ms a check against
-- 0.03 ms without zones (BenchmarkNameHolder). PostgreSQL has had the
-- same indexes since its 00029 and 00041.
--
-- The NS records by target, with their zone and owner: the target is a
-- probe, and "is there a delegation" reads NS records only.
CREATE INDEX dns_records_ns ON dns_records (lower(data), zone_id, name) WHERE type = 'NS';
-- The zones that synthesise names.
CREATE INDEX dns_zones_synthesize ON dns_zones (id) WHERE synthesize <> '';
-- Each zone's configured name servers (config's "ns", lower case), kept
-- by triggers from dns_zones, so that every writer (serve, the CLI, an
-- older binary's zone writes after this migration) keeps it.
CREATE TABLE dns_zone_ns (
    name    TEXT    NOT NULL,
    zone_id INTEGER NOT NULL REFERENCES dns_zones (id) ON DELETE CASCADE,
    PRIMARY KEY (name, zone_id)
) WITHOUT ROWID;
CREATE INDEX dns_zone_ns_zone ON dns_zone_ns (zone_id);
INSERT OR IGNORE INTO dns_zone_ns (name, zone_id)
    SELECT lower(j.value), z.id FROM dns_zones z, json_each(z.config, '$.ns') j WHERE j.type = 'text';
-- +goose StatementBegin
CREATE TRIGGER dns_zone_ns_insert AFTER INSERT ON dns_zones BEGIN
    INSERT OR IGNORE INTO dns_zone_ns (name, zone_id)
        SELECT lower(j.value), NEW.id FROM json_each(NEW.config, '$.ns') j WHERE j.type = 'text';
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_zone_ns_update AFTER UPDATE OF config ON dns_zones BEGIN
    DELETE FROM dns_zone_ns WHERE zone_id = OLD.id;
    INSERT OR IGNORE INTO dns_zone_ns (name, zone_id)
        SELECT lower(j.value), NEW.id FROM json_each(NEW.config, '$.ns') j WHERE j.type = 'text';
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER dns_zone_ns_delete AFTER DELETE ON dns_zones BEGIN
    DELETE FROM dns_zone_ns WHERE zone_id = OLD.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER dns_zone_ns_delete;
DROP TRIGGER dns_zone_ns_update;
DROP TRIGGER dns_zone_ns_insert;
DROP TABLE dns_zone_ns;
DROP INDEX dns_zones_synthesize;
DROP INDEX dns_records_ns;
