package sqlite_test

import (
	"context"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/dnstest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
	"github.com/cadastre-ipam/cadastre/store/sqlite/sqlitetest"
)

func TestDNSConformance(t *testing.T) {
	dnstest.Run(t, func(t *testing.T) dnstest.Store {
		s, err := sqlite.Open(context.Background(), sqlitetest.Path(t, "d.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
