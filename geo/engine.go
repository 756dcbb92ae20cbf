package geo

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cadastre-ipam/cadastre/registry"
)

// Loader gathers the Inputs of a Table: it is called at start and on every
// reload.
type Loader func(ctx context.Context) (Inputs, error)

// Placer is what the register offers the engine: *registry.Registry,
// whose placements are those of the global space (InSpace names another).
type Placer interface {
	Placements(ctx context.Context) ([]registry.Placement, registry.Position, error)
}

// SpacePlacer is a register that lists the placements of a named space
// (*registry.Registry, *client.Client).
type SpacePlacer interface {
	PlacementsIn(ctx context.Context, space string) ([]registry.Placement, registry.Position, error)
}

// InSpace is the Placer of space in reg: the feed, the MMDB export and
// the look-ups of a private space, asked for by name. A Placer's own
// Placements is the global space alone.
func InSpace(reg SpacePlacer, space string) Placer { return spacePlacer{reg, space} }

type spacePlacer struct {
	reg   SpacePlacer
	space string
}

func (p spacePlacer) Placements(ctx context.Context) ([]registry.Placement, registry.Position, error) {
	return p.reg.PlacementsIn(ctx, p.space)
}

// StoreLoader loads the register's placements from reg and the imported
// sources from st: geofeeds with their entries, MMDB sources as the file
// each was added from (Source.Origin), each kind in the order added
// (by ID). A geofeed whose stored version (ID, import time, entry count,
// SHA-256) is the one read at the previous call is not read again: a
// server reloading because the register moved reads the register and
// only the sources that changed, not a million-entry feed each time.
func StoreLoader(reg Placer, st Store) Loader {
	var mu sync.Mutex
	seen := map[string]loadedFeed{}
	return func(ctx context.Context) (Inputs, error) {
		var in Inputs
		var err error
		if reg != nil {
			if in.Register, _, err = reg.Placements(ctx); err != nil {
				return Inputs{}, fmt.Errorf("register placements: %w", err)
			}
		}
		if st == nil {
			return in, nil
		}
		srcs, err := st.Sources(ctx)
		if err != nil {
			return Inputs{}, fmt.Errorf("geo sources: %w", err)
		}
		slices.SortFunc(srcs, func(a, b Source) int { return cmp.Compare(a.ID, b.ID) })
		mu.Lock()
		defer mu.Unlock()
		next := map[string]loadedFeed{}
		for _, s := range srcs {
			switch s.Kind {
			case KindGeofeed:
				v := sourceVersion(s)
				if old, ok := seen[s.Name]; ok && old.version == v {
					next[s.Name] = old
					in.Feeds = append(in.Feeds, old.feed)
					continue
				}
				f := Feed{Name: s.Name, Origin: s.Origin}
				if err := st.SourceEntries(ctx, s.Name, func(e Entry) error {
					f.Entries = append(f.Entries, e)
					return nil
				}); err != nil {
					return Inputs{}, fmt.Errorf("source %s: %w", s.Name, err)
				}
				next[s.Name] = loadedFeed{v, f}
				in.Feeds = append(in.Feeds, f)
			case KindMMDB:
				in.MMDBs = append(in.MMDBs, MMDBFile{Name: s.Name, Path: s.Origin})
			}
		}
		seen = next
		return in, nil
	}
}

// loadedFeed is a geofeed as StoreLoader last read it.
type loadedFeed struct {
	version string
	feed    Feed
}

// sourceVersion tells one stored version of a source from another: a
// replaced source has a new import time (and usually a new ID).
func sourceVersion(s Source) string {
	return fmt.Sprintf("%d/%d/%d/%s/%s", s.ID, s.ImportedAt.UnixMicro(), s.Entries, s.SHA256, s.Origin)
}

// Engine answers look-ups from the current Table and replaces it on
// reload: a new immutable table is built beside the old one and swapped
// in atomically, so look-ups in flight finish on the table they started
// with and none is dropped or blocked.
type Engine struct {
	load  Loader
	clock func() time.Time
	cur   atomic.Pointer[Table]
	mu    sync.Mutex // serialises reloads
}

// NewEngine builds the first table from load. It fails when load fails;
// a source that fails to open is reported in the error (errors.Join of one
// error per source) while the engine is still returned and answers from
// the others. clock may be nil for time.Now.
func NewEngine(ctx context.Context, load Loader, clock func() time.Time) (*Engine, error) {
	if clock == nil {
		clock = time.Now
	}
	e := &Engine{load: load, clock: clock}
	if err := e.Reload(ctx); err != nil && e.cur.Load() == nil {
		return nil, err
	} else if err != nil {
		return e, err
	}
	return e, nil
}

// Table is the current snapshot, for callers that make several look-ups
// or walks that must agree with each other.
func (e *Engine) Table() *Table { return e.cur.Load() }

// Lookup answers for a from the current table (see Table.Lookup).
func (e *Engine) Lookup(a netip.Addr) Result { return e.cur.Load().Lookup(a) }

// LookupAll answers for a with every source's answer (see Table.LookupAll).
func (e *Engine) LookupAll(a netip.Addr) Result { return e.cur.Load().LookupAll(a) }

// Reload loads the inputs again and swaps in a new table. When the loader
// fails the current table stays. When single sources fail the new table
// is swapped in all the same (an MMDB that fails keeps its old copy, see
// Build) and the error names each.
func (e *Engine) Reload(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.load(ctx)
	if err != nil {
		return fmt.Errorf("geo reload: %w", err)
	}
	t, err := Build(ctx, in, e.cur.Load(), e.clock())
	if t == nil {
		return fmt.Errorf("geo reload: %w", err)
	}
	e.cur.Store(t)
	return err
}

// Watch polls the current table's MMDB files every interval and reloads
// when one changed size or modification time, appeared or vanished, until
// ctx is done. Reload errors go to report (which may be nil); a file that
// stays broken is reported once, not at every poll. Run it in its own
// goroutine; it returns ctx.Err().
func (e *Engine) Watch(ctx context.Context, interval time.Duration, report func(error)) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if !e.cur.Load().changed() {
			continue
		}
		if err := e.Reload(ctx); err != nil && report != nil && ctx.Err() == nil {
			report(err)
		}
	}
}
