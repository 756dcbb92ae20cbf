package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// TestClosedStoreFailsReadsAtOnce: a read on a closed store answers
// ErrStorage at once; it used to wait for a read connection that never
// came back (a server checking a token then hung instead of answering 503).
func TestClosedStoreFailsReadsAtOnce(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "closed.db"))
	st.Close()
	errc := make(chan error, 1)
	go func() {
		errc <- st.View(context.Background(), func(tx registry.Tx) error { _, err := tx.Regions(context.Background()); return err })
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, registry.ErrStorage) {
			t.Errorf("View on a closed store: %v, want ErrStorage", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("View on a closed store still waiting after 10 s")
	}
}
