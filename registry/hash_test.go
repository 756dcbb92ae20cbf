package registry

import "testing"

// The idempotency hash identifies a request: two requests that differ in
// any field hash apart, however their free text is split across fields
// (a separator inside a field must not be mistaken for the one between
// fields).
func TestRequestHashTellsEveryRequestApart(t *testing.T) {
	base := Request{Region: "east", Family: 6, Bits: 128, Count: 1}
	with := func(f func(*Request)) Request { q := base; f(&q); return q }
	tests := []struct {
		name string
		a, b Request
	}{
		{"a bar moved from the tenant to the resource", with(func(q *Request) { q.Tenant = "acme|vm" }), with(func(q *Request) { q.Tenant, q.Resource = "acme", "vm|" })},
		{"a bar moved from the resource to the name", with(func(q *Request) { q.Resource = "vm|x.example" }), with(func(q *Request) { q.Resource, q.Name = "vm", "x.example|" })},
		{"text moved from the tenant to the resource", with(func(q *Request) { q.Tenant = "ab" }), with(func(q *Request) { q.Tenant, q.Resource = "a", "b" })},
		{"an empty tenant is not an empty resource", with(func(q *Request) { q.Resource = "x" }), with(func(q *Request) { q.Tenant = "x" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a.hash() == tc.b.hash() {
				t.Errorf("%+v and %+v hash alike", tc.a, tc.b)
			}
			ba, bb := Batch{Requests: []Request{tc.a}}, Batch{Requests: []Request{tc.b}}
			if ba.hash() == bb.hash() {
				t.Errorf("batches of %+v and %+v hash alike", tc.a, tc.b)
			}
		})
	}
	if base.hash() != with(func(*Request) {}).hash() {
		t.Error("the same request hashes differently")
	}
}
