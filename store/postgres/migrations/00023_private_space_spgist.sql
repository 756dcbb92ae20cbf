-- +goose Up
-- Assignments of the built-in private space are kept apart by an SP-GiST
-- exclusion constraint over the prefix alone, as the global space's are;
-- other named spaces keep a GiST one, with the prefix as its first column.
-- Why (bench/README.md, "Session 7: allocation cost"): the GiST index over
-- (space, prefix) splits its pages on the first column, which is one
-- value for almost every row (nearly every private assignment is in
-- 'private'), so each insert's exclusion check searched a large part of
-- the index: 2-3 ms per row at 60,000-120,000 live rows of one space,
-- where SP-GiST over the prefix takes 20-70 µs and GiST with the prefix
-- first ~0.6 ms (one statement inserting 60,000 consecutive /32s, 2
-- vCPUs under load). With the prefix first, spaces that hold the same
-- addresses (VPCs re-using 10.0.0.0/8) cost one entry per such space in
-- each check, which is what telling them apart needs.
ALTER TABLE assignments DROP CONSTRAINT assignments_space_no_overlap,
    ADD CONSTRAINT assignments_private_no_overlap
        EXCLUDE USING spgist (prefix inet_ops WITH &&) WHERE (state <> 'released' AND space = 'private'),
    ADD CONSTRAINT assignments_space_no_overlap
        EXCLUDE USING gist (prefix inet_ops WITH &&, space WITH =) WHERE (state <> 'released' AND space NOT IN ('global', 'private'));

-- +goose Down
ALTER TABLE assignments DROP CONSTRAINT assignments_space_no_overlap,
    DROP CONSTRAINT assignments_private_no_overlap,
    ADD CONSTRAINT assignments_space_no_overlap
        EXCLUDE USING gist (space WITH =, prefix inet_ops WITH &&) WHERE (state <> 'released' AND space <> 'global');
