-- +goose Up
-- No statement journal for one caller's allocation (issue 16;
-- bench/README.md, "Session 19: sqlitedurable8"). Inside a transaction
-- SQLite copies every page a statement changes into a statement journal
-- first when the statement may write several rows and may abort (Parse's
-- isMultiWrite and mayAbort): the allocation's folded statement (fold.go,
-- a trigger program) is such a statement as long as anything in it may
-- abort, and a RAISE(ABORT) in a trigger its insert fires is. RAISE(FAIL)
-- refuses the same rows with the same message and error code; it keeps
-- what the failing statement changed before it instead of undoing it.
-- Every statement that inserts one row sees no difference (these triggers
-- run before the row is written). The store's multi-row inserts into
-- assignments run in a savepoint of their own, rolled back when they fail
-- (tx.go, insertRows), and a failed folded allocation fails its caller's
-- transaction (fold.go): nothing a failure leaves behind is kept.
DROP TRIGGER assignments_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
WHEN NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE space = NEW.space AND family = NEW.family AND state <> 'released' AND first <= NEW.last
          ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(FAIL, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd
DROP TRIGGER assignments_pool;
-- +goose StatementBegin
CREATE TRIGGER assignments_pool BEFORE INSERT ON assignments
WHEN NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = NEW.pool_id AND p.space = NEW.space AND p.family = NEW.family
                 AND p.first <= NEW.first AND p.last >= NEW.last)
BEGIN
    SELECT RAISE(FAIL, 'FOREIGN KEY constraint failed: assignment outside a pool of its space that holds it (assignments_pool)');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER assignments_pool;
-- +goose StatementBegin
CREATE TRIGGER assignments_pool BEFORE INSERT ON assignments
WHEN NOT EXISTS (SELECT 1 FROM pools p WHERE p.id = NEW.pool_id AND p.space = NEW.space AND p.family = NEW.family
                 AND p.first <= NEW.first AND p.last >= NEW.last)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: assignment outside a pool of its space that holds it (assignments_pool)');
END;
-- +goose StatementEnd
DROP TRIGGER assignments_no_overlap;
-- +goose StatementBegin
CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
WHEN NEW.state <> 'released' AND
     (SELECT last FROM assignments WHERE id =
         (SELECT id FROM assignments WHERE space = NEW.space AND family = NEW.family AND state <> 'released' AND first <= NEW.last
          ORDER BY first DESC LIMIT 1)) >= NEW.first
BEGIN
    SELECT RAISE(ABORT, 'assignment overlaps a live assignment');
END;
-- +goose StatementEnd
