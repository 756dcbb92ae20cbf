-- +goose Up
-- The pool counters (pool_counts, 00020) no longer written by every single
-- allocation (issue 16, one caller's durable allocation; bench/README.md,
-- "Session 14"): its two upserts were a B-tree's seeks and a WAL frame in
-- every commit. pool_counts now counts the assignment rows up to ID
-- `through`; the rows after it (the tail: single allocations since the
-- writer last counted, at most a few hundred) are counted by every reader
-- of the counters from the rows themselves, in their state now, in the
-- same snapshot (counters.go). The writer folds the tail into pool_counts
-- and moves `through` every so many rows, in the transaction of the last
-- of them: a crash keeps the rows and their tail together. A change of
-- state of a row in the tail changes no counter (the tail counts the row
-- as it is); batches count their rows at COMMIT as before, the tail folded
-- first, `through` moved past them.
CREATE TABLE pool_counts_mark (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL
);
INSERT INTO pool_counts_mark (id, through) SELECT 1, COALESCE(MAX(id), 0) FROM assignments;

-- +goose Down
-- The tail counted into pool_counts (its created day as poolcount.DaySQL).
INSERT INTO pool_counts (pool_id, kind, bits, day, n)
SELECT pool_id, kind, bits, day, count(*) FROM (
    SELECT pool_id, 'created' AS kind, bits,
        (CASE WHEN created_at >= 0 THEN created_at / 86400000000 ELSE -((-created_at + 86399999999) / 86400000000) END) AS day
    FROM assignments WHERE id > (SELECT through FROM pool_counts_mark)
    UNION ALL
    SELECT pool_id, state, bits, 0 FROM assignments WHERE id > (SELECT through FROM pool_counts_mark) AND state IN ('assigned', 'quarantined'))
WHERE true GROUP BY 1, 2, 3, 4
ON CONFLICT (pool_id, kind, bits, day) DO UPDATE SET n = n + excluded.n;
DROP TABLE pool_counts_mark;
