package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/cadastre-ipam/cadastre/auth"
	"github.com/cadastre-ipam/cadastre/registry"
)

// specificSpace reads the address or prefix of request i (0-based), if any.
func specificSpace(i int, q allocBody) (netip.Prefix, error) {
	switch {
	case q.Address != "" && q.Prefix != "":
		return netip.Prefix{}, fmt.Errorf("request %d: address and prefix: give one or the other: %w", i+1, registry.ErrInvalid)
	case q.Address != "":
		a, err := netip.ParseAddr(q.Address)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("request %d: address %q: not an IP address: %w", i+1, q.Address, registry.ErrInvalid)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	case q.Prefix != "":
		return parsePrefix(fmt.Sprintf("request %d: prefix", i+1), q.Prefix)
	case q.Region == "" && q.Pool == "":
		return netip.Prefix{}, fmt.Errorf("request %d: give region (or pool, or address or prefix for exactly that space): %w", i+1, registry.ErrInvalid)
	}
	return netip.Prefix{}, nil
}

type reservationBody struct {
	Prefix string     `json:"prefix" maxLength:"64"`
	Reason string     `json:"reason" maxLength:"256"`
	Until  *time.Time `json:"until,omitempty" doc:"when the reservation ends (RFC 3339); absent: never"`
	Space  string     `json:"space,omitempty" maxLength:"63" doc:"the space (VRF) whose pool must hold prefix"`
}

type reservationOut struct {
	Body registry.Reservation
}

func (s *Server) routeReservations(api huma.API) {
	huma.Register(api, op("list-reservations", http.MethodGet, "/v1/reservations", "List the reservations in force", auth.ScopeRead, false),
		func(ctx context.Context, _ *struct{}) (*struct{ Body []registry.Reservation }, error) {
			vs, err := s.reg.Reservations(ctx)
			return &struct{ Body []registry.Reservation }{nonNil(vs)}, s.problem(err)
		})
	cr := op("create-reservation", http.MethodPost, "/v1/reservations", "Keep a prefix inside a pool from ever being handed out", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity)
	cr.DefaultStatus = http.StatusCreated
	cr.Description = "Space held by a live assignment, another reservation or a lent unit is 409 naming the holder; outside every pool is 404."
	huma.Register(api, cr, func(ctx context.Context, in *struct{ Body reservationBody }) (*reservationOut, error) {
		p, err := parsePrefix("prefix", in.Body.Prefix)
		if err != nil {
			return nil, s.problem(err)
		}
		v, err := s.reg.Reserve(ctx, registry.ReservationSpec{Prefix: p, Reason: in.Body.Reason, Until: in.Body.Until, Space: in.Body.Space})
		if err != nil {
			return nil, s.problem(err)
		}
		return &reservationOut{Body: v}, nil
	})
	huma.Register(api, op("delete-reservation", http.MethodDelete, "/v1/reservations/{addr}/{len}", "End the reservation of exactly ADDR/LEN; its space rejoins free space", auth.ScopeAdmin, false,
		http.StatusNotFound, http.StatusUnprocessableEntity),
		func(ctx context.Context, in *struct {
			Addr  string `path:"addr" maxLength:"64"`
			Len   int    `path:"len" minimum:"0" maximum:"128"`
			Space string `query:"space" maxLength:"63" doc:"the space of the reservation, where two spaces reserve ADDR/LEN"`
		}) (*reservationOut, error) {
			p, err := parsePrefix("prefix", fmt.Sprintf("%s/%d", in.Addr, in.Len))
			if err != nil {
				return nil, s.problem(err)
			}
			v, err := s.reg.UnreserveIn(ctx, p, in.Space)
			if err != nil {
				return nil, s.problem(err)
			}
			return &reservationOut{Body: v}, nil
		})
}
