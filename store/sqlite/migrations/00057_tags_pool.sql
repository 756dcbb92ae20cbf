-- +goose Up
-- A page of the assignments of a tag in a region (issue 16, SQLite; the
-- twin of PostgreSQL's 00056, bench/README.md "Session 13: SQLite at
-- 10M"). tags_match (kind, key, value, object_id) gives a tag's
-- assignments in ID order, but not where they are: a page of a tag in a
-- region read the tag's entries in every region, each probed for its
-- assignment's pool, until the page was full. An assignment's tags now
-- carry its pool (an assignment never changes pool: a relocation makes a
-- new pool of free space only), and tags_pool_match answers a tag in one
-- pool in ID order: a region's page is a page of each of its pools,
-- merged, as its page without a tag is (tx.go, tagRegionQuery). NULL for
-- the tags of regions, blocks and pools.
ALTER TABLE tags ADD COLUMN pool_id INTEGER;

-- Kept by the database, so that every writer of tags (SetTags, which sets
-- it in its INSERT, a script's INSERT, which does not) leaves it right: a
-- row whose pool_id is not its assignment's is corrected at once. SQLite's
-- BEFORE triggers cannot change NEW, hence an UPDATE after; its WHEN is
-- false for SetTags's rows, so they cost no second write.
-- +goose StatementBegin
CREATE TRIGGER tags_pool_insert AFTER INSERT ON tags
WHEN NEW.kind = 'assignment' AND NEW.pool_id IS NOT (SELECT pool_id FROM assignments WHERE id = NEW.object_id)
BEGIN
    UPDATE tags SET pool_id = (SELECT pool_id FROM assignments WHERE id = NEW.object_id)
    WHERE kind = NEW.kind AND object_id = NEW.object_id AND key = NEW.key;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER tags_pool_update AFTER UPDATE OF kind, object_id, pool_id ON tags
WHEN NEW.kind = 'assignment' AND NEW.pool_id IS NOT (SELECT pool_id FROM assignments WHERE id = NEW.object_id)
BEGIN
    UPDATE tags SET pool_id = (SELECT pool_id FROM assignments WHERE id = NEW.object_id)
    WHERE kind = NEW.kind AND object_id = NEW.object_id AND key = NEW.key;
END;
-- +goose StatementEnd
-- Nothing moves an assignment to another pool; if anything ever does, its
-- tags follow (the trigger costs nothing to statements that leave
-- pool_id alone).
-- +goose StatementBegin
CREATE TRIGGER assignments_tags_pool AFTER UPDATE OF pool_id ON assignments
BEGIN
    UPDATE tags SET pool_id = NEW.pool_id WHERE kind = 'assignment' AND object_id = NEW.id;
END;
-- +goose StatementEnd

UPDATE tags SET pool_id = (SELECT pool_id FROM assignments a WHERE a.id = tags.object_id) WHERE kind = 'assignment';
CREATE INDEX tags_pool_match ON tags (key, value, pool_id, object_id) WHERE kind = 'assignment';

-- +goose Down
DROP INDEX tags_pool_match;
DROP TRIGGER assignments_tags_pool;
DROP TRIGGER tags_pool_update;
DROP TRIGGER tags_pool_insert;
ALTER TABLE tags DROP COLUMN pool_id;
