-- +goose Up
-- Deleting a pool costs what the pool's prefix holds, not the register
-- (issue 16; bench/README.md, "Session 17: scalechores"). 00068 took the
-- foreign key assignments.pool_id -> pools out of the table's text: a
-- pool's deletion checked it by a walk of every assignment (no index
-- leads with the pool since 00065). These triggers keep what it kept:
--
-- - assignments_pool (before an insert, in place of assignments_space,
--   which read the same pool row) and assignments_pool_update: the row's
--   pool exists, is of the row's space, and holds the row's addresses
--   (new: what makes the probe below complete);
-- - pools_assignments (before a delete) and pools_assignments_update: no
--   assignment is left of the pool, by a range of assignments_at (space,
--   family, first, state) over the pool's addresses, filtered by the pool
--   (the rows of units it lent and of its child pools are passed over).
--
-- Their message holds SQLite's own, "FOREIGN KEY constraint failed", which
-- the store maps as it did the constraint's. SQLite has one writer at a
-- time: no row is written between the probe and the delete. An import into
-- an empty register (tx.go DeferIndexes) drops assignments_pool with the
-- other triggers and checks every row at once before it builds it again.
DROP TRIGGER assignments_space;
-- +goose StatementBegin
CREATE TRIGGER assignments_pool BEFORE INSERT ON assignments
WHEN NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = NEW.pool_id AND p.space = NEW.space AND p.family = NEW.family
                 AND p.first <= NEW.first AND p.last >= NEW.last)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: assignment outside a pool of its space that holds it (assignments_pool)');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER assignments_pool_update BEFORE UPDATE OF pool_id, space, family, first, last ON assignments
WHEN NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = NEW.pool_id AND p.space = NEW.space AND p.family = NEW.family
                 AND p.first <= NEW.first AND p.last >= NEW.last)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: assignment outside a pool of its space that holds it (assignments_pool)');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER pools_assignments BEFORE DELETE ON pools
WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.space = OLD.space AND a.family = OLD.family
             AND a.first >= OLD.first AND a.first <= OLD.last AND a.pool_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: pool still holds assignments (pools_assignments)');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER pools_assignments_update BEFORE UPDATE OF id, space, family, first, last ON pools
WHEN (NEW.id, NEW.space, NEW.family, NEW.first, NEW.last) IS NOT (OLD.id, OLD.space, OLD.family, OLD.first, OLD.last)
     AND EXISTS (SELECT 1 FROM assignments a WHERE a.space = OLD.space AND a.family = OLD.family
                 AND a.first >= OLD.first AND a.first <= OLD.last AND a.pool_id = OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: pool still holds assignments (pools_assignments)');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER pools_assignments_update;
DROP TRIGGER pools_assignments;
DROP TRIGGER assignments_pool_update;
DROP TRIGGER assignments_pool;
-- +goose StatementBegin
CREATE TRIGGER assignments_space BEFORE INSERT ON assignments
WHEN NEW.space IS NOT (SELECT space FROM pools WHERE id = NEW.pool_id)
BEGIN
    SELECT RAISE(ABORT, 'assignment space differs from its pool''s');
END;
-- +goose StatementEnd
