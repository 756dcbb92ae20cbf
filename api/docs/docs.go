// Package docs serves the API's reference page, /v1/docs, from files
// embedded in the binary: a vendored Swagger UI (npm swagger-ui-dist, see
// swagger-ui/README.md) that renders the OpenAPI document the server
// publishes. Nothing is loaded from another host, so the page renders on a
// machine without internet, and its Content-Security-Policy forbids any
// other host and any inline script.
//
// It knows nothing of the operations: it is handed the document's URL.
package docs

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
)

// SwaggerUIVersion is the vendored swagger-ui-dist release.
const SwaggerUIVersion = "5.35.0"

//go:embed swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css swagger-ui/LICENSE swagger-ui/NOTICE swagger-ui/swagger-ui-bundle.js.LICENSE.txt init.js docs.css
var assets embed.FS

// CSP is the page's Content-Security-Policy: scripts, styles, fonts and the
// document come from this server only; images may also be data: URLs
// (Swagger UI's icons); no inline script, no frames, no form posts
// elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var page = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} API reference</title>
<link rel="stylesheet" href="{{.Assets}}/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{{.Assets}}/docs.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{{.OpenAPI}}">
<noscript><p>This page renders the API's OpenAPI document with JavaScript. Without it, read the document itself:
<a href="{{.OpenAPI}}">{{.OpenAPI}}</a>.</p></noscript>
</div>
<script src="{{.Assets}}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{{.Assets}}/init.js"></script>
</body>
</html>
`))

// Handler serves the reference page at path (such as /v1/docs) and its
// assets below path+"/assets/": register it for both, e.g.
//
//	mux.Handle("GET /v1/docs", h)
//	mux.Handle("GET /v1/docs/assets/", h)
//
// title names the API; openapi is the URL of the OpenAPI document (JSON)
// the page renders.
func Handler(path, title, openapi string) http.Handler {
	assetsPath := path + "/assets"
	files := http.StripPrefix(assetsPath+"/", http.FileServerFS(assets))
	data := struct{ Title, OpenAPI, Assets string }{title, openapi, assetsPath}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path != path && strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no listing of the assets' folders
			return
		}
		if r.URL.Path != path {
			// The assets change only with the binary.
			h.Set("Cache-Control", "public, max-age=3600")
			files.ServeHTTP(w, r)
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		if err := page.Execute(w, data); err != nil {
			http.Error(w, "rendering the docs page: "+err.Error(), http.StatusInternalServerError)
		}
	})
}
