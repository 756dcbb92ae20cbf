package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/cadastre-ipam/cadastre/api/docs"
	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/location"
	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// countSchema is how an address count appears in the OpenAPI document: a
// JSON integer up to 2^53, an exact decimal string above (IPv6 sizes).
type countSchema struct{}

// Schema implements huma.SchemaProvider.
func (countSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "number of addresses, exact: an integer up to 2^53, a decimal string above (prefix.Count), so that a reader's float64 never rounds it",
		OneOf: []*huma.Schema{
			{Type: huma.TypeInteger, Minimum: ptr(0.0), Maximum: ptr(float64(1 << 53))},
			{Type: huma.TypeString, Pattern: "^[0-9]+$"},
		},
	}
}

// geoCountSchema is how the audit's address counts appear: a JSON
// integer up to 2^53, a decimal string above (geo.Count), so that a
// reader's float64 never rounds one.
type geoCountSchema struct{}

// Schema implements huma.SchemaProvider.
func (geoCountSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "number of addresses (IPv6: of units, see unit), exact: an integer up to 2^53, a decimal string above",
		OneOf: []*huma.Schema{
			{Type: huma.TypeInteger, Minimum: ptr(0.0), Maximum: ptr(float64(1 << 53))},
			{Type: huma.TypeString, Pattern: "^[0-9]+$"},
		},
	}
}

func ptr[T any](v T) *T { return &v }

type principalKey struct{}

// principal is who is calling: the token, or nobody when auth is off.
type principal struct {
	token auth.Token
}

func (p principal) tenant() *string {
	if p.token.Tenant == "" {
		return nil
	}
	t := p.token.Tenant
	return &t
}

func principalOf(ctx context.Context) principal {
	p, _ := ctx.Value(principalKey{}).(principal)
	return p
}

// scopeMeta is the Operation.Metadata key holding the scope an operation needs.
const scopeMeta = "scope"

// tenantMeta marks operations a tenant-bound token may call.
const tenantMeta = "tenant"

func (s *Server) mountV1() {
	cfg := huma.DefaultConfig("cadastre", "1")
	cfg.Info.Description = "The register of an operator's IP address space: regions, blocks, pools, assignments, relocations and the change log."
	cfg.OpenAPIPath = "/v1/openapi"
	// huma's own docs page loads its renderer from a public CDN: a blank
	// page offline. Package docs serves a vendored one instead (mountDocs).
	cfg.DocsPath = ""
	cfg.SchemasPath = "/v1/schemas"
	cfg.CreateHooks = nil // no $schema fields or Link headers in bodies
	cfg.Formats = strictJSON(cfg.Formats)
	// A query parameter a route does not declare is refused (422 naming
	// it), as an unknown body field is: a misspelt cursor= came back as the
	// first page, and a misspelt filter listed everything.
	cfg.RejectUnknownQueryParameters = true
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "a token from `cadastre token create`"},
	}
	cfg.Security = []map[string][]string{{"bearer": {}}}
	api := humago.New(s.mux, cfg)
	api.OpenAPI().Components.Schemas.RegisterTypeAlias(reflect.TypeFor[prefix.Count](), reflect.TypeFor[countSchema]())
	api.OpenAPI().Components.Schemas.RegisterTypeAlias(reflect.TypeFor[geo.Count](), reflect.TypeFor[geoCountSchema]())
	api.UseMiddleware(s.instrumentAPI, s.authenticate(api))
	s.api = api

	s.routeRegions(api)
	s.routeBlocksPools(api)
	s.routeLife(api)
	s.routeAssignments(api)
	s.routeReservations(api)
	s.routeChildPools(api)
	s.routeReadOnly(api)
	s.routeTokens(api)
	s.routeTenants(api)
	s.routeGeo(api)
	s.routeGeoSources(api)
	s.routeDNS(api)
	s.mountDocs()
}

// mountDocs serves /v1/docs, the API reference rendered from the OpenAPI
// document by the embedded Swagger UI of package docs.
func (s *Server) mountDocs() {
	h := docs.Handler("/v1/docs", "cadastre", "/v1/openapi.json")
	s.handle("GET /v1/docs", h.ServeHTTP)
	s.handle("GET /v1/docs/assets/", h.ServeHTTP)
}

// op describes an operation with the scope it needs.
func op(id, method, path, summary string, scope auth.Scope, tenantOK bool, errs ...int) huma.Operation {
	return huma.Operation{
		OperationID: id, Method: method, Path: path, Summary: summary,
		Metadata:     map[string]any{scopeMeta: scope, tenantMeta: tenantOK},
		Errors:       append(commonErrors(method), errs...),
		MaxBodyBytes: 64 << 10,
	}
}

// instrumentAPI logs and counts every /v1 request by its operation's
// route pattern, as instrument does for the plain handlers.
func (s *Server) instrumentAPI(ctx huma.Context, next func(huma.Context)) {
	start := time.Now()
	next(serverDeadlines{ctx})
	opn := ctx.Operation()
	route := opn.Method + " " + opn.Path
	code := ctx.Status()
	if code == 0 {
		code = http.StatusOK
	}
	d := time.Since(start)
	s.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	s.latency.WithLabelValues(route).Observe(d.Seconds())
	u := ctx.URL()
	info := infoOf(ctx.Context())
	attrs := []slog.Attr{slog.String("method", ctx.Method()), slog.String("path", u.Path), slog.Int("status", code),
		slog.Duration("duration", d), slog.String("remote", info.client)}
	if info.tokenID != "" {
		// The token's ID, never its secret: who did what, for the audit.
		attrs = append(attrs, slog.String("token_id", info.tokenID))
	}
	s.log.LogAttrs(ctx.Context(), slog.LevelInfo, "request", attrs...)
}

// commonErrors are the statuses any operation may answer: a bad request,
// no or a bad token, the wrong scope, an unknown query parameter (422),
// too many failed attempts, and for operations with a body, one over the
// size limit.
func commonErrors(method string) []int {
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable}
	if method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
		errs = append(errs, http.StatusRequestEntityTooLarge)
	}
	return errs
}

// authenticate checks the bearer token and the scope of each operation.
func (s *Server) authenticate(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		opn := ctx.Operation()
		need, _ := opn.Metadata[scopeMeta].(auth.Scope)
		if need == 0 { // public: the OpenAPI document and docs
			next(ctx)
			return
		}
		if s.tokens == nil {
			huma.WriteErr(api, ctx, http.StatusServiceUnavailable, "authentication is not configured")
			return
		}
		u := ctx.URL()
		q := u.Query()
		for _, k := range []string{"token", "access_token", "bearer", "api_key"} {
			if q.Has(k) {
				huma.WriteErr(api, ctx, http.StatusBadRequest, "a token in the query string is refused (it ends up in logs); send it as Authorization: Bearer")
				return
			}
		}
		info := infoOf(ctx.Context())
		var tok auth.Token
		if info.tok != nil { // checked before the body was read
			tok = *info.tok
		} else {
			t, ref := s.checkBearer(ctx.Context(), ctx.Header("Authorization"), info.client, opn.OperationID)
			if ref != nil {
				refuse(ctx, ref)
				return
			}
			tok = t
		}
		info.tokenID = tok.ID
		if err := tok.Permits(need, opn.Metadata[tenantMeta] == true); err != nil {
			msg, _, _ := strings.Cut(err.Error(), ": token ")
			huma.WriteErr(api, ctx, http.StatusForbidden, msg)
			return
		}
		c := context.WithValue(ctx.Context(), principalKey{}, principal{token: tok})
		c = registry.WithActor(c, tok.Actor())
		if tok.Scope < auth.ScopeAdmin {
			c = registry.Restricted(c)
		}
		next(huma.WithContext(ctx, c))
	}
}

func typed(status int, typ, detail string, errs ...*huma.ErrorDetail) error {
	return &huma.ErrorModel{Status: status, Type: typ, Title: http.StatusText(status), Detail: detail, Errors: errs}
}

// problem maps a domain error to an RFC 9457 problem: its type and status
// come from package problem, the one table the client and CLI share.
func (s *Server) problem(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, registry.ErrStorage) {
		// The cause stays in the log: it may name hosts, files or users.
		s.log.Error("storage", "err", err.Error())
		return typed(http.StatusServiceUnavailable, problem.Storage, "the database is unavailable; try again later")
	}
	if errors.As(err, new(*registry.TextError)) {
		// A control character is malformed input, like bad JSON: 400.
		return typed(http.StatusBadRequest, problem.Invalid, err.Error())
	}
	if typ, status, ok := problem.For(err); ok {
		var pe *registry.PolicyError
		if errors.As(err, &pe) {
			return typed(status, typ, err.Error(),
				&huma.ErrorDetail{Message: "no free IPv4 and borrowing not allowed", Location: "region", Value: map[string]any{"region": pe.Region, "family": pe.Family, "policy": pe.Policy.String()}})
		}
		return typed(status, typ, err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return huma.Error503ServiceUnavailable("request cancelled or timed out")
	}
	s.log.Error("internal error", "err", err.Error())
	return huma.Error500InternalServerError("internal error")
}

// problemFor is problem for the caller of ctx: a token bound to a tenant
// reads a lack of space, or a prefix it may not have, as
// registry.ForTenant words it (that the request does not fit, nothing of
// the region's free space), and the log keeps the whole error for the
// operator. Every other caller reads it whole: a token bound to no tenant
// is the operator's own automation, and may read the same through
// /v1/pools and /v1/report.
func (s *Server) problemFor(ctx context.Context, err error) error {
	if principalOf(ctx).token.Tenant != "" {
		if short, changed := registry.ForTenant(err); changed {
			s.log.LogAttrs(ctx, slog.LevelInfo, "refused", slog.String("token_id", principalOf(ctx).token.ID), slog.String("err", err.Error()))
			err = short
		}
	}
	return s.problem(err)
}

// ---- regions

type regionBody struct {
	Name        string        `json:"name" minLength:"1" maxLength:"63" doc:"lower-case letters, digits and '-'"`
	Country     string        `json:"country" minLength:"2" maxLength:"2" doc:"ISO 3166-1 alpha-2"`
	Subdivision string        `json:"subdivision,omitempty" maxLength:"6" doc:"ISO 3166-2, e.g. US-VA"`
	City        string        `json:"city,omitempty" maxLength:"128"`
	BorrowFrom  string        `json:"borrow_from,omitempty" doc:"none, any, or R1,R2" default:"none"`
	BorrowUnit  int           `json:"borrow_unit,omitempty" minimum:"8" maximum:"32" doc:"IPv4 prefix length borrowed at a time (default 24)"`
	Tags        registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE attributes"`
}

type regionOut struct {
	ETag string `header:"ETag"`
	Body registry.Region
}

type regionsOut struct {
	Body []registry.Region
}

func (s *Server) routeRegions(api huma.API) {
	huma.Register(api, op("list-regions", http.MethodGet, "/v1/regions", "List regions", auth.ScopeRead, true),
		func(ctx context.Context, in *struct {
			Tag []string `query:"tag,explode" doc:"KEY=VALUE; repeat the parameter for objects carrying every pair"`
		}) (*regionsOut, error) {
			tags, err := parseTagQuery(in.Tag)
			if err != nil {
				return nil, s.problem(err)
			}
			rs, err := s.reg.RegionsTagged(ctx, tags)
			return &regionsOut{Body: nonNil(rs)}, s.problem(err)
		})
	huma.Register(api, op("get-region", http.MethodGet, "/v1/regions/{name}", "Get a region", auth.ScopeRead, true, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Name string `path:"name"`
		}) (*regionOut, error) {
			r, err := s.reg.Region(ctx, in.Name)
			if err != nil {
				return nil, s.problem(err)
			}
			return &regionOut{ETag: registry.ETag(r), Body: r}, nil
		})
	create := op("create-region", http.MethodPost, "/v1/regions", "Create a region", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	create.DefaultStatus = http.StatusCreated
	huma.Register(api, create, func(ctx context.Context, in *struct{ Body regionBody }) (*regionOut, error) {
		spec, err := in.Body.spec()
		if err != nil {
			return nil, s.problem(err)
		}
		r, err := s.reg.AddRegion(ctx, spec)
		if err != nil {
			return nil, s.problem(err)
		}
		return &regionOut{ETag: registry.ETag(r), Body: r}, nil
	})
	patch := op("update-region", http.MethodPatch, "/v1/regions/{name}", "Change a region's location or borrowing policy", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity)
	huma.Register(api, patch, func(ctx context.Context, in *struct {
		Name    string `path:"name"`
		IfMatch string `header:"If-Match" doc:"the ETag from a GET; the change is refused with 412 if the region changed since"`
		Body    struct {
			Country     *string       `json:"country,omitempty"`
			Subdivision *string       `json:"subdivision,omitempty"`
			City        *string       `json:"city,omitempty"`
			BorrowFrom  *string       `json:"borrow_from,omitempty"`
			BorrowUnit  *int          `json:"borrow_unit,omitempty" minimum:"8" maximum:"32"`
			Tags        registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE pairs to add or replace"`
			Untag       []string      `json:"untag,omitempty" maxItems:"32" doc:"keys to remove"`
		}
	}) (*regionOut, error) {
		b := in.Body
		p := registry.RegionPatch{Country: b.Country, Subdivision: b.Subdivision, City: b.City, BorrowBits: b.BorrowUnit, TagPatch: registry.TagPatch{Set: b.Tags, Unset: b.Untag}}
		if b.BorrowFrom != nil {
			pol, err := registry.ParseBorrowPolicy(*b.BorrowFrom)
			if err != nil {
				return nil, s.problem(fmt.Errorf("%w: %w", err, registry.ErrInvalid))
			}
			p.Borrow = &pol
		}
		r, err := s.reg.PatchRegion(ctx, in.Name, in.IfMatch, p)
		if err != nil {
			return nil, s.problem(err)
		}
		return &regionOut{ETag: registry.ETag(r), Body: r}, nil
	})
}

func (b regionBody) spec() (registry.RegionSpec, error) {
	pol, err := registry.ParseBorrowPolicy(b.BorrowFrom)
	if err != nil {
		return registry.RegionSpec{}, fmt.Errorf("%w: %w", err, registry.ErrInvalid)
	}
	return registry.RegionSpec{Name: b.Name, Location: location.Location{Country: b.Country, Subdivision: b.Subdivision, City: b.City}, Borrow: pol, BorrowBits: b.BorrowUnit, Tags: b.Tags}, nil
}

// ---- blocks and pools

type blockBody struct {
	Prefix            string        `json:"prefix" doc:"CIDR prefix, no host bits"`
	Source            string        `json:"source" enum:"rir,transfer,byoip,private"`
	Registry          string        `json:"registry,omitempty" enum:"afrinic,apnic,arin,lacnic,ripe"`
	RegisteredCountry string        `json:"registered_country,omitempty" maxLength:"2"`
	From              string        `json:"from,omitempty" maxLength:"200"`
	Price             string        `json:"price,omitempty" doc:"amount with at most two decimals" maxLength:"24"`
	Currency          string        `json:"currency,omitempty" maxLength:"3"`
	Date              string        `json:"date,omitempty" doc:"YYYY-MM-DD" maxLength:"10"`
	Note              string        `json:"note,omitempty" maxLength:"1000"`
	Space             string        `json:"space,omitempty" maxLength:"63" doc:"private blocks: the space (VRF); default private"`
	Tags              registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE attributes"`
}

type poolBody struct {
	Prefix  string        `json:"prefix"`
	Region  string        `json:"region"`
	Purpose string        `json:"purpose,omitempty" maxLength:"200"`
	UseAll  bool          `json:"use_all,omitempty" doc:"hand out every address: no IPv4 network and broadcast, no IPv6 subnet-router anycast kept back (NAT pools)"`
	Space   string        `json:"space,omitempty" maxLength:"63" doc:"the space of the block, when blocks of several spaces hold the prefix"`
	Tags    registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE attributes"`
}

func parsePrefix(field, s string) (netip.Prefix, error) {
	p, err := prefix.Parse(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %w: %w", field, err, registry.ErrInvalid)
	}
	return p, nil
}

func (s *Server) routeBlocksPools(api huma.API) {
	huma.Register(api, op("list-blocks", http.MethodGet, "/v1/blocks", "List blocks with provenance", auth.ScopeRead, false),
		func(ctx context.Context, in *struct {
			Tag   []string `query:"tag,explode" doc:"KEY=VALUE; repeat the parameter for objects carrying every pair"`
			Space string   `query:"space" doc:"only the blocks of this space"`
		}) (*struct{ Body []registry.Block }, error) {
			tags, err := parseTagQuery(in.Tag)
			if err != nil {
				return nil, s.problem(err)
			}
			bs, err := s.reg.BlocksWhere(ctx, in.Space, tags)
			return &struct{ Body []registry.Block }{nonNil(bs)}, s.problem(err)
		})
	cb := op("create-block", http.MethodPost, "/v1/blocks", "Record a block and its provenance", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	cb.DefaultStatus = http.StatusCreated
	huma.Register(api, cb, func(ctx context.Context, in *struct{ Body blockBody }) (*struct{ Body registry.Block }, error) {
		b := in.Body
		p, err := parsePrefix("prefix", b.Prefix)
		if err != nil {
			return nil, s.problem(err)
		}
		blk := registry.Block{Prefix: p, Source: registry.Source(b.Source), Registry: b.Registry, RegisteredCountry: b.RegisteredCountry, From: b.From, Date: b.Date, Note: b.Note, Space: b.Space, Tags: b.Tags}
		if b.Price != "" {
			cur := b.Currency
			if cur == "" {
				cur = "USD"
			}
			m, err := registry.ParseMoney(b.Price, cur)
			if err != nil {
				return nil, s.problem(fmt.Errorf("%w: %w", err, registry.ErrInvalid))
			}
			blk.Price = &m
		} else if b.Currency != "" {
			return nil, s.problem(fmt.Errorf("currency without price: %w", registry.ErrInvalid))
		}
		out, err := s.reg.AddBlock(ctx, blk)
		if err != nil {
			return nil, s.problem(err)
		}
		return &struct{ Body registry.Block }{out}, nil
	})
	huma.Register(api, op("list-pools", http.MethodGet, "/v1/pools", "List pools with their use", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Tag    []string `query:"tag,explode" doc:"KEY=VALUE; repeat the parameter for objects carrying every pair"`
			Region string   `query:"region"`
		}) (*struct{ Body []registry.PoolUsage }, error) {
			tags, err := parseTagQuery(in.Tag)
			if err != nil {
				return nil, s.problem(err)
			}
			ps, err := s.reg.PoolsTagged(ctx, in.Region, tags)
			return &struct{ Body []registry.PoolUsage }{nonNil(ps)}, s.problem(err)
		})
	cp := op("create-pool", http.MethodPost, "/v1/pools", "Dedicate part of a block to a region", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	cp.DefaultStatus = http.StatusCreated
	huma.Register(api, cp, func(ctx context.Context, in *struct{ Body poolBody }) (*struct{ Body registry.Pool }, error) {
		p, err := parsePrefix("prefix", in.Body.Prefix)
		if err != nil {
			return nil, s.problem(err)
		}
		out, err := s.reg.AddPool(ctx, registry.PoolSpec{Prefix: p, Region: in.Body.Region, Purpose: in.Body.Purpose, UseAll: in.Body.UseAll, Space: in.Body.Space, Tags: in.Body.Tags})
		if err != nil {
			return nil, s.problem(err)
		}
		return &struct{ Body registry.Pool }{out}, nil
	})
}

// ---- assignments

type allocBody struct {
	Region    string            `json:"region,omitempty" doc:"required unless address or prefix is given"`
	Address   string            `json:"address,omitempty" maxLength:"64" doc:"take exactly this address (its /32 or /128), from the pool that holds it"`
	Prefix    string            `json:"prefix,omitempty" maxLength:"64" doc:"take exactly this prefix, from the pool that holds it"`
	Family    int               `json:"family,omitempty" enum:"4,6" doc:"default 6"`
	Len       int               `json:"len,omitempty" minimum:"1" maximum:"128" doc:"default: one address"`
	Count     int               `json:"count,omitempty" minimum:"1" maximum:"1048576" doc:"default 1"`
	DualStack bool              `json:"dual_stack,omitempty" doc:"one IPv6 /128 and one IPv4 /32 per item, both or neither"`
	Tenant    string            `json:"tenant,omitempty" maxLength:"128"`
	Resource  string            `json:"resource,omitempty" maxLength:"256"`
	Name      string            `json:"name,omitempty" maxLength:"253"`
	Pool      string            `json:"pool,omitempty" maxLength:"63" doc:"take the space from this child pool (POST /v1/child-pools) instead of the region's pools"`
	Tags      map[string]string `json:"tags,omitempty" maxProperties:"32" doc:"KEY=VALUE tags set on every assignment the request makes"`
	Space     string            `json:"space,omitempty" maxLength:"63" doc:"with address or prefix: the space (VRF) whose pool must hold it; with region: take from the region's pools of this space only (default: the global and the built-in private space, never a named space's pools)"`
}

type assignmentsOut struct {
	Body []registry.Assignment
}

type pageOut struct {
	Link string `header:"Link" doc:"rel=next: the next page"`
	Body pageBody
}

type assignmentOut struct {
	ETag string `header:"ETag"`
	Body registry.Assignment
}

// cursor is opaque to clients: base64 of "a" and the registry's cursor
// (AssignmentFilter.NextCursor: "ID", or "PREFIX,ID" for a page in
// address order).
func encodeCursor(c string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a" + c))
}

// setCursor sets f's cursor from c, as encodeCursor wrote it.
func setCursor(f *registry.AssignmentFilter, c string) error {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'a' {
		return fmt.Errorf("cursor %q: not a cursor this server gave: %w", c, registry.ErrInvalid)
	}
	return f.SetCursor(string(b[1:]))
}

func (s *Server) routeAssignments(api huma.API) {
	alloc := op("allocate", http.MethodPost, "/v1/assignments", "Allocate one or more prefixes, all or nothing", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	alloc.DefaultStatus = http.StatusCreated
	alloc.MaxBodyBytes = 1 << 20 // room for 1000 requests
	alloc.Description = "The body is a list of requests answered in one transaction. With an Idempotency-Key header a retry returns the original assignments; the same key with a different body is 409. Keys belong to the requests' tenant (one tenant per keyed list), the same as the CLI's --key, whichever token sends them. No room is 409 naming the region, family and borrowing policy; to a token bound to a tenant only that the request does not fit."
	huma.Register(api, alloc, func(ctx context.Context, in *struct {
		Key  string      `header:"Idempotency-Key" maxLength:"256"`
		Body []allocBody `minItems:"1" maxItems:"1000"`
	}) (*assignmentsOut, error) {
		pr := principalOf(ctx)
		// The registry scopes the key (by tenant), the same as locally.
		b := registry.Batch{Key: in.Key}
		for i, q := range in.Body {
			specific, err := specificSpace(i, q)
			if err != nil {
				return nil, s.problem(err)
			}
			if pr.token.Tenant != "" {
				if q.Tenant != "" && q.Tenant != pr.token.Tenant {
					return nil, huma.Error403Forbidden(fmt.Sprintf("request %d: this token is bound to tenant %s", i+1, pr.token.Tenant))
				}
				q.Tenant = pr.token.Tenant
			}
			b.Requests = append(b.Requests, registry.Request{Region: q.Region, Family: q.Family, Bits: q.Len, Count: q.Count,
				DualStack: q.DualStack, Tenant: q.Tenant, Resource: q.Resource, Name: q.Name, Prefix: specific, Pool: q.Pool, Tags: q.Tags, Space: q.Space})
		}
		out, err := s.reg.AllocateAll(ctx, b)
		if err != nil {
			s.allocFailures.WithLabelValues(reason(err)).Inc()
			return nil, s.problemFor(ctx, err)
		}
		s.allocations.Add(float64(len(out)))
		return &assignmentsOut{Body: out}, nil
	})

	huma.Register(api, op("list-assignments", http.MethodGet, "/v1/assignments", "List assignments a page at a time: newest last, or in address order for a region's page", auth.ScopeRead, true, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Tag      []string `query:"tag,explode" doc:"KEY=VALUE; repeat the parameter for objects carrying every pair"`
			Region   string   `query:"region"`
			Tenant   string   `query:"tenant"`
			Family   int      `query:"family" doc:"4 or 6"`
			State    string   `query:"state" enum:",assigned,quarantined,released"`
			Within   string   `query:"within" doc:"only assignments inside this prefix"`
			Contains string   `query:"contains" doc:"only the assignment holding this address or prefix"`
			Name     string   `query:"name" doc:"only the live (not released) assignments with this exact DNS name"`
			Resource string   `query:"resource" doc:"only the assignments of this exact resource"`
			Cursor   string   `query:"cursor" doc:"the next of the page before. A region's page (without a tenant, name, resource or tag, unless of quarantined or released alone) comes in address order (by first address, IPv4 first, then length, then id), every other page by id; a cursor of the other order, such as a region's from before address order, is 422: start again from the first page"`
			Limit    int      `query:"limit" minimum:"1" maximum:"1000" default:"100"`
		}) (*pageOut, error) {
			if in.Family != 0 && in.Family != 4 && in.Family != 6 {
				return nil, s.problem(fmt.Errorf("family %d: must be 4 or 6: %w", in.Family, registry.ErrInvalid))
			}
			f := registry.AssignmentFilter{Family: in.Family, Limit: in.Limit + 1}
			tags, err := parseTagQuery(in.Tag)
			if err != nil {
				return nil, s.problem(err)
			}
			f.Tags = tags
			pr := principalOf(ctx)
			if t := pr.tenant(); t != nil {
				if in.Tenant != "" && in.Tenant != *t {
					return nil, huma.Error403Forbidden("this token is bound to tenant " + *t)
				}
				f.Tenant = t
			} else if in.Tenant != "" {
				f.Tenant = &in.Tenant
			}
			if in.State != "" {
				f.States = []registry.State{registry.State(in.State)}
			}
			if in.Within != "" {
				p, err := parsePrefix("within", in.Within)
				if err != nil {
					return nil, s.problem(err)
				}
				f.Within = p
			}
			if in.Contains != "" {
				p, _, err := prefix.ParsePrefixOrAddr(in.Contains)
				if err != nil {
					return nil, s.problem(fmt.Errorf("contains: %w: %w", err, registry.ErrInvalid))
				}
				f.Contains = p
			}
			f.Region = in.Region
			f.Name, f.Resource = in.Name, in.Resource
			if in.Cursor != "" {
				// After every filter: the page's order (ByAddress) and so
				// the cursor's kind depend on them.
				if err := setCursor(&f, in.Cursor); err != nil {
					return nil, s.problem(err)
				}
			}
			as, err := s.reg.Assignments(ctx, f)
			if err != nil {
				return nil, s.problem(err)
			}
			out := &pageOut{}
			if len(as) > in.Limit {
				as = as[:in.Limit]
				out.Body.Next = encodeCursor(f.NextCursor(as[len(as)-1]))
				// The next page keeps every filter of this one.
				q := url.Values{}
				for k, v := range map[string]string{"region": in.Region, "tenant": in.Tenant, "state": in.State, "within": in.Within, "contains": in.Contains,
					"name": in.Name, "resource": in.Resource} {
					if v != "" {
						q.Set(k, v)
					}
				}
				if in.Family != 0 {
					q.Set("family", strconv.Itoa(in.Family))
				}
				for _, t := range in.Tag {
					q.Add("tag", t)
				}
				q.Set("cursor", out.Body.Next)
				q.Set("limit", strconv.Itoa(in.Limit))
				out.Link = nextLink("/v1/assignments", q)
			}
			out.Body.Items = nonNil(as)
			return out, nil
		})

	huma.Register(api, op("get-assignment", http.MethodGet, "/v1/assignments/{id}", "Get an assignment", auth.ScopeRead, true, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			ID int64 `path:"id" minimum:"1"`
		}) (*assignmentOut, error) {
			a, err := s.reg.Assignment(ctx, in.ID, principalOf(ctx).tenant())
			if err != nil {
				return nil, s.problem(err)
			}
			return &assignmentOut{ETag: registry.ETag(a), Body: a}, nil
		})

	huma.Register(api, op("update-assignment", http.MethodPatch, "/v1/assignments/{id}", "Change an assignment's name, resource or tags", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			ID      int64  `path:"id" minimum:"1"`
			IfMatch string `header:"If-Match" doc:"the ETag from a GET; the change is refused with 412 if the assignment changed since"`
			Body    struct {
				Name     *string       `json:"name,omitempty" maxLength:"253"`
				Resource *string       `json:"resource,omitempty" maxLength:"256"`
				Tags     registry.Tags `json:"tags,omitempty" doc:"KEY=VALUE pairs to add or replace"`
				Untag    []string      `json:"untag,omitempty" maxItems:"32" doc:"keys to remove"`
			}
		}) (*assignmentOut, error) {
			a, err := s.reg.PatchAssignment(ctx, in.ID, in.IfMatch, principalOf(ctx).tenant(),
				registry.AssignmentPatch{Name: in.Body.Name, Resource: in.Body.Resource, TagPatch: registry.TagPatch{Set: in.Body.Tags, Unset: in.Body.Untag}})
			if err != nil {
				return nil, s.problem(err)
			}
			return &assignmentOut{ETag: registry.ETag(a), Body: a}, nil
		})

	huma.Register(api, op("release-assignment", http.MethodPost, "/v1/assignments/{id}/release", "Release an assignment into quarantine", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			ID   int64 `path:"id" minimum:"1"`
			Body *struct {
				Quarantine string `json:"quarantine,omitempty" doc:"cool-down before re-use, e.g. 24h or 0 (default 24h)" maxLength:"32"`
			}
		}) (*assignmentOut, error) {
			q := registry.DefaultQuarantine
			if in.Body != nil && in.Body.Quarantine != "" {
				d, err := time.ParseDuration(in.Body.Quarantine)
				if err != nil || d < 0 {
					return nil, s.problem(fmt.Errorf("quarantine %q: use a duration such as 24h or 0: %w", in.Body.Quarantine, registry.ErrInvalid))
				}
				q = d
			}
			a, err := s.reg.Release(ctx, registry.Target{ID: in.ID}, q, principalOf(ctx).tenant())
			if err != nil {
				return nil, s.problem(err)
			}
			return &assignmentOut{ETag: registry.ETag(a), Body: a}, nil
		})
}

// nextLink is an RFC 8288 Link header to the next page.
func nextLink(path string, q url.Values) string {
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

func reason(err error) string {
	switch {
	case errors.Is(err, registry.ErrPolicy):
		return "policy"
	case errors.Is(err, registry.ErrNoSpace):
		return "no_space"
	case errors.Is(err, registry.ErrIdempotency):
		return "idempotency"
	case errors.Is(err, registry.ErrInvalid):
		return "invalid"
	case errors.Is(err, registry.ErrNotFound):
		return "not_found"
	}
	return "other"
}

// ---- read-only views

func (s *Server) routeReadOnly(api huma.API) {
	huma.Register(api, op("show", http.MethodGet, "/v1/show", "Which block, pool, region and assignment hold an address, and their history", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Q     string `query:"q" required:"true" doc:"an address or prefix"`
			Space string `query:"space" doc:"the space to look in; default the global space (a private address: the one space whose pool holds it)"`
			Limit int    `query:"limit" minimum:"1" maximum:"10000" default:"100" doc:"a pool: how many of its assignments to list (live first, then released, each by id)"`
			After string `query:"after" maxLength:"40" doc:"a pool: the cursor the page before gave as next (empty: the first page)"`
		}) (*struct{ Body registry.Holding }, error) {
			p, _, err := prefix.ParsePrefixOrAddr(in.Q)
			if err != nil {
				return nil, s.problem(fmt.Errorf("q: %w: %w", err, registry.ErrInvalid))
			}
			h, err := s.reg.ShowWith(ctx, p, registry.ShowOptions{Space: in.Space, Limit: in.Limit, After: in.After})
			if err != nil {
				return nil, s.problem(err)
			}
			h.Events = nonNil(h.Events)
			return &struct{ Body registry.Holding }{h}, nil
		})
	huma.Register(api, op("report", http.MethodGet, "/v1/report", "Per region and family: size, use, rate, IPv4 runway, IPv6 share", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Region string `query:"region"`
		}) (*struct{ Body []registry.ReportRow }, error) {
			rows, err := s.reg.Report(ctx, in.Region)
			return &struct{ Body []registry.ReportRow }{nonNil(rows)}, s.problem(err)
		})
	huma.Register(api, op("list-relocations", http.MethodGet, "/v1/relocations", "List relocations", auth.ScopeRead, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []registry.Relocation }, error) {
			rs, err := s.reg.Relocations(ctx)
			return &struct{ Body []registry.Relocation }{nonNil(rs)}, s.problem(err)
		})
	huma.Register(api, op("list-events", http.MethodGet, "/v1/events", "Read the change log in commit order, a page at a time; a reader that passes each page's last seq as after= reads every event once", auth.ScopeRead, false),
		func(ctx context.Context, in *struct {
			Since time.Time `query:"since" doc:"only events at or after this time (RFC 3339)"`
			After int64     `query:"after" minimum:"0" doc:"the cursor: the seq of the last event read (0 from the start); events come in commit order, so seq is unique but not always increasing"`
			Limit int       `query:"limit" minimum:"1" maximum:"10000" default:"1000"`
		}) (*struct {
			Link string `header:"Link" doc:"rel=next: the next page"`
			Body struct {
				Items []registry.Event `json:"items"`
				Next  int64            `json:"next,omitempty" doc:"pass as after= for the next page; absent on the last"`
			}
		}, error) {
			evs, err := s.reg.Events(ctx, registry.EventFilter{Since: in.Since, AfterSeq: in.After, Limit: in.Limit + 1})
			if err != nil {
				return nil, s.problem(err)
			}
			out := &struct {
				Link string `header:"Link" doc:"rel=next: the next page"`
				Body struct {
					Items []registry.Event `json:"items"`
					Next  int64            `json:"next,omitempty" doc:"pass as after= for the next page; absent on the last"`
				}
			}{}
			if len(evs) > in.Limit {
				evs = evs[:in.Limit]
				out.Body.Next = evs[len(evs)-1].Seq
				q := url.Values{}
				if !in.Since.IsZero() {
					q.Set("since", in.Since.Format(time.RFC3339Nano))
				}
				q.Set("after", strconv.FormatInt(out.Body.Next, 10))
				q.Set("limit", strconv.Itoa(in.Limit))
				out.Link = nextLink("/v1/events", q)
			}
			out.Body.Items = nonNil(evs)
			return out, nil
		})
}

// ---- tokens

func (s *Server) routeTokens(api huma.API) {
	huma.Register(api, op("list-tokens", http.MethodGet, "/v1/tokens", "List tokens (never their secrets)", auth.ScopeAdmin, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []auth.Token }, error) {
			ts, err := s.tokens.List(ctx)
			return &struct{ Body []auth.Token }{nonNil(ts)}, s.problem(err)
		})
	ct := op("create-token", http.MethodPost, "/v1/tokens", "Issue a token; its secret is shown once", auth.ScopeAdmin, false, http.StatusNotFound, http.StatusUnprocessableEntity)
	ct.DefaultStatus = http.StatusCreated
	huma.Register(api, ct, func(ctx context.Context, in *struct {
		Body struct {
			Scope     string   `json:"scope" enum:"read,allocate,admin"`
			Tenant    string   `json:"tenant,omitempty" maxLength:"128"`
			Name      string   `json:"name,omitempty" maxLength:"200"`
			Expires   string   `json:"expires,omitempty" doc:"lifetime, e.g. 720h; none means no expiry" maxLength:"32"`
			AllowFrom []string `json:"allow_from,omitempty" doc:"client networks the token may be used from, e.g. 192.0.2.0/24; none means any" maxItems:"64"`
		}
	}) (*struct {
		Body struct {
			auth.Token
			Secret string `json:"secret"`
		}
	}, error) {
		sc, err := auth.ParseScope(in.Body.Scope)
		if err != nil {
			return nil, s.problem(err)
		}
		var exp time.Duration
		if in.Body.Expires != "" {
			if exp, err = time.ParseDuration(in.Body.Expires); err != nil || exp <= 0 {
				return nil, s.problem(fmt.Errorf("expires %q: use a positive duration such as 720h: %w", in.Body.Expires, registry.ErrInvalid))
			}
		}
		var allow []netip.Prefix
		for i, a := range in.Body.AllowFrom {
			p, err := netip.ParsePrefix(strings.TrimSpace(a))
			if err != nil {
				return nil, s.problem(fmt.Errorf("allow_from[%d] %q: not a prefix such as 192.0.2.0/24: %w", i, a, registry.ErrInvalid))
			}
			allow = append(allow, p)
		}
		t, secret, err := s.tokens.Create(ctx, auth.Spec{Name: in.Body.Name, Scope: sc, Tenant: in.Body.Tenant, Expires: exp, AllowFrom: allow})
		if err != nil {
			return nil, s.problem(err)
		}
		out := &struct {
			Body struct {
				auth.Token
				Secret string `json:"secret"`
			}
		}{}
		out.Body.Token, out.Body.Secret = t, secret
		return out, nil
	})
	rt := op("revoke-token", http.MethodDelete, "/v1/tokens/{id}", "Revoke a token at once", auth.ScopeAdmin, false, http.StatusNotFound)
	rt.DefaultStatus = http.StatusNoContent
	huma.Register(api, rt, func(ctx context.Context, in *struct {
		ID string `path:"id" maxLength:"32"`
	}) (*struct{}, error) {
		return nil, s.problem(s.tokens.Revoke(ctx, in.ID))
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
