package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// parseGeoAddr reads one address to locate: no zone (it names an
// interface, not a place), no prefix.
func parseGeoAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address: %w", s, registry.ErrInvalid)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s: zone %%%s refused: a zone names a local interface, not a place: %w", s, a.Zone(), registry.ErrInvalid)
	}
	return a, nil
}

type geoItem struct {
	Query  string      `json:"query"`
	Result *geo.Result `json:"result,omitempty"`
	Error  string      `json:"error,omitempty" doc:"why this item was not looked up"`
}

func (s *Server) lookup(a netip.Addr, all bool) geo.Result {
	if all {
		return s.geo.LookupAll(a)
	}
	return s.geo.Lookup(a)
}

func (s *Server) routeGeo(api huma.API) {
	huma.Register(api, op("geo-lookup", http.MethodGet, "/v1/geo/{ip}", "Where is this address? From the register, imported feeds and MMDB files, with special and transition addresses decoded", auth.ScopeRead, true, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			IP  string `path:"ip" maxLength:"64"`
			All bool   `query:"all" doc:"every source's answer, not only the best-ranked"`
		}) (*struct{ Body geo.Result }, error) {
			if s.geo == nil {
				return nil, huma.Error503ServiceUnavailable("geolocation is not loaded")
			}
			a, err := parseGeoAddr(in.IP)
			if err != nil {
				return nil, s.problem(err)
			}
			return &struct{ Body geo.Result }{s.lookup(a, in.All)}, nil
		})
	batch := op("geo-lookup-batch", http.MethodPost, "/v1/geo", "Locate a list of addresses; a bad item gets its own error", auth.ScopeRead, true, http.StatusUnprocessableEntity)
	batch.MaxBodyBytes = 1 << 20
	huma.Register(api, batch, func(ctx context.Context, in *struct {
		Body struct {
			Addresses []string `json:"addresses" minItems:"1" maxItems:"10000"` // bounds one POST /v1/geo
			All       bool     `json:"all,omitempty"`
		}
	}) (*struct {
		Body struct {
			Items []geoItem `json:"items"`
		}
	}, error) {
		if s.geo == nil {
			return nil, huma.Error503ServiceUnavailable("geolocation is not loaded")
		}
		out := &struct {
			Body struct {
				Items []geoItem `json:"items"`
			}
		}{}
		out.Body.Items = make([]geoItem, len(in.Body.Addresses))
		for i, q := range in.Body.Addresses {
			out.Body.Items[i].Query = q
			a, err := parseGeoAddr(q)
			if err != nil {
				out.Body.Items[i].Error = err.Error()
				continue
			}
			r := s.lookup(a, in.Body.All)
			out.Body.Items[i].Result = &r
		}
		return out, nil
	})
}

// followRegister reloads the geolocation table when the event log moves,
// so the register's own answers follow allocations and relocations. It
// returns when ctx ends.
func (s *Server) followRegister(ctx context.Context, every time.Duration) {
	var last int64 = -1
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pos, err := s.reg.Position(ctx)
		if err == nil && pos.Seq != last {
			if last >= 0 {
				if err := s.geo.Reload(ctx); err != nil {
					s.log.Warn("geolocation reload", "err", err.Error())
				}
			}
			last = pos.Seq
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WithGeo makes the server answer /v1/geo from e, reloading it as the
// register changes until ctx ends.
func WithGeo(ctx context.Context, e *geo.Engine) Option {
	return func(s *Server) {
		s.geo = e
		go s.followRegister(ctx, 2*time.Second)
		// MMDB files are watched too: a new database version is picked
		// up without dropping look-ups in flight.
		go e.Watch(ctx, 5*time.Second, func(err error) { s.log.Warn("geolocation source", "err", err.Error()) })
	}
}
