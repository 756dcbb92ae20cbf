package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/registry/storetest"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Concurrent callers share commits (one writer), but each one's outcome
// is its own.
func TestGroupCommit(t *testing.T) {
	storetest.GroupCommit(t, func(t *testing.T) (registry.Store, func() registry.Store) {
		path := filepath.Join(t.TempDir(), "group.db")
		return open(t, path), func() registry.Store { return open(t, path) }
	})
}
