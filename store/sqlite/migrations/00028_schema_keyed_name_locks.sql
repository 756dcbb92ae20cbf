-- +goose Up
-- Nothing to do on SQLite: 00028 keys PostgreSQL's advisory name locks by
-- schema (two registers in one database); a SQLite register is its file
-- and its write lock is the file's. The number is taken here too so that
-- both stores' migration lists stay aligned.
SELECT 1;

-- +goose Down
SELECT 1;
