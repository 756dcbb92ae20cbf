// Package problem names the kinds of failure cadastre's HTTP API reports as
// RFC 9457 problem documents, and maps them to and from the domain's
// sentinel errors (registry.ErrNotFound, geo.ErrFeedHasErrors, ...). It is
// the one table the server (package api), its client (package client) and
// the CLI share, so that a failure has the same meaning, HTTP status and
// exit code whichever way a verb ran. It holds no HTTP handling of its own.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/registry"
)

// Problem types: a client tells the kinds of failure apart by these
// (RFC 9457 §3.1.1), not by parsing the detail text.
const (
	Invalid      = "urn:cadastre:problem:invalid"
	NotFound     = "urn:cadastre:problem:not-found"
	NoSpace      = "urn:cadastre:problem:no-space"
	Policy       = "urn:cadastre:problem:policy"
	Overlap      = "urn:cadastre:problem:overlap"
	Exists       = "urn:cadastre:problem:exists"
	Idempotency  = "urn:cadastre:problem:idempotency"
	State        = "urn:cadastre:problem:state"
	Precondition = "urn:cadastre:problem:precondition"
	// Storage is a database the server cannot use: the CLI exits 7 as it
	// does when its own file is unusable. The detail never says more.
	Storage = "urn:cadastre:problem:storage"
	// FeedErrors is a geofeed refused whole for its errors; the problem's
	// errors carry the diagnostics (geofeed.Diagnostic) as their values.
	FeedErrors = "urn:cadastre:problem:feed-errors"
	// Quota is a tenant's quota that a request would pass; the detail
	// names the quota and the use.
	Quota = "urn:cadastre:problem:quota"
	// NameTaken is a DNS name something else holds; the detail names the
	// kind of holder, never another tenant.
	NameTaken = "urn:cadastre:problem:name-taken"
	// TooLarge is a request asking for more prefixes than one may.
	TooLarge = "urn:cadastre:problem:too-large"
)

// kinds is the mapping, in the order errors are tested: a more specific
// error first (a PolicyError is also ErrNoSpace; ErrPrecondition is also
// ErrState; ErrFeedHasErrors is also ErrInvalid).
var kinds = []struct {
	typ    string
	status int
	err    error
}{
	{Policy, http.StatusConflict, registry.ErrPolicy},
	{Precondition, http.StatusPreconditionFailed, registry.ErrPrecondition},
	{FeedErrors, http.StatusUnprocessableEntity, geo.ErrFeedHasErrors},
	{TooLarge, http.StatusRequestEntityTooLarge, registry.ErrTooLarge},
	{Quota, http.StatusConflict, registry.ErrQuota},
	{NameTaken, http.StatusConflict, registry.ErrNameTaken},
	{Invalid, http.StatusUnprocessableEntity, registry.ErrInvalid},
	{NotFound, http.StatusNotFound, registry.ErrNotFound},
	{NoSpace, http.StatusConflict, registry.ErrNoSpace},
	{Overlap, http.StatusConflict, registry.ErrOverlap},
	{Exists, http.StatusConflict, registry.ErrExists},
	{Idempotency, http.StatusConflict, registry.ErrIdempotency},
	{State, http.StatusConflict, registry.ErrState},
	{Storage, http.StatusServiceUnavailable, registry.ErrStorage},
}

// For returns the problem type and HTTP status of err, or ok false when err
// is none of the kinds above (a storage failure, a bug: the server answers
// 5xx without a type of ours).
func For(err error) (typ string, status int, ok bool) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.typ, k.status, true
		}
	}
	return "", 0, false
}

// Sentinel returns the sentinel error a problem type stands for, or nil for
// a type that is not ours.
func Sentinel(typ string) error {
	for _, k := range kinds {
		if k.typ == typ {
			return k.err
		}
	}
	return nil
}

// Details is a problem document as a client reads it: RFC 9457 members
// plus the errors list huma writes. As an error it unwraps to the sentinel
// of its type, so errors.Is(err, registry.ErrNotFound) holds over the API
// as it does on a local register.
type Details struct {
	Type   string   `json:"type"`
	Title  string   `json:"title"`
	Status int      `json:"status"`
	Detail string   `json:"detail"`
	Errors []Detail `json:"errors,omitempty"`
}

// Detail is one item of a problem's errors list.
type Detail struct {
	Message  string `json:"message"`
	Location string `json:"location,omitempty"`
	// Value is the item's value, kept raw for the caller that knows its
	// shape (a geofeed.Diagnostic for FeedErrors).
	Value []byte `json:"-"`
}

// UnmarshalJSON keeps the value of a Detail raw.
func (d *Detail) UnmarshalJSON(b []byte) error {
	var w struct {
		Message  string          `json:"message"`
		Location string          `json:"location"`
		Value    json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d.Message, d.Location, d.Value = w.Message, w.Location, []byte(w.Value)
	return nil
}

func (p *Details) Error() string {
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	if p.Type != FeedErrors { // their items are diagnostics, printed apart
		for _, e := range p.Errors {
			if e.Location != "" {
				msg += "; " + e.Location + ": " + e.Message
			} else {
				msg += "; " + e.Message
			}
		}
	}
	return fmt.Sprintf("server: %s (HTTP %d)", msg, p.Status)
}

// Unwrap maps the problem to its sentinel error; a problem without one of
// our types falls back on its status.
func (p *Details) Unwrap() error {
	if err := Sentinel(p.Type); err != nil {
		return err
	}
	switch p.Status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		return registry.ErrInvalid
	case http.StatusNotFound:
		return registry.ErrNotFound
	}
	return nil
}

// Is makes a policy problem count as no space too, as registry.PolicyError
// does on a local register.
func (p *Details) Is(target error) bool {
	return p.Type == Policy && target == registry.ErrNoSpace
}
