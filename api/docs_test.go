package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cadastre-ipam/cadastre/api/docs"
	"github.com/cadastre-ipam/cadastre/internal/browsertest"
)

// The reference page renders offline: the operations of the OpenAPI
// document appear, every asset comes from this server, the CSP forbids
// inline scripts and other hosts, and axe finds nothing serious.
func TestDocsRenderOfflineFromEmbeddedAssets(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.srv.URL + "/v1/docs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || csp != docs.CSP {
		t.Fatalf("GET /v1/docs: %d, CSP %q", resp.StatusCode, csp)
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %s", csp, bad)
		}
	}
	if strings.Contains(string(body), "<script>") {
		t.Errorf("the page has an inline script:\n%s", body)
	}

	b := browsertest.New(t, e.srv.URL)
	b.Open(t, "/v1/docs")
	b.WaitVisible(t, ".opblock")
	ops := browsertest.Eval[[]string](t, b,
		`Array.from(document.querySelectorAll(".opblock-summary-path")).map(e => e.getAttribute("data-path"))`)
	for _, want := range []string{"/v1/regions", "/v1/assignments"} {
		found := false
		for _, p := range ops {
			found = found || p == want
		}
		if !found {
			t.Errorf("operations shown %q lack %s", ops, want)
		}
	}
	for _, m := range b.Messages() {
		if strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("CSP violation: %s", m.Text)
		}
	}
	b.Screenshot(t, "api-docs")
	b.CheckAccessibility(t, browsertest.AxeOptions{})
	var assets int
	for _, r := range b.Requests() {
		if strings.Contains(r.URL, "/v1/docs/assets/") && r.Status == 200 {
			assets++
		}
	}
	if assets < 4 {
		t.Errorf("requests %+v: want the page's 4 embedded assets loaded", b.Requests())
	}
}

func TestDocsAssetsServeNoListingAndNothingElse(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]int{
		"/v1/docs/assets/swagger-ui/LICENSE":  200,
		"/v1/docs/assets/init.js":             200,
		"/v1/docs/assets/":                    404,
		"/v1/docs/assets/swagger-ui/":         404,
		"/v1/docs/assets/docs.go":             404,
		"/v1/docs/assets/swagger-ui/index.js": 404,
	} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
