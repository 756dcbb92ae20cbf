package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// WithSources lets the API add, replace and remove geolocation sources in
// st (an MMDB file on the server, an imported geofeed); without it those
// operations answer 503. The look-up engine (WithGeo) is reloaded after
// each change, so the next look-up or audit sees it.
func WithSources(st geo.Store) Option {
	return func(s *Server) { s.sources = st }
}

// placementsBody is GET /v1/placements: where every pooled prefix is used,
// with the event-log position the list reflects.
type placementsBody struct {
	Items    []registry.Placement `json:"items"`
	Position registry.Position    `json:"position"`
}

// feedErrors is the problem of a geofeed refused for its errors: each
// diagnostic (errors and warnings) is an item, its value the diagnostic.
func feedErrors(err error, rep geo.ImportReport) error {
	items := make([]*huma.ErrorDetail, 0, len(rep.Diagnostics))
	for _, d := range rep.Diagnostics {
		items = append(items, &huma.ErrorDetail{Message: d.String(), Location: fmt.Sprintf("body line %d", d.Line), Value: d})
	}
	return typed(http.StatusUnprocessableEntity, problem.FeedErrors, err.Error(), items...)
}

func (s *Server) routeGeoSources(api huma.API) {
	huma.Register(api, op("list-placements", http.MethodGet, "/v1/placements", "Where every pool and relocated unit of the global space (or of ?space=) is used, with the event-log position the list reflects (the geofeed's and the MMDB export's input)", auth.ScopeRead, false),
		func(ctx context.Context, in *struct {
			Space string `query:"space" maxLength:"63" doc:"the space (VRF) whose placements to list; default the global space, the only one geofeeds, the MMDB export, look-ups and the audit read"`
		}) (*struct{ Body placementsBody }, error) {
			places, pos, err := s.reg.PlacementsIn(ctx, in.Space)
			if err != nil {
				return nil, s.problem(err)
			}
			return &struct{ Body placementsBody }{placementsBody{Items: nonNil(places), Position: pos}}, nil
		})

	audit := op("audit", http.MethodGet, "/v1/audit", "Where the world's geolocation sources disagree with the register, per prefix, with a score per source", auth.ScopeRead, false, http.StatusNotFound, http.StatusServiceUnavailable)
	audit.Description = "Every pool and relocated unit is compared with what each source says across the whole prefix. Findings are not an error: the answer is 200 with the list."
	huma.Register(api, audit, func(ctx context.Context, in *struct {
		Source       []string `query:"source" maxItems:"64" doc:"audit only these sources (default every source but the register)"`
		MinShare     float64  `query:"min_share" minimum:"0" maximum:"1" doc:"list only findings whose disagreeing share is at least this (0 to 1); the others are counted in the summary"`
		MinAddresses uint64   `query:"min_addresses" doc:"list only findings affecting at least this many addresses (IPv6: units, see ipv6_unit)"`
		IPv6Unit     int      `query:"ipv6_unit" minimum:"0" maximum:"128" doc:"the prefix length IPv6 space is counted in (64 or 48, as the register hands it out; default 64)"`
		Provider     string   `query:"provider" maxLength:"63" doc:"audit this provider's published ranges (a source added from a ranges file) instead of the register's space"`
	}) (*struct{ Body geo.AuditReport }, error) {
		if s.geo == nil {
			return nil, huma.Error503ServiceUnavailable("geolocation is not loaded")
		}
		opts := geo.AuditOptions{Sources: in.Source, MinShare: in.MinShare, MinAddresses: in.MinAddresses, IPv6Unit: in.IPv6Unit, Provider: in.Provider}
		var rep geo.AuditReport
		var err error
		if in.Provider != "" {
			rep, err = geo.AuditProviderWith(ctx, s.geo.Table(), opts, time.Now())
		} else {
			rep, err = geo.AuditRegisterWith(ctx, s.geo.Table(), s.reg, opts, time.Now())
		}
		if err != nil {
			return nil, s.problem(err)
		}
		rep.Findings = nonNil(rep.Findings)
		return &struct{ Body geo.AuditReport }{rep}, nil
	})

	huma.Register(api, op("list-geo-sources", http.MethodGet, "/v1/geo/sources", "Geolocation sources in rank order, with how each loaded", auth.ScopeRead, false, http.StatusServiceUnavailable),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []geo.SourceStatus }, error) {
			if s.geo == nil {
				return nil, huma.Error503ServiceUnavailable("geolocation is not loaded")
			}
			return &struct{ Body []geo.SourceStatus }{nonNil(s.geo.Table().Sources())}, nil
		})

	add := op("add-geo-source", http.MethodPost, "/v1/geo/sources", "Add (or replace) an MMDB database on the server as a source", auth.ScopeAdmin, false, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	add.Description = "The file is read by the server, at that absolute path, now and at every start."
	add.DefaultStatus = http.StatusCreated
	huma.Register(api, add, func(ctx context.Context, in *struct {
		Body struct {
			Name string `json:"name" minLength:"1" maxLength:"63"`
			MMDB string `json:"mmdb" minLength:"1" maxLength:"4096" doc:"absolute path of the MMDB file on the server"`
		}
	}) (*struct{ Body geo.AddedMMDB }, error) {
		if err := s.sourcesReady(); err != nil {
			return nil, err
		}
		added, err := geo.AddMMDB(ctx, s.sources, in.Body.Name, in.Body.MMDB, time.Now())
		if err != nil {
			return nil, s.problem(err)
		}
		s.reloadGeo(ctx)
		return &struct{ Body geo.AddedMMDB }{added}, nil
	})

	rm := op("remove-geo-source", http.MethodDelete, "/v1/geo/sources/{name}", "Remove a source (an MMDB or an imported geofeed)", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusServiceUnavailable)
	rm.DefaultStatus = http.StatusNoContent
	huma.Register(api, rm, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"63"`
	}) (*struct{}, error) {
		if err := s.sourcesReady(); err != nil {
			return nil, err
		}
		if err := geo.RemoveSource(ctx, s.sources, in.Name, time.Now()); err != nil {
			return nil, s.problem(err)
		}
		s.reloadGeo(ctx)
		return nil, nil
	})

	imp := op("import-geofeed", http.MethodPut, "/v1/geo/sources/{name}/feed", "Check an RFC 8805 geofeed and keep it as the source name", auth.ScopeAdmin, false, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	imp.Description = "The body is the feed (text/csv). A feed with errors is refused whole (422, type " + problem.FeedErrors + ", one item per diagnostic) unless skip_bad_lines, which keeps the good lines; a feed that leaves no entry (empty, or every line bad) is refused (422, type " + problem.Invalid + ") and the source left as it was unless allow_empty. The import is atomic: the answer lists every diagnostic."
	imp.MaxBodyBytes = 64 << 20
	huma.Register(api, imp, func(ctx context.Context, in *struct {
		Name    string `path:"name" maxLength:"63"`
		Origin  string `query:"origin" maxLength:"4096" doc:"where the feed came from (a file name or URL), kept with the source"`
		Skip    bool   `query:"skip_bad_lines" doc:"import the good lines of a feed with errors"`
		Empty   bool   `query:"allow_empty" doc:"keep the source even with no entries (an empty feed is otherwise refused, 422, and the source left as it was)"`
		RawBody []byte `contentType:"text/csv"`
	}) (*struct{ Body geo.ImportReport }, error) {
		if err := s.sourcesReady(); err != nil {
			return nil, err
		}
		origin := in.Origin
		if origin == "" {
			origin = "api"
		}
		rep, err := geo.ImportFeed(ctx, s.sources, in.Name, origin, bytes.NewReader(in.RawBody), geo.ImportOptions{SkipBadLines: in.Skip, AllowEmpty: in.Empty}, time.Now())
		if errors.Is(err, geo.ErrFeedHasErrors) {
			return nil, feedErrors(err, rep)
		}
		if err != nil {
			return nil, s.problem(err)
		}
		s.reloadGeo(ctx)
		rep.Diagnostics = nonNil(rep.Diagnostics)
		return &struct{ Body geo.ImportReport }{rep}, nil
	})
	ranges := op("import-geo-ranges", http.MethodPut, "/v1/geo/sources/{name}/ranges", "Keep a cloud provider's published ranges (AWS, Azure, Google, Oracle) as the source name", auth.ScopeAdmin, false, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	ranges.Description = "The body is the provider's JSON file as published. Each prefix is placed where the embedded region table puts its region; global prefixes and unknown regions are kept unplaced and reported. Bad input (invalid JSON, a field of the wrong type, a prefix with host bits) is refused (422, naming the JSON path or line) and the source left as it was."
	ranges.MaxBodyBytes = 64 << 20
	huma.Register(api, ranges, func(ctx context.Context, in *struct {
		Name   string `path:"name" maxLength:"63"`
		Format string `query:"format" required:"true" enum:"aws,azure,gcp,oracle" doc:"which provider's file the body is"`
		Origin string `query:"origin" maxLength:"4096" doc:"where the file came from (a file name or URL), kept with the source"`
		// Sent as opaque bytes: the import, not the API layer, parses
		// it, to name the JSON path or line of any error.
		RawBody []byte `contentType:"application/octet-stream"`
	}) (*struct{ Body geo.RangesReport }, error) {
		if err := s.sourcesReady(); err != nil {
			return nil, err
		}
		origin := in.Origin
		if origin == "" {
			origin = "api"
		}
		rep, err := geo.ImportRanges(ctx, s.sources, in.Name, origin, in.Format, bytes.NewReader(in.RawBody), time.Now())
		if err != nil {
			return nil, s.problem(err)
		}
		s.reloadGeo(ctx)
		return &struct{ Body geo.RangesReport }{rep}, nil
	})

	// huma always makes a raw body required (initRequestBody); an empty
	// feed or ranges file must reach the domain, which refuses it (or
	// keeps a feed with allow_empty) with a clear answer. The registered
	// operation shares this RequestBody.
	for _, path := range []string{"/v1/geo/sources/{name}/feed", "/v1/geo/sources/{name}/ranges"} {
		if pi := api.OpenAPI().Paths[path]; pi != nil && pi.Put != nil && pi.Put.RequestBody != nil {
			pi.Put.RequestBody.Required = false
		}
	}
}

func (s *Server) sourcesReady() error {
	if s.sources == nil || s.geo == nil {
		return huma.Error503ServiceUnavailable("geolocation sources are not managed by this server")
	}
	return nil
}

// reloadGeo rebuilds the look-up table after a source changed; a source
// that fails to load is logged and the others answer, as at start.
func (s *Server) reloadGeo(ctx context.Context) {
	if err := s.geo.Reload(ctx); err != nil {
		s.log.Warn("geolocation reload", "err", err.Error())
	}
}
