package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/miekg/dns"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/authdns/manage"
	"github.com/cadastre-ipam/cadastre/authdns/zone"
	"github.com/cadastre-ipam/cadastre/registry"
)

// WithDNS serves zones, static records and TSIG keys under /v1 through m
// (the rules of `cadastre zone`, `record` and `tsig`). Without it those
// routes answer 503.
func WithDNS(m *manage.Manager) Option {
	return func(s *Server) { s.dns = m }
}

// ZoneCreate is the body of POST /v1/zones: the options of `cadastre zone add`.
type ZoneCreate struct {
	Name          string   `json:"name,omitempty" maxLength:"255" doc:"the zone's name; for a reverse zone optional (its prefix names it)"`
	Kind          string   `json:"kind,omitempty" enum:"forward,reverse" doc:"forward (default) or reverse"`
	Prefix        string   `json:"prefix,omitempty" maxLength:"64" doc:"address space of a reverse zone"`
	Synthesize    string   `json:"synthesize,omitempty" maxLength:"255" doc:"template for the names of unnamed addresses, e.g. ip-{addr}.dyn.example.net"`
	NS            []string `json:"ns,omitempty" maxItems:"16" doc:"name servers (default ns1.ZONE, which then needs ns_addr)"`
	NSAddr        []string `json:"ns_addr,omitempty" maxItems:"32" doc:"addresses of in-zone name servers, HOST=IP"`
	TTL           uint32   `json:"ttl,omitempty" doc:"TTL of the zone's records (default 3600)"`
	AllowTransfer []string `json:"allow_transfer,omitempty" maxItems:"64" doc:"who may AXFR/IXFR: a prefix or key:TSIG-NAME"`
	Notify        []string `json:"notify,omitempty" maxItems:"64" doc:"secondaries to NOTIFY, address:port"`
	Space         string   `json:"space,omitempty" maxLength:"63" doc:"the space (VRF) whose assignments give the zone its names and PTRs (default: the global and the built-in private space)"`
}

// ZonePatch is the body of PATCH /v1/zones/{name}: the options of
// `cadastre zone update`; absent fields keep their value, lists replace.
type ZonePatch struct {
	NS            *[]string `json:"ns,omitempty" maxItems:"16" doc:"replaces the name servers"`
	NSAddr        []string  `json:"ns_addr,omitempty" maxItems:"32" doc:"addresses of in-zone name servers, HOST=IP"`
	AllowTransfer *[]string `json:"allow_transfer,omitempty" maxItems:"64" doc:"replaces the transfer ACL ([] for nobody)"`
	Notify        *[]string `json:"notify,omitempty" maxItems:"64" doc:"replaces the NOTIFY list ([] for none)"`
	TTL           uint32    `json:"ttl,omitempty"`
	SOARefresh    uint32    `json:"soa_refresh,omitempty"`
	SOARetry      uint32    `json:"soa_retry,omitempty"`
	SOAExpire     uint32    `json:"soa_expire,omitempty"`
	SOAMinimum    uint32    `json:"soa_minimum,omitempty"`
	Space         *string   `json:"space,omitempty" maxLength:"63" doc:"replaces the zone's space (\"global\": the default, global and built-in private space)"`
}

// ZoneSplit is the body of POST /v1/zones/{name}/split: the options of
// `cadastre zone split`.
type ZoneSplit struct {
	PerRegion bool     `json:"per_region,omitempty" doc:"a child for every region with live names under REGION.NAME and no child yet"`
	Regions   []string `json:"regions,omitempty" maxItems:"256" doc:"a child for each of these regions"`
	Stage     bool     `json:"stage,omitempty" doc:"stop once the children are staged (served to the secondaries, not delegated); split again to delegate them"`
	WaitSecs  int      `json:"wait_seconds,omitempty" minimum:"-1" maximum:"86400" doc:"how long to wait for the secondaries to serve the children before delegating them: 0 (or none) is 600, -1 does not wait"`
}

// RecordCreate is the body of POST /v1/zones/{zone}/records.
type RecordCreate struct {
	Name string `json:"name" minLength:"1" maxLength:"255" doc:"relative to the zone, fully qualified (ending in a dot), or @ for the apex"`
	Type string `json:"type" minLength:"1" maxLength:"16" doc:"A, AAAA, TXT, CNAME, MX, ..."`
	Data string `json:"data" minLength:"1" maxLength:"4000" doc:"the record's data as in a zone file (TXT strings in double quotes)"`
	TTL  uint32 `json:"ttl,omitempty" doc:"default: the zone's"`
}

// TSIGCreate is the body of POST /v1/tsig-keys.
type TSIGCreate struct {
	Name        string   `json:"name" minLength:"1" maxLength:"255"`
	Algorithm   string   `json:"algorithm,omitempty" enum:"hmac-sha256,hmac-sha384,hmac-sha512" doc:"default hmac-sha256"`
	Secret      string   `json:"secret,omitempty" maxLength:"256" doc:"base64; default: a new 32-byte secret"`
	GrantUpdate []string `json:"grant_update,omitempty" maxItems:"64" doc:"name suffixes RFC 2136 updates signed with the key may change"`
}

// TSIGPatch is the body of PATCH /v1/tsig-keys/{name}: absent fields
// keep what the key has.
type TSIGPatch struct {
	Algorithm   string    `json:"algorithm,omitempty" enum:"hmac-sha256,hmac-sha384,hmac-sha512" doc:"the key's new algorithm (its secret is kept unless a new one is given)"`
	Secret      string    `json:"secret,omitempty" maxLength:"256" doc:"base64: the new secret"`
	NewSecret   bool      `json:"new_secret,omitempty" doc:"generate a new 32-byte secret, returned in this answer only"`
	GrantUpdate *[]string `json:"grant_update,omitempty" maxItems:"64" doc:"replace the name suffixes RFC 2136 updates signed with the key may change ([] for none)"`
}

// TSIGCreated is a new TSIG key with its secret, shown this once.
type TSIGCreated struct {
	Key    zone.TSIGKey `json:"key"`
	Secret string       `json:"secret" doc:"base64; never shown again"`
}

type zoneOut struct {
	ETag string `header:"ETag"`
	Body zone.Zone
}

// field adds to a refusal of bad input the place in the request it came
// from, so that a client can point at the field.
func (s *Server) field(err error, loc string) error {
	if err == nil {
		return nil
	}
	pe := s.problem(err)
	var m *huma.ErrorModel
	if errors.As(pe, &m) && (m.Status == http.StatusUnprocessableEntity || m.Status == http.StatusBadRequest) {
		m.Errors = append(m.Errors, &huma.ErrorDetail{Message: err.Error(), Location: loc})
	}
	return pe
}

func (s *Server) dnsReady() error {
	if s.dns == nil {
		return huma.Error503ServiceUnavailable("DNS is not served by this server")
	}
	return nil
}

// recordCreated is a record as added, with what it hides when it
// delegates (manage.Manager.Hides).
type recordCreated struct {
	zone.Record
	Hides []string `json:"hides,omitempty" doc:"a delegation (NS below the apex, DNAME): the names of assignments and static records below it that the zone no longer answers (at most 100); written anyway, as the operator's (or a delegating tenant's) choice"`
}

// recordWriter checks that the caller may write (or delete) a static
// record of type typ at name (fully qualified): an admin anywhere, a token
// bound to a tenant only under its suffixes, never a name another holds
// (issue 10), and NS, DS or DNAME only if the tenant may delegate.
func (s *Server) recordWriter(ctx context.Context, name, typ string) error {
	p := principalOf(ctx)
	if p.token.Scope >= auth.ScopeAdmin {
		return nil
	}
	if p.token.Tenant == "" {
		return huma.Error403Forbidden("static records are written by an admin token or a token bound to a tenant")
	}
	return s.recordRefusal(s.reg.CheckRecordWrite(ctx, p.token.Tenant, name, typ))
}

// recordRefusal answers the name rules' refusal of a record write.
func (s *Server) recordRefusal(err error) error {
	if errors.Is(err, registry.ErrInvalid) {
		// Outside the tenant's suffixes, or a delegation it may not
		// make: not the caller's to write.
		return huma.Error403Forbidden(err.Error())
	}
	return s.problem(err)
}

// recordOwner is the fully qualified owner a record given as name would
// have in zone z.
func recordOwner(z, name string) (string, error) {
	if name == "@" || name == "" {
		return z, nil
	}
	if !strings.HasSuffix(name, ".") {
		name += "." + z
	}
	return zone.CanonicalName(name)
}

// routeDNS mounts zones, static records and TSIG keys.
func (s *Server) routeDNS(api huma.API) {
	huma.Register(api, op("list-zones", http.MethodGet, "/v1/zones", "List DNS zones", auth.ScopeRead, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []zone.Zone }, error) {
			if err := s.dnsReady(); err != nil {
				return nil, err
			}
			zs, err := s.dns.Zones(ctx)
			return &struct{ Body []zone.Zone }{nonNil(zs)}, s.problem(err)
		})
	huma.Register(api, op("get-zone", http.MethodGet, "/v1/zones/{name}", "Get a DNS zone", auth.ScopeRead, false, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Name string `path:"name" maxLength:"255"`
		}) (*zoneOut, error) {
			if err := s.dnsReady(); err != nil {
				return nil, err
			}
			z, err := s.dns.Zone(ctx, in.Name)
			if err != nil {
				return nil, s.problem(err)
			}
			return &zoneOut{ETag: manage.ZoneETag(z), Body: z}, nil
		})
	cz := op("create-zone", http.MethodPost, "/v1/zones", "Add a DNS zone, or the zones of a reverse prefix (as `cadastre zone add`)", auth.ScopeAdmin, false,
		http.StatusConflict, http.StatusUnprocessableEntity)
	cz.DefaultStatus = http.StatusCreated
	huma.Register(api, cz, func(ctx context.Context, in *struct{ Body ZoneCreate }) (*struct{ Body []zone.Zone }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		b := in.Body
		spec := manage.ZoneSpec{Name: b.Name, Synthesize: b.Synthesize,
			Config: zone.Config{TTL: b.TTL, NS: b.NS, AllowTransfer: b.AllowTransfer, Notify: b.Notify, Space: b.Space}}
		if b.Kind != "" {
			k, err := zone.ParseKind(b.Kind)
			if err != nil {
				return nil, s.field(err, "body.kind")
			}
			spec.Kind = k
		}
		if b.Prefix != "" {
			p, err := netip.ParsePrefix(b.Prefix)
			if err != nil {
				return nil, s.field(fmt.Errorf("prefix %q: %v: %w", b.Prefix, err, registry.ErrInvalid), "body.prefix")
			}
			spec.Prefix = p
		}
		for i, g := range b.NSAddr {
			gl, err := manage.ParseGlue(g)
			if err != nil {
				return nil, s.field(err, fmt.Sprintf("body.ns_addr[%d]", i))
			}
			spec.Glue = append(spec.Glue, gl)
		}
		zs, err := s.dns.AddZones(ctx, spec)
		return &struct{ Body []zone.Zone }{zs}, s.field(err, "body")
	})
	uz := op("update-zone", http.MethodPatch, "/v1/zones/{name}", "Change a zone's name servers, ACL, NOTIFY list, TTL or SOA timers, keeping keys and DS (as `cadastre zone update`)", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusPreconditionFailed, http.StatusUnprocessableEntity)
	huma.Register(api, uz, func(ctx context.Context, in *struct {
		Name    string `path:"name" maxLength:"255"`
		IfMatch string `header:"If-Match" doc:"the ETag from a GET; the change is refused with 412 if the zone's configuration changed since (no header: no check)"`
		Body    ZonePatch
	}) (*zoneOut, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		b := in.Body
		ch := manage.ZoneChange{TTL: b.TTL, Refresh: b.SOARefresh, Retry: b.SOARetry, Expire: b.SOAExpire, Minimum: b.SOAMinimum, IfMatch: in.IfMatch, Space: b.Space}
		if b.NS != nil {
			if len(*b.NS) == 0 {
				return nil, s.field(fmt.Errorf("ns: a zone needs at least one name server: %w", registry.ErrInvalid), "body.ns")
			}
			ch.NS = *b.NS
		}
		if b.AllowTransfer != nil {
			ch.AllowTransfer = append([]string{}, *b.AllowTransfer...)
		}
		if b.Notify != nil {
			ch.Notify = append([]string{}, *b.Notify...)
		}
		for i, g := range b.NSAddr {
			gl, err := manage.ParseGlue(g)
			if err != nil {
				return nil, s.field(err, fmt.Sprintf("body.ns_addr[%d]", i))
			}
			ch.Glue = append(ch.Glue, gl)
		}
		z, err := s.dns.Reconfigure(ctx, in.Name, ch)
		if err != nil {
			return nil, s.field(err, "body")
		}
		return &zoneOut{ETag: manage.ZoneETag(z), Body: z}, nil
	})
	dz := op("remove-zone", http.MethodDelete, "/v1/zones/{name}", "Remove a zone (or, by its prefix, the zones of a reverse prefix) with its records and keys", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusUnprocessableEntity)
	dz.DefaultStatus = http.StatusNoContent
	huma.Register(api, dz, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"255" doc:"a zone name, or a reverse prefix with its slash escaped (10.1.16.0%2F20)"`
	}) (*struct{}, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		_, err := s.dns.RemoveZones(ctx, in.Name)
		return nil, s.problem(err)
	})

	sz := op("split-zone", http.MethodPost, "/v1/zones/{name}/split", "Serve each region's names as a child zone REGION.NAME delegated from the zone, in one transaction (as `cadastre zone split`)", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	huma.Register(api, sz, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"255"`
		Body ZoneSplit
	}) (*struct{ Body []manage.SplitZone }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		out, err := s.dns.Split(ctx, in.Name, manage.SplitOptions{PerRegion: in.Body.PerRegion, Regions: in.Body.Regions, Stage: in.Body.Stage, Wait: waitOf(in.Body.WaitSecs), Log: s.log})
		if err != nil {
			return nil, s.field(err, "body")
		}
		return &struct{ Body []manage.SplitZone }{out}, nil
	})
	jz := op("join-zone", http.MethodPost, "/v1/zones/{name}/join", "Take split children back into their parent: a child, or a parent's every child (as `cadastre zone join`)", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusUnprocessableEntity)
	huma.Register(api, jz, func(ctx context.Context, in *struct {
		Name     string `path:"name" maxLength:"255"`
		WaitSecs int    `query:"wait_seconds" minimum:"-1" maximum:"86400" doc:"how long to wait for the secondaries to serve the parent before removing the children: 0 (or none) is 600, -1 does not wait"`
	}) (*struct{ Body []zone.Zone }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		zs, err := s.dns.Join(ctx, in.Name, manage.JoinOptions{Wait: waitOf(in.WaitSecs), Log: s.log})
		if err != nil {
			return nil, s.problem(err)
		}
		return &struct{ Body []zone.Zone }{zs}, nil
	})

	huma.Register(api, op("list-records", http.MethodGet, "/v1/zones/{zone}/records", "List a zone's static records (a tenant's token: those under its name suffixes)", auth.ScopeRead, true, http.StatusNotFound),
		func(ctx context.Context, in *struct {
			Zone string `path:"zone" maxLength:"255"`
		}) (*struct{ Body []zone.Record }, error) {
			if err := s.dnsReady(); err != nil {
				return nil, err
			}
			rs, err := s.dns.Records(ctx, in.Zone)
			if err != nil {
				return nil, s.problem(err)
			}
			if p := principalOf(ctx); p.token.Tenant != "" && p.token.Scope < auth.ScopeAdmin {
				out := rs[:0:0]
				for _, r := range rs {
					if s.reg.CheckRecordName(ctx, p.token.Tenant, r.Name) == nil {
						out = append(out, r)
					}
				}
				rs = out
			}
			return &struct{ Body []zone.Record }{nonNil(rs)}, nil
		})
	cr := op("create-record", http.MethodPost, "/v1/zones/{zone}/records", "Add a static record (admin; or a tenant's token, under its name suffixes)", auth.ScopeAllocate, true,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	cr.DefaultStatus = http.StatusCreated
	huma.Register(api, cr, func(ctx context.Context, in *struct {
		Zone string `path:"zone" maxLength:"255"`
		Body RecordCreate
	}) (*struct{ Body recordCreated }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		b := in.Body
		z, err := s.dns.Zone(ctx, in.Zone)
		if err != nil {
			return nil, s.problem(err)
		}
		owner, err := recordOwner(z.Name, b.Name)
		if err != nil {
			return nil, s.field(err, "body.name")
		}
		if _, ok := dns.StringToType[strings.ToUpper(b.Type)]; !ok {
			return nil, s.field(fmt.Errorf("record %s: unknown type %q: %w", owner, b.Type, registry.ErrInvalid), "body.type")
		}
		if err := s.recordWriter(ctx, owner, b.Type); err != nil {
			return nil, err
		}
		// The name rules are applied again inside the write transaction,
		// under the name's lock: the check above is made before it, and an
		// allocation of the same name may commit in between.
		// An admin's record is checked too: it may name freely, but never
		// a name another tenant's live assignment holds (409 name-taken).
		var refused error
		p := principalOf(ctx)
		check := func(ctx context.Context, tx registry.Tx, r zone.Record) error {
			refused = s.reg.CheckRecordWriteIn(ctx, tx, p.token.Tenant, r.Name, r.Type)
			if refused == nil {
				refused = manage.NSTargetCheck(ctx, tx, p.token.Tenant, r)
			}
			if refused == nil {
				refused = manage.ReverseRecordCheck(ctx, tx, z, p.token.Tenant, r)
			}
			return refused
		}
		r, err := s.dns.AddRecordChecked(ctx, check, z.Name, owner, b.Type, b.Data, b.TTL)
		if refused != nil {
			return nil, s.recordRefusal(refused)
		}
		if err != nil {
			loc := "body.data"
			if strings.Contains(err.Error(), "not in zone") || strings.Contains(err.Error(), "wildcard") {
				loc = "body.name"
			} else if strings.Contains(err.Error(), "the type") {
				loc = "body.type"
			}
			return nil, s.field(err, loc)
		}
		hidden, err := s.dns.Hides(ctx, z, r)
		if err != nil {
			return nil, s.problem(err)
		}
		return &struct{ Body recordCreated }{recordCreated{Record: r, Hides: hidden}}, nil
	})
	dr := op("remove-record", http.MethodDelete, "/v1/zones/{zone}/records/{id}", "Delete a static record (admin; or a tenant's token, under its name suffixes)", auth.ScopeAllocate, true,
		http.StatusNotFound)
	dr.DefaultStatus = http.StatusNoContent
	huma.Register(api, dr, func(ctx context.Context, in *struct {
		Zone string `path:"zone" maxLength:"255"`
		ID   int64  `path:"id" minimum:"1"`
	}) (*struct{}, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		z, err := s.dns.Zone(ctx, in.Zone)
		if err != nil {
			return nil, s.problem(err)
		}
		r, err := s.dns.Record(ctx, in.ID)
		if err != nil || r.ZoneID != z.ID {
			return nil, s.problem(fmt.Errorf("record %d in zone %s: %w", in.ID, z.Name, registry.ErrNotFound))
		}
		if err := s.recordWriter(ctx, r.Name, r.Type); err != nil {
			return nil, err
		}
		return nil, s.problem(s.dns.DeleteRecord(ctx, in.ID))
	})

	huma.Register(api, op("list-tsig-keys", http.MethodGet, "/v1/tsig-keys", "List TSIG keys with their update grants (never their secrets)", auth.ScopeAdmin, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []zone.TSIGKey }, error) {
			if err := s.dnsReady(); err != nil {
				return nil, err
			}
			ks, err := s.dns.TSIGKeys(ctx)
			return &struct{ Body []zone.TSIGKey }{nonNil(ks)}, s.problem(err)
		})
	ct := op("create-tsig-key", http.MethodPost, "/v1/tsig-keys", "Store a TSIG key; its secret is in this answer only", auth.ScopeAdmin, false,
		http.StatusConflict, http.StatusUnprocessableEntity)
	ct.DefaultStatus = http.StatusCreated
	huma.Register(api, ct, func(ctx context.Context, in *struct{ Body TSIGCreate }) (*struct{ Body TSIGCreated }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		b := in.Body
		alg := b.Algorithm
		if alg == "" {
			alg = "hmac-sha256"
		}
		var secret []byte
		if b.Secret != "" {
			var err error
			if secret, err = base64.StdEncoding.DecodeString(b.Secret); err != nil {
				return nil, s.field(fmt.Errorf("secret: not base64: %w", registry.ErrInvalid), "body.secret")
			}
		}
		k, sec, err := s.dns.AddTSIG(ctx, b.Name, alg, secret, b.GrantUpdate...)
		if err != nil {
			loc := "body.name"
			switch {
			case strings.Contains(err.Error(), "secret"):
				loc = "body.secret"
			case strings.Contains(err.Error(), "grant-update"):
				loc = "body.grant_update"
			}
			return nil, s.field(err, loc)
		}
		return &struct{ Body TSIGCreated }{TSIGCreated{Key: k, Secret: base64.StdEncoding.EncodeToString(sec)}}, nil
	})
	ut := op("update-tsig-key", http.MethodPatch, "/v1/tsig-keys/{name}", "Rotate a TSIG key's secret, change its algorithm or replace its update grants, keeping its name; a generated secret is in this answer only", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusUnprocessableEntity)
	huma.Register(api, ut, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"255"`
		Body TSIGPatch
	}) (*struct{ Body TSIGCreated }, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		b := in.Body
		ch := manage.TSIGChange{Algorithm: b.Algorithm, NewSecret: b.NewSecret, Grants: b.GrantUpdate}
		if b.Secret != "" {
			var err error
			if ch.Secret, err = base64.StdEncoding.DecodeString(b.Secret); err != nil {
				return nil, s.field(fmt.Errorf("secret: not base64: %w", registry.ErrInvalid), "body.secret")
			}
		}
		k, sec, err := s.dns.UpdateTSIG(ctx, in.Name, ch)
		if err != nil {
			loc := "body"
			switch {
			case strings.Contains(err.Error(), "secret"):
				loc = "body.secret"
			case strings.Contains(err.Error(), "grant-update"):
				loc = "body.grant_update"
			}
			return nil, s.field(err, loc)
		}
		out := TSIGCreated{Key: k}
		if sec != nil {
			out.Secret = base64.StdEncoding.EncodeToString(sec)
		}
		return &struct{ Body TSIGCreated }{out}, nil
	})
	dt := op("remove-tsig-key", http.MethodDelete, "/v1/tsig-keys/{name}", "Delete a TSIG key: transfers and updates signed with it are then refused", auth.ScopeAdmin, false, http.StatusNotFound)
	dt.DefaultStatus = http.StatusNoContent
	huma.Register(api, dt, func(ctx context.Context, in *struct {
		Name string `path:"name" maxLength:"255"`
	}) (*struct{}, error) {
		if err := s.dnsReady(); err != nil {
			return nil, err
		}
		return nil, s.problem(s.dns.RemoveTSIG(ctx, in.Name))
	})
}

// waitOf is a split's or join's wait from its wait_seconds: 0 the
// default (manage.DefaultWait), -1 none.
func waitOf(secs int) time.Duration {
	if secs < 0 {
		return -1
	}
	return time.Duration(secs) * time.Second
}
