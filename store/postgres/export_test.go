package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Settings reads the lock and statement bounds of the transaction rt.
func Settings(ctx context.Context, rt registry.Tx) (lock, statement string, err error) {
	err = rt.(*tx).row(ctx, `SELECT current_setting('lock_timeout'), current_setting('statement_timeout')`).Scan(&lock, &statement)
	return lock, statement, err
}

// BackendPID is the server process of the transaction rt.
func BackendPID(ctx context.Context, rt registry.Tx) (pid int32, err error) {
	err = rt.(*tx).row(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	return pid, err
}

// PositionBuffers runs Position's statement under EXPLAIN (ANALYZE,
// BUFFERS) with the Store's mark (marked) or as a Store's first Position
// (none), and returns the shared buffers it used, found or read.
func PositionBuffers(ctx context.Context, s *Store, marked bool) (int, error) {
	var m positionMark
	if marked {
		m = s.positionMark()
	}
	var plan []byte
	if err := s.pool.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+positionSQL, strconv.FormatUint(m.xid, 10), m.at).Scan(&plan); err != nil {
		return 0, err
	}
	var out []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
		}
	}
	if err := json.Unmarshal(plan, &out); err != nil || len(out) != 1 {
		return 0, fmt.Errorf("plan %s: %v", plan, err)
	}
	return out[0].Plan.Hit + out[0].Plan.Read, nil
}

// SetMemTake turns the take from the queue (memtake.go) on or off; call
// it before the Store's first Update.
func SetMemTake(s *Store, on bool) { s.noMemTake = !on }

// SetIDFresh sets how long an assignment ID reserve is used.
func SetIDFresh(s *Store, d time.Duration) { s.idFresh = d }

// The take statements: with the probes that learn the next free row
// (memtake.go), and without.
const (
	TakeWithNext     = takeWithNext
	TakeSmallestFree = takeSmallestFree
)

// MemTakes is how many takes the queue answered.
func MemTakes(s *Store) int64 { return s.memTakes.Load() }

// ExpectFailures is how many transactions alone that took a row they
// expected failed, and ran again (expect.go).
func ExpectFailures(s *Store) int64 { return s.expectFails.Load() }
