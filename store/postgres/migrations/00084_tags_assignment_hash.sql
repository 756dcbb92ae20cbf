-- +goose Up
-- A page of assignments reads each assignment's tags (issue 16, API lists
-- at ten million; bench/README.md, session 17, pglists3): one probe per
-- row of the page, 100 a page, by `kind = 'assignment' AND object_id = ?`.
-- Through tags_pkey (kind, object_id, key) a probe descends three levels
-- comparing the text kind first at each (perf of a backend: _bt_compare,
-- nocache_index_getattr and the text comparison were the most of its
-- CPU), and the probes were 40-60 % of a page's backend CPU. A hash index
-- of an assignment's tags by object_id is one bucket page a probe, the
-- int8 hashed once. It gives no order, so a page of a tag (tags_match
-- in ID order from the cursor) cannot walk it instead and filter: a
-- B-tree on (object_id) was taken for that page and read the tags of
-- every key from the cursor (876 entries for a page of env=e3 at ten
-- million, the whole index for a rare tag). Only tags are indexed: at
-- ten million with one live assignment in 100 tagged, 4 MB.
CREATE INDEX tags_assignment ON tags USING hash (object_id) WHERE kind = 'assignment';
-- +goose StatementBegin
DO $$
BEGIN
    -- As 00076's Up: a table with rows only (an ANALYZE of an empty
    -- table records it empty, and the planner then scans it as it grows).
    IF EXISTS (SELECT 1 FROM tags) THEN
        ANALYZE tags;
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX tags_assignment;
