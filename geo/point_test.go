package geo

import (
	"context"
	"os"
	"testing"

	"github.com/cadastre-ipam/cadastre/registry"
)

// memStore keeps what PutSource is given, for AddMMDB.
type memStore struct{ fakeStore }

func (m *memStore) PutSource(_ context.Context, s Source, _ []Entry, _ registry.Event) (Source, error) {
	s.ID = int64(len(m.srcs) + 1)
	m.srcs = append(m.srcs, s)
	return s, nil
}

// TestListSourcesBuildsNothing: an MMDB's network count is stored when it
// is added and listed from the store; a file changed since (another
// SHA-256) is counted again, and a file gone is listed with why.
func TestListSourcesBuildsNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := writeMMDB(t, dir, "a.mmdb",
		netRecord{"198.51.100.0/24", geoip2("US", "", "")},
		netRecord{"203.0.113.0/24", geoip2("DE", "", "")})
	st := &memStore{}
	added, err := AddMMDB(ctx, st, "a", path, epoch)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Build(ctx, Inputs{MMDBs: []MMDBFile{{"a", path}}}, nil, epoch)
	if err != nil {
		t.Fatal(err)
	}
	want := tab.Sources()[1].Entries
	if added.Source.Entries != int64(want) || want == 0 {
		t.Fatalf("stored count %d, the table's %d", added.Source.Entries, want)
	}
	// The stored count is what is listed: set it apart to see it used.
	st.srcs[0].Entries = 7
	got, err := ListSources(ctx, fakePlacer{}, st)
	if err != nil || len(got) != 2 || got[1].Entries != 7 || got[1].Schema != SchemaGeoIP2 || got[1].Err != "" {
		t.Fatalf("listed %+v %v", got, err)
	}
	// Replaced by another file: counted again.
	writeMMDB(t, dir, "a.mmdb", netRecord{"198.51.100.0/24", geoip2("US", "", "")})
	tab, _ = Build(ctx, Inputs{MMDBs: []MMDBFile{{"a", path}}}, nil, epoch)
	if got, err = ListSources(ctx, fakePlacer{}, st); err != nil || got[1].Entries != tab.Sources()[1].Entries {
		t.Fatalf("after the file changed: %+v %v, the table's %d", got, err, tab.Sources()[1].Entries)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err = ListSources(ctx, fakePlacer{}, st); err != nil || got[1].Err == "" {
		t.Fatalf("a vanished file: %+v %v", got, err)
	}
}
