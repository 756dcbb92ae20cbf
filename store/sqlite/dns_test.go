package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/authdns/dnstest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

func TestDNSConformance(t *testing.T) {
	dnstest.Run(t, func(t *testing.T) dnstest.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
