-- +goose Up
-- The event log in commit order (registry.Position): each event records
-- its transaction's ID, and followers read in (xid, seq) order only below
-- the oldest transaction still in flight, because sequence numbers are
-- taken at INSERT, not at COMMIT. Events from before this migration have
-- all committed: they get xid 0 and keep their seq order. The constant
-- default first adds the column without rewriting the table.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_commit_order ON events (xid, seq);

-- +goose Down
DROP INDEX events_commit_order;
ALTER TABLE events DROP COLUMN xid;
