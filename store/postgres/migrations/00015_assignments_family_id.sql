-- +goose Up
-- A family's assignments a page at a time, in id order (the UI's
-- /assignments?region=&family=, /v1/assignments?family=): without it the
-- store reads every assignment of the family through (family, first) and
-- sorts them by id for each page of 100 (about 0.2 s on a million).
CREATE INDEX assignments_family_id ON assignments (family, id);

-- +goose Down
DROP INDEX assignments_family_id;
