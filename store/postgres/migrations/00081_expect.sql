-- +goose Up
-- One caller's durable allocation in one round trip (issue 16,
-- bench/README.md "Session 17: pgdurable3"). A transaction of its own
-- (run) may send its take of a free prefix, the region's lock, the
-- allocation's writes and its COMMIT together, in one pipeline, before it
-- has read any answer: the take's answer is the one this replica expects
-- (what its last allocation in the region left as the best free row), the
-- region the row it read before. The server checks both under the
-- region's lock, and cadastre_expect() fails the statement, hence the
-- transaction, when either is not as expected: the statements after it in
-- the pipeline are skipped, the COMMIT with them, and the transaction
-- runs again, the plain way. serialization_failure: the caller's retry rule
-- for a transaction that did nothing and may run again. STABLE (it reads
-- and writes nothing): called on an uncorrelated subquery in a WHERE, it
-- is a one-time filter, checked once before the scan, whether or not the
-- scan finds a row (a VOLATILE one is checked on each row found, so not at
-- all when none is).
-- +goose StatementBegin
CREATE FUNCTION cadastre_expect(ok boolean, what text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'cadastre: % is not what this replica expected', what
            USING ERRCODE = 'serialization_failure', HINT = 'cadastre-expect';
    END IF;
    RETURN true;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION cadastre_expect(boolean, text);
