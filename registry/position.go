package registry

import (
	"context"
	"time"
)

// Position is a point in the event log as its followers see it: the last
// event a reader has acted on. DNS rebuilds, the geofeed's ETag, the
// geolocation table and every page of /v1/events and `cadastre log` follow
// the one Position the store gives (Registry.Position, Tx.Position), so
// that none of them can pass an event that has not committed yet.
//
// Sequence numbers are handed out when a transaction writes its event, not
// when it commits, so the newest number is not a safe position wherever
// writers run concurrently: A takes 1, B takes 2 and commits, a reader
// records 2, then A commits, and a reader comparing or paging by numbers
// never sees 1. So the log has a commit order, and a Position only
// advances past events that no commit still in flight can come before:
//   - SQLite runs one write transaction at a time on a file, across
//     processes too: a transaction takes its numbers and commits before
//     the next one starts, so number order is commit order and the
//     Position is the newest event;
//   - PostgreSQL runs writers concurrently: each event records its
//     transaction's ID (pg_current_xact_id; a group-commit batch shares
//     one), the log's order is (transaction ID, Seq), and the Position is
//     the last event of a transaction older than the oldest one still in
//     flight that can write to the register's database (transactions of
//     other databases of the server do not count; store/postgres, tx.go,
//     horizon). Every transaction that can still add an event is at or
//     above that bound, so nothing can appear before the Position any
//     more. A long transaction in the register's database therefore holds
//     every follower back until it ends; that is the price of never
//     skipping.
//
// In commit order, Seq is an identifier, not always increasing: it is
// unique, so it names a Position (an ETag, a cursor) but must be compared
// only for equality.
type Position struct {
	// Seq is the last event's number, 0 for an empty log.
	Seq int64 `json:"seq"`
	// At is the latest event time up to the Position: a Last-Modified
	// that never goes back, with event times' precision.
	At time.Time `json:"at"`
}

// Position is where the event log stands for its followers: every reader
// that acts on changes (DNS, the geofeed, the geolocation table) compares
// it with the Position it last acted on, and reads the register after it.
func (r *Registry) Position(ctx context.Context) (pos Position, err error) {
	err = viewOne(ctx, r.store, func(tx Tx) error {
		pos, err = tx.Position(ctx)
		return err
	})
	return pos, err
}

// Events reads the change log in commit order, a page at a time: the
// events after the one whose Seq is f.AfterSeq (0 from the start), at
// most f.Limit (0: all), none past the log's Position. A reader that
// passes the Seq of the last event it got as the next f.AfterSeq reads
// every event once; /v1/events and `cadastre log` page this way.
func (r *Registry) Events(ctx context.Context, f EventFilter) (out []Event, err error) {
	err = r.store.View(ctx, func(tx Tx) error {
		out, err = tx.EventsAfter(ctx, f)
		return err
	})
	return out, err
}
