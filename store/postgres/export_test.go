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
