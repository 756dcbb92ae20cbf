-- +goose Up
-- One B-tree fewer in every allocation (issue 16, one caller's durable
-- allocation; bench/README.md, "Session 14"). Each new assignment was
-- written to two indexes by its first address: assignments_all_first
-- (family, first), every row, for the look-ups across spaces (the holders
-- of an address, a prefix's rows, a family's page sorted), and
-- assignments_live (space, family, first), the live rows, unique, for the
-- overlap trigger and the live look-up of a space. One index of every row
-- by space and first address serves both:
--   - a space's live rows (the trigger assignments_no_overlap, whose text
--     names no index, and Tx.LiveAssignment): a range of the space's rows,
--     the released ones skipped by the state kept in the index;
--   - the look-ups across spaces: the same seek in each space that holds
--     assignments (a handful), the spaces listed by one seek each (tx.go,
--     assignmentSpaces).
-- Two live rows of a space at one first address overlap, so the trigger
-- refuses what the unique index refused on insert; the unique index also
-- refused a released row made live again over a live one: the trigger
-- assignments_live_again does that now (no writer does it today).
-- The old indexes go first: the new one is built in their pages.
DROP INDEX assignments_live;
DROP INDEX assignments_all_first;
CREATE INDEX assignments_at ON assignments (space, family, first, state);

-- +goose StatementBegin
CREATE TRIGGER assignments_live_again BEFORE UPDATE OF state ON assignments
WHEN OLD.state = 'released' AND NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE space = NEW.space AND family = NEW.family AND state <> 'released' AND first <= NEW.last
          ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER assignments_live_again;
CREATE INDEX assignments_all_first ON assignments (family, first);
CREATE UNIQUE INDEX assignments_live ON assignments (space, family, first) WHERE state <> 'released';
DROP INDEX assignments_at;
