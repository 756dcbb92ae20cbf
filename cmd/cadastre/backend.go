package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/client"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// backend is what the CLI's verbs need of the register: a local file
// (*registry.Registry) or a server (*client.Client) answer the same way.
type backend interface {
	AddRegion(ctx context.Context, s registry.RegionSpec) (registry.Region, error)
	Regions(ctx context.Context) ([]registry.Region, error)
	AddBlock(ctx context.Context, b registry.Block) (registry.Block, error)
	Blocks(ctx context.Context) ([]registry.Block, error)
	AddPool(ctx context.Context, s registry.PoolSpec) (registry.Pool, error)
	Pools(ctx context.Context, region string) ([]registry.PoolUsage, error)
	Allocate(ctx context.Context, q registry.Request) ([]registry.Assignment, error)
	AllocatePool(ctx context.Context, s registry.ChildPoolSpec) (registry.Pool, error)
	ReleasePool(ctx context.Context, name string, tenant *string) (registry.Pool, error)
	Release(ctx context.Context, t registry.Target, quarantine time.Duration, tenant *string) (registry.Assignment, error)
	Assignments(ctx context.Context, f registry.AssignmentFilter) ([]registry.Assignment, error)
	Show(ctx context.Context, p netip.Prefix) (registry.Holding, error)
	Report(ctx context.Context, region string) ([]registry.ReportRow, error)
	Relocations(ctx context.Context) ([]registry.Relocation, error)
	Reserve(ctx context.Context, s registry.ReservationSpec) (registry.Reservation, error)
	UnreserveIn(ctx context.Context, p netip.Prefix, space string) (registry.Reservation, error)
	Reservations(ctx context.Context) ([]registry.Reservation, error)
	Events(ctx context.Context, f registry.EventFilter) ([]registry.Event, error)
	// Placements feeds the geofeed, its JSON form and the MMDB export:
	// the global space; PlacementsIn those of a named space.
	Placements(ctx context.Context) ([]registry.Placement, registry.Position, error)
	PlacementsIn(ctx context.Context, space string) ([]registry.Placement, registry.Position, error)
}

var (
	_ backend = (*registry.Registry)(nil)
	_ backend = (*client.Client)(nil)
)

// backend returns the server client with --server, else the local register.
func (a *app) backend(ctx context.Context) (backend, error) {
	if a.cfg.server == "" {
		return a.open(ctx)
	}
	return a.client()
}

func (a *app) client() (*client.Client, error) {
	hc, err := a.cfg.clientTLS.HTTPClient()
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: --client-cert, --client-key, --ca-file: %w", a.verbName(), err)}
	}
	c, err := client.New(a.cfg.server, a.cfg.token, hc)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", a.verbName(), err)}
	}
	return c, nil
}

// verbName is the running verb without the program's name ("zone add").
func (a *app) verbName() string {
	if a.verb == "" {
		return "this verb"
	}
	return a.verb
}

// localOnly is the one guard between --server and the local register:
// open calls it before opening (and so creating) any store, so no verb,
// present or future, makes a register file when a server is named. A
// verb that works over the API takes a.backend or a.geo instead of
// a.open; any other is refused here, naming it, with exit status 2.
func (a *app) localOnly() error {
	if a.cfg.server == "" {
		return nil
	}
	return usagef("%s works on a local register only (--db or --postgres), not through --server %s: unset --server and $CADASTRE_SERVER to run it on this machine's register",
		a.verbName(), a.cfg.server)
}

// setVerb records which verb runs, for messages that name it.
func (a *app) setVerb(path string) {
	a.verb = strings.TrimPrefix(strings.TrimPrefix(path, "cadastre"), " ")
}

// geoBackend is what the geolocation verbs need: the local register with
// its sources, or a server's.
type geoBackend interface {
	// Locate fills out[i] with the answer for addrs[i].
	Locate(ctx context.Context, addrs []netip.Addr, all bool, out []geo.Result) error
	// Batch is how many addresses Locate should be given at once: one
	// locally, so answers stream line by line; many over the API.
	Batch() int
	Audit(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error)
	GeoSources(ctx context.Context) ([]geo.SourceStatus, error)
	AddMMDB(ctx context.Context, name, path string) (geo.AddedMMDB, error)
	RemoveSource(ctx context.Context, name string) error
	ImportFeed(ctx context.Context, name, origin string, r io.Reader, opts geo.ImportOptions) (geo.ImportReport, error)
	// AuditProvider audits a provider's ranges source against the others.
	AuditProvider(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error)
	ImportRanges(ctx context.Context, name, origin, format string, r io.Reader) (geo.RangesReport, error)
}

var (
	_ geoBackend = (*localGeo)(nil)
	_ geoBackend = remoteGeo{}
)

// geo returns the server's geolocation with --server, else the local one.
func (a *app) geo(ctx context.Context) (geoBackend, error) { return a.geoIn(ctx, "") }

// geoIn is geo with the register's placements of space (the global space
// when empty). A server looks up in its global space only: naming a space
// there is a usage error.
func (a *app) geoIn(ctx context.Context, space string) (geoBackend, error) {
	if a.cfg.server != "" && space != "" {
		return nil, usagef("%s --space works on a local register only (--db or --postgres): the server looks up in the global space; `cadastre geofeed export --space %s --json` lists that space's placements through --server", a.verbName(), space)
	}
	if a.cfg.server != "" {
		c, err := a.client()
		if err != nil {
			return nil, err
		}
		return remoteGeo{c}, nil
	}
	if _, err := a.open(ctx); err != nil {
		return nil, err
	}
	if space != "" {
		// An unknown space fails here, before any line is read.
		if _, _, err := a.reg.PlacementsIn(ctx, space); err != nil {
			return nil, err
		}
	}
	return &localGeo{a: a, space: space}, nil
}

// localGeo answers from the register and the sources in the local store.
// Look-ups go through a geo.Point (an indexed query per imported source,
// nothing built) until they are many: past pointLimit addresses the whole
// table is built once and answers the rest. The audit builds the table.
type localGeo struct {
	a     *app
	e     *geo.Engine
	space string // the register's space ("" the global space)

	pt    *geo.Point
	n     int // addresses answered through pt
	limit int
}

// pointLimit is how many addresses a Point answers before the table is
// built: a Point costs an indexed store query per imported source and
// address (20-50 µs on SQLite), building costs about 9 µs per stored
// entry (a 1,000,000-entry feed: 9 s and 440 MB) and half a second per
// MMDB file, so a look-up of many addresses against small sources builds
// early, and one against a large feed builds late or never.
func pointLimit(srcs []geo.SourceStatus) int {
	entries, feeds := 0, 0
	for _, s := range srcs {
		if s.Kind == geo.KindGeofeed {
			entries += s.Entries
			feeds++
		}
	}
	return 1000 + entries/(4*max(1, feeds))
}

// point opens the Point on first use; a source that fails to open is
// reported on standard error and the others answer.
func (l *localGeo) point(ctx context.Context) (*geo.Point, error) {
	if l.pt != nil {
		return l.pt, nil
	}
	pt, err := geo.NewPoint(ctx, l.placer(), l.a.store, time.Now())
	if pt == nil {
		return nil, err
	}
	srcs := pt.Sources()
	if err != nil {
		warnSources(l.a.cfg.stderr, srcs)
	}
	l.pt, l.limit = pt, pointLimit(srcs)
	return pt, nil
}

// placer is the register's placements the look-ups read: the global
// space, or the space asked for.
func (l *localGeo) placer() geo.Placer {
	if l.space == "" {
		return l.a.reg
	}
	return geo.InSpace(l.a.reg, l.space)
}

func (l *localGeo) engine(ctx context.Context) (*geo.Engine, error) {
	if l.e == nil {
		e, err := l.a.geoEngineOf(ctx, l.placer())
		if err != nil {
			return nil, err
		}
		l.e = e
	}
	return l.e, nil
}

func (l *localGeo) Batch() int { return 1 }

func (l *localGeo) Locate(ctx context.Context, addrs []netip.Addr, all bool, out []geo.Result) error {
	if l.e == nil {
		pt, err := l.point(ctx)
		if err != nil {
			return err
		}
		if l.n+len(addrs) <= l.limit {
			l.n += len(addrs)
			for i, ad := range addrs {
				if err := pt.Lookup(ctx, &out[i], ad, all); err != nil {
					return err
				}
			}
			return nil
		}
	}
	e, err := l.engine(ctx)
	if err != nil {
		return err
	}
	tab := e.Table()
	for i, ad := range addrs {
		if all {
			out[i] = tab.LookupAll(ad)
		} else {
			tab.LookupInto(&out[i], ad)
		}
	}
	return nil
}

func (l *localGeo) Audit(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error) {
	e, err := l.engine(ctx)
	if err != nil {
		return geo.AuditReport{}, err
	}
	return geo.AuditRegisterWith(ctx, e.Table(), l.a.reg, opts, time.Now())
}

// GeoSources lists the sources without building the table: counts are
// the ones stored at import (geo.ListSources).
func (l *localGeo) GeoSources(ctx context.Context) ([]geo.SourceStatus, error) {
	return geo.ListSources(ctx, l.a.reg, l.a.store)
}

func (l *localGeo) AddMMDB(ctx context.Context, name, path string) (geo.AddedMMDB, error) {
	return geo.AddMMDB(ctx, l.a.store, name, path, time.Now())
}

func (l *localGeo) RemoveSource(ctx context.Context, name string) error {
	return geo.RemoveSource(ctx, l.a.store, name, time.Now())
}

func (l *localGeo) ImportFeed(ctx context.Context, name, origin string, r io.Reader, opts geo.ImportOptions) (geo.ImportReport, error) {
	return geo.ImportFeed(ctx, l.a.store, name, origin, r, opts, time.Now())
}

func (l *localGeo) AuditProvider(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error) {
	e, err := l.engine(ctx)
	if err != nil {
		return geo.AuditReport{}, err
	}
	return geo.AuditProviderWith(ctx, e.Table(), opts, time.Now())
}

func (l *localGeo) ImportRanges(ctx context.Context, name, origin, format string, r io.Reader) (geo.RangesReport, error) {
	return geo.ImportRanges(ctx, l.a.store, name, origin, format, r, time.Now())
}

// remoteGeo is a server's geolocation, through its API.
type remoteGeo struct{ *client.Client }

func (r remoteGeo) Batch() int { return client.MaxLookupBatch }

func (r remoteGeo) Locate(ctx context.Context, addrs []netip.Addr, all bool, out []geo.Result) error {
	res, err := r.Lookup(ctx, addrs, all)
	if err != nil {
		return err
	}
	copy(out, res)
	return nil
}

func (r remoteGeo) Audit(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error) {
	return r.AuditWith(ctx, opts)
}

// AuditProvider runs the provider's audit on the server (opts.Provider
// names it); the client's AuditWith carries the provider.
func (r remoteGeo) AuditProvider(ctx context.Context, opts geo.AuditOptions) (geo.AuditReport, error) {
	return r.AuditWith(ctx, opts)
}
