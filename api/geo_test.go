package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGeoLookups(t *testing.T) {
	e := newEnv(t)
	tok := e.tok["read"]
	t.Run("a private address is classified, not placed", func(t *testing.T) {
		x := e.do(t, req{Method: "GET", Path: "/v1/geo/" + e.acme.Prefix.Addr().String(), Token: tok})
		if x.Status != http.StatusOK {
			t.Fatalf("%s: want 200", x)
		}
		var r struct {
			Found   bool `json:"found"`
			Special struct {
				Kind string `json:"kind"`
			} `json:"special"`
		}
		if err := json.Unmarshal(x.Body, &r); err != nil || r.Found || r.Special.Kind != "ula" {
			t.Fatalf("%s: want not placed and classified ula (%v)", x, err)
		}
	})
	for _, bad := range []string{"garbage", "fe80::1%25eth0", "1.2.3", "::ffff:1.2.3.4.5"} {
		t.Run("a bad address is 422: "+bad, func(t *testing.T) {
			checkProblem(t, e.do(t, req{Method: "GET", Path: "/v1/geo/" + bad, Token: tok}), http.StatusUnprocessableEntity)
		})
	}
	t.Run("a batch answers each item, and a bad item gets its own error", func(t *testing.T) {
		x := e.do(t, req{Method: "POST", Path: "/v1/geo", Token: tok, Body: map[string]any{"addresses": []string{"fe80::1%eth0", e.acme.Prefix.Addr().String(), ""}}})
		if x.Status != http.StatusOK {
			t.Fatalf("%s: want 200", x)
		}
		var out struct {
			Items []struct {
				Query  string          `json:"query"`
				Result json.RawMessage `json:"result"`
				Error  string          `json:"error"`
			} `json:"items"`
		}
		if err := json.Unmarshal(x.Body, &out); err != nil || len(out.Items) != 3 {
			t.Fatalf("%s: %v", x, err)
		}
		if !strings.Contains(out.Items[0].Error, "zone") || out.Items[1].Error != "" || out.Items[1].Result == nil || out.Items[2].Error == "" {
			t.Fatalf("items = %+v", out.Items)
		}
	})
	t.Run("a batch over 10000 addresses is refused", func(t *testing.T) {
		many := make([]string, 10001)
		for i := range many {
			many[i] = "192.0.2.1"
		}
		x := e.do(t, req{Method: "POST", Path: "/v1/geo", Token: tok, Body: map[string]any{"addresses": many}})
		if x.Status < 400 || x.Status >= 500 {
			t.Fatalf("%s: want a 4xx", x)
		}
	})
}

func TestMetricsCountAPIRoutes(t *testing.T) {
	e := newEnv(t)
	e.do(t, req{Method: "GET", Path: "/v1/regions", Token: e.tok["read"]})
	e.do(t, req{Method: "GET", Path: "/v1/regions"})
	ms := httptest.NewServer(e.s.MetricsHandler())
	defer ms.Close()
	resp, err := http.Get(ms.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, want := range []string{
		`cadastre_http_requests_total{code="200",route="GET /v1/regions"} 1`,
		`cadastre_http_requests_total{code="401",route="GET /v1/regions"} 1`,
		`cadastre_http_request_duration_seconds_count{route="GET /v1/regions"} 2`,
		`cadastre_pool_utilization_ratio{`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
