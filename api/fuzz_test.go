package api

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzAllocateBody posts arbitrary bytes to /v1/assignments and
// /v1/regions with an admin token: the answer is never a server error,
// always either a success with a JSON body or an RFC 9457 problem, and it
// matches the OpenAPI document. Seeds are in testdata/fuzz/FuzzAllocateBody.
func FuzzAllocateBody(f *testing.F) {
	e := newEnv(f, noRecord)
	for _, s := range []string{`[{"region":"us-east"}]`, `{"name":"fz","country":"US"}`, `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/assignments", "/v1/regions"} {
			x := e.do(t, req{Method: "POST", Path: path, Token: e.tok["admin"], Body: body})
			if x.Status >= 500 {
				t.Fatalf("%s: server error for body %q", x, truncate(string(body), 200))
			}
			ct := x.Header.Get("Content-Type")
			if x.Status >= 400 {
				var p problemDoc
				if !strings.HasPrefix(ct, "application/problem+json") || json.Unmarshal(x.Body, &p) != nil || p.Status != x.Status || p.Title == "" {
					t.Fatalf("%s: not a problem document (Content-Type %q)", x, ct)
				}
			} else if !strings.HasPrefix(ct, "application/json") || !json.Valid(x.Body) {
				t.Fatalf("%s: success without a JSON body (Content-Type %q)", x, ct)
			}
			for _, problem := range e.doc.conform(x) {
				t.Errorf("OpenAPI conformance: %s: %s", x, problem)
			}
		}
	})
}
