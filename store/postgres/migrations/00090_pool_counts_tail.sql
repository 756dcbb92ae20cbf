-- +goose Up
CREATE TABLE pool_counts_tail (pool_id bigint NOT NULL, kind text NOT NULL, bits integer NOT NULL, day bigint NOT NULL, n bigint NOT NULL);
-- +goose Down
DROP TABLE pool_counts_tail;
