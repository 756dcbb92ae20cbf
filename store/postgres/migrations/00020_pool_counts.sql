-- +goose Up
-- Per-pool counters kept on write (issue 16): the live assignments of a
-- pool per state and prefix length (day 0), and the assignments made per
-- UTC day (kind 'created'), so that the report and the pool listings
-- read one row per pool, state and length instead of counting every
-- assignment (8.5 s at ten million). The stores add a transaction's
-- changes up in memory and write them once, with its COMMIT
-- (store/internal/poolcount). Counted here from the assignments there are.
CREATE TABLE pool_counts (
    pool_id bigint  NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    kind    TEXT    NOT NULL CHECK (kind IN ('assigned', 'quarantined', 'created')),
    bits    integer NOT NULL,
    day     bigint  NOT NULL,
    n       bigint  NOT NULL,
    PRIMARY KEY (pool_id, kind, bits, day)
);

INSERT INTO pool_counts (pool_id, kind, bits, day, n)
SELECT pool_id, state, bits, 0, count(*) FROM assignments
WHERE state <> 'released' GROUP BY pool_id, state, bits;

INSERT INTO pool_counts (pool_id, kind, bits, day, n)
SELECT pool_id, 'created', bits, day, count(*) FROM (
    SELECT pool_id, bits, (CASE WHEN created_at >= 0 THEN created_at / 86400000000 ELSE -((-created_at + 86399999999) / 86400000000) END) AS day
    FROM assignments) AS made
GROUP BY pool_id, bits, day;

-- +goose Down
DROP TABLE pool_counts;
