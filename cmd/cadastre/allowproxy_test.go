package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestAllowFromBehindTrustedProxy: through `serve`, a token's
// --allow-from list is checked against the client a trusted proxy names
// (X-Forwarded-For), never against the proxy itself, and the header of a
// peer that is not a trusted proxy is ignored.
func TestAllowFromBehindTrustedProxy(t *testing.T) {
	db := filepath.Join(t.TempDir(), "p.db")
	mustCLI(t, db, "region", "add", "east", "--country", "US")
	outside := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "read", "--name", "client", "--allow-from", "203.0.113.0/24"))
	proxyNet := strings.TrimSpace(mustCLI(t, db, "token", "create", "--scope", "read", "--name", "proxy", "--allow-from", "127.0.0.0/8"))
	get := func(url, token, xff string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/v1/regions", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	behind := startServe(t, db, "--trusted-proxy", "127.0.0.0/8")
	direct := startServe(t, db)
	for _, c := range []struct {
		name       string
		url, token string
		xff        string
		want       int
	}{
		{"the forwarded client in the list", behind.url, outside, "203.0.113.5", http.StatusOK},
		{"the forwarded client outside the list", behind.url, outside, "198.51.100.1", http.StatusForbidden},
		{"no header: the proxy is the client, outside the list", behind.url, outside, "", http.StatusForbidden},
		{"the proxy's network is not the client's", behind.url, proxyNet, "203.0.113.5", http.StatusForbidden},
		{"an untrusted peer's header is ignored", direct.url, outside, "203.0.113.5", http.StatusForbidden},
		{"an untrusted peer is itself the client", direct.url, proxyNet, "203.0.113.5", http.StatusOK},
	} {
		if got := get(c.url, c.token, c.xff); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
