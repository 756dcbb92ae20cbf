-- +goose Up
-- A page of the assignments of a tag in a region (issue 16, PostgreSQL;
-- bench/README.md, session 12, pgapi2). tags_match (kind, key, value,
-- object_id) gives a tag's assignments in ID order, but not where they
-- are: a page of a tag in a region read the tag's entries in every region
-- until the page was full (9,301 of env=e3 at ten million, 4.2 s cold,
-- for the few in the region). An assignment's tags now carry its pool
-- (an assignment never changes pool), and tags_pool_match answers a tag
-- in one pool in ID order: a region's page is a page of each of its
-- pools, merged, as its page without a tag is (store/postgres/pages.go).
-- NULL for the tags of regions, blocks and pools.
ALTER TABLE tags ADD COLUMN pool_id BIGINT;

-- Kept by the database, so that every writer of tags (SetTags, a COPY, a
-- script's INSERT) sets it: a tag's row is only inserted (SetTags deletes
-- and inserts), and an assignment's pool is never updated.
-- +goose StatementBegin
CREATE FUNCTION tags_pool() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.pool_id := (SELECT pool_id FROM assignments WHERE id = NEW.object_id);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER tags_pool BEFORE INSERT OR UPDATE OF kind, object_id ON tags
    FOR EACH ROW WHEN (NEW.kind = 'assignment') EXECUTE FUNCTION tags_pool();

UPDATE tags t SET pool_id = a.pool_id FROM assignments a WHERE t.kind = 'assignment' AND a.id = t.object_id;
CREATE INDEX tags_pool_match ON tags (key, value, pool_id, object_id) WHERE kind = 'assignment';
ANALYZE tags;

-- +goose Down
DROP INDEX tags_pool_match;
DROP TRIGGER tags_pool ON tags;
DROP FUNCTION tags_pool;
ALTER TABLE tags DROP COLUMN pool_id;
