package sqlite_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/registry"
	"github.com/cadastre-ipam/cadastre/store/sqlite"
)

// dirFiles lists the names in dir.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestBuild: a register built in one go (sqlite.Build) is written aside,
// in a hidden file without a journal, and named only once complete, in
// WAL mode; while it is written nothing is at its path (a crash then
// leaves no register there), and a build that fails or is cancelled
// leaves nothing at all. A path that exists is refused.
func TestBuild(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name   string
		fail   error // what fn returns
		cancel bool  // ctx ends during fn
		want   error
	}{
		{name: "completes"},
		{name: "fails", fail: boom, want: boom},
		{name: "cancelled", cancel: true, want: context.Canceled},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "r.db")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := sqlite.Build(ctx, path, func(s *sqlite.Store) error {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("during the build, %s: %v; want nothing there", path, err)
				}
				files := dirFiles(t, dir)
				if len(files) != 1 || !strings.HasPrefix(files[0], ".r.db.building-") {
					t.Errorf("during the build the folder holds %q, want one hidden .r.db.building-* file (no journal, no log)", files)
				}
				reg := registry.New(s)
				if _, err := reg.AddRegion(ctx, registry.RegionSpec{Name: "us-east", Location: location.Location{Country: "US"}}); err != nil {
					return err
				}
				if _, err := reg.AddBlock(ctx, registry.Block{Prefix: netip.MustParsePrefix("191.232.0.0/16"), Source: registry.SourceRIR, Registry: "lacnic", RegisteredCountry: "BR"}); err != nil {
					return err
				}
				if files := dirFiles(t, dir); len(files) != 1 {
					t.Errorf("after writes the folder holds %q, want the building file alone", files)
				}
				if c.cancel {
					cancel()
				}
				return c.fail
			})
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Build: %v, want %v", err, c.want)
			}
			files := dirFiles(t, dir)
			if c.want != nil {
				if len(files) != 0 {
					t.Errorf("after a build that ended with %v the folder holds %q, want nothing", err, files)
				}
				return
			}
			if !slices.Equal(files, []string{"r.db"}) {
				t.Errorf("after the build the folder holds %q, want r.db alone", files)
			}
			head := make([]byte, 20)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.ReadAt(head, 0)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if head[18] != 2 || head[19] != 2 {
				t.Errorf("file format versions %d/%d, want 2/2 (WAL)", head[18], head[19])
			}
			st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if gs, err := registry.New(st).Regions(context.Background()); err != nil || len(gs) != 1 {
				t.Errorf("regions of the built register: %v, %v; want us-east", gs, err)
			}
			err = sqlite.Build(context.Background(), path, func(*sqlite.Store) error { return nil })
			if !errors.Is(err, sqlite.ErrExists) {
				t.Errorf("a second Build to %s: %v, want ErrExists", path, err)
			}
		})
	}
}
