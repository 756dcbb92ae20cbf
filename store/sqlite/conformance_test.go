package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registry.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"), sqlite.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
