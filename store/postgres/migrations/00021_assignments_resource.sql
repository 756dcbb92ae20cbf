-- +goose Up
-- Search by resource (/v1/assignments?resource=, the CLI's --resource):
-- without it the store reads every assignment for each search (about 2 s
-- on a million, issue 16). Partial: assignments without a resource cost
-- nothing.
CREATE INDEX assignments_resource ON assignments (resource, id) WHERE resource <> '';

-- +goose Down
DROP INDEX assignments_resource;
