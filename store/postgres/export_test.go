package postgres

import (
	"context"

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
