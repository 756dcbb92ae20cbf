package geo

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// eventually polls cond for up to five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEngineWatchReloadsChangedFilesWithoutDroppingLookups(t *testing.T) {
	dir := t.TempDir()
	path := writeMMDB(t, dir, "db.mmdb", netRecord{"203.0.114.0/24", flat("JP", "", "")})
	load := func(context.Context) (Inputs, error) {
		return Inputs{MMDBs: []MMDBFile{{Name: "db", Path: path}}}, nil
	}
	e, err := NewEngine(context.Background(), load, func() time.Time { return epoch })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var reports []error
	var mu sync.Mutex
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- e.Watch(ctx, 2*time.Millisecond, func(err error) {
			mu.Lock()
			reports = append(reports, err)
			mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-watchDone; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", err)
		}
	})

	// Readers hammer the engine through every reload below: each look-up
	// must answer from some whole table, never fail or miss.
	var lookups, misses atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := ma("203.0.114.7")
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := e.Lookup(a)
				lookups.Add(1)
				if !r.Found || len(r.Errors) > 0 || (r.Location.Country != "JP" && r.Location.Country != "KR") {
					misses.Add(1)
				}
			}
		}()
	}

	country := func() string { return e.Lookup(ma("203.0.114.7")).Location.Country }
	writeMMDB(t, dir, "db.mmdb", netRecord{"203.0.114.0/24", geoip2("KR", "", "")})
	eventually(t, "the changed file is reloaded", func() bool { return country() == "KR" })
	if s := e.Table().Sources()[1]; s.Schema != SchemaGeoIP2 || s.Stale || s.Err != "" {
		t.Errorf("after reload: %+v", s)
	}

	// The file vanishes: the old copy keeps answering, marked stale,
	// and the error is reported once, not at every poll.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the vanished file is noticed", func() bool { return e.Table().Sources()[1].Stale })
	time.Sleep(30 * time.Millisecond) // many polls
	mu.Lock()
	n := len(reports)
	first := reports[0]
	mu.Unlock()
	if n != 1 || !errors.Is(first, os.ErrNotExist) || !strings.Contains(first.Error(), "source db") {
		t.Errorf("reports after the file vanished: %d, first %v", n, first)
	}
	if country() != "KR" {
		t.Errorf("the stale copy stopped answering: %q", country())
	}

	// A corrupt file in its place is reported; the stale copy answers on.
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the corrupt file is reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(reports) >= 2 })
	if country() != "KR" {
		t.Errorf("the stale copy stopped answering: %q", country())
	}

	// A good file again: fresh, not stale.
	writeMMDB(t, dir, "db.mmdb", netRecord{"203.0.114.0/24", flat("JP", "", "")})
	eventually(t, "the repaired file is reloaded", func() bool { return country() == "JP" && !e.Table().Sources()[1].Stale })

	close(stop)
	wg.Wait()
	if lookups.Load() == 0 || misses.Load() != 0 {
		t.Errorf("%d of %d look-ups during reloads missed", misses.Load(), lookups.Load())
	}
}

func TestEngineReloadKeepsTableWhenLoaderFails(t *testing.T) {
	var fail atomic.Bool
	load := func(context.Context) (Inputs, error) {
		if fail.Load() {
			return Inputs{}, errors.New("database is locked")
		}
		return Inputs{Register: []registry.Placement{{Prefix: mp("192.0.2.0/24"), Location: loc("US", "")}}}, nil
	}
	e, err := NewEngine(context.Background(), load, nil)
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := e.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("Reload error %v", err)
	}
	if r := e.Lookup(ma("192.0.2.1")); r.Source != "register" {
		t.Errorf("the old table was dropped: %+v", r)
	}
	if _, err := NewEngine(context.Background(), load, nil); err == nil {
		t.Error("NewEngine with a failing loader succeeded")
	}
}

func TestNewEngineWithABrokenSourceAnswersFromTheOthers(t *testing.T) {
	dir := t.TempDir()
	good := writeMMDB(t, dir, "good.mmdb", netRecord{"203.0.114.0/24", flat("JP", "", "")})
	load := func(context.Context) (Inputs, error) {
		return Inputs{MMDBs: []MMDBFile{{Name: "gone", Path: filepath.Join(dir, "gone.mmdb")}, {Name: "good", Path: good}}}, nil
	}
	e, err := NewEngine(context.Background(), load, nil)
	if e == nil || err == nil || !strings.Contains(err.Error(), "source gone") {
		t.Fatalf("NewEngine = %v, %v; want an engine and an error naming the source", e, err)
	}
	if r := e.Lookup(ma("203.0.114.1")); r.Source != "good" {
		t.Errorf("Lookup = %+v", r)
	}
	if _, ok := e.Table().MMDB("gone"); ok {
		t.Error("a source that never opened is listed as an MMDB")
	}
}

// fakeStore is a geo.Store with a fixed list of sources.
type fakeStore struct {
	srcs    []Source
	entries map[string][]Entry
	reads   map[string]int // SourceEntries calls per source
}

func (f *fakeStore) PutSource(context.Context, Source, []Entry, registry.Event) (Source, error) {
	return Source{}, errors.New("read only")
}
func (f *fakeStore) Sources(context.Context) ([]Source, error) { return f.srcs, nil }
func (f *fakeStore) SourceEntries(_ context.Context, name string, fn func(Entry) error) error {
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	f.reads[name]++
	for _, e := range f.entries[name] {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
func (f *fakeStore) DeleteSource(context.Context, string, registry.Event) error { return nil }

// SourceEntriesAt is the rule written out the slow way: every entry
// containing a, shortest first (a prefix twice: the later last).
func (f *fakeStore) SourceEntriesAt(_ context.Context, name string, a netip.Addr) ([]Entry, error) {
	var out []Entry
	for _, e := range f.entries[name] {
		if e.Prefix.Masked().Contains(a) {
			out = append(out, Entry{e.Prefix.Masked(), e.Location})
		}
	}
	slices.SortStableFunc(out, func(x, y Entry) int { return x.Prefix.Bits() - y.Prefix.Bits() })
	return out, nil
}

type fakePlacer []registry.Placement

func (p fakePlacer) Placements(context.Context) ([]registry.Placement, registry.Position, error) {
	return p, registry.Position{}, nil
}

func TestStoreLoaderOrdersSourcesByID(t *testing.T) {
	st := &fakeStore{
		srcs: []Source{
			{ID: 4, Name: "mmdb-b", Kind: KindMMDB, Origin: "/b.mmdb"},
			{ID: 3, Name: "feed-b", Kind: KindGeofeed},
			{ID: 1, Name: "mmdb-a", Kind: KindMMDB, Origin: "/a.mmdb"},
			{ID: 2, Name: "feed-a", Kind: KindGeofeed},
		},
		entries: map[string][]Entry{"feed-a": {{Prefix: mp("192.0.2.0/24"), Location: loc("US", "")}}},
	}
	in, err := StoreLoader(fakePlacer{{Prefix: mp("198.51.100.0/24")}}, st)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Register) != 1 || len(in.Feeds) != 2 || in.Feeds[0].Name != "feed-a" || len(in.Feeds[0].Entries) != 1 || in.Feeds[1].Name != "feed-b" {
		t.Errorf("feeds: %+v", in)
	}
	if len(in.MMDBs) != 2 || in.MMDBs[0] != (MMDBFile{"mmdb-a", "/a.mmdb"}) || in.MMDBs[1] != (MMDBFile{"mmdb-b", "/b.mmdb"}) {
		t.Errorf("mmdbs: %+v", in.MMDBs)
	}
}

// TestStoreLoaderReadsOnlyChangedSources: a reload (the register moved)
// reads a geofeed again only when its stored version changed.
func TestStoreLoaderReadsOnlyChangedSources(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{
		srcs: []Source{
			{ID: 1, Name: "big", Kind: KindGeofeed, Entries: 1, ImportedAt: epoch},
			{ID: 2, Name: "small", Kind: KindGeofeed, Entries: 1, ImportedAt: epoch},
		},
		entries: map[string][]Entry{
			"big":   {{Prefix: mp("192.0.2.0/24"), Location: loc("US", "")}},
			"small": {{Prefix: mp("198.51.100.0/24"), Location: loc("DE", "")}},
		},
	}
	load := StoreLoader(nil, st)
	for range 3 {
		if _, err := load(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st.reads["big"] != 1 || st.reads["small"] != 1 {
		t.Fatalf("unchanged sources read %v times, want once each", st.reads)
	}
	// small replaced (a new import): read again, with its new entries.
	st.srcs[1] = Source{ID: 3, Name: "small", Kind: KindGeofeed, Entries: 1, ImportedAt: epoch.Add(time.Second)}
	st.entries["small"] = []Entry{{Prefix: mp("203.0.113.0/24"), Location: loc("FR", "")}}
	in, err := load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.reads["big"] != 1 || st.reads["small"] != 2 {
		t.Fatalf("after small changed: reads %v, want big 1, small 2", st.reads)
	}
	if len(in.Feeds) != 2 || in.Feeds[1].Entries[0].Prefix != mp("203.0.113.0/24") {
		t.Fatalf("feeds after the change: %+v", in.Feeds)
	}
	// Removed: gone from the inputs, and read again when it comes back.
	st.srcs = st.srcs[:1]
	if in, err = load(ctx); err != nil || len(in.Feeds) != 1 {
		t.Fatalf("after removal: %+v %v", in.Feeds, err)
	}
}
