package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/cadastre-ipam/cadastre/geo"
	"github.com/cadastre-ipam/cadastre/problem"
	"github.com/cadastre-ipam/cadastre/registry"
)

// TestMappingRoundTrips: an error becomes a problem type and status on the
// server, and the client's problem document of that type is the same
// sentinel again, so errors.Is (and the CLI's exit code) agrees on both
// sides.
func TestMappingRoundTrips(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		typ    string
		status int
		is     []error
	}{
		{"invalid input is 422 invalid", fmt.Errorf("pool 10.0.0.1/24: host bits: %w", registry.ErrInvalid), problem.Invalid, 422, []error{registry.ErrInvalid}},
		{"not found is 404", fmt.Errorf("region x: %w", registry.ErrNotFound), problem.NotFound, 404, []error{registry.ErrNotFound}},
		{"no space is 409 no-space", registry.ErrNoSpace, problem.NoSpace, 409, []error{registry.ErrNoSpace}},
		{"a policy refusal is 409 policy and still no space", &registry.PolicyError{Region: "r", Family: 4}, problem.Policy, 409, []error{registry.ErrPolicy, registry.ErrNoSpace}},
		{"full lenders are no space, not policy", &registry.PolicyError{Region: "r", Family: 4, LendersFull: true}, problem.NoSpace, 409, []error{registry.ErrNoSpace}},
		{"a stale If-Match is 412 precondition and a wrong state", registry.ErrPrecondition, problem.Precondition, 412, []error{registry.ErrPrecondition, registry.ErrState}},
		{"a feed with errors is 422 feed-errors and invalid", geo.ErrFeedHasErrors, problem.FeedErrors, 422, []error{geo.ErrFeedHasErrors, registry.ErrInvalid}},
		{"overlap is 409", registry.ErrOverlap, problem.Overlap, 409, []error{registry.ErrOverlap}},
		{"exists is 409", registry.ErrExists, problem.Exists, 409, []error{registry.ErrExists}},
		{"a reused key is 409 idempotency", registry.ErrIdempotency, problem.Idempotency, 409, []error{registry.ErrIdempotency}},
		{"a wrong state is 409 state", registry.ErrState, problem.State, 409, []error{registry.ErrState}},
		{"an unusable database is 503 storage", fmt.Errorf("open: %w", registry.ErrStorage), problem.Storage, 503, []error{registry.ErrStorage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, status, ok := problem.For(tt.err)
			if !ok || typ != tt.typ || status != tt.status {
				t.Fatalf("For: %q %d %v, want %q %d", typ, status, ok, tt.typ, tt.status)
			}
			var d problem.Details
			b, _ := json.Marshal(map[string]any{"type": typ, "status": status, "detail": tt.err.Error()})
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.is {
				if !errors.Is(&d, want) {
					t.Errorf("the client's problem %s is not %v", typ, want)
				}
			}
		})
	}
	if _, _, ok := problem.For(errors.New("a bug")); ok {
		t.Errorf("an error of no kind got a problem type")
	}
}

// TestUntypedProblemsFallBackOnStatus: a problem without one of our types
// (huma's own validation, a proxy) still maps by its status.
func TestUntypedProblemsFallBackOnStatus(t *testing.T) {
	for status, want := range map[int]error{http.StatusBadRequest: registry.ErrInvalid, http.StatusUnprocessableEntity: registry.ErrInvalid, http.StatusNotFound: registry.ErrNotFound} {
		d := &problem.Details{Status: status, Title: http.StatusText(status)}
		if !errors.Is(d, want) {
			t.Errorf("HTTP %d without a type is not %v", status, want)
		}
	}
	if d := (&problem.Details{Status: http.StatusUnauthorized}); errors.Unwrap(d) != nil {
		t.Errorf("HTTP 401 maps to %v, want no sentinel", errors.Unwrap(d))
	}
}
