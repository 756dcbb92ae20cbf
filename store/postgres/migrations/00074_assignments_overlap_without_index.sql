-- +goose Up
-- Storage per assignment (issue 16, PostgreSQL; bench/README.md, "Session
-- 15: the overlap rule without its own index"): the three exclusion
-- constraints that kept live assignments of a space apart go, and their
-- indexes with them (the global space's SP-GiST alone was ~51 bytes an
-- assignment). The rule stays, checked by the statements that write an
-- assignment (store/postgres tx.go, bulk.go), on the B-tree of prefixes
-- (assignments_prefix), under the lock every writer of a pool's
-- assignments holds, its region's row (FOR NO KEY UPDATE), taken by an
-- earlier statement of the transaction, so that under READ COMMITTED the
-- check's snapshot holds what the previous holder committed:
--
-- - a new live row n of space s overlaps a live row of s only if it
--   overlaps its neighbour in address order among them: the next one is
--   within n (a range of the B-tree, [n, last address of n]) or the one
--   before holds n (one step back from n), since every row between a
--   prefix and one it holds lies within it, and the rows there do not
--   overlap each other already;
-- - the statement raises assignments_overlap() when one does, an
--   exclusion_violation naming the constraint that was, as before.
--
-- - a released row never becomes live again (the registry never asks it;
--   the check above would need the region's lock): UpdateAssignment's
--   statement raises assignments_revived() if asked.
--
-- An import into an empty register (bulk.go DeferIndexes) checks every
-- live row against the one before it once, after its indexes are built.
-- +goose StatementBegin
CREATE FUNCTION assignments_overlap(p cidr, sp text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'assignment % overlaps a live assignment of space %', p, sp
        USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'assignments_no_overlap', TABLE = 'assignments';
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION assignments_revived(id bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'assignment % is released: it does not become live again', id;
END;
$$;
-- +goose StatementEnd
ALTER TABLE assignments DROP CONSTRAINT assignments_no_overlap,
    DROP CONSTRAINT assignments_private_no_overlap,
    DROP CONSTRAINT assignments_space_no_overlap;

-- +goose Down
-- The constraints are built again (each checks every live row of its
-- spaces; at ten million, minutes), then the function goes.
ALTER TABLE assignments ADD CONSTRAINT assignments_no_overlap
        EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released' AND space = 'global'),
    ADD CONSTRAINT assignments_private_no_overlap
        EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released' AND space = 'private'),
    ADD CONSTRAINT assignments_space_no_overlap
        EXCLUDE USING gist (prefix inet_ops WITH &&, space WITH =) WHERE (state <> 'released' AND space NOT IN ('global', 'private'));
DROP FUNCTION assignments_overlap(cidr, text);
DROP FUNCTION assignments_revived(bigint);
