-- +goose Up
-- SCRATCH (sqlitebump, session 22; reverted): a per-pool frontier row,
-- read by the fold's trigger in the variants SQLITEBUMP=2 and 3 only.
CREATE TABLE pool_frontier (
    pool_id INTEGER PRIMARY KEY,
    addr    BLOB NOT NULL,
    last    BLOB NOT NULL
);
INSERT INTO pool_frontier (pool_id, addr, last) SELECT id, first, last FROM pools;
-- +goose StatementBegin
CREATE TRIGGER pools_frontier AFTER INSERT ON pools
BEGIN
    INSERT INTO pool_frontier (pool_id, addr, last) VALUES (NEW.id, NEW.first, NEW.last);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER pools_frontier;
DROP TABLE pool_frontier;
