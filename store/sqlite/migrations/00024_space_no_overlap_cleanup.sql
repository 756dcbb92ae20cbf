-- +goose Up
-- Nothing to do on SQLite: 00024 cleans up PostgreSQL's overlap checks of
-- named spaces (a dead assignments branch in space_no_overlap() and an index
-- the exclusion constraint makes redundant); SQLite's triggers and indexes
-- scoped by space (00018) have neither. The number is taken here too so that
-- both stores' migration lists stay aligned.
SELECT 1;

-- +goose Down
SELECT 1;
