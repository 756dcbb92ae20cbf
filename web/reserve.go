package web

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/cadastre-ipam/cadastre/prefix"
	"github.com/cadastre-ipam/cadastre/registry"
)

// actionReserve is POST /admin/reservation: Registry.Reserve with the
// form's prefix, reason and optional end (a date, or a date and time).
func (s *Server) actionReserve(r *http.Request, f url.Values) (string, error) {
	p, err := prefix.Parse(strings.TrimSpace(f.Get("prefix")))
	if err != nil {
		return "", fmt.Errorf("reservation prefix: %w: %w", err, registry.ErrInvalid)
	}
	spec := registry.ReservationSpec{Prefix: p, Reason: strings.TrimSpace(f.Get("reason"))}
	if u := strings.TrimSpace(f.Get("until")); u != "" {
		t, err := parseUntil(u)
		if err != nil {
			return "", err
		}
		spec.Until = &t
	}
	v, err := s.reg.Reserve(r.Context(), spec)
	if err != nil {
		return "", err
	}
	return "reservation " + v.Prefix.String() + " in pool " + v.Pool.String(), nil
}

// actionUnreserve is POST /admin/reservation/remove: Registry.Unreserve
// of exactly the form's prefix.
func (s *Server) actionUnreserve(r *http.Request, f url.Values) (string, error) {
	p, err := prefix.Parse(strings.TrimSpace(f.Get("prefix")))
	if err != nil {
		return "", fmt.Errorf("reservation prefix: %w: %w", err, registry.ErrInvalid)
	}
	v, err := s.reg.Unreserve(r.Context(), p)
	if err != nil {
		return "", err
	}
	return "the end of reservation " + v.Prefix.String(), nil
}

// parseUntil reads a reservation's end: YYYY-MM-DD (midnight UTC, what a
// date input sends), YYYY-MM-DDTHH:MM (a datetime-local input, UTC) or
// RFC 3339.
func parseUntil(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "2006-01-02T15:04", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("until %q: give a date (YYYY-MM-DD) or a time (RFC 3339): %w", s, registry.ErrInvalid)
}

// reservationsIn lists the reservations in force that overlap p (those
// of a pool, or the one that holds an address), in address order.
func (s *Server) reservationsIn(ctx context.Context, p netip.Prefix) ([]registry.Reservation, error) {
	all, err := s.reg.Reservations(ctx)
	if err != nil {
		return nil, err
	}
	var out []registry.Reservation
	for _, v := range all {
		if v.Prefix.Overlaps(p) {
			out = append(out, v)
		}
	}
	return out, nil
}
