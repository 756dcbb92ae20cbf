package postgres

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/store/postgres/pgtest"
)

// TestNoJIT: the store's connections run without JIT compilation unless
// the DSN asks for it. At ten million assignments the region page's
// releases and the overview's counts are estimated above jit_above_cost,
// and each run paid 100-140 ms of compilation (bench/README.md, session
// 12, pgapi2). Fails on main (the server's default, on).
func TestNoJIT(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.FreshSchema(t)
	for _, c := range []struct{ dsn, want string }{{dsn, "off"}, {dsn + "&jit=on", "on"}} {
		s, err := Open(ctx, c.dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = s.pool.QueryRow(ctx, `SHOW jit`).Scan(&got)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: jit %s, want %s", c.dsn, got, c.want)
		}
	}
}
