package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestControlCharactersRefusedInTagsAndZones: the issue-10 audit of
// "control characters refused in every text field": tags (keys and
// values, at allocation and on a change) and DNS names a zone add takes
// (its name, its template, its name servers) are 400 naming the field,
// and nothing is stored, as the free-text fields and static records are
// (TestControlCharactersRefused, TestRecordControlCharactersRefused).
func TestControlCharactersRefusedInTagsAndZones(t *testing.T) {
	e, _ := hijackEnv(t)
	adm, alloc := e.tok["admin"], e.tok["allocate"]
	cases := []struct {
		name, field string
		r           req
	}{
		{"ESC in a tag's value at allocation", "tag", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us-east", "tags": map[string]string{"env": "a\x1b[2Jb"}}}}},
		{"LF in a tag's key at allocation", "tag", req{Method: "POST", Path: "/v1/assignments", Token: alloc, Body: []map[string]any{{"region": "us-east", "tags": map[string]string{"e\nv": "x"}}}}},
		{"a bidi override in a tag's value on a change", "tag", req{Method: "PATCH", Path: fmt.Sprintf("/v1/assignments/%d", e.acme.ID), Token: alloc, Body: map[string]any{"tags": map[string]string{"env": "x\u202ey"}}}},
		{"ESC in a zone's name", "name", req{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"name": "a\x1bb.example", "ns": []string{"ns.provider.example"}}}},
		{"CR in a zone's name server", "ns", req{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"name": "ok.example", "ns": []string{"ns\r.provider.example"}}}},
		{"a C1 control in a template", "template", req{Method: "POST", Path: "/v1/zones", Token: adm, Body: map[string]any{"kind": "reverse", "prefix": "10.0.0.0/24", "synthesize": "ip-{addr}.\u009b.example", "ns": []string{"ns.provider.example"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot(t)
			x := e.do(t, c.r)
			if x.Status != http.StatusBadRequest && x.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: want 400 naming the field %q", x, c.field)
			} else if !strings.Contains(strings.ToLower(string(x.Body)), c.field) {
				t.Errorf("%s: the answer does not name the field %q", x, c.field)
			}
			if d := before.diff(e.snapshot(t)); d != "" {
				t.Errorf("%s: a refused request changed the database: %s", x, d)
			}
		})
	}
}
